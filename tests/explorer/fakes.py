"""Stand-ins the explorer's tests share."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def fake_placement(n_windows: int, embeddings=("none", "immediate", "deep", "shallow"), seconds: float | None = None):
    """A Placement-like object whose windows walk along a line (window i at x = i)."""
    genres = ["blues", "jazz", "rock"]
    windows = [{"start_s": 5.0 * i, "end_s": 5.0 * i + 10.0, "genre": genres[i % 3], "confidence": 0.5 + 0.01 * i,
                "maps": {e: {"x": float(i), "y": float(-i)} for e in embeddings}} for i in range(n_windows)]
    duration = seconds if seconds is not None else 5.0 * n_windows + 5.0
    return SimpleNamespace(genre="jazz", probabilities={"jazz": 0.6, "blues": 0.3, "rock": 0.1},
                           maps={e: {"x": 0.5, "y": -0.5, "neighbours": []} for e in embeddings},
                           trajectory=windows, duration_s=duration, n_segments=n_windows,
                           vectors={e: np.ones(3, np.float32) for e in embeddings})
