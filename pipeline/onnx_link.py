"""A graph's weights stored once: ONNX initializers that point into the bundle's model.safetensors.

Beside the export (``export.py`` makes the graphs; the bundle writer links
them as it writes). Needs the ``onnx`` package (a build-time dependency;
serving only needs onnxruntime, which reads the external data).
"""
from __future__ import annotations

import json
from pathlib import Path

FLOAT16_SUFFIX = ".float16"  # a graph initializer read as float16 from the weights (a Cast node restores the name)


def safetensors_offsets(path: Path) -> dict[str, tuple[str, list, int, int]]:
    """name → (dtype, shape, first byte, end byte) of every tensor in a safetensors file (header only)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    base = 8 + n
    return {k: (v["dtype"], v["shape"], base + v["data_offsets"][0], base + v["data_offsets"][1])
            for k, v in header.items() if k != "__metadata__"}


def link_weights(graph: bytes, weights: Path) -> bytes:
    """An ONNX model whose float32 initializers found (same name, shape and values) in ``weights`` point into it.

    ONNX external data (location, offset, length) lets onnxruntime read those
    tensors straight from model.safetensors, so a bundle holds its weights
    once; anything not found stays inside the graph. A weight stored as
    float16 (exactly: see ``bundle.writing``) is read as float16 and cast to float32
    by a ``Cast`` node, which onnxruntime folds away when it loads the graph.
    Needs the ``onnx`` package (a build-time dependency; serving only needs onnxruntime).
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(graph)
    tensors = safetensors_offsets(weights)
    data = weights.read_bytes()
    casts = []
    for init in model.graph.initializer:
        half = init.data_type == onnx.TensorProto.FLOAT16 and init.name.endswith(FLOAT16_SUFFIX)  # linked before
        found = tensors.get(init.name.removesuffix(FLOAT16_SUFFIX) if half else init.name)
        if not (init.data_type == onnx.TensorProto.FLOAT or half) or found is None or found[1] != list(init.dims):
            continue
        dtype, _, a, b = found
        values = numpy_helper.to_array(init).astype("<f4")
        stored = {"F32": "<f4", "F16": "<f2"}.get(dtype)
        if stored is None or not np.array_equal(np.frombuffer(data[a:b], stored).astype("<f4"), values.ravel()):
            continue  # a tensor of that name with other values: keep the graph's own
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.ClearField("int32_data")
        if dtype == "F16" and not half:
            name = init.name
            init.name, init.data_type = f"{name}{FLOAT16_SUFFIX}", onnx.TensorProto.FLOAT16
            casts.append(helper.make_node("Cast", [init.name], [name], to=onnx.TensorProto.FLOAT))
        for key, value in (("location", weights.name), ("offset", str(a)), ("length", str(b - a))):
            entry = init.external_data.add()
            entry.key, entry.value = key, value
        init.data_location = onnx.TensorProto.EXTERNAL
    for node in reversed(casts):
        model.graph.node.insert(0, node)
    return model.SerializeToString()
