"""A song's journey: one point per window (10 s, every 5 s) on the map, coloured by time.

The pipeline places every window of an upload (``Placement.trajectory``); these
functions turn that list into a map trace (the path, coloured from start to end,
each point ringed in its window's predicted genre), a genre timeline below the
player, and the labels of the "jump to" control. Clicking a point (on the map or
the timeline) gives ``(item key, window start)`` through ``window_clicks``.

``between_genres`` says when a song's windows lie in several genres' regions of
a map: its star, the average of those windows, then lands between the regions
(a long song that changes style is placed as a whole, not as its parts).
"""
from __future__ import annotations

import numpy as np

from .palette import UPLOAD_OUTLINE
from .plotting import base_layout, colorscale, figure, plotly_text

TIME_SCALE = colorscale("Plasma")  # dark purple (start) → yellow (end); matplotlib's "plasma" in the PNG
WINDOW_TAG = "window"  # customdata[5] of a trajectory point: tells it apart from a track or a star
SONG_LEGEND = "legend2"  # songs' stars and paths have their own legend (map_view.SONG_LEGEND_LAYOUT)
# A region counts when it holds at least this share of the windows (and two of them): one stray window is noise.
REGION_SHARE = 0.15
# A song is "between" genres when it has two or more such regions and none holds more than this share.
MAJORITY = 0.7


def clock(seconds: float) -> str:
    """83.2 → '1:23'."""
    m, s = divmod(int(round(float(seconds))), 60)
    return f"{m}:{s:02d}"


def time_range(window: dict) -> str:
    return f"{clock(window['start_s'])}–{clock(window['end_s'])}"


def window_label(window: dict) -> str:
    """'1:05–1:15 · blues': what the jump control shows."""
    return f"{time_range(window)} · {window['genre']}"


def song_path(item: str, name: str, placement, embedding: str) -> dict | None:
    """One song's path in one embedding, or None when it has fewer than two windows.

    ``item`` is the song's key on the map (``upload:<file id>``). Each window has
    start_s, end_s, genre, confidence, x, y.
    """
    windows = placement.trajectory or []
    if len(windows) < 2 or any(embedding not in w["maps"] for w in windows):
        return None
    return {"item": item, "name": name, "duration": float(placement.duration_s),
            "windows": [{"start_s": float(w["start_s"]), "end_s": float(w["end_s"]), "genre": w["genre"],
                         "confidence": float(w.get("confidence", float("nan"))),
                         "x": float(w["maps"][embedding]["x"]), "y": float(w["maps"][embedding]["y"])}
                        for w in windows]}


def window_regions(path: dict, frame) -> dict[str, int]:
    """How many of the song's windows fall in each genre's region of the map, most first: a window's region
    is the real genre of the clip nearest to it on the map (``frame``: x, y, genre per clip)."""
    points = np.array([[w["x"], w["y"]] for w in path["windows"]], dtype=float)
    clips = frame[["x", "y"]].to_numpy(dtype=float)
    if not len(points) or not len(clips):
        return {}
    d2 = ((points[:, None, :] - clips[None, :, :]) ** 2).sum(axis=-1)
    genres, counts = np.unique(frame["genre"].to_numpy()[d2.argmin(axis=1)], return_counts=True)
    order = sorted(zip(counts.tolist(), genres.tolist()), key=lambda cg: (-cg[0], cg[1]))
    return {str(g): int(c) for c, g in order}


def between_genres(path: dict, frame, share: float = REGION_SHARE, majority: float = MAJORITY) -> dict[str, int]:
    """The genres' regions the song's windows fall in ({genre: windows}), when there are two or more and none
    holds a majority; else {} (the star stands for one region).

    The star is the projection of the song's mean vector: for a song whose windows sit in several regions,
    that mean is like none of them and its nearest clips come from all of them, so the star lands between
    the regions, or on the map's edge. Regions holding fewer than ``share`` of the windows (or one) do not
    count.
    """
    regions = window_regions(path, frame)
    n = sum(regions.values())
    kept = {g: c for g, c in regions.items() if c >= max(2, share * n)}
    if len(kept) < 2 or max(kept.values()) > majority * n:
        return {}
    return kept


def _custom(item: str, name: str, w: dict) -> list:
    conf = w.get("confidence")
    conf_text = f"{conf:.0%}" if conf is not None and conf == conf else "?"
    return [item, plotly_text(name), time_range(w), plotly_text(w["genre"]), conf_text, WINDOW_TAG, w["start_s"]]


