"""The t-SNE map: one dot per track, coloured three ways, plus overlays.

``base_figure`` draws the tracks of one embedding (cache it per embedding and
colouring); ``add_overlays`` returns a copy with uploaded songs drawn as
labelled stars, songs' paths through time and the selected items highlighted.
Every trace carries ``meta.kind`` ("tracks", "upload", "trajectory") so tests and
later features can find them. ``small_figure`` is the same map for the 2×2 grid.

Large collections: dots shrink and fade as their number grows (``dot_style``), so
clusters stay readable instead of merging into blobs, and from ``GL_FROM`` dots on
the tracks are drawn with WebGL (``scattergl``: one canvas instead of an SVG
element per dot). Stars and song paths stay SVG, drawn above the canvas.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .palette import CORRECT_COLOUR, UPLOAD_OUTLINE, WRONG_COLOUR, genre_colours
from .plotting import base_layout, figure, plotly_text, short_text
from .trajectory_view import SONG_LEGEND, between_genres, trajectory_trace

COLOUR_MODES = {
    "genre": "its real genre",
    "predicted": "the genre the model predicts",
    "correct": "whether the model is right",
}
SPLIT_NAMES = {"train": "used in training", "val": "used to decide when to stop training",
               "test": "held out for testing"}
UPLOAD_PREFIX = "upload:"
SELECT_MODES = ("points", "lasso", "box")  # how a map's dots can be selected (st.plotly_chart selection_mode)
# How plotly draws selected points, whether a click selected them or the page did (selectedpoints).
SELECTED_STYLE = dict(marker=dict(size=20, opacity=1.0))
UNSELECTED_STYLE = dict(marker=dict(opacity=0.2))
MAP_HEIGHT = 470  # the whole map fits a 1280 × 720 projector under the title and the controls
GRID_HEIGHT = 330  # one cell of the 2 × 2 grid of small maps
# From this many dots on, the tracks are drawn with WebGL. benchmarks/bench_app.py --gl-sweep, headless
# Chromium with software GL (SwiftShader), loaded 2-core machine: SVG costs ~0.1-0.15 ms per dot to draw and
# as much to redraw a selection; WebGL ~0.4-0.6 s whatever the count. They cross at 2 000-3 000 dots (a real
# GPU moves it lower); WebGL also keeps the page's element count flat.
GL_FROM = 2500
# A larger collection's maps draw this many of its clips as dots: an even sample (seeded, the same clips on
# every layer), so its density reads as the whole one does. 100 000 dots made a 15 MB message per switch and
# 1.4 s before the map was drawn (bench_app.py --breakdown --sizes 100000); a 10 000-dot map, ~1.5 MB. Every
# clip stays findable ("Find a clip"), and a clip found or a song's neighbours are drawn over the sample.
MAX_DOTS = 10_000
LABEL_CHARS = 24  # a song's name on the map and in the legend is cut to this (its whole name is in the hover)
# The songs' legend: under the map's left two thirds (the time colour bar has the right third), one song a row,
# or two a row when every name is short (at most SHORT_NAME characters: 145 px an entry on a 1280 × 720
# screen). Beside the genres' legend it would widen the right margin by its longest name, and the plot lose
# that width; a legend wider than the plot pushes a margin too, so each entry has a fixed share of its width.
SHORT_NAME = 12
SONG_LEGEND_LAYOUT = dict(orientation="h", x=0.0, xanchor="left", y=-0.02, yanchor="top", entrywidth=0.68,
                          entrywidthmode="fraction", font=dict(size=13), bgcolor="rgba(255,255,255,0)",
                          itemsizing="constant", tracegroupgap=0, title=dict(text=""))  # each song is its own group

_HOVER = ("<b>%{customdata[1]}</b><br>%{customdata[0]}<br>genre: <b>%{customdata[2]}</b>"
          "<br>model says: %{customdata[3]} (%{customdata[4]})<br>%{customdata[5]}<extra></extra>")
# A WebGL map's hover: its customdata is only what a dot cannot share with its trace (id, name; the real genre
# when the traces are not the real genres). Six strings a dot made 85 % of a 10 000-track map's 1.4 MB message,
# sent again on every switch; the model's guess, confidence and split are in the detail panel a click opens.
SLIM_HINT = "click for details"


def display_name(artist, title) -> str:
    """'Artist – Title', or what is known of it."""
    def known(v) -> bool:
        return v is not None and not pd.isna(v) and str(v).strip() != ""
    parts = [str(v) for v in (artist, title) if known(v)]
    return " – ".join(parts) if parts else "unknown artist and title"


def display_names(artists: pd.Series, titles: pd.Series) -> np.ndarray:
    """``display_name`` of every row at once (100 000 clips: 0.05 s against 0.5 s one by one)."""
    def known(v: pd.Series) -> tuple[pd.Series, pd.Series]:
        text = v.astype("string")
        return text.fillna(""), text.notna() & (text.str.strip() != "")
    (a, has_a), (t, has_t) = known(artists), known(titles)
    names = np.where(has_a & has_t, a + " – " + t, np.where(has_a, a, np.where(has_t, t, "unknown artist and title")))
    return names.astype(object)


def map_frame(bundle, embedding: str) -> pd.DataFrame:
    """One row per track: map position and everything the hover and colouring need."""
    t = bundle.tracks
    xy = bundle.coords(embedding)
    return pd.DataFrame({
        "track_id": t["track_id"].astype(str).to_numpy(),
        "x": xy[:, 0].astype(float), "y": xy[:, 1].astype(float),
        "genre": t["genre"].astype(str).to_numpy(), "predicted": t["predicted"].astype(str).to_numpy(),
        "confidence": t["confidence"].astype(float).to_numpy(), "split": t["split"].astype(str).to_numpy(),
        "name": display_names(t["artist"], t["title"]),
        "correct": (t["genre"] == t["predicted"]).to_numpy(),
    })


def drawn_rows(n: int, limit: int = MAX_DOTS, seed: int = 0) -> np.ndarray:
    """Rows (in order) of a collection of ``n`` clips that its maps draw as dots: all, or ``limit`` of them
    sampled evenly at random with ``seed``; they depend on ``n`` alone, so every layer draws the same clips."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def drawn(frame: pd.DataFrame, limit: int = MAX_DOTS) -> pd.DataFrame:
    """The rows of a ``map_frame`` its map draws (``drawn_rows``), index reset."""
    return frame if len(frame) <= limit else frame.iloc[drawn_rows(len(frame), limit)].reset_index(drop=True)


