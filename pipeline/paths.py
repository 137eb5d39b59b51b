"""Where the project keeps the files it ships: the bundle the CLI and the explorer open by default, the weights.

One home for these paths (``info``, ``place``, ``report`` and the app all default to ``DEFAULT_BUNDLE``).
"""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_BUNDLE = ASSETS / "gtzan"  # the shipped bundle
WEIGHTS_DIR = ASSETS / "weights"  # the pretrained networks a build starts from (``weights.SHIPPED``)
