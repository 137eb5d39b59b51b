"""Two page sections (Streamlit): "Share or download this map" and the side-by-side grid of every layer.

Layout only: figures and files come from ``map_view``, ``export`` and ``share``.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from . import cache, export, share, state, text, upload
from .map_view import COLOUR_MODES, add_overlays
from .plotting import CONFIG

SELECT_MODES = ("points", "lasso", "box")


def share_and_download(*, bundle, bundle_name: str, embedding: str, colour_by: str, params: dict, fig, frame,
                       markers, paths, selection, results) -> None:
    """The link to this view, and the map as PNG / HTML and every clip's coordinates as CSV."""
    with st.expander("Share or download this map"):
        st.caption(text.SHARE_HELP)
        try:
            base_url = st.context.url
        except Exception:  # no browser (tests): the query string alone
            base_url = None
        st.code(share.link(base_url, params), language=None)
        stem = export.file_stem(bundle_name, embedding, colour_by)
        title = f"{text.embedding_title(embedding)} ({embedding}), coloured by {COLOUR_MODES[colour_by]}"
        png_col, html_col, csv_col = st.columns(3)
        png_col.download_button(  # PNG and HTML are made only when clicked
            "Map as PNG", partial(export.map_png, frame, bundle.labels, colour_by, markers, paths, selection, title),
            file_name=f"{stem}.png", mime=export.PNG_MIME, key="export_png", on_click="ignore",
            icon=":material/image:")
        html_col.download_button(
            "Interactive map (HTML)", partial(export.map_html, fig, f"{text.TITLE}: {title}"),
            file_name=f"{stem}.html", mime=export.HTML_MIME, key="export_html", on_click="ignore",
            icon=":material/public:")
        csv_col.download_button(
            "Coordinates (CSV)", lambda: export.csv_bytes(export.coordinates_frame(bundle, results)),
            file_name=export.file_stem(bundle_name, "coordinates") + ".csv", mime=export.CSV_MIME,
            key="export_coordinates", on_click="ignore", icon=":material/table:")
        st.caption(text.EXPORT_HELP)


def side_by_side(ref: tuple, embeddings, labels, colour_by: str, results, selection, on_select) -> None:
    """Every layer's map in a grid of two columns, the selection highlighted on all of them.

    ``on_select(chart_key)`` is called when a dot is clicked or lassoed in one of them.
    """
    ss = st.session_state
    st.header("The same clips on every layer's map")
    st.markdown(text.SIDE_BY_SIDE_HELP)
    grid = st.columns(2, gap="medium")
    for n, e in enumerate(embeddings):
        chart = f"grid_{e}"
        markers = upload.markers(results, e)
        signature = (e, colour_by, tuple((m["key"], m["name"]) for m in markers))
        drawn = state.selection_to_draw(selection, ss.get(state.SELECTION_ORIGIN), signature, ss.get(chart + "_drawn"),
                                        chart=chart)
        ss[chart + "_drawn"] = (signature, drawn)
        with grid[n % 2]:
            st.plotly_chart(add_overlays(cache.map_small(*ref, e, colour_by), cache.map_frame(*ref, e), labels,
                                         markers=markers, selected=drawn),
                            key=chart, on_select=partial(on_select, chart), selection_mode=SELECT_MODES,
                            config=CONFIG, theme=None)