def colour_groups(frame: pd.DataFrame, labels, colour_by: str):
    """(legend name, colour, symbol, row mask) per trace, in legend order."""
    if colour_by == "correct":
        return [("model right", CORRECT_COLOUR, "circle", frame["correct"]),
                ("model wrong", WRONG_COLOUR, "diamond", ~frame["correct"])]
    if colour_by not in ("genre", "predicted"):
        raise ValueError(f"colour_by must be one of {list(COLOUR_MODES)}, not {colour_by!r}")
    colours = genre_colours(labels)
    return [(g, colours[g], "circle", frame[colour_by] == g) for g in labels]


def dot_style(n: int, small: bool = False) -> dict:
    """Marker size, opacity and outline for a map of ``n`` dots, and whether to draw them with WebGL.

    The dot area shrinks roughly as 1/sqrt(n) (12 px at ~100 dots, ~7 px at 1 000, ~4 px at 10 000) and
    the dots fade, so that dense groups show as darker areas instead of one solid blob. Small maps (the
    grid) use three quarters of the size.
    """
    n = max(int(n), 1)
    size = float(min(12.0, max(3.5, 12.0 * (100.0 / n) ** 0.25)))
    opacity = float(min(0.9, max(0.45, 0.9 - 0.15 * max(0.0, (n / 100.0) ** 0.25 - 1.0))))
    if small:
        size = max(3.0, 0.75 * size)
    selected = max(size * 5 / 3, 10.0)  # 20 px for the 12 px dots of a small map
    return {"size": round(size, 1), "opacity": round(opacity, 2), "outline": 1.0 if n < 1000 else 0.0,
            "selected_size": round(selected, 1), "gl": n >= GL_FROM}


