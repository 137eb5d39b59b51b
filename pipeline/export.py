"""The trained network → an ONNX graph for onnxruntime, checked against torch (the build's last step).

Serving (``place``, ``info``, the explorer) runs the graph in onnxruntime and
never imports torch. The graph takes a batch of log-mel images of any width
and gives every tap and the genre probabilities (``serve.OUTPUTS``). Before it
is written it is run on the build's own windows beside the torch model; any
output differing by more than ``TOLERANCE`` fails the build.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn

from .bundle import BundleError
from .embed import segment_images
from .model import GenreNet
from .networks import DEFAULT_NETWORK
from .serve import INPUT, OUTPUTS, OnnxNetwork
from .spectrogram import SpectrogramConfig

OPSET = 17
TOLERANCE = 1e-4  # max abs difference allowed on every output
CHECK_WINDOWS = 24  # windows of the build's tracks run through both
GRAPH_FILE = "model.onnx"


class ExportError(BundleError):
    """The ONNX graph does not reproduce the torch model: the bundle is not written."""


class ServingGraph(nn.Module):
    """``GenreNet`` as it is served: images → (immediate, deep, shallow, probabilities).

    Its parameters keep ``GenreNet``'s names, so the graph's weights are the
    bundle's model.safetensors tensors (stored once, see ``bundle.link_weights``).
    """

    def __init__(self, net: GenreNet):
        super().__init__()
        self.backbone, self.head = net.backbone, net.head

    def forward(self, images: torch.Tensor):
        immediate = self.backbone(images)
        out = self.head(immediate)
        return immediate, out["deep"], out["shallow"], torch.softmax(out["logits"], -1)


def export_onnx(net: GenreNet, n_mels: int, frames: int) -> bytes:
    """The serialised graph (opset 17; batch and frame count dynamic; weights inside)."""
    graph = ServingGraph(net).eval()
    example = torch.zeros(2, n_mels, frames)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is "legacy": it is the one that keeps parameter names
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), buffer, opset_version=OPSET, input_names=[INPUT],
                          output_names=list(OUTPUTS), do_constant_folding=False, dynamo=False,
                          dynamic_axes={INPUT: {0: "batch", 2: "frames"}, **{k: {0: "batch"} for k in OUTPUTS}})
    return buffer.getvalue()


def torch_outputs(net: GenreNet, images: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
    """The torch model's outputs, named as the graph's."""
    graph = ServingGraph(net).eval()
    with torch.no_grad():
        parts = [graph(torch.from_numpy(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return {name: torch.cat([p[k] for p in parts]).numpy() for k, name in enumerate(OUTPUTS)}


def max_differences(graph: bytes, net: GenreNet, images: np.ndarray) -> dict[str, float]:
    """Max abs difference between onnxruntime and torch, per output."""
    onnx_out = OnnxNetwork(graph, threads=1).run(images)
    torch_out = torch_outputs(net, images)
    return {k: float(np.max(np.abs(onnx_out[k] - torch_out[k]))) for k in OUTPUTS}


def check_windows(audios, cfg: SpectrogramConfig, n: int = CHECK_WINDOWS) -> np.ndarray:
    """Up to ``n`` of the build's windows, from tracks spread over the whole collection."""
    picks = np.unique(np.linspace(0, len(audios) - 1, min(len(audios), max(1, n // 2))).round().astype(int))
    images = np.concatenate([segment_images(audios[i], cfg)[0][:2] for i in picks])
    return images[:n]


def export_networks(net: GenreNet, audios, cfg: SpectrogramConfig) -> tuple[dict[str, bytes], dict]:
    """The bundle's graphs and their ``bundle.json`` records (``meta["onnx"]``); raises ExportError.

    The check runs the build's windows at full width and the first one cut to
    half its frames (the graph takes any width), in batches of several sizes.
    """
    import onnxruntime

    images = check_windows(audios, cfg)
    graph = export_onnx(net, cfg.n_mels, images.shape[2])
    full = max_differences(graph, net, images)
    narrow = max_differences(graph, net, np.ascontiguousarray(images[:1, :, : images.shape[2] // 2]))
    worst = {k: max(full[k], narrow[k]) for k in OUTPUTS}
    bad = {k: v for k, v in worst.items() if not v <= TOLERANCE}
    if bad:
        raise ExportError("the ONNX graph does not reproduce the torch model on the build's windows (max abs "
                          + ", ".join(f"{k} {v:.2e}" for k, v in bad.items()) + f" > {TOLERANCE:g}); nothing was written")
    record = {
        "file": GRAPH_FILE, "input": INPUT, "input_shape": ["batch", cfg.n_mels, "frames"], "outputs": list(OUTPUTS),
        "opset": OPSET, "weights": "model.safetensors (ONNX external data)",
        "check": {"windows": int(len(images)), "frames": [int(images.shape[2]), int(images.shape[2] // 2)],
                  "max_abs_diff": worst, "tolerance": TOLERANCE},
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
    }
    return {GRAPH_FILE: graph}, {DEFAULT_NETWORK: record}
