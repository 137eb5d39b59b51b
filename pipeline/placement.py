"""Where a placed song lands: what ``python -m pipeline place`` prints and the explorer draws."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .readout import readout


@dataclass
class Placement:
    """Where one song lands. ``to_json`` gives the CLI's JSON record."""

    file: str
    genre: str
    probabilities: dict
    maps: dict  # embedding key → {"x", "y", "neighbours": [{"track_id", "genre", "similarity", ...}]}
    duration_s: float
    n_segments: int
    vectors: dict = field(repr=False, default_factory=dict)  # embedding key → mean vector
    thumbnail: np.ndarray | None = field(repr=False, default=None)  # (64, 320) uint8 log-mel of the whole clip
    # per sounding window: {"start_s", "end_s", "genre", "confidence", "maps": {e: {x, y}}}
    trajectory: list | None = None
    file_duration_s: float | None = None  # set when the file is longer than MAX_SECONDS: only its start was placed
    votes: dict = field(default_factory=dict)  # genre → how many of the placed sounding windows chose it

    @property
    def readout(self) -> str:
        """'pop — 24 of 42 windows; classical 11': the genre and how much of the song supports it."""
        return readout(self.genre, self.votes, sum(self.votes.values()))

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("file", "genre", "probabilities", "maps", "duration_s", "n_segments")}
        for k in ("file_duration_s", "trajectory"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return {**out, "votes": self.votes, "readout": self.readout}
