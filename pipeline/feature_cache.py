"""Features cached on disk, so a re-run after an interruption continues from them.

``build`` caches each track's rows on its own (``TrackCache``: keyed on the file, the config, the network
and its weights), so a resumed build computes only the missing tracks; the experiments cache whole
corpora (``cached_features``, keyed on the decoded audio and the code that made them). A different key
never reuses them.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


def cached_features(key: str, cache_dir: Path, compute) -> dict:
    """Load features saved under ``key`` or compute and save them (atomic replace)."""
    path = cache_dir / f"features-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:
            path.unlink(missing_ok=True)  # a damaged cache is recomputed, never trusted
    feats = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
    np.savez(tmp, **feats)
    os.replace(tmp, path)
    return feats


def file_key(track) -> str:
    """A track's file as a cache key: its id, genre, path, size and modification time (a changed file misses)."""
    st = track.path.stat()
    text = f"{track.track_id}|{track.genre}|{Path(track.path).resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class TrackCache:
    """One ``.npz`` per track under ``cache_dir/tracks-<key>/``, ``key`` naming the config, network and weights.

    Entries are written atomically (a temporary file renamed into place), so a
    build killed at any moment leaves whole entries only; a damaged one is
    computed again, never trusted.
    """

    def __init__(self, cache_dir: Path, key: str):
        self.dir = Path(cache_dir) / f"tracks-{key}"

    def path(self, track) -> Path:
        return self.dir / f"{file_key(track)}.npz"

    def names(self, track) -> list[str] | None:
        """The array names of a readable entry (its zip directory opens; no array is read), else None."""
        try:
            with np.load(self.path(track), allow_pickle=False) as z:
                return list(z.files) or None
        except Exception:
            return None

    def load(self, track) -> dict | None:
        try:
            with np.load(self.path(track), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:
            return None

    def save(self, track, rows: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(track)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
        np.savez(tmp, **rows)
        os.replace(tmp, path)
