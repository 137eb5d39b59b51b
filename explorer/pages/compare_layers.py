"""The Compare layers page: the same clips on the map of every layer (2 × 2), and every layer's genre heatmap.

A click or lasso on one small map highlights those clips on all of them (the
grid is one fragment: only it reruns); the heatmaps' scale is another fragment.
Run by ``st.navigation`` (``app.py``) as a script.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from explorer import cache, keys, session, text
from explorer.sections import controls
from explorer.views import song_marks
from explorer.views.map_view import SELECT_MODES, add_overlays, selection_keys, selection_to_draw
from explorer.views.plotting import CONFIG
from explorer.views.similarity_view import SCALES


def page() -> None:
    ctx = session.context()
    bundle = ctx.bundle
    session.write_url(ctx)
    st.header("The same clips on every layer's map")
    st.markdown(text.SIDE_BY_SIDE_HELP)
    pick_col, colour_col = st.columns([4, 1], vertical_alignment="bottom")
    with pick_col:
        network = controls.network_picker(bundle)
    with colour_col:
        controls.colour_picker()
    layers = tuple(bundle.networks[network])
    grid_fragment(layers)
    heatmaps_fragment(layers)


def on_grid_select(chart: str) -> None:
    session.select(selection_keys(st.session_state.get(chart)), origin=chart)


@st.fragment
def grid_fragment(layers: tuple) -> None:
    """Every layer's small map, two per row, the selection highlighted on all of them."""
    ss = st.session_state
    ctx = session.context()
    bundle = ctx.bundle
    session.write_url(ctx)
    colour_by = ss[keys.COLOUR]
    results = list(session.placed_songs().values())
    known = session.track_ids(*ctx.ref)
    selection = [k for k in ss.get(keys.SELECTION, []) if k in known or k.startswith("upload:")]
    grid = st.columns(2, gap="medium")
    for n, e in enumerate(layers):
        chart = keys.GRID_PREFIX + e.rpartition(".")[2]  # grid_<layer>: the same chart for either network
        markers = song_marks.markers(results, e)
        signature = (ctx.ref, e, colour_by, tuple((m["key"], m["name"]) for m in markers))
        drawn = selection_to_draw(selection, ss.get(keys.SELECTION_ORIGIN), signature, ss.get(chart + "_drawn"),
                                  chart=chart)
        ss[chart + "_drawn"] = (signature, drawn)
        with grid[n % 2]:
            st.plotly_chart(add_overlays(cache.map_small(*ctx.ref, e, colour_by), cache.map_frame(*ctx.ref, e),
                                         bundle.labels, markers=markers, selected=drawn),
                            key=chart, on_select=partial(on_grid_select, chart), selection_mode=SELECT_MODES,
                            config=CONFIG, theme=None)
            st.caption(text.layer_finding(e, controls.dim(bundle, e)))


@st.fragment
def heatmaps_fragment(layers: tuple) -> None:
    """The genre × genre similarity of every layer, side by side, in one colour scale."""
    ctx = session.context()
    st.subheader("Every layer's genre similarity side by side")
    scale = st.radio("Colour scale", list(SCALES), index=1, key=keys.COMPARE_SCALE, horizontal=True,
                     format_func=SCALES.get)
    st.plotly_chart(cache.similarity_all(*ctx.ref, layers, scale), config=CONFIG, theme=None, key="sim_all")
    st.caption(text.SIMILARITY_ALL_HELP)


if __name__ == "__main__":
    page()
