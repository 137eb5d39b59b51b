"""The pretrained weights that travel with the project, and what ``--weights`` means.

Every build needs ImageNet MobileNetV2 weights (and, for the MusiCNN network,
MusiCNN's). They ship in ``assets/weights/`` as float16 safetensors, so a fresh
clone builds offline. Each file's sha256 is recorded here and checked before
use: a damaged file stops the build with a one-line message instead of giving
quietly wrong features.

``--weights`` (see :func:`resolve_weights`):

- omitted: the shipped MobileNetV2 file;
- ``torchvision``: torchvision's own weights API (``IMAGENET1K_V1``), which may
  download on a connected machine; the only path that ever downloads;
- any other value: a file, either a torchvision MobileNetV2 state dict
  (``.pth``, read with ``torch.load(weights_only=True)``) or a safetensors file.

This module imports no torch at module level: finding and checking the shipped
files must not cost a torch import (serving code may ask for paths).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError
from ..paths import WEIGHTS_DIR

TORCHVISION = "torchvision"  # the --weights value that asks torchvision's weights API
TORCHVISION_WEIGHTS = "IMAGENET1K_V1"  # the float ImageNet weights the shipped file stands in for
_SAFETENSORS_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


@dataclass(frozen=True)
class ShippedWeights:
    """One weights file in ``assets/weights``."""

    network: str
    path: Path
    sha256: str
    what: str


SHIPPED = {
    w.network: w
    for w in (
        ShippedWeights("mobilenet_v2", WEIGHTS_DIR / "mobilenet_v2" / "mobilenet_v2_imagenet_features_f16.safetensors",
                       "30faa7d6affb3e4f200c5c61c846302968d7f43b374415437724f8e21552ff9a",
                       "ImageNet MobileNetV2 backbone (features.*), float16"),
        ShippedWeights("musicnn", WEIGHTS_DIR / "musicnn" / "msd_musicnn_f16.safetensors",
                       "ec8409057436342816740f03e888269c6e457f9b7537e6776339a806718d936e",
                       "MusiCNN (MSD), TensorFlow variable names, float16"),
    )
}


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_weights_file(network: str = "mobilenet_v2") -> Path:
    """The shipped weights file of ``network``, after checking its sha256.

    Raises
    ------
    WeightsError
        The file is missing or its bytes are not the ones shipped (a damaged
        download, a git checkout without the file, a local edit).
    """
    w = SHIPPED[network]
    where = _display_path(w.path)
    if not w.path.is_file():
        raise WeightsError(f"the shipped {network} weights are missing: {where}; restore the project's assets/weights "
                           f"folder (e.g. git checkout -- assets/weights) or pass --weights FILE")
    digest = file_sha256(w.path)
    if digest != w.sha256:
        raise WeightsError(f"the shipped {network} weights are damaged: {where} has sha256 {digest[:12]}…, expected "
                           f"{w.sha256[:12]}…; restore it (e.g. git checkout -- assets/weights) or pass --weights FILE")
    return w.path


def _display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (shorter messages)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class WeightsChoice:
    """What a ``--weights`` value asks for: ``kind`` is "shipped", "torchvision" or "file"."""

    kind: str
    path: Path | None = None


def resolve_weights(value: str | Path | None) -> WeightsChoice:
    """Interpret a ``--weights`` value (no file is read here).

    Parameters
    ----------
    value : None (the shipped MobileNetV2 file), ``"torchvision"`` (torchvision's
        weights API; write ``./torchvision`` for a file of that name), or a path.
    """
    if value is None or str(value) == "":
        return WeightsChoice("shipped", SHIPPED["mobilenet_v2"].path)
    if str(value) == TORCHVISION:
        return WeightsChoice(TORCHVISION)
    return WeightsChoice("file", Path(value))


def is_safetensors(path: str | Path) -> bool:
    """Whether a file starts like safetensors: an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n <= _SAFETENSORS_MAX_HEADER and head[8:9] == b"{"


def read_state_dict(path: str | Path) -> dict:
    """A state dict from a safetensors file or a ``torch.save`` file, float tensors as float32.

    Never unpickles code: ``.pth`` files go through ``torch.load(weights_only=True)``.

    Raises
    ------
    WeightsError
        Missing, unreadable, or not a flat dict of tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        if is_safetensors(path):
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: say which, in one line
        raise WeightsError(f"cannot read weights {path.name}: {(str(e).splitlines() or [''])[0]}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"cannot read weights {path.name}: not a state dict (a {type(state).__name__})")
    # Non-tensor entries (a quantized model's packed parameters) are dropped: the strict load then names what is
    # missing.
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items() if isinstance(v, torch.Tensor)}


def torchvision_state_dict() -> tuple[dict, Path]:
    """torchvision's ImageNet MobileNetV2 state dict and the cached file it came from.

    torchvision reads ``$TORCH_HOME/hub/checkpoints`` and downloads into it when
    the file is absent: only ``--weights torchvision`` comes here.
    """
    from torch.hub import get_dir
    from torchvision.models import MobileNet_V2_Weights

    weights = MobileNet_V2_Weights[TORCHVISION_WEIGHTS]
    cached = Path(get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)  # as torchvision itself asks
    except Exception as e:  # offline, a proxy, a half-written cache file
        raise WeightsError(f"torchvision could not provide MobileNetV2 {TORCHVISION_WEIGHTS} ({type(e).__name__}: "
                           f"{(str(e).splitlines() or [''])[0]}); it downloads them once on a connected machine into "
                           f"{cached.parent}; or leave out --weights to use the shipped ones") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, cached


def backbone_state_dict(value: str | Path | None) -> tuple[dict, Path]:
    """The MobileNetV2 state dict a ``--weights`` value names, and the file it was read from.

    The file is what the build's feature cache is keyed on, so changed weights
    never reuse stale features.
    """
    choice = resolve_weights(value)
    if choice.kind == TORCHVISION:
        return torchvision_state_dict()
    path = shipped_weights_file("mobilenet_v2") if choice.kind == "shipped" else choice.path
    return read_state_dict(path), path


def float16_copy(state: dict, keep_prefix: str = "") -> dict:
    """The tensors of ``state`` whose names start with ``keep_prefix``, floats as float16, contiguous.

    How the shipped files were made (see the README): the MobileNetV2 file keeps
    ``features.`` only, MusiCNN's every variable.
    """
    import torch

    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()
            if k.startswith(keep_prefix) and isinstance(v, torch.Tensor)}
