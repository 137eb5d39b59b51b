"""The networks a bundle can hold and the layer names they share.

One home for these names: the pipeline writes them into bundles and the
explorer reads them from here (it never defines its own).

A bundle holds one or more networks. Each is read out at the same four
places (``LAYERS``); MobileNetV2's keys are the bare layer names (as in every
bundle so far), other networks' keys carry their name: ``musicnn.deep``.
"""
from __future__ import annotations

LAYERS = ("none", "immediate", "deep", "shallow")
# Where each layer is read out, in a few words (the report's figure titles; the explorer words them for a class).
LAYER_PLACES = {"none": "spectrogram pixels", "immediate": "after the CNN", "deep": "inner dense layer",
                "shallow": "before softmax"}
# What the paper found in each of MobileNetV2's layers (Matei, Nebreda Bernal & Jethoe, Figure 4), tersely.
PAPER_FINDINGS = {"none": "not informative", "immediate": "some separation, not enough",
                  "deep": "best balance: clusters that still relate", "shallow": "tight clusters, no relations"}
DEFAULT_NETWORK = "mobilenet_v2"

NETWORKS = {
    "mobilenet_v2": {"title": "Trained on photos (ImageNet MobileNetV2, the paper)", "short": "MobileNetV2 (photos)"},
    "musicnn": {"title": "Trained on music (MusiCNN)", "short": "MusiCNN (music)"},
}


def embedding_key(network: str, layer: str) -> str:
    """The key of ``layer`` of ``network`` in a bundle: ``deep`` or ``musicnn.deep``."""
    return layer if network == DEFAULT_NETWORK else f"{network}.{layer}"


def split_key(key: str) -> tuple[str, str]:
    """``"musicnn.deep"`` → ``("musicnn", "deep")``; a bare layer name belongs to MobileNetV2."""
    network, _, layer = key.rpartition(".")
    return (network or DEFAULT_NETWORK), layer


def network_title(network: str) -> str:
    return NETWORKS.get(network, {}).get("title", network)


def layer_groups(keys) -> list[list[str]]:
    """Embedding keys grouped by network (in the order first seen), each group from input to output (``LAYERS``)."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(split_key(key)[0], []).append(key)
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return [sorted(g, key=lambda k: rank.get(split_key(k)[1], len(LAYERS))) for g in groups.values()]