def _names(rows: pd.DataFrame) -> list[str]:
    """The clips' names as Plotly's hover draws them literally (an artist "A & B" stays "A & B")."""
    return [plotly_text(n) for n in rows["name"]]


def _hover_rows(rows: pd.DataFrame) -> list:
    return list(zip(rows["track_id"], _names(rows), rows["genre"], rows["predicted"],
                    [f"{c:.0%}" for c in rows["confidence"]], [SPLIT_NAMES.get(s, s) for s in rows["split"]]))


def slim_hover(rows: pd.DataFrame, colour_by: str, group: str) -> tuple[list, str]:
    """(customdata, hovertemplate) of one trace of a WebGL map: [track id, name] per dot, plus the real genre
    when ``group`` (the trace's name) is not it, plus the split when colouring by right / wrong (its help says
    the hover tells held-out clips); what the whole trace shares is written once, in the template.

    customdata[0] stays the item key, as on every map (selections are read from it).
    """
    said = plotly_text(group)
    if colour_by == "genre":
        return list(zip(rows["track_id"], _names(rows))), _slim_template(f"genre: <b>{said}</b>")
    columns = [rows["track_id"], _names(rows), rows["genre"]]
    if colour_by == "predicted":
        line = f"genre: <b>%{{customdata[2]}}</b><br>model says: <b>{said}</b>"
    else:
        columns.append([SPLIT_NAMES.get(s, s) for s in rows["split"]])
        line = f"genre: <b>%{{customdata[2]}}</b> · {said}<br>%{{customdata[3]}}"
    return list(zip(*columns)), _slim_template(line)


def _slim_template(line: str) -> str:
    return f"<b>%{{customdata[1]}}</b><br>%{{customdata[0]}}<br>{line}<br><i>{SLIM_HINT}</i><extra></extra>"


def track_traces(frame: pd.DataFrame, labels, colour_by: str, style: dict) -> list[dict]:
    """One trace of dots per colour group (legend click hides a group), styled by ``dot_style``."""
    traces = []
    for name, colour, symbol, mask in colour_groups(frame, labels, colour_by):
        rows = frame[mask]
        if rows.empty:
            continue
        # a large map's positions to 1/1000 of a map unit (invisible; a third less to send)
        x, y = (rows["x"].round(3), rows["y"].round(3)) if style["gl"] else (rows["x"], rows["y"])
        custom, hover = slim_hover(rows, colour_by, name) if style["gl"] else (_hover_rows(rows), _HOVER)
        traces.append(dict(
            type="scattergl" if style["gl"] else "scatter", mode="markers", name=plotly_text(name),
            x=x.tolist(), y=y.tolist(), customdata=custom, hovertemplate=hover,
            meta=dict(kind="tracks"),
            marker=dict(color=colour, size=style["size"], symbol=symbol, opacity=style["opacity"],
                        line=dict(width=style["outline"], color="white")),
            selected=dict(marker=dict(size=style["selected_size"], opacity=1.0)), unselected=UNSELECTED_STYLE,
        ))
    return traces


def base_figure(frame: pd.DataFrame, labels, colour_by: str = "genre", height: int = MAP_HEIGHT,
                style: dict | None = None, revision: str | None = None):
    """The map of every track (``style``: ``dot_style(len(frame))`` unless given).

    ``revision`` (plotly ``uirevision``): while it stays the same, a redrawn map keeps the user's zoom.
    """
    traces = track_traces(frame, labels, colour_by, style or dot_style(len(frame)))
    legend_title = {"genre": "genre", "predicted": "predicted", "correct": ""}[colour_by]
    axis = dict(showticklabels=False, showgrid=False, zeroline=False)
    layout = base_layout(
        height=height, xaxis=axis, yaxis=axis,
        legend=dict(title=dict(text=legend_title), itemsizing="constant", bgcolor="rgba(255,255,255,0.8)"),
        margin=dict(l=10, r=10, t=30, b=10),  # the toolbar sits above the plot, not on the legend
    )
    if revision is not None:
        layout["uirevision"] = revision
    return figure(traces, layout)


