"""What every map network provides, and the pieces most of them share.

A network module (``mobilenet_v2``, ``musicnn``, ``efficientnet_lite0``) holds,
at module level and without importing torch (placing a song never does):

- ``TITLE``, ``SHORT``: what the app says about it; ``NOTE``: one sentence
  for its "immediate" layer (or None);
- ``front_end(spec, settings)``: the placer's front end, a function from a
  22 050 Hz signal to its ``Windows`` (``settings``: what the build recorded
  in ``bundle.json`` under ``networks.<name>.settings``);
- ``song_inputs(spec, settings)``: the same inputs on demand, a function from
  a signal to an object that knows where its windows and inputs are from its
  length alone (``starts_s``, ``pool``, ``n_inputs``; ``ends_s``: where each
  input's samples end, so a recording's inputs can be computed while it is
  still recorded, ``pipeline.early``) and computes any of its
  inputs and their "none" rows (``at``), each equal to ``front_end``'s (a first
  answer needs only a few windows of a long song);
- ``for_build(cfg, n_classes)``: a ``BuildNetwork`` (torch from here on).

``BuildNetwork`` is the build's side: its ``settings`` and feature-cache key
parts, ``rows`` and ``graph`` (one decoded track → its rows, wherever the
build's executor runs them; ``track_features`` here) and ``serving``
(the trained head → the module exported to ONNX, with its weights and a few
check inputs made from decoded audio).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

if TYPE_CHECKING:  # the build side only
    from torch import nn


@dataclass(frozen=True)
class Windows:
    """What a network's front end makes of a signal."""

    inputs: np.ndarray  # the graph's inputs, one per window (or several per window: see ``pool``)
    none: np.ndarray  # (n_windows, dim) the "none" layer: the input itself, downsampled
    starts_s: np.ndarray  # (n_windows,) window start times in s (the bundle's window grid)
    pool: np.ndarray | None = None  # (n_windows, n_inputs) averaging weights when inputs are not windows (patches)
    power: np.ndarray | None = None  # the clip's mel power, for the thumbnail (the image networks' front end)


class BuildNetwork(Protocol):
    """One network as the build uses it (made by its module's ``for_build``)."""

    name: str
    settings: dict  # its settings in bundle.json (the placer's ``front_end`` reads them back)
    weights_path: str  # the pretrained weights file (the feature cache is keyed on it)
    cache_parts: list  # what else its features depend on (another network's features never answer for its own)
    augments: bool  # whether ``track_features`` adds augmented training rows

    # (features_of, y, rng=None) → one decoded track's rows: ``clean`` (the "immediate" features), ``none``,
    # ``start_s``, and ``augmented``/``augmentation`` (training copies, drawn from ``rng``) or ``weight`` (each
    # row's share of the track). Plain data (picklable): the build's executors send it to their workers.
    rows: Callable

    def graph(self) -> bytes:
        """The frozen network that makes ``clean`` (``features_of``'s), exported to ONNX: what workers run."""

    def track_features(self, audio: np.ndarray, track_id: str, seed: int) -> dict[str, np.ndarray]:
        """``rows`` of one decoded track, here (the track's own generator: ``embed.track_rng(seed, track_id)``)."""

    def serving(self, head: nn.Module) -> tuple[nn.Module, dict]:
        """The module exported to ONNX (outputs ``serve.OUTPUTS``; ``time_axis`` attribute) and its weights."""

    def check_inputs(self, audios: list) -> np.ndarray:
        """A batch of network inputs from a few decoded tracks, for the ONNX check."""


def example_audio(spec) -> np.ndarray:
    """One window of quiet noise: an export's example input only gives the graph its traced shapes."""
    n = int(spec.segment_seconds * spec.sample_rate)
    return (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)


def spread_picks(n_items: int, n: int) -> np.ndarray:
    """Up to ``n`` indices spread evenly over ``range(n_items)``."""
    return np.unique(np.linspace(0, n_items - 1, min(n_items, max(1, n))).round().astype(int))


def serving_graph(backbone: nn.Module, head: nn.Module, names: tuple[str, str], time_axis: int) -> nn.Module:
    """A frozen backbone and its genre head as served: input → (immediate, deep, shallow, probabilities).

    ``names`` are the two modules' attribute names, the prefixes of their
    parameters in the bundle's weights file (so networks never collide there).
    """
    import torch
    from torch import nn

    class ServingGraph(nn.Module):
        def __init__(self):
            super().__init__()
            self.add_module(names[0], backbone)
            self.add_module(names[1], head)
            self.time_axis = time_axis

        def forward(self, x: torch.Tensor):
            immediate = getattr(self, names[0])(x)
            out = getattr(self, names[1])(immediate)
            return immediate, out["deep"], out["shallow"], torch.softmax(out["logits"], -1)

    return ServingGraph().eval()
