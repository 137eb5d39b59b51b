"""MusiCNN's front end in numpy: 16 kHz, 96-band log-compressed mel, 3 s patches.

Used when building (features for the new head) and when placing a song
(``place``: no torch, no librosa). The mel is librosa's (Slaney filters,
power 2, centred frames) computed by ``spectrogram.power_mel``; the network
was trained on ``log10(10000 * mel + 1)``.

A placed song is read on the bundle's window grid (10 s windows, hop 5 s by
default), the same grid as MobileNetV2's, so both networks give one vector
per window: a window's vector is the mean over the 3 s patches whose centre
falls inside it (``window_pooling``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..audio import resample
from ..spectrogram import downsample_image, power_mel, segment_starts


@dataclass(frozen=True)
class MusiCNNConfig:
    """MusiCNN's input settings (as it was trained); stored with anything built from it."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    patch_frames: int = 187  # 3 s at 16 kHz / hop 256: the training patch length
    # 3 s: back to back, as the original extractor (half-overlapping: 2x the cost, no measurable gain)
    patch_hop_frames: int = 187
    none_shape: tuple = (24, 32)  # "none" layer: frames x mel bands of a patch after block-averaging

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MusiCNNConfig":
        d = dict(d)
        d["none_shape"] = tuple(d.get("none_shape", cls.none_shape))
        return cls(**d)

    @property
    def patch_seconds(self) -> float:
        return self.patch_frames * self.hop_length / self.sample_rate


def musicnn_mel(y16k: np.ndarray, cfg: MusiCNNConfig = MusiCNNConfig()) -> np.ndarray:
    """MusiCNN's input representation of a 16 kHz signal, (frames, n_mels) float32.

    ``log10(10000 * mel + 1)`` in float32 (the original extractor's float16
    cast overflows to inf on loud music).
    """
    return musicnn_log(power_mel(np.asarray(y16k, dtype=np.float32), cfg))  # only the STFT/mel settings are read


def musicnn_log(mel_power: np.ndarray) -> np.ndarray:
    """(n_mels, frames) mel power → MusiCNN's (frames, n_mels) ``log10(10000 * mel + 1)``, float32."""
    return np.log10(np.float32(10000) * mel_power.T + np.float32(1)).astype(np.float32)


def slice_patches(mel: np.ndarray, cfg: MusiCNNConfig = MusiCNNConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Cut a (frames, n_mels) representation into overlapping patches.

    A representation shorter than one patch gives one patch padded with zeros
    (= silence after the log compression); the last patch is aligned to the
    end, as ``spectrogram.segment_starts`` does for the images.

    Returns
    -------
    patches : np.ndarray, shape (n_patches, patch_frames, n_mels), float32
    start_frames : np.ndarray of int64
    """
    starts = segment_starts(len(mel), cfg.patch_frames, cfg.patch_hop_frames)
    patches = np.zeros((len(starts), cfg.patch_frames, mel.shape[1]), dtype=np.float32)
    for i, s in enumerate(starts):
        piece = mel[s : s + cfg.patch_frames]
        patches[i, : len(piece)] = piece
    return patches, starts


def musicnn_patches(y: np.ndarray, sr: int, cfg: MusiCNNConfig = MusiCNNConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Audio at any rate → MusiCNN input patches and their start times in s (one mel for the whole clip)."""
    mel = musicnn_mel(resample(np.asarray(y, dtype=np.float32), sr, cfg.sample_rate), cfg)
    patches, starts = slice_patches(mel, cfg)
    return patches, starts * cfg.hop_length / cfg.sample_rate


def patch_none(patches: np.ndarray, cfg: MusiCNNConfig = MusiCNNConfig()) -> np.ndarray:
    """The "none" layer of each patch: the patch block-averaged to ``cfg.none_shape``, flattened."""
    if not len(patches):
        return np.zeros((0, int(np.prod(cfg.none_shape))), dtype=np.float32)
    return np.stack([downsample_image(p, cfg.none_shape).ravel() for p in patches]).astype(np.float32)


def window_pooling(patch_starts_s: np.ndarray, patch_seconds: float, window_starts_s: np.ndarray,
                   window_seconds: float) -> np.ndarray:
    """(n_windows, n_patches) averaging weights: each window is the mean of the patches centred inside it.

    A window that no patch centre falls into (possible only at a clip's edges)
    takes the patch whose centre is nearest to its own.
    """
    centres = np.asarray(patch_starts_s, dtype=np.float64) + patch_seconds / 2
    starts = np.asarray(window_starts_s, dtype=np.float64)[:, None]
    inside = (centres[None, :] >= starts) & (centres[None, :] < starts + window_seconds)
    for w in np.flatnonzero(~inside.any(axis=1)):
        inside[w, np.argmin(np.abs(centres - (starts[w, 0] + window_seconds / 2)))] = True
    return (inside / inside.sum(axis=1, keepdims=True)).astype(np.float32)
