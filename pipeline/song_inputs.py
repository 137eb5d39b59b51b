"""A song's network inputs, computed for a few windows at a time (a first answer needs only a few).

Each network's front end (``place.Network.front_end``) turns the whole song
into every input at once: the right cost for the whole song, too much for a
first answer from four windows of a 4-minute song. These objects know where a
song's windows and inputs are from its length alone (``starts_s``, ``pool``,
``n_inputs``) and compute any inputs on demand (``at``), each exactly as the
whole-song front end makes it (to float rounding: the same frames, the same
filters).
"""
from __future__ import annotations

import numpy as np

from .audio import resample
from .embed import none_vectors
from .musicnn_input import MusiCNNConfig, musicnn_log, patch_none, window_pooling
from .spectrogram import (
    SpectrogramConfig,
    frames_power_mel,
    mel_images,
    nominal_starts_s,
    segment_starts,
    signal_frames,
    window_starts,
)


def sounding_windows(y: np.ndarray, spec: SpectrogramConfig) -> np.ndarray:
    """(n_windows,) whether each window of the bundle's grid holds any non-zero sample (digital silence does not)."""
    seg = int(round(spec.segment_seconds * spec.sample_rate))
    return np.array([np.any(y[s : s + seg]) for s in window_starts(len(y), spec)], dtype=bool)


class MobileNetInputs:
    """MobileNetV2's inputs of a song: one log-mel image per window (``mel_image`` of the window's samples)."""

    pool = None  # an input is a window

    def __init__(self, y: np.ndarray, spec: SpectrogramConfig):
        self.y, self.spec = y, spec
        self.starts = window_starts(len(y), spec)
        self.starts_s = nominal_starts_s(len(y), spec)
        self.n_inputs = len(self.starts)

    def at(self, input_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(images, their "none" rows) of these windows: what ``clip_windows`` gives them."""
        seg = int(round(self.spec.segment_seconds * self.spec.sample_rate))
        segments = np.zeros((len(input_idx), seg), dtype=np.float32)
        for row, s in enumerate(self.starts[input_idx]):
            piece = self.y[s : s + seg]
            segments[row, : len(piece)] = piece
        images = mel_images(segments, self.spec)
        return images, none_vectors(images, self.spec)


class MusiCNNInputs:
    """MusiCNN's inputs of a song: its 3 s patches of the 16 kHz mel, only the frames they need computed."""

    def __init__(self, y: np.ndarray, spec: SpectrogramConfig, cfg: MusiCNNConfig):
        self.cfg = cfg
        self.frames = signal_frames(resample(np.asarray(y, dtype=np.float32), spec.sample_rate, cfg.sample_rate),
                                    cfg)
        self.patch_starts = segment_starts(len(self.frames), cfg.patch_frames, cfg.patch_hop_frames)
        self.starts_s = nominal_starts_s(len(y), spec)
        self.pool = window_pooling(self.patch_starts * cfg.hop_length / cfg.sample_rate, cfg.patch_seconds,
                                   self.starts_s, spec.segment_seconds)
        self.n_inputs = len(self.patch_starts)

    def at(self, input_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(patches, their "none" rows): ``musicnn_patches``'s rows ``input_idx``."""
        n = self.cfg.patch_frames
        patches = np.zeros((len(input_idx), n, self.cfg.n_mels), dtype=np.float32)
        for row, s in enumerate(self.patch_starts[input_idx]):
            frames = self.frames[s : s + n]  # a song shorter than a patch: the rest stays silence (zeros)
            patches[row, : len(frames)] = musicnn_log(frames_power_mel(frames, self.cfg))
        return patches, patch_none(patches, self.cfg)
