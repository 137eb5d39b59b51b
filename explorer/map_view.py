"""The t-SNE map: one dot per track, coloured three ways, plus overlays.

``base_figure`` draws the tracks of one embedding (cache it per embedding and
colouring); ``add_overlays`` returns a copy with uploaded songs drawn as
labelled stars, songs' paths through time and the selected items highlighted.
Every trace carries ``meta.kind`` ("tracks", "upload", "trajectory") so tests and
later features can find them. ``small_figure`` is the same map for the 2×2 grid.
"""
from __future__ import annotations

import pandas as pd

from .palette import CORRECT_COLOUR, UPLOAD_OUTLINE, WRONG_COLOUR, genre_colours
from .plotting import base_layout, figure
from .trajectory_view import trajectory_trace

COLOUR_MODES = {
    "genre": "its real genre",
    "predicted": "the genre the model predicts",
    "correct": "whether the model is right",
}
SPLIT_NAMES = {"train": "used in training", "val": "used to decide when to stop training",
               "test": "held out for testing"}
UPLOAD_PREFIX = "upload:"
# How plotly draws selected points, whether a click selected them or the page did (selectedpoints).
SELECTED_STYLE = dict(marker=dict(size=20, opacity=1.0))
UNSELECTED_STYLE = dict(marker=dict(opacity=0.2))
MAP_HEIGHT = 640
GRID_HEIGHT = 420

_HOVER = ("<b>%{customdata[1]}</b><br>%{customdata[0]}<br>genre: <b>%{customdata[2]}</b>"
          "<br>model says: %{customdata[3]} (%{customdata[4]})<br>%{customdata[5]}<extra></extra>")


def display_name(artist, title) -> str:
    """'Artist – Title', or what is known of it."""
    def known(v) -> bool:
        return v is not None and not pd.isna(v) and str(v).strip() != ""
    parts = [str(v) for v in (artist, title) if known(v)]
    return " – ".join(parts) if parts else "unknown artist and title"


def map_frame(bundle, embedding: str) -> pd.DataFrame:
    """One row per track: map position and everything the hover and colouring need."""
    t = bundle.tracks
    xy = bundle.coords(embedding)
    return pd.DataFrame({
        "track_id": t["track_id"].astype(str).to_numpy(),
        "x": xy[:, 0].astype(float), "y": xy[:, 1].astype(float),
        "genre": t["genre"].astype(str).to_numpy(), "predicted": t["predicted"].astype(str).to_numpy(),
        "confidence": t["confidence"].astype(float).to_numpy(), "split": t["split"].astype(str).to_numpy(),
        "name": [display_name(a, b) for a, b in zip(t["artist"], t["title"])],
        "correct": (t["genre"] == t["predicted"]).to_numpy(),
    })


def colour_groups(frame: pd.DataFrame, labels, colour_by: str):
    """(legend name, colour, symbol, row mask) per trace, in legend order."""
    if colour_by == "correct":
        return [("model right", CORRECT_COLOUR, "circle", frame["correct"]),
                ("model wrong", WRONG_COLOUR, "diamond", ~frame["correct"])]
    if colour_by not in ("genre", "predicted"):
        raise ValueError(f"colour_by must be one of {list(COLOUR_MODES)}, not {colour_by!r}")
    colours = genre_colours(labels)
    return [(g, colours[g], "circle", frame[colour_by] == g) for g in labels]


def base_figure(frame: pd.DataFrame, labels, colour_by: str = "genre", height: int = MAP_HEIGHT):
    """The map of every track: one trace per colour group (legend click hides a group)."""
    traces = []
    for name, colour, symbol, mask in colour_groups(frame, labels, colour_by):
        rows = frame[mask]
        if rows.empty:
            continue
        custom = list(zip(rows["track_id"], rows["name"], rows["genre"], rows["predicted"],
                          [f"{c:.0%}" for c in rows["confidence"]], [SPLIT_NAMES.get(s, s) for s in rows["split"]]))
        traces.append(dict(
            type="scatter", mode="markers", name=name, x=rows["x"].tolist(), y=rows["y"].tolist(),
            customdata=custom, hovertemplate=_HOVER, meta=dict(kind="tracks"),
            marker=dict(color=colour, size=12, symbol=symbol, opacity=0.9, line=dict(width=1, color="white")),
            selected=SELECTED_STYLE, unselected=UNSELECTED_STYLE,
        ))
    legend_title = {"genre": "genre", "predicted": "predicted", "correct": ""}[colour_by]
    axis = dict(showticklabels=False, showgrid=False, zeroline=False)
    layout = base_layout(
        height=height, xaxis=axis, yaxis=axis,
        legend=dict(title=dict(text=legend_title), itemsizing="constant", bgcolor="rgba(255,255,255,0.8)"),
        margin=dict(l=10, r=10, t=40, b=10),  # the toolbar sits above the plot, not on the legend
    )
    return figure(traces, layout)


