"""Frozen-backbone feature sets for the generalization experiment.

One MobileNetV2 pass per window yields the global-average pool of *every*
block (2816 values), so rows that pool different blocks share one extraction.
SpecAugment-style copies (time and frequency masks on the log-mel image) go
through the same pass. For partial fine-tuning, the activation entering the
first fine-tuned block is cached instead, so only the last blocks run per
epoch (``pipeline.experiments.finetune``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..networks.mobilenet_v2_net import BLOCK_CHANNELS, LAST_BLOCK, Backbone
from ..onnx_features import OnnxFeatures
from ..spectrogram import SpectrogramConfig, mel_images, segment_audio

BLOCK_OFFSETS = np.concatenate([[0], np.cumsum(BLOCK_CHANNELS)])


def block_columns(blocks) -> np.ndarray:
    """Column indices of ``blocks`` in an all-block feature row (as ``Backbone(pool_blocks=blocks)`` orders them)."""
    return np.concatenate([np.arange(BLOCK_OFFSETS[b], BLOCK_OFFSETS[b + 1]) for b in sorted(blocks)])


def spec_mask(image: np.ndarray, rng: np.random.Generator, n_freq: int = 2, max_freq: float = 0.15,
              n_time: int = 2, max_time: float = 0.1) -> np.ndarray:
    """SpecAugment-style masking (Park et al. 2019) of one log-mel image (mels x frames).

    ``n_freq`` bands of up to ``max_freq`` of the mel bins and ``n_time`` spans
    of up to ``max_time`` of the frames are set to the image's mean (a neutral
    grey for the ImageNet network, where 0 would read as silence).
    """
    out = image.copy()
    fill = float(image.mean())
    n_mels, n_frames = image.shape
    for size, n, axis in ((n_mels, n_freq, 0), (n_frames, n_time, 1)):
        limit = max(1, int(round((max_freq if axis == 0 else max_time) * size)))
        for _ in range(n):
            width = int(rng.integers(0, limit + 1))
            start = int(rng.integers(0, max(1, size - width + 1)))
            if axis == 0:
                out[start : start + width] = fill
            else:
                out[:, start : start + width] = fill
    return out


class AllBlockPools(nn.Module):
    """Global-average pool of every block's output, concatenated: images → (n, 2816)."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.block_pools(images, range(LAST_BLOCK + 1))


def all_block_runner(backbone: Backbone, example: np.ndarray) -> OnnxFeatures:
    """``AllBlockPools`` exported once and run in onnxruntime (~6x eager torch on 2 cores): images → (n, 2816)."""
    return OnnxFeatures(AllBlockPools(backbone), example, time_axis=2)


@torch.no_grad()
def block_inputs(backbone: Backbone, images: np.ndarray, first: int, batch_size: int = 16) -> np.ndarray:
    """The activation entering block ``first`` (the output of blocks 0..first-1), float32."""
    parts = []
    for i in range(0, len(images), batch_size):
        x = backbone.normalise(torch.from_numpy(images[i : i + batch_size]))
        parts.append(backbone.features[:first](x))
    return torch.cat(parts).numpy().astype(np.float32)


def extract_block_features(backbone: Backbone, audios, cfg: SpectrogramConfig, n_masked: int = 0, seed: int = 0,
                           tail_from: int | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """Every window's all-block pools, optionally masked copies and the input of block ``tail_from``.

    Returns
    -------
    dict with ``clean`` (n, 2816), ``track``, ``start_s``; with ``n_masked``
    also ``masked`` (n * n_masked, 2816) and ``masked_track``; with
    ``tail_from`` also ``tail_input`` (n, C, h, w).
    """
    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("clean", "track", "start_s", "masked", "masked_track", "tail_input")}
    pools = None
    for i, y in enumerate(tqdm(audios, desc="all-block features", unit="track", disable=not progress)):
        segments, starts = segment_audio(y, cfg)
        images = mel_images(segments, cfg)
        pools = pools or all_block_runner(backbone, images)
        out["clean"].append(pools(images))
        out["track"].append(np.full(len(images), i))
        out["start_s"].append(starts)
        if n_masked:
            masked = np.stack([spec_mask(im, rng) for _ in range(n_masked) for im in images])
            out["masked"].append(pools(masked))
            out["masked_track"].append(np.full(len(masked), i))
        if tail_from is not None and tail_from <= LAST_BLOCK:
            out["tail_input"].append(block_inputs(backbone, images, tail_from))
    return {k: np.concatenate(v) for k, v in out.items() if v}
