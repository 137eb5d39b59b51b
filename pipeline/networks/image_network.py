"""The shared half of the networks that read log-mel spectrogram "images" (ImageNet CNNs).

Their front end is the bundle's window grid of log-mel images (one STFT of the
song, ``embed.segment_images``); their build features are a frozen backbone's
pooled output on every window, run in onnxruntime, plus one augmented copy of
every window for training (the paper's scheme: none/gain/pitch/noise, drawn
uniformly, from a generator seeded by the build's seed and the track's id,
``embed.track_rng``, so a track's rows do not depend on which tracks came
before it, nor on which process computed them).
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..embed import none_vectors, segment_images, track_features, track_rng
from ..onnx_features import export_graph
from ..spectrogram import SpectrogramConfig, clip_windows, mel_images, nominal_starts_s, window_samples, window_starts
from .contract import Windows, example_audio, serving_graph, spread_picks

if TYPE_CHECKING:
    from torch import nn

CHECK_WINDOWS = 24  # windows of the build's tracks run through torch and onnxruntime


def image_windows(y: np.ndarray, spec: SpectrogramConfig) -> Windows:
    """The front end: log-mel images of the windows, from one STFT of the song."""
    clip = clip_windows(y, spec)
    return Windows(inputs=clip.images, none=none_vectors(clip.images, spec), starts_s=clip.starts_s, power=clip.power)


def image_front_end(spec: SpectrogramConfig, settings: dict):
    """``front_end`` of an image network: its windows need nothing beyond the bundle's spectrogram settings."""
    return lambda y: image_windows(y, spec)


def image_song_inputs(spec: SpectrogramConfig, settings: dict):
    """``song_inputs`` of an image network: a signal → its ``ImageInputs``."""
    return lambda y: ImageInputs(y, spec)


class ImageInputs:
    """An image network's inputs of a song, on demand: one log-mel image per window (``mel_image`` of its samples)."""

    pool = None  # an input is a window

    def __init__(self, y: np.ndarray, spec: SpectrogramConfig):
        self.y, self.spec = y, spec
        self.starts = window_starts(len(y), spec)
        self.starts_s = nominal_starts_s(len(y), spec)
        self.n_inputs = len(self.starts)
        self.ends_s = (self.starts + spec.segment_seconds * spec.sample_rate) / spec.sample_rate  # a window's image

    def at(self, input_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(images, their "none" rows) of these windows: what ``clip_windows`` gives them."""
        seg = int(round(self.spec.segment_seconds * self.spec.sample_rate))
        segments = window_samples(self.y, self.starts[input_idx], seg)
        images = mel_images(segments, self.spec)
        return images, none_vectors(images, self.spec)


class ImageBuildNetwork:
    """The build's side of an image network (``contract.BuildNetwork``), given its frozen backbone.

    Parameters
    ----------
    name : the network's registry name.
    backbone : a torch module, (N, n_mels, frames) images in [0, 1] → (N, dim) features.
    names : the backbone's and the head's parameter prefixes in the bundle's weights file.
    spec : the bundle's spectrogram settings.
    augments : add an augmented copy of every window (training data only).
    """

    time_axis = 2  # (N, n_mels, frames): the frames grow with the audio

    def __init__(self, name: str, backbone: nn.Module, names: tuple[str, str], spec: SpectrogramConfig,
                 augments: bool, settings: dict, weights_path: str, cache_parts: list):
        self.name, self.backbone, self.names, self.spec, self.augments = name, backbone, names, spec, augments
        self.settings, self.weights_path, self.cache_parts = settings, weights_path, cache_parts
        self._features = None

    @property
    def rows(self):
        return partial(track_features, cfg=self.spec)

    def graph(self) -> bytes:
        return export_graph(self.backbone, segment_images(example_audio(self.spec), self.spec)[0], self.time_axis)

    def features_of(self, images: np.ndarray) -> np.ndarray:
        """The backbone's features, in onnxruntime (``graph()``, the workers' graph, opened once)."""
        if self._features is None:
            from ..onnx_features import OnnxFeatures

            self._features = OnnxFeatures.from_graph(self.graph())
        return self._features(images)

    def track_features(self, audio: np.ndarray, track_id: str, seed: int) -> dict[str, np.ndarray]:
        return self.rows(self.features_of, audio, rng=track_rng(seed, str(track_id)) if self.augments else None)

    def serving(self, head: nn.Module) -> tuple[nn.Module, dict]:
        graph = serving_graph(self.backbone, head, self.names, self.time_axis)
        return graph, graph.state_dict()

    def check_inputs(self, audios: list, n: int = CHECK_WINDOWS) -> np.ndarray:
        """Up to ``n`` windows, two from each of tracks spread over ``audios``."""
        picks = spread_picks(len(audios), n // 2)
        return np.concatenate([segment_images(audios[i], self.spec)[0][:2] for i in picks])[:n]
