"""Per-segment and per-track vectors for every embedding tap.

``segment_images`` is the single path from audio to network input: the build
and the placement of a new song both go through it. This module imports torch
only inside the functions that run a torch model (the build's); placing a song
uses the numpy parts and the network in onnxruntime (``pipeline.serve``).
"""
from __future__ import annotations

import hashlib
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from .onnx_features import OnnxFeatures
from .spectrogram import AUGMENTATIONS, SpectrogramConfig, augment, clip_windows, mel_images, pool_axis, segment_audio

if TYPE_CHECKING:  # torch modules, for the build's functions only
    from torch import nn

    from .head import GenreHead


def segment_images(y: np.ndarray, cfg: SpectrogramConfig, hop_seconds: float | None = None):
    """Audio → (log-mel images of its windows, window start times in s), from one STFT of the song."""
    windows = clip_windows(y, cfg, hop_seconds)
    return windows.images, windows.starts_s


def none_vectors(images: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """The "none" embedding: each image block-averaged to ``cfg.none_shape``, flattened.

    All images at once: ``downsample_image`` of each.
    """
    small = pool_axis(pool_axis(np.asarray(images), cfg.none_shape[0], 1), cfg.none_shape[1], 2)
    return small.reshape(len(small), -1).astype(np.float32)


def backbone_features(backbone: nn.Module, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """The "immediate" tap for a stack of images, (n, 1280) float32."""
    import torch

    backbone.eval()
    with torch.no_grad():
        parts = [backbone(torch.from_numpy(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(parts).numpy().astype(np.float32)


def head_taps(head: GenreHead, immediate: np.ndarray) -> dict[str, np.ndarray]:
    """deep, shallow and genre probabilities for backbone features."""
    import torch

    head.eval()
    with torch.no_grad():
        out = head(torch.as_tensor(immediate, dtype=torch.float32))
    return {
        "deep": out["deep"].numpy(),
        "shallow": out["shallow"].numpy(),
        "probabilities": torch.softmax(out["logits"], -1).numpy(),
    }


def track_rng(seed: int, track_id: str) -> np.random.Generator:
    """A track's own random generator, from (seed, track id) alone.

    Tracks processed in any order, in any process, or only the missing ones
    after an interruption draw the same augmentation as one pass over all.
    """
    digest = int.from_bytes(hashlib.sha256(track_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


def track_features(features_of, y: np.ndarray, cfg: SpectrogramConfig,
                   rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """One track's backbone features of every window (and, with ``rng``, one augmented copy of each).

    Each window gets one augmentation drawn uniformly from none/gain/pitch/noise
    (the paper's scheme). Augmented copies are only ever used as training data.
    ``features_of`` maps a stack of images to their features (``OnnxFeatures``).

    Returns
    -------
    dict with ``clean`` (n_windows, dim), ``none`` (n_windows, prod(none_shape)),
    ``start_s`` and, with ``rng``, ``augmented`` and ``augmentation`` (kind index per window).
    """
    images, starts = segment_images(y, cfg)
    rows = {"clean": features_of(images), "none": none_vectors(images, cfg), "start_s": starts}
    if rng is not None:
        segments, _ = segment_audio(y, cfg)  # the same windows, as samples: augmentation works on audio
        kinds = rng.integers(len(AUGMENTATIONS), size=len(segments))
        aug = np.stack([augment(s, AUGMENTATIONS[k], rng, cfg.sample_rate) for s, k in zip(segments, kinds)])
        rows.update(augmented=features_of(mel_images(aug, cfg)), augmentation=kinds)
    return rows


def concat_track_rows(rows: list[dict[str, np.ndarray]], consume: bool = False) -> dict[str, np.ndarray]:
    """Per-track row dicts, in track order → one dict of all rows with ``track`` (row → track index).

    ``consume``: empty each track's dict key by key as its rows are joined, so that joining holds every row once
    plus one key's, not every row twice. (The build's peak is elsewhere: ``benchmarks/build_scale.py`` measured
    2 000 tracks at 2 732 MB before this and 2 919 MB after, on a loaded machine.)
    """
    track = np.concatenate([np.full(len(r["start_s"]), i, dtype=np.int64) for i, r in enumerate(rows)])
    out = {k: np.concatenate([r.pop(k) if consume else r[k] for r in rows]) for k in list(rows[0])} if rows else {}
    out["track"] = track
    return out


def extract_features(backbone, audios, cfg: SpectrogramConfig, seed: int = 0,
                     augment_training: bool = True, progress: bool = True,
                     track_ids: list[str] | None = None) -> dict[str, np.ndarray]:
    """Backbone features of every window of every track (and one augmented copy): ``track_features`` in a loop.

    ``backbone`` is a torch ``Backbone`` or the same network run in
    onnxruntime (``onnx_features.OnnxFeatures``). Track ``i`` draws its
    augmentation from ``track_rng(seed, track_ids[i])`` (ids default to ``str(i)``).

    Returns
    -------
    ``track_features``'s rows of every track, concatenated, with ``track`` (row → track index).
    """
    from tqdm.auto import tqdm

    features_of = backbone if isinstance(backbone, OnnxFeatures) else partial(backbone_features, backbone)
    ids = track_ids or [str(i) for i in range(len(audios))]
    rows = [track_features(features_of, y, cfg, track_rng(seed, ids[i]) if augment_training else None)
            for i, y in enumerate(tqdm(audios, desc="spectrograms + backbone", unit="track", disable=not progress))]
    return concat_track_rows(rows)


def track_means(values: np.ndarray, track: np.ndarray, n_tracks: int, weight: np.ndarray | None = None) -> np.ndarray:
    """Mean of segment rows per track: a track's embedding.

    ``weight`` (one per row) makes it a weighted mean: a network whose inputs
    are not windows (3 s patches) counts each by its share of the track's windows,
    so a track's vector is the mean of its windows, as a placed song's is.
    """
    w = np.ones(len(track)) if weight is None else np.asarray(weight, dtype=np.float64)
    out = np.zeros((n_tracks, values.shape[1]), dtype=np.float64)
    np.add.at(out, track, values * w[:, None])
    return (out / np.bincount(track, weights=w, minlength=n_tracks)[:, None]).astype(np.float32)
