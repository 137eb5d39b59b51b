"""Placed songs as the maps draw them: a star per song and its path through time, in one layer (no Streamlit)."""
from __future__ import annotations

from .map_view import UPLOAD_PREFIX
from .trajectory_view import song_path


def markers(results, embedding: str) -> list[dict]:
    """Map markers (name, key, x, y, genre, confidence) of the placed songs in one embedding."""
    out = []
    for r in results:
        if r.ok and embedding in r.placement.maps:
            m = r.placement.maps[embedding]
            out.append({"key": r.key, "name": r.name, "x": m["x"], "y": m["y"], "genre": r.placement.genre,
                        "confidence": r.placement.probabilities[r.placement.genre]})
    return out


def paths(results, embedding: str) -> list[dict]:
    """The paths through time (``trajectory_view.song_path``) of placed songs longer than one window."""
    out = []
    for r in results:
        if r.ok:
            path = song_path(UPLOAD_PREFIX + r.key, r.name, r.placement, embedding)
            if path is not None:
                out.append(path)
    return out
