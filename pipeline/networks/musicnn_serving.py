"""MusiCNN and its new genre head as one served module (what the build exports to ONNX)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .musicnn_net import MusiCNN


class MusiCNNServing(nn.Module):
    """MusiCNN and its new genre head as served: patches → (immediate, deep, shallow, probabilities).

    ``immediate`` is the pooled 1506-d vector (max and mean over time of the
    front- and mid-end features): the network's own back end reads it, and it
    is what the head learns from. Its parameters are named ``musicnn.*`` and
    ``musicnn_head.*`` so they sit beside MobileNetV2's in one weights file.
    """

    time_axis = 1  # (N, frames, n_mels): the frames grow with the audio

    def __init__(self, musicnn: MusiCNN, head: nn.Module):
        super().__init__()
        self.musicnn, self.musicnn_head = musicnn, head

    def forward(self, patches: torch.Tensor):
        immediate = self.musicnn(patches)["pooled"]
        out = self.musicnn_head(immediate)
        return immediate, out["deep"], out["shallow"], torch.softmax(out["logits"], -1)

    @torch.no_grad()
    def head_outputs(self, immediate: np.ndarray) -> dict[str, np.ndarray]:
        """deep, shallow and probabilities from given pooled features (the ONNX check's second half).

        The head standardises features whose spread can be tiny on a small
        training set, which magnifies the runtimes' float32 rounding in the
        pooled features (~1e-6 relative) far past any fixed tolerance; so the
        graph's MusiCNN part is checked on its output and its head on the
        graph's own features, each to the build's tolerance.
        """
        out = self.musicnn_head(torch.from_numpy(np.ascontiguousarray(immediate, dtype=np.float32)))
        return {"deep": out["deep"].numpy(), "shallow": out["shallow"].numpy(),
                "probabilities": torch.softmax(out["logits"], -1).numpy()}

    def served_state_dict(self) -> dict:
        """The weights the graph uses (MusiCNN's own tagging layers are not served)."""
        unused = ("musicnn.pool_bn.", "musicnn.dense.", "musicnn.dense_bn.", "musicnn.out.")
        return {k: v for k, v in self.state_dict().items() if not k.startswith(unused)}
