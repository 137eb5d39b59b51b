"""Per-segment and per-track vectors for every embedding tap.

``segment_images`` is the single path from audio to network input: the build
and the placement of a new song both go through it.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .model import Backbone, GenreHead
from .spectrogram import AUGMENTATIONS, SpectrogramConfig, augment, downsample_image, mel_images, segment_audio


def segment_images(y: np.ndarray, cfg: SpectrogramConfig, hop_seconds: float | None = None):
    """Audio → (log-mel images of its windows, window start times in s)."""
    segments, starts = segment_audio(y, cfg, hop_seconds)
    return mel_images(segments, cfg), starts


def none_vectors(images: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """The "none" embedding: each image block-averaged to ``cfg.none_shape``, flattened."""
    return np.stack([downsample_image(im, cfg.none_shape).ravel() for im in images]).astype(np.float32)


@torch.no_grad()
def backbone_features(backbone: Backbone, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """The "immediate" tap for a stack of images, (n, 1280) float32."""
    backbone.eval()
    parts = [backbone(torch.from_numpy(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(parts).numpy().astype(np.float32)


@torch.no_grad()
def head_taps(head: GenreHead, immediate: np.ndarray) -> dict[str, np.ndarray]:
    """deep, shallow and genre probabilities for backbone features."""
    head.eval()
    out = head(torch.as_tensor(immediate, dtype=torch.float32))
    return {
        "deep": out["deep"].numpy(),
        "shallow": out["shallow"].numpy(),
        "probabilities": torch.softmax(out["logits"], -1).numpy(),
    }


def extract_features(backbone: Backbone, audios, cfg: SpectrogramConfig, seed: int = 0,
                     augment_training: bool = True, progress: bool = True) -> dict[str, np.ndarray]:
    """Backbone features of every window of every track (and one augmented copy).

    Each window gets one augmentation drawn uniformly from none/gain/pitch/noise
    (the paper's scheme). Augmented copies are only ever used as training data.

    Returns
    -------
    dict with ``clean`` and ``augmented`` (n_segments, 1280), ``none``
    (n_segments, prod(none_shape)), ``track`` (segment → track index),
    ``start_s`` and ``augmentation`` (kind index per segment).
    """
    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("clean", "augmented", "none", "track", "start_s", "augmentation")}
    for i, y in enumerate(tqdm(audios, desc="spectrograms + backbone", unit="track", disable=not progress)):
        segments, starts = segment_audio(y, cfg)
        images = mel_images(segments, cfg)
        out["clean"].append(backbone_features(backbone, images))
        out["none"].append(none_vectors(images, cfg))
        out["track"].append(np.full(len(segments), i))
        out["start_s"].append(starts)
        if augment_training:
            kinds = rng.integers(len(AUGMENTATIONS), size=len(segments))
            aug = np.stack([augment(s, AUGMENTATIONS[k], rng, cfg.sample_rate) for s, k in zip(segments, kinds)])
            out["augmented"].append(backbone_features(backbone, mel_images(aug, cfg)))
            out["augmentation"].append(kinds)
    return {k: np.concatenate(v) for k, v in out.items() if v}


def track_means(values: np.ndarray, track: np.ndarray, n_tracks: int) -> np.ndarray:
    """Mean of segment rows per track: a track's embedding."""
    out = np.zeros((n_tracks, values.shape[1]), dtype=np.float64)
    np.add.at(out, track, values)
    return (out / np.bincount(track, minlength=n_tracks)[:, None]).astype(np.float32)
