"""Playing the layers in the map chart: every layer's positions for it, and the layer it stopped on.

The chart moves the dots itself (``explorer/map_chart.html``: no rerun per frame); when it stops on a layer
it reports that layer, and the page's layer follows (``take_layer``).
"""
from __future__ import annotations

import streamlit as st

from pipeline.networks import split_key

from .. import cache, keys, session, text
from ..state import cached_bundle
from ..views import song_marks
from ..views.layer_frames import frames_json, layer_frames, track_positions, with_overlays
from ..views.map_view import overlay_spec

MAP_PAGE = "explorer/pages/map.py"
PRESENT_PAGE = "explorer/pages/present.py"  # presentation mode (app.py registers it; ?present=1 opens it)


def frames_for(ctx, embedding: str, colour_by: str, results: list, paths: bool = True) -> str:
    """The JSON of ``layer_frames`` for the layers of ``embedding``'s network, drawn as the page draws its map:
    the tracks (the same on every run: made once per network and colouring), the songs' stars and, unless
    ``paths`` is False, their paths through time (the selection moves nothing)."""
    bundle = ctx.bundle
    layers = bundle.networks[session.network_of(embedding)]
    frames, n_traces = plain_frames(*ctx.ref, tuple(layers), colour_by)
    overlays = {e: overlay_spec(NO_TRACES, bundle.labels, markers=song_marks.markers(results, e),
                                paths=song_marks.paths(results, e) if paths else ()) for e in layers} if results else {}
    return frames_json(with_overlays(frames, overlays, n_traces, embedding))


NO_TRACES = {"data": [], "layout": {}}


@st.cache_resource(show_spinner=False, max_entries=16)
def plain_frames(path: str, version: float, layers: tuple, colour_by: str) -> tuple[dict, int]:
    """(``layer_frames`` of the maps without songs, how many traces they have). Shared: never modified."""
    labels = cached_bundle(path, version).labels
    figures = {e: track_positions(cache.drawn_frame(path, version, e), labels, colour_by) for e in layers}
    names = {e: split_key(e)[1] for e in layers}
    captions = {e: text.layer_one_line(e) for e in layers}
    return layer_frames(figures, names, captions, layers[0]), len(figures[layers[0]]["data"])


def take_layer(chart_key: str) -> bool:
    """In a chart's callback: if the chart reported the layer it stopped on, make it the page's layer.

    Returns whether it did (the chart's value was a layer, not a selection).
    """
    ss = st.session_state
    value = ss.get(chart_key)
    if not isinstance(value, dict) or "layer" not in value:
        return False
    if value["layer"] in session.context().bundle.networks[ss[keys.NETWORK]]:
        ss[keys.EMBEDDING] = value["layer"]
    return True
