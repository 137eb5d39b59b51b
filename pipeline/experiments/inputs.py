"""``python -m pipeline experiment inputs``: what else could frozen ImageNet MobileNetV2 hear?

The build feeds MobileNetV2 one grey log-mel image copied to its three
colour channels and keeps the global-average pool of every block. This
experiment asks whether the *input* or the *pooling* holds the network back,
with a class-weighted logistic probe on frozen features (cheap enough to try
many rows on the same artist-grouped folds):

- inputs: the build's grey image; PCEN (per-channel energy normalisation,
  Wang et al. 2017: automatic gain control per mel band) instead of log
  compression; the image with its first and second time derivatives as the
  other two channels; the image of the harmonic and the percussive parts
  (median-filter HPSS, Fitzgerald 2010, on the mel power) as the other two channels.
- poolings (of every block's output): mean (the build's), mean + max,
  mean + standard deviation, mean + the frequency profile (mean over time
  only, per frequency row, of the blocks at 1/16 and 1/32 of the image's
  height), so the probe can tell *where* in the spectrum a pattern sits.

One pass per input yields every pooling (``pooled_maps``); rows are paired
with the first (the build's input and pooling) on the same folds.
"""
from __future__ import annotations

import sys
from functools import partial

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import evaluate, spectrogram
from ..evaluate import logistic_probabilities
from ..feature_cache import cached_features
from ..networks import mobilenet_v2_net as model
from ..networks.mobilenet_v2_net import BLOCK_CHANNELS, Backbone, load_imagenet_backbone
from ..onnx_features import OnnxFeatures
from ..spectrogram import SpectrogramConfig, log_mel_image, power_mel, segment_audio
from ..train import SegmentFeatures
from . import cv as xcv

PROFILE_BLOCKS = (7, 11, 14, 17, 18)  # blocks at 1/16 (8 rows of 128 mels) and 1/32 (4 rows) of the height
N_POOLED = sum(BLOCK_CHANNELS)
HPSS_KERNEL = (31, 9)  # median filters: 31 frames (0.7 s) along time, 9 of the 128 mel bands along frequency
# (row name, input, poolings); the first row is the build's input and pooling
ROWS = (
    ("grey log-mel image, mean pool (the build's)", "grey", ("mean",)),
    ("grey log-mel image, mean + max pools", "grey", ("mean", "max")),
    ("grey log-mel image, mean + std pools", "grey", ("mean", "std")),
    ("grey log-mel image, mean pool + frequency profile", "grey", ("mean", "profile")),
    ("PCEN image, mean pool", "pcen", ("mean",)),
    ("log-mel + its time derivatives, mean pool", "deltas", ("mean",)),
    ("log-mel + harmonic + percussive parts, mean pool", "hpss", ("mean",)),
)