def upload_trace(marker: dict, colour: str, textposition: str = "top center") -> dict:
    """A labelled star for one uploaded song; ``marker`` has name, key, x, y, genre, confidence, and
    ``between`` ({genre: windows}, from ``mark_between_clusters``) when its windows lie in several genres' regions.

    The label and the legend show the name cut to ``LABEL_CHARS``; the hover, the whole name. Every name is
    drawn as written (``plotly_text``). ``textposition`` (``label_position``) keeps the label on the map.
    """
    name, between = marker["name"], marker.get("between") or {}
    short = plotly_text(short_text(name, LABEL_CHARS))
    label = short + (f"<br><i>between {len(between)} genres</i>" if between else "")
    return dict(
        type="scatter", mode="markers+text", name=f"★ {short}", x=[marker["x"]], y=[marker["y"]],
        text=[label], textposition=textposition, textfont=dict(size=15, color=UPLOAD_OUTLINE),
        customdata=[[UPLOAD_PREFIX + str(marker["key"]), plotly_text(name)]],
        hovertemplate=(f"<b>%{{customdata[1]}}</b> (your song)<br>model says: <b>{plotly_text(marker['genre'])}</b> "
                       f"({marker['confidence']:.0%}){_between_hover(between)}<extra></extra>"),
        marker=dict(symbol="star", size=26, color=colour, line=dict(width=2, color=UPLOAD_OUTLINE)),
        selected=dict(marker=dict(size=34, opacity=1.0)), unselected=UNSELECTED_STYLE,
        meta=dict(kind="upload", name=name), cliponaxis=False,
        legend=SONG_LEGEND, legendgroup=UPLOAD_PREFIX + str(marker["key"]),  # with its path through time
    )


def _between_hover(between: dict) -> str:
    if not between:
        return ""
    counts = ", ".join(f"{plotly_text(g)} {n}" for g, n in between.items())
    return (f"<br>its windows fall in {len(between)} genres' regions ({counts}):"
            "<br>the star is their average, so it lands between them")


def mark_between_clusters(markers, paths, frame: pd.DataFrame) -> list[dict]:
    """``markers`` (copies) with ``between`` set for each song whose path (``trajectory_view.song_path``, same
    item key) falls in several genres' regions of this map (``trajectory_view.between_genres``)."""
    by_item = {p["item"]: p for p in paths}
    out = []
    for m in markers:
        path = by_item.get(UPLOAD_PREFIX + str(m["key"]))
        out.append({**m, "between": between_genres(path, frame) if path else {}})
    return out


def song_legend_layout(names) -> dict:
    """``SONG_LEGEND_LAYOUT``, two entries a row when every name is at most ``SHORT_NAME`` characters."""
    if all(len(str(n)) <= SHORT_NAME for n in names):
        return {**SONG_LEGEND_LAYOUT, "entrywidth": 0.34}
    return SONG_LEGEND_LAYOUT


