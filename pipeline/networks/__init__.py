"""The registry of map networks, and the layer names they share.

One home for these names: the pipeline writes them into bundles and the
explorer reads them from here (it never defines its own). Each network is a
module of this package with the same small interface (``contract``): adding
one is a new module named in ``NAMES``. Nothing outside this package names a
particular network, except the default below.

A bundle holds one or more networks. Each is read out at the same four
places (``LAYERS``); MobileNetV2's keys are the bare layer names (as in every
bundle so far), other networks' keys carry their name: ``musicnn.deep``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

LAYERS = ("none", "immediate", "deep", "shallow")
# Where each layer is read out, in a few words (the report's figure titles; the explorer words them for a class).
LAYER_PLACES = {"none": "spectrogram pixels", "immediate": "after the CNN", "deep": "inner dense layer",
                "shallow": "before softmax"}
# What the paper found in each layer of its network, the default (Matei, Nebreda Bernal & Jethoe, Figure 4).
PAPER_FINDINGS = {"none": "not informative", "immediate": "some separation, not enough",
                  "deep": "best balance: clusters that still relate", "shallow": "tight clusters, no relations"}
DEFAULT_NETWORK = "mobilenet_v2"

NAMES = ("mobilenet_v2", "musicnn", "efficientnet_lite0")  # every network a build can hold
BUILD_DEFAULT = ("mobilenet_v2", "musicnn")  # what a build holds unless told (the shipped bundle's)


def network(name: str) -> ModuleType:
    """The module of a registered network (``contract``); KeyError for an unknown name."""
    if name not in NAMES:
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}")


def network_text(name: str, what: str) -> str | None:
    """What the app says about a network (``title``, ``short`` or ``note``); the name itself when unknown."""
    return getattr(network(name), what.upper()) if name in NAMES else (None if what == "note" else name)


def embedding_key(network: str, layer: str) -> str:
    """The key of ``layer`` of ``network`` in a bundle: ``deep`` or ``musicnn.deep``."""
    return layer if network == DEFAULT_NETWORK else f"{network}.{layer}"


def split_key(key: str) -> tuple[str, str]:
    """``"musicnn.deep"`` → ``("musicnn", "deep")``; a bare layer name belongs to the default network."""
    network, _, layer = key.rpartition(".")
    return (network or DEFAULT_NETWORK), layer


def network_title(name: str) -> str:
    return network_text(name, "title")


def layer_groups(keys) -> list[list[str]]:
    """Embedding keys grouped by network (in the order first seen), each group from input to output (``LAYERS``)."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(split_key(key)[0], []).append(key)
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return [sorted(g, key=lambda k: rank.get(split_key(k)[1], len(LAYERS))) for g in groups.values()]