def pcen_image(power: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """(n_mels, frames) PCEN of a mel power block (librosa's defaults, input scaled to 32-bit range), min-max to
    [0, 1]."""
    p = librosa.pcen(power * 2.0**31, sr=cfg.sample_rate, hop_length=cfg.hop_length)
    span = float(p.max() - p.min())
    return ((p - p.min()) / span if span > 0 else np.zeros_like(p)).astype(np.float32)


def input_image(segment: np.ndarray, kind: str, cfg: SpectrogramConfig) -> np.ndarray:
    """One window as a (3, n_mels, frames) image in [0, 1] for the input ``kind`` (see the module docstring)."""
    power = power_mel(segment, cfg)  # every input starts from the build's mel power (``mel_image``)
    if kind == "pcen":
        return np.repeat(pcen_image(power, cfg)[None], 3, axis=0)
    grey = log_mel_image(power, cfg.top_db)
    if kind == "grey":
        return np.repeat(grey[None], 3, axis=0)
    if kind == "deltas":  # centred at 0.5, four standard deviations to each edge
        slopes = [librosa.feature.delta(grey, order=k) for k in (1, 2)]
        return np.stack([grey] + [np.clip(0.5 + d / (8 * d.std() + 1e-9), 0, 1) for d in slopes]).astype(np.float32)
    if kind == "hpss":  # on the mel power, not the 1025-bin STFT: ~8x less median filtering
        parts = librosa.decompose.hpss(power, kernel_size=HPSS_KERNEL)
        return np.stack([grey] + [log_mel_image(p, cfg.top_db) for p in parts]).astype(np.float32)
    raise ValueError(f"unknown input kind {kind!r}")


class PooledMaps(nn.Module):
    """(N, 3, H, W) images in [0, 1] → every block's mean, max and std pools and the frequency profiles."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.backbone.image_size:  # as ``Backbone.normalise``: resized to a square first
            size = (self.backbone.image_size,) * 2
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        x = (images - self.backbone.mean) / self.backbone.std
        mean, top, spread, profile = [], [], [], []
        for i, block in enumerate(self.backbone.features):
            x = block(x)
            mean.append(x.mean((2, 3)))
            top.append(x.amax((2, 3)))
            spread.append(x.std((2, 3)))
            if i in PROFILE_BLOCKS:
                profile.append(x.mean(3).flatten(1))
        return torch.cat(mean + top + spread + profile, 1)


def pooling_columns(poolings, width: int) -> np.ndarray:
    """Columns of a ``PooledMaps`` row for the named poolings (``width``: the row's length)."""
    parts = {"mean": (0, N_POOLED), "max": (N_POOLED, 2 * N_POOLED), "std": (2 * N_POOLED, 3 * N_POOLED),
             "profile": (3 * N_POOLED, width)}
    return np.concatenate([np.arange(*parts[p]) for p in poolings])


def pooled_maps(backbone: Backbone, audios, kind: str, cfg: SpectrogramConfig,
                progress: bool = False) -> dict[str, np.ndarray]:
    """``PooledMaps`` of every window of every track for input ``kind``: ``x`` (n, width) and ``track``."""
    runner, rows, track = None, [], []
    for i, y in enumerate(tqdm(audios, desc=f"{kind} input", unit="track", disable=not progress)):
        segments, _ = segment_audio(y, cfg)
        images = np.stack([input_image(s, kind, cfg) for s in segments])
        runner = runner or OnnxFeatures(PooledMaps(backbone), images, time_axis=3)
        rows.append(runner(images))
        track.append(np.full(len(images), i))
    return {"x": np.concatenate(rows), "track": np.concatenate(track)}


def probe_row(r, name: str, feats: dict, poolings, features_id: str, groups) -> dict:
    """Class-weighted logistic probe on the chosen poolings, every fold of every seed (cached per fold)."""
    c = r.corpus
    seg = SegmentFeatures(feats["x"][:, pooling_columns(poolings, feats["x"].shape[1])], feats["track"], None)
    spec0 = {"v": xcv.CACHE_VERSION, "code": INPUTS_CODE, "features": features_id, "poolings": list(poolings),
             "groups": xcv.array_key(groups), "folds": r.cfg.folds}
    folds = []
    for seed, k, tr, te in xcv.cv_jobs(c.genres, groups, r.cfg.folds, r.seeds):
        def probe(seed=seed, tr=tr, te=te):
            return xcv.track_scores(logistic_probabilities(seg, c.y, tr, te, len(c.labels), seed), c.y[te])

        spec = {**spec0, "seed": seed, "fold": k, "members": [xcv.array_key(a) for a in (tr, te)]}
        folds.append({"seed": seed, "fold": k, **r.folds.run(spec, probe)})
    return {"name": name, "status": "ok", "model": "logistic probe", "poolings": list(poolings),
            "dim": int(seg.clean.shape[1]), "split": r.cfg.split, "folds": r.cfg.folds, "seeds": r.seeds,
            "n_results": len(folds), "metrics": xcv.summarize(folds, xcv.PROBE_METRICS), "fold_results": folds}


def features_key(r, kind: str, spec: SpectrogramConfig) -> str:
    """Cache key of one input's pooled maps: data, weights, windows, the code that makes them."""
    path = r.weights_file("mobilenet_v2")
    st = path.stat()
    return xcv.config_key({"v": xcv.CACHE_VERSION, "code": INPUTS_CODE, "input": kind, "data": r.corpus.fingerprint,
                           "weights": [path.name, st.st_size, st.st_mtime_ns], "spectrogram": spec.to_dict(),
                           "max_seconds": r.cfg.max_track_seconds})


def run_inputs(cfg, progress: bool = True, log=print, rows=ROWS) -> dict:
    """Every row of ``rows`` on the same folds (grouped by ``cfg.split``); the summary goes to ``inputs.json``."""
    from .runner import Runner

    r, spec = Runner(cfg, progress, log), cfg.spectrogram
    found = r.groups(cfg.split)
    if found is None:
        reason = "no artist metadata for these tracks (tracks.csv beside the data, or --metadata)"
        return r.finish("inputs", [{"name": name, "status": "not run", "reason": reason} for name, _, _ in rows],
                        split=cfg.split)
    groups, notes = found
    backbone = Backbone(spec.image_size)
    load_imagenet_backbone(backbone, r.weights_file("mobilenet_v2"))
    out, features = [], {}

    def compute(kind: str) -> dict:
        log(f"  MobileNetV2 features of the {kind} input")
        r.features_computed += 1
        return pooled_maps(backbone, r.corpus.audios, kind, spec, progress)

    for name, kind, poolings in rows:
        if kind not in features:
            key = features_key(r, kind, spec)
            features[kind] = (cached_features(f"inputs-{key}", r.root / "features", partial(compute, kind)), key)
        out.append({**probe_row(r, name, features[kind][0], poolings, features[kind][1], groups), "input": kind,
                    **notes})
    return r.finish("inputs", out, split=cfg.split,
                    probe="StandardScaler + class-weighted logistic regression (C 0.5) on clean window features, "
                          "window probabilities averaged per track")


INPUTS_CODE = xcv.code_version(spectrogram, model, evaluate, sys.modules[__name__])