def upload_trace(marker: dict, colour: str) -> dict:
    """A labelled star for one uploaded song; ``marker`` has name, key, x, y, genre, confidence."""
    return dict(
        type="scatter", mode="markers+text", name=f"★ {marker['name']}", x=[marker["x"]], y=[marker["y"]],
        text=[marker["name"]], textposition="top center", textfont=dict(size=15, color=UPLOAD_OUTLINE),
        customdata=[[UPLOAD_PREFIX + str(marker["key"]), marker["name"]]],
        hovertemplate=(f"<b>{marker['name']}</b> (your song)<br>model says: <b>{marker['genre']}</b> "
                       f"({marker['confidence']:.0%})<extra></extra>"),
        marker=dict(symbol="star", size=26, color=colour, line=dict(width=2, color=UPLOAD_OUTLINE)),
        selected=dict(marker=dict(size=34, opacity=1.0)), unselected=UNSELECTED_STYLE,
        meta=dict(kind="upload", name=marker["name"]), cliponaxis=False,
        legendgroup=UPLOAD_PREFIX + str(marker["key"]),  # with its path through time
    )


def small_figure(frame: pd.DataFrame, labels, colour_by: str, title: str, height: int = GRID_HEIGHT):
    """The map for one cell of the side-by-side grid: no legend, the layer's name as title."""
    d = base_figure(frame, labels, colour_by, height=height).to_dict()
    d["layout"].update(showlegend=False, title=dict(text=title, x=0.02, xanchor="left", font=d["layout"]["title"]["font"]),
                       margin=dict(l=10, r=10, t=40, b=10))
    return figure(d["data"], d["layout"])


def add_overlays(fig, frame: pd.DataFrame, labels, markers=(), selected=(), paths=()):
    """A copy of ``fig`` with songs' paths, upload stars on top and ``selected`` items highlighted.

    ``paths`` come from ``trajectory_view.song_path`` (drawn under the stars; the
    first one carries the time colour bar).

    ``selected`` holds item keys (track ids, ``upload:<key>``); they are shown the
    way plotly shows a click selection (``selectedpoints``: bigger, the rest faded),
    so the same tracks stand out on whichever embedding's map is drawn.
    """
    if not markers and not selected and not paths:
        return fig
    colours = genre_colours(labels)
    d = fig.to_dict()
    data = (d["data"] + [trajectory_trace(p, colours, showscale=i == 0) for i, p in enumerate(paths)]
            + [upload_trace(m, colours.get(m["genre"], "#888888")) for m in markers])
    if paths:  # room for the time colour bar under the map
        d["layout"]["margin"] = {**d["layout"].get("margin", {}), "b": 70}
    if selected:
        wanted = set(selected)
        for trace in data:
            keys = [c[0] for c in trace.get("customdata") or []]
            trace["selectedpoints"] = [i for i, k in enumerate(keys) if k in wanted]
    return figure(data, d["layout"])


def map_figure(frame: pd.DataFrame, labels, colour_by: str = "genre", markers=(), selected=(), paths=()):
    """Base map plus overlays in one call (the page caches the base separately)."""
    return add_overlays(base_figure(frame, labels, colour_by), frame, labels, markers, selected, paths)


def selection_keys(selection) -> list[str]:
    """Item keys (track ids or ``upload:<key>``) of the points in a chart selection, in order."""
    try:
        points = selection["selection"]["points"] or []
    except (KeyError, TypeError):
        points = []
    keys = []
    for p in points:
        custom = p.get("customdata")
        key = custom[0] if isinstance(custom, (list, tuple)) and custom else custom
        if isinstance(key, str) and key not in keys:
            keys.append(key)
    return keys