def data_extent(data: list) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x min, x max), (y min, y max)) over every point of ``data`` (traces as dicts): what the map shows."""
    def values(axis: str) -> list:
        return [v for t in data if t.get(axis) is not None for v in t[axis] if v is not None]

    xs, ys = values("x"), values("y")
    if not xs or not ys:
        return (0.0, 1.0), (0.0, 1.0)
    return (min(xs), max(xs)), (min(ys), max(ys))


def label_position(x: float, y: float, extent) -> str:
    """Where a star's label goes so that it stays on the map: towards the middle from a star near an edge
    (left of a star on the right third, right of one on the left third; under a star near the top)."""
    (x0, x1), (y0, y1) = extent
    fx, fy = (x - x0) / max(x1 - x0, 1e-9), (y - y0) / max(y1 - y0, 1e-9)
    side = "left" if fx > 0.62 else "right" if fx < 0.38 else "center"
    return f"{'bottom' if fy > 0.85 else 'top'} {side}"


def small_figure(frame: pd.DataFrame, labels, colour_by: str, title: str, height: int = GRID_HEIGHT):
    """The map for one cell of the side-by-side grid: smaller dots, no legend, the layer's name as title."""
    d = base_figure(frame, labels, colour_by, height=height, style=dot_style(len(frame), small=True)).to_dict()
    title_font = d["layout"]["title"]["font"]
    d["layout"].update(showlegend=False, title=dict(text=title, x=0.02, xanchor="left", font=title_font),
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
    d = overlay_spec(fig.to_dict(), labels, markers, selected, paths)
    return figure(d["data"], d["layout"])


def overlay_spec(spec: dict, labels, markers=(), selected=(), paths=()) -> dict:
    """``add_overlays`` on a figure as a plain dict (``{"data": [...], "layout": {...}}``), without copying it:
    the result shares every part it does not change with ``spec``, which is never modified (it may be a
    cached map's; a 10 000-dot figure takes ~40 ms to deep-copy, and as long again to rebuild)."""
    colours = genre_colours(labels)
    data = ([dict(t) for t in spec["data"]]
            + [trajectory_trace(p, colours, showscale=i == 0) for i, p in enumerate(paths)])
    extent = data_extent(data + [{"x": [m["x"] for m in markers], "y": [m["y"] for m in markers]}])
    data += [upload_trace(m, colours.get(m["genre"], "#888888"), label_position(m["x"], m["y"], extent))
             for m in markers]
    layout = dict(spec["layout"])
    if paths or markers:  # room under the map for the time colour bar and the songs' legend
        layout["margin"] = {**layout.get("margin", {}), "b": 70}
        layout[SONG_LEGEND] = song_legend_layout([m["name"] for m in markers])
    if selected:
        wanted = set(selected)
        for trace in data:
            keys = [c[0] for c in trace.get("customdata") or []]
            trace["selectedpoints"] = [i for i, k in enumerate(keys) if k in wanted]
    return {"data": data, "layout": layout}


def undrawn_selection_trace(frame: pd.DataFrame, dots: pd.DataFrame, selected, labels) -> dict | None:
    """The selected clips of ``frame`` that are not among a large map's ``dots`` (``drawn``), as ringed dots
    of their genre's colour: a clip found by name is on the map even when the sample left it out."""
    missing = frame[frame["track_id"].isin(set(selected) - set(dots["track_id"]))]
    if missing.empty:
        return None
    colours = genre_colours(labels)
    return dict(type="scatter", mode="markers", name="found", showlegend=False, meta=dict(kind="found"),
                x=missing["x"].tolist(), y=missing["y"].tolist(), customdata=_hover_rows(missing), hovertemplate=_HOVER,
                marker=dict(color=[colours.get(g, "#888888") for g in missing["genre"]], size=14,
                            line=dict(width=2, color="black")))


def map_figure(frame: pd.DataFrame, labels, colour_by: str = "genre", markers=(), selected=(), paths=()):
    """Base map plus overlays in one call (the page caches the base separately)."""
    return add_overlays(base_figure(frame, labels, colour_by), frame, labels, markers, selected, paths)


def find_tracks(frame: pd.DataFrame, words: str, limit: int = 50) -> pd.DataFrame:
    """Rows whose id, artist – title or genre contain every one of ``words`` (any case), at most ``limit``."""
    haystack = (frame["track_id"] + " " + frame["name"] + " " + frame["genre"]).str.lower()
    hit = pd.Series(True, index=frame.index)
    for word in str(words).lower().split():
        hit &= haystack.str.contains(word, regex=False)
    return frame[hit].head(limit)


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


def selection_to_draw(selection: list, origin: str | None, signature, last, chart: str = "map") -> list:
    """Which selection to write into a map figure (as plotly ``selectedpoints``).

    ``st.plotly_chart`` (the grid) identifies a chart by a hash of its figure, so a
    figure that changes is a new chart: zoom, pan and plotly's own click highlight
    are lost; the main map (``explorer.map_chart``) redraws only a figure that
    changed. After a click on the map, plotly already shows that selection, so the
    figure is kept exactly as last sent (``last`` = (signature, drawn selection)). Any other
    change (a search, an upload, clearing, another embedding or colouring, i.e.
    another ``signature``) draws the current selection. ``chart`` names the chart
    (the main map is "map"; the side-by-side maps "grid_<layer>").
    """
    if origin == chart and last is not None and last[0] == signature:
        return list(last[1])
    return list(selection)
