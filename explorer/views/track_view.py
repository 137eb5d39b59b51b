"""The detail panel for one clip or uploaded song: spectrogram, probabilities, neighbours, audio."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .map_view import display_name
from .palette import genre_colours
from .plotting import base_layout, colorscale, figure


def track_index(bundle, track_id: str) -> int | None:
    """Row of ``track_id`` in the bundle, or None."""
    hits = np.flatnonzero(bundle.tracks["track_id"].astype(str).to_numpy() == track_id)
    return int(hits[0]) if hits.size else None


def track_seconds(bundle, index: int) -> float:
    """Length of audio analysed for a track: its last window's start plus the window length."""
    seg_len = float(bundle.meta["config"]["spectrogram"]["segment_seconds"])
    starts = bundle.arrays.get("segment_start_s")
    owner = bundle.arrays.get("segment_track")
    if starts is None or owner is None or not np.any(owner == index):
        return float(bundle.meta["config"].get("max_track_seconds") or seg_len)
    return float(np.max(starts[owner == index])) + seg_len


def spectrogram_figure(thumbnail: np.ndarray, seconds: float, title: str = "Spectrogram", height: int = 260):
    """A log-mel thumbnail (row 0 = lowest pitch) as a heatmap: time across, pitch up."""
    img = np.asarray(thumbnail)
    n_rows, n_cols = img.shape
    trace = dict(type="heatmap", z=img.tolist(), x0=0, dx=seconds / n_cols, y0=0, dy=1,
                 colorscale=colorscale("Magma"), showscale=False, zmin=0, zmax=255,
                 hovertemplate="%{x:.1f} s<extra></extra>")
    layout = base_layout(height=height, title=dict(text=title),
                         xaxis=dict(title=dict(text="time (s)"), showgrid=False, range=[0, seconds]),
                         yaxis=dict(title=dict(text="low → high pitch"), showticklabels=False, showgrid=False,
                                    range=[-0.5, n_rows - 0.5]),
                         margin=dict(l=10, r=10, t=40, b=10))
    return figure([trace], layout)


def probability_figure(probabilities: dict, labels=None, title: str = "What the model hears", height: int = 330):
    """Horizontal bars of genre probabilities, most likely on top."""
    labels = list(labels) if labels is not None else list(probabilities)
    colours = genre_colours(labels)
    items = sorted(probabilities.items(), key=lambda kv: kv[1])  # plotly draws bottom-up
    trace = dict(type="bar", orientation="h", x=[float(p) for _, p in items], y=[g for g, _ in items],
                 marker=dict(color=[colours.get(g, "#888888") for g, _ in items]),
                 text=[f"{p:.0%}" for _, p in items], textposition="outside", cliponaxis=False,
                 constraintext="none",
                 hovertemplate="%{y}: %{x:.1%}<extra></extra>")
    layout = base_layout(height=height, title=dict(text=title),
                         xaxis=dict(range=[0, 1.12], tickformat=".0%", showgrid=True),
                         yaxis=dict(showgrid=False, automargin=True), margin=dict(l=10, r=10, t=40, b=10))
    return figure([trace], layout)


def neighbour_frame(neighbours: list) -> pd.DataFrame:
    """The 'sounds like' table by rank: cosine similarity, genre, artist – title, clip id."""
    return pd.DataFrame({
        "similarity": [float(n["similarity"]) for n in neighbours],
        "genre": [n["genre"] for n in neighbours],
        "artist – title": [display_name(n.get("artist"), n.get("title")) for n in neighbours],
        "clip": [n["track_id"] for n in neighbours],
    }, index=pd.RangeIndex(1, len(neighbours) + 1, name="rank"))


def track_probabilities(bundle, index: int) -> dict:
    """The model's genre probabilities for one bundle track."""
    return {g: float(p) for g, p in zip(bundle.labels, bundle.arrays["probabilities"][index])}


BROWSER_AUDIO = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac"}


def audio_for_player(path: Path) -> dict:
    """Arguments for ``st.audio``: the file itself when browsers play its format, else decoded samples (.au)."""
    mime = BROWSER_AUDIO.get(path.suffix.lower())
    if mime:
        return {"data": str(path), "format": mime}
    from pipeline.audio import SAMPLE_RATE, load_audio

    return {"data": load_audio(path, sr=SAMPLE_RATE), "sample_rate": SAMPLE_RATE}


def audio_file(bundle, index: int) -> Path | None:
    """The track's audio file if the dataset is on this machine, else None."""
    root = bundle.meta.get("dataset", {}).get("root")
    rel = bundle.tracks["path"].iloc[index]
    if not root or rel is None or pd.isna(rel):
        return None
    path = Path(root) / str(rel)
    return path if path.is_file() else None


def selection_summary(genres) -> str:
    """'country 12 · pop 5 · disco 3': the genres of a group of selected clips, most common first."""
    counts = pd.Series(list(genres), dtype=object).value_counts(sort=True)
    return " · ".join(f"{g} {n}" for g, n in counts.items())


def upload_audio_for_player(data: bytes, filename: str) -> dict:
    """Arguments for ``st.audio`` from an upload's bytes: as they are when browsers play the format, else decoded."""
    from pathlib import PurePath

    mime = BROWSER_AUDIO.get(PurePath(filename).suffix.lower())
    if mime:
        return {"data": bytes(data), "format": mime}
    from pipeline.audio import SAMPLE_RATE, load_audio

    return {"data": load_audio(bytes(data), sr=SAMPLE_RATE, filename=filename), "sample_rate": SAMPLE_RATE}
