"""The positions of every dot and star on each layer's map, for the map chart to move them between layers.

The map chart (``explorer/map_chart.html``) animates the one figure it shows: it needs, per layer, only the
x / y of each trace that exists on every layer (the tracks, in the same order on each layer's map; a song's
star; a song's path), plus the captions and the axis ranges that hold every layer. The maps were fitted to
follow each other (``pipeline.maps.layer_maps``), so a dot moves a short way from one layer to the next.
"""
from __future__ import annotations

import json

import numpy as np

from .map_view import colour_groups

MARGIN = 0.06  # of the span, around the union of the layers' maps (the dots' radius must fit)


def track_positions(frame, labels, colour_by: str) -> dict:
    """A figure dict of only the positions of ``map_view.base_figure``'s traces (one per non-empty colour
    group, in its order), made from the layer's ``map_view.map_frame``: what moves, without building the map."""
    data = [{"x": frame["x"][mask].to_numpy(), "y": frame["y"][mask].to_numpy()}
            for _, _, _, mask in colour_groups(frame, labels, colour_by) if mask.any()]
    return {"data": data}


def trace_positions(fig: dict) -> list[tuple[list, list]]:
    """(x, y) of every trace of a figure dict, in trace order."""
    return [(list(t.get("x", [])), list(t.get("y", []))) for t in fig.get("data", [])]


def moving_traces(figures: list[dict]) -> list[int]:
    """The indices of traces every figure has with the same number of points (the ones that can move)."""
    shapes = [[len(x) for x, _ in trace_positions(f)] for f in figures]
    n = min(len(s) for s in shapes)
    return [i for i in range(n) if len({s[i] for s in shapes}) == 1 and shapes[0][i] > 0]


def union_range(values: list[np.ndarray]) -> list[float]:
    lo = min(float(np.min(v)) for v in values if len(v))
    hi = max(float(np.max(v)) for v in values if len(v))
    pad = (hi - lo) * MARGIN or 1.0
    return [round(lo - pad, 3), round(hi + pad, 3)]


def layer_frames(figures: dict, labels: dict, captions: dict, current: str, digits: int = 3) -> dict:
    """What the chart needs to move between layers.

    Parameters
    ----------
    figures : embedding key → the map figure (dict) of that layer, all drawn the same way (same traces).
    labels, captions : embedding key → its short name ("deep") and its one-line caption.
    current : the layer the figure on the page shows.

    Returns
    -------
    dict: ``layers`` (key, label, caption, ``xy``: trace index → [xs, ys]), ``current`` (index),
    ``range`` ({"x": [lo, hi], "y": [lo, hi]}, holding every layer).
    """
    order = list(figures)
    moving = moving_traces([figures[k] for k in order])
    layers, xs, ys = [], [], []
    for key in order:
        positions = trace_positions(figures[key])
        xy = {}
        for i in moving:
            x = np.round(np.asarray(positions[i][0], dtype=float), digits)
            y = np.round(np.asarray(positions[i][1], dtype=float), digits)
            xy[str(i)] = [x.tolist(), y.tolist()]
            xs.append(x)
            ys.append(y)
        layers.append({"key": key, "label": labels.get(key, key), "caption": captions.get(key, ""), "xy": xy})
    return {"layers": layers, "current": order.index(current) if current in order else 0,
            "range": {"x": union_range(xs), "y": union_range(ys)}}


def with_overlays(frames: dict, overlays: dict, first: int, current: str) -> dict:
    """``frames`` (never modified) with more traces that move, and ``current`` the layer on the page.

    ``overlays``: embedding key → a figure dict of only the traces drawn over the map (songs' paths and stars:
    ``map_view.overlay_spec`` on an empty figure), which are traces ``first``, ``first + 1``, … of the page's.
    """
    keys = [layer["key"] for layer in frames["layers"]]
    layers = []
    for layer in frames["layers"]:
        xy = dict(layer["xy"])
        for i, (x, y) in enumerate(trace_positions(overlays.get(layer["key"], {}))):
            xy[str(first + i)] = [[round(float(v), 3) for v in x], [round(float(v), 3) for v in y]]
        layers.append({**layer, "xy": xy})
    moving = [set(layer["xy"]) for layer in layers]  # only traces every layer has move
    for layer in layers:
        layer["xy"] = {k: v for k, v in layer["xy"].items() if all(k in m for m in moving)}
    return {**frames, "layers": layers, "current": keys.index(current) if current in keys else 0}


def frames_json(frames: dict) -> str:
    """``layer_frames`` as the compact JSON string the chart receives."""
    return json.dumps(frames, separators=(",", ":"))