def trajectory_trace(path: dict, colours: dict, showscale: bool = True) -> dict:
    """The path through time as one plotly trace (fill = time, ring = the window's predicted genre)."""
    ws = path["windows"]
    duration = max(path["duration"], max(w["end_s"] for w in ws), 1e-9)
    return dict(
        type="scatter", mode="lines+markers", name=f"↝ {plotly_text(path['name'])}, window by window",
        x=[w["x"] for w in ws], y=[w["y"] for w in ws],
        line=dict(color="rgba(17,17,17,0.4)", width=2),
        marker=dict(size=15, color=[w["start_s"] / duration for w in ws], colorscale=TIME_SCALE, cmin=0.0, cmax=1.0,
                    showscale=showscale, line=dict(width=2.5, color=[colours.get(w["genre"], "#888888") for w in ws]),
                    colorbar=dict(title=dict(text="time in the song", side="top"), orientation="h", x=1.0,
                                  xanchor="right", y=-0.02, yanchor="top", len=0.28, thickness=12,
                                  tickvals=[0.0, 1.0], ticktext=["start", "end"])),
        customdata=[_custom(path["item"], path["name"], w) for w in ws],
        hovertemplate=("<b>%{customdata[1]}</b> %{customdata[2]}<br>this part sounds like <b>%{customdata[3]}</b>"
                       " (%{customdata[4]})<br>click to play from here<extra></extra>"),
        selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=0.25)),
        meta=dict(kind="trajectory", item=path["item"]), cliponaxis=False,
        legend=SONG_LEGEND, legendgroup=path["item"], showlegend=False,  # the star's legend entry shows and hides both
    )


def window_clicks(selection) -> list[tuple[str, float]]:
    """(item key, window start in s) of every trajectory / timeline point in a chart selection."""
    try:
        points = selection["selection"]["points"] or []
    except (KeyError, TypeError):
        return []
    out = []
    for p in points:
        c = p.get("customdata") if isinstance(p, dict) else None
        if isinstance(c, (list, tuple)) and len(c) > 6 and c[5] == WINDOW_TAG:
            try:
                out.append((str(c[0]), float(c[6])))
            except (TypeError, ValueError):
                continue
    return out


def timeline_figure(windows: list, colours: dict, item: str = "", name: str = "", current: float | None = None,
                    height: int = 230):
    """Genre by window along the song: bar height = the model's confidence, colour = predicted genre.

    ``windows`` are the placement's trajectory entries (start_s, end_s, genre,
    confidence). Bars tile the song (each drawn from its start to the next
    window's start); ``current`` marks where the player starts.
    """
    starts = [float(w["start_s"]) for w in windows]
    ends = starts[1:] + [float(windows[-1]["end_s"])]
    trace = dict(
        type="bar", x=starts, y=[float(w.get("confidence", 0.0)) for w in windows],
        width=[max(e - s, 0.5) for s, e in zip(starts, ends)], offset=0,
        marker=dict(color=[colours.get(w["genre"], "#888888") for w in windows],
                    line=dict(width=1, color="white")),
        customdata=[_custom(item, name, w) for w in windows],
        hovertemplate="%{customdata[2]}: <b>%{customdata[3]}</b> (%{customdata[4]})<br>click to play from here"
                      "<extra></extra>",
        meta=dict(kind="timeline"), showlegend=False,
    )
    last = ends[-1] if ends else 1.0
    step = 30 if last > 90 else 10
    ticks = list(range(0, int(last) + 1, step))
    shapes = []
    if current is not None:
        shapes.append(dict(type="line", x0=current, x1=current, y0=0, y1=1, yref="paper",
                           line=dict(color=UPLOAD_OUTLINE, width=2, dash="dot")))
    layout = base_layout(
        height=height, title=dict(text="Genre, window by window"), bargap=0, shapes=shapes,
        xaxis=dict(title=dict(text="time in the song"), range=[0, last], tickvals=ticks,
                   ticktext=[clock(t) for t in ticks], showgrid=False),
        yaxis=dict(title=dict(text="confidence"), range=[0, 1], tickformat=".0%", showgrid=True),
        margin=dict(l=10, r=10, t=40, b=10), clickmode="event+select",
    )
    return figure([trace], layout)
