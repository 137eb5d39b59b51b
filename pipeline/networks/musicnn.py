"""MusiCNN pretrained on music (the Million Song Dataset's tags) as a map network.

Its torch port and weights are in ``musicnn_net``, its numpy front end (16 kHz,
96-band mel, 3 s patches) in ``musicnn_input``. Its patches are pooled onto
the bundle's window grid: a track's (and a placed song's) vector is the mean
of its windows, each the weighted mean of the patches it overlaps. Its
"immediate" layer is the pooled 1506-d vector its own back end reads.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..audio import resample
from ..spectrogram import SpectrogramConfig, frames_power_mel, nominal_starts_s, segment_starts, signal_frames
from .contract import Windows, example_audio
from .musicnn_input import MusiCNNConfig, musicnn_log, musicnn_patches, patch_none, window_pooling

if TYPE_CHECKING:
    from torch import nn

NAME = "musicnn"
TITLE = "Trained on music (MusiCNN)"
SHORT = "MusiCNN (music)"
NOTE = "A network trained on music (tags of a million songs), not photos."
CHECK_TRACKS = 12  # tracks whose first two patches check the ONNX graph


def patch_windows(y: np.ndarray, spec: SpectrogramConfig, cfg: MusiCNNConfig) -> Windows:
    """The front end: the signal's 3 s mel patches, pooled onto the bundle's window grid."""
    patches, patch_starts = musicnn_patches(y, spec.sample_rate, cfg)
    starts_s = nominal_starts_s(len(y), spec)
    pool = window_pooling(patch_starts, cfg.patch_seconds, starts_s, spec.segment_seconds)
    return Windows(inputs=patches, none=pool @ patch_none(patches, cfg), starts_s=starts_s, pool=pool)


def front_end(spec: SpectrogramConfig, settings: dict):
    cfg = MusiCNNConfig.from_dict(settings["input"])
    return lambda y: patch_windows(y, spec, cfg)


def patch_rows(pooled, y: np.ndarray, spec: SpectrogramConfig, cfg: MusiCNNConfig) -> dict[str, np.ndarray]:
    """One track's patches: ``clean`` (``pooled``: patches → their pooled 1506-d features), ``none``,
    ``start_s`` and ``weight`` (each patch's share of the track's windows, ``window_pooling``, exactly as a
    placed song's windows pool them)."""
    patches, start_s = musicnn_patches(y, spec.sample_rate, cfg)
    windows_s = nominal_starts_s(len(y), spec)
    weight = window_pooling(start_s, cfg.patch_seconds, windows_s, spec.segment_seconds).mean(axis=0)
    return {"clean": pooled(patches), "none": patch_none(patches, cfg), "start_s": start_s.astype(np.float64),
            "weight": weight}


def song_inputs(spec: SpectrogramConfig, settings: dict):
    """A signal → its ``PatchInputs`` (each patch equal to ``patch_windows``'s row, computed on demand)."""
    cfg = MusiCNNConfig.from_dict(settings["input"])
    return lambda y: PatchInputs(y, spec, cfg)


class PatchInputs:
    """MusiCNN's inputs of a song, on demand: its 3 s patches of the 16 kHz mel, only the frames they need computed."""

    def __init__(self, y: np.ndarray, spec: SpectrogramConfig, cfg: MusiCNNConfig):
        self.cfg = cfg
        self.frames = signal_frames(resample(np.asarray(y, dtype=np.float32), spec.sample_rate, cfg.sample_rate),
                                    cfg)
        self.patch_starts = segment_starts(len(self.frames), cfg.patch_frames, cfg.patch_hop_frames)
        self.starts_s = nominal_starts_s(len(y), spec)
        self.pool = window_pooling(self.patch_starts * cfg.hop_length / cfg.sample_rate, cfg.patch_seconds,
                                   self.starts_s, spec.segment_seconds)
        self.n_inputs = len(self.patch_starts)
        # a patch's last frame is centred on its last hop and reaches half an FFT beyond
        self.ends_s = ((self.patch_starts + cfg.patch_frames - 1) * cfg.hop_length + cfg.n_fft // 2) / cfg.sample_rate

    def at(self, input_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(patches, their "none" rows): ``musicnn_patches``'s rows ``input_idx``."""
        n = self.cfg.patch_frames
        patches = np.zeros((len(input_idx), n, self.cfg.n_mels), dtype=np.float32)
        for row, s in enumerate(self.patch_starts[input_idx]):
            frames = self.frames[s : s + n]  # a song shorter than a patch: the rest stays silence (zeros)
            patches[row, : len(frames)] = musicnn_log(frames_power_mel(frames, self.cfg))
        return patches, patch_none(patches, self.cfg)


class MusiCNNBuild:
    """The build's side of MusiCNN (``contract.BuildNetwork``)."""

    augments = False  # its rows carry a ``weight`` instead

    def __init__(self, spec: SpectrogramConfig, cfg: MusiCNNConfig = MusiCNNConfig()):
        from .musicnn_net import load_musicnn
        from .weights import shipped_weights_file

        weights = shipped_weights_file(NAME)
        self.name, self.spec, self.cfg, self.model = NAME, spec, cfg, load_musicnn(weights)
        self.weights_path, self.cache_parts = str(weights), [NAME, cfg.to_dict()]
        self.settings = {"backbone": NAME, "weights": weights.name, "input": cfg.to_dict(),
                         "immediate": "pooled: max and mean over time of the front- and mid-end features (1506)"}
        self._pooled = None

    @property
    def rows(self):
        return partial(patch_rows, spec=self.spec, cfg=self.cfg)

    def graph(self) -> bytes:
        from ..onnx_features import export_graph
        from .musicnn_net import PooledOutput

        example = musicnn_patches(example_audio(self.spec), self.spec.sample_rate, self.cfg)[0]
        return export_graph(PooledOutput(self.model), example, 1)

    def track_features(self, audio: np.ndarray, track_id: str, seed: int) -> dict[str, np.ndarray]:
        if self._pooled is None:  # onnxruntime: several times eager torch
            from ..onnx_features import OnnxFeatures

            self._pooled = OnnxFeatures.from_graph(self.graph())
        return self.rows(self._pooled, audio)

    def serving(self, head: nn.Module) -> tuple[nn.Module, dict]:
        from .musicnn_serving import MusiCNNServing

        served = MusiCNNServing(self.model, head).eval()
        return served, served.served_state_dict()

    def check_inputs(self, audios: list) -> np.ndarray:
        picks = range(min(len(audios), CHECK_TRACKS))
        return np.concatenate([musicnn_patches(audios[i], self.spec.sample_rate, self.cfg)[0][:2] for i in picks])


def for_build(cfg, n_classes: int) -> MusiCNNBuild:
    return MusiCNNBuild(cfg.spectrogram)

