"""Playing the layers in the map chart: every layer's positions for it, and the layer it stopped on.

The chart moves the dots itself (``explorer/map_chart.html``: no rerun per frame); when it stops on a layer
it reports that layer, and the page's layer follows (``take_layer``).
"""
from __future__ import annotations

import streamlit as st

from pipeline.networks import split_key

from .. import cache, keys, session, text, upload
from ..state import cached_bundle
from ..views.layer_frames import frames_json, layer_frames
from ..views.map_view import overlay_spec

MAP_PAGE = "explorer/pages/map.py"
PRESENT_PAGE = "explorer/pages/present.py"  # presentation mode (app.py registers it; ?present=1 opens it)


def frames_for(ctx, embedding: str, colour_by: str, results: list, drawn=None, paths: bool = True) -> str:
    """The JSON of ``layer_frames`` for the layers of ``embedding``'s network, drawn as the page draws its map
    (songs' stars, their paths through time unless ``paths`` is False, the selection ``drawn``)."""
    if not results and not drawn:  # the plain maps: made once per layer and colouring
        return plain_frames(*ctx.ref, embedding, colour_by)
    return _frames(cached_bundle(*ctx.ref), ctx.ref, embedding, colour_by, results, drawn, paths)


@st.cache_resource(show_spinner=False, max_entries=16)
def plain_frames(path: str, version: float, embedding: str, colour_by: str) -> str:
    return _frames(cached_bundle(path, version), (path, version), embedding, colour_by, [], None, False)


def _frames(bundle, ref, embedding: str, colour_by: str, results: list, drawn, with_paths: bool) -> str:
    layers = bundle.networks[session.network_of(embedding)]
    figures = {}
    for e in layers:
        base = cache.map_base_dict(*ref, e, colour_by)
        markers, paths = upload.markers(results, e), (upload.paths(results, e) if with_paths else [])
        overlaid = bool(markers or drawn or paths)
        figures[e] = (overlay_spec(base, bundle.labels, markers=markers, selected=drawn or (), paths=paths)
                      if overlaid else base)
    labels = {e: split_key(e)[1] for e in layers}
    captions = {e: text.layer_one_line(e) for e in layers}
    return frames_json(layer_frames(figures, labels, captions, embedding))


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
