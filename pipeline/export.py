"""The trained network → an ONNX graph for onnxruntime, checked against torch (the build's last step).

Serving (``place``, ``info``, the explorer) runs the graph in onnxruntime and
never imports torch. Each network's graph takes a batch of its inputs (log-mel
images of any width, or mel patches of any length) and gives every tap
and the genre probabilities (``serve.OUTPUTS``). Before it is written it is
run on the build's own inputs beside the torch model; any output differing by
more than ``TOLERANCE`` fails the build.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn

from .errors import ExportError
from .networks import DEFAULT_NETWORK
from .serve import INPUT, OUTPUTS, OnnxNetwork

OPSET = 17
TOLERANCE = 1e-4  # max difference allowed on every output (absolute, or relative where outputs exceed 1)
GRAPH_FILES = {DEFAULT_NETWORK: "model.onnx"}  # others: "<network>.onnx"


def export_onnx(net: nn.Module, example: np.ndarray) -> bytes:
    """The serialised graph (opset 17; batch and the input's time axis dynamic; weights inside).

    ``example`` is one batch of the network's input, (batch, a, b), whose
    time axis is the last for images (n_mels, frames) and the first for
    patches (frames, n_mels): the served module's ``time_axis`` says.
    """
    graph = net.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is "legacy": it is the one that keeps parameter names
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (torch.from_numpy(np.ascontiguousarray(example[:2])),), buffer, opset_version=OPSET,
                          input_names=[INPUT], output_names=list(OUTPUTS), do_constant_folding=False, dynamo=False,
                          dynamic_axes={INPUT: {0: "batch", time_axis(net): "frames"},
                                        **{k: {0: "batch"} for k in OUTPUTS}})
    return buffer.getvalue()


def time_axis(net: nn.Module) -> int:
    """The input axis that grows with the audio's length (the served module says: ``contract.serving_graph``)."""
    return net.time_axis


def torch_outputs(net: nn.Module, inputs: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
    """The torch model's outputs, named as the graph's."""
    graph = net.eval()
    with torch.no_grad():
        parts = [graph(torch.from_numpy(inputs[i : i + batch_size])) for i in range(0, len(inputs), batch_size)]
    return {name: torch.cat([p[k] for p in parts]).numpy() for k, name in enumerate(OUTPUTS)}


def max_differences(graph: bytes, net: nn.Module, inputs: np.ndarray) -> dict[str, float]:
    """Max abs difference between onnxruntime and torch, per output, relative to the output's own scale.

    The scale is ``max(1, max |torch output|)``: an ImageNet CNN's outputs are
    around 1 (so this is the absolute difference), the music network's pooled features
    reach ~100, where float32 rounding alone is ~1e-5 absolute.
    """
    onnx_out = OnnxNetwork(graph, threads=1).run(inputs)
    torch_out = torch_outputs(net, inputs)
    if hasattr(net, "head_outputs"):  # the head is checked on the graph's own features (``head_outputs``)
        torch_out = {**torch_out, **net.head_outputs(onnx_out["immediate"])}
    return {k: float(np.max(np.abs(onnx_out[k] - torch_out[k])) / max(1.0, float(np.max(np.abs(torch_out[k])))))
            for k in OUTPUTS}


def checked_graph(name: str, net: nn.Module, inputs: np.ndarray) -> tuple[bytes, dict]:
    """One network's graph and its ``bundle.json`` record; raises ExportError.

    The check runs the build's own inputs at full length and the first one cut
    to half its frames (the graph takes any length), in batches of several sizes.
    """
    import onnxruntime

    axis = time_axis(net)
    graph = export_onnx(net, inputs)
    full = max_differences(graph, net, inputs)
    half = np.ascontiguousarray(np.take(inputs[:1], np.arange(inputs.shape[axis] // 2), axis=axis))
    narrow = max_differences(graph, net, half)
    worst = {k: max(full[k], narrow[k]) for k in OUTPUTS}
    tolerance = TOLERANCE
    bad = {k: v for k, v in worst.items() if not v <= tolerance}
    if bad:
        raise ExportError(f"the ONNX graph of {name} does not reproduce the torch model on the build's inputs (max abs "
                          + ", ".join(f"{k} {v:.2e}" for k, v in bad.items())
                          + f" > {tolerance:g}); nothing was written")
    shape = ["batch", "frames", inputs.shape[2]] if axis == 1 else ["batch", inputs.shape[1], "frames"]
    record = {
        "file": GRAPH_FILES.get(name, f"{name}.onnx"), "input": INPUT, "input_shape": shape, "outputs": list(OUTPUTS),
        "opset": OPSET, "weights": "model.safetensors (ONNX external data)",
        "check": {"inputs": int(len(inputs)), "frames": [int(inputs.shape[axis]), int(inputs.shape[axis] // 2)],
                  "max_abs_diff": worst, "tolerance": tolerance,
                  "measure": "max |onnxruntime - torch| / max(1, max |torch|) per output"},
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
    }
    return graph, record


def export_networks(nets: dict[str, tuple[nn.Module, np.ndarray]]) -> tuple[dict[str, bytes], dict]:
    """Every network's graph (file name → bytes) and records (``meta["onnx"]``, by network); raises ExportError.

    Parameters
    ----------
    nets : network name → (its torch model, a batch of the build's own inputs for the check).
    """
    graphs, records = {}, {}
    for name, (net, inputs) in nets.items():
        graph, records[name] = checked_graph(name, net, inputs)
        graphs[records[name]["file"]] = graph
    return graphs, records
