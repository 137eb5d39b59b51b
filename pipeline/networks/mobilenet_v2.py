"""MobileNetV2 pretrained on ImageNet photos (the paper's network) as a map network.

Its torch modules and weights are in ``mobilenet_v2_net``; it reads the
bundle's log-mel images (``image_network``). Its "immediate" layer is the
concatenated average pools of the blocks ``cfg.pool_blocks`` (all 19 by
default: the artist-grouped CV's choice). Its parameters are stored as
``backbone.*`` and ``head.*`` (as in every bundle so far).
"""
from __future__ import annotations

from pathlib import Path

from .image_network import ImageBuildNetwork, image_front_end, image_song_inputs

NAME = "mobilenet_v2"
TITLE = "Trained on photos (ImageNet MobileNetV2, the paper)"
SHORT = "MobileNetV2 (photos)"
NOTE = None  # the paper's findings speak for its layers
front_end = image_front_end
song_inputs = image_song_inputs


def for_build(cfg, n_classes: int) -> ImageBuildNetwork:
    """The ImageNet MobileNetV2 backbone (``cfg.weights``: the shipped file, a file or torchvision's API)."""
    from .mobilenet_v2_net import Backbone, load_imagenet_backbone

    backbone = Backbone(cfg.spectrogram.image_size, cfg.pool_blocks)
    weights_path = load_imagenet_backbone(backbone, cfg.weights)
    settings = {"backbone": NAME, "weights": Path(weights_path).name, "pool_blocks": list(cfg.pool_blocks)}
    return ImageBuildNetwork(NAME, backbone, ("backbone", "head"), cfg.spectrogram, cfg.train.augment != "none",
                             settings, weights_path, [])
