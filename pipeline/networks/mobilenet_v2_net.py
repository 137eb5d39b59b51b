"""MobileNetV2 backbone + a new dense head, with the paper's named embedding taps.

Taps (what ``GenreNet.embed`` returns):

- ``immediate``: the pooled output of the pretrained CNN (1280-d; with
  ``pool_blocks`` the global-average pools of several blocks, concatenated).
  The backbone stays frozen, so this is exactly the ImageNet representation of
  a spectrogram.
- ``deep``: the first dense layer of the new head (256-d, after ReLU). Wide
  enough to keep nuance between songs, small enough that 10 genres must be
  organised in it — the paper's "best balance" layer.
- ``shallow``: the layer just before the softmax layer (64-d, after ReLU).
  Narrow, so training squeezes it towards one direction per genre.

Post-ReLU taps are non-negative, so cosine similarities lie in [0, 1], which is
the scale of the paper's "absolute" heatmaps.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

from ..head import GenreHead  # noqa: F401 (re-exported)
from .weights import WeightsError, backbone_state_dict  # noqa: F401 (WeightsError re-exported)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TAPS = ("immediate", "deep", "shallow")
EMBEDDINGS = ("none",) + TAPS
BACKBONE_DIM = 1280
# Output channels of MobileNetV2's ``features[i]`` (block 18 is the final 1x1 conv to 1280).
BLOCK_CHANNELS = (32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320, 1280)
LAST_BLOCK = len(BLOCK_CHANNELS) - 1


def pooled_dim(pool_blocks) -> int:
    """Width of the concatenated global-average pools of ``pool_blocks``."""
    return sum(BLOCK_CHANNELS[b] for b in pool_blocks)


def imagenet_input(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                   image_size: int | None = None) -> torch.Tensor:
    """(N, H, W) grey images in [0, 1] → (N, 3, H', W'): three equal channels, normalised as ImageNet networks expect.

    ``mean``/``std`` are (1, 3, 1, 1); with ``image_size`` the images are first resized to a square.
    """
    x = images.unsqueeze(1)
    if image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return (x.expand(-1, 3, -1, -1) - mean) / std


class Backbone(nn.Module):
    """Frozen ImageNet MobileNetV2 on spectrogram images: (N, H, W) in [0, 1] → (N, dim).

    The grey image is copied to three channels and normalised with ImageNet
    statistics, as the pretrained CNN expects; with ``image_size`` it is first
    resized to a square (the paper's 224 x 224), otherwise used at its own size.
    The output is the global-average pool of each block in ``pool_blocks``
    (indices into ``features``; the default, the last block, is 1280-d),
    concatenated: earlier blocks keep more of the spectrogram's texture.
    """

    def __init__(self, image_size: int | None = None, pool_blocks=(LAST_BLOCK,)):
        super().__init__()
        self.image_size = image_size
        self.pool_blocks = tuple(sorted(int(b) for b in pool_blocks))
        if not self.pool_blocks or not 0 <= self.pool_blocks[0] <= self.pool_blocks[-1] <= LAST_BLOCK:
            raise ValueError(f"pool_blocks must be indices 0..{LAST_BLOCK}, not {pool_blocks!r}")
        self.dim = pooled_dim(self.pool_blocks)
        self.features = mobilenet_v2().features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        # The shared weights have batch-norm folded into identities: batch
        # statistics would wreck them, so the backbone never leaves eval mode.
        return super().train(False)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """(N, H, W) grey images in [0, 1] → the (N, 3, H', W') input the ImageNet weights expect."""
        return imagenet_input(images, self.mean, self.std, self.image_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.block_pools(images, self.pool_blocks)

    def block_pools(self, images: torch.Tensor, blocks) -> torch.Tensor:
        """The global-average pools of ``blocks`` (sorted indices into ``features``), concatenated."""
        blocks = tuple(blocks)
        x, pooled = self.normalise(images), []
        for i, block in enumerate(self.features[: blocks[-1] + 1]):
            x = block(x)
            if i in blocks:
                pooled.append(F.adaptive_avg_pool2d(x, 1).flatten(1))
        return torch.cat(pooled, 1) if len(pooled) > 1 else pooled[0]


class GenreNet(nn.Module):
    """Backbone + head; ``embed`` returns every tap and the logits."""

    def __init__(self, n_classes: int, image_size: int | None = None, deep: int = 256, shallow: int = 64,
                 pool_blocks=(LAST_BLOCK,)):
        super().__init__()
        self.backbone = Backbone(image_size, pool_blocks)
        self.head = GenreHead(n_classes, deep, shallow, in_dim=self.backbone.dim)

    @classmethod
    def from_config(cls, n_classes: int, config: dict) -> "GenreNet":
        """The network a bundle's ``config`` describes (older bundles: the last block only)."""
        spec, train = config["spectrogram"], config["train"]
        return cls(n_classes, spec.get("image_size"), train["deep"], train["shallow"],
                   config.get("pool_blocks", (LAST_BLOCK,)))

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 16) -> dict[str, torch.Tensor]:
        self.eval()
        parts = []
        for i in range(0, len(images), batch_size):
            immediate = self.backbone(images[i : i + batch_size])
            parts.append({"immediate": immediate, **self.head(immediate)})
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def load_imagenet_backbone(backbone: Backbone, weights: str | Path | None = None) -> str:
    """Fill the backbone with ImageNet MobileNetV2 weights.

    Parameters
    ----------
    weights : None for the weights shipped in ``assets/weights`` (sha256-checked),
        ``"torchvision"`` for torchvision's weights API (the one path that may
        download), or a file: a torchvision MobileNetV2 state dict (``.pth``) or
        safetensors. Only ``features.*`` is used. See :mod:`pipeline.networks.weights`.

    Returns
    -------
    str : the file the weights were read from (the build keys its feature cache on it).
    """
    state, path = backbone_state_dict(weights)
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    try:
        backbone.features.load_state_dict(features, strict=True)
    except RuntimeError as e:
        reason = str(e).splitlines()[0]
        raise WeightsError(f"{path.name} is not a torchvision MobileNetV2 state dict ({reason})") from None
    return str(path)
