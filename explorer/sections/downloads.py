"""The "Share or download this map" expander under the map (Streamlit).

Layout only: figures and files come from ``views.export`` and ``share``. Every
download here (and on the other pages) is a function, made only when its button is
clicked: a button given bytes puts them in Streamlit's in-memory media store, the
browser checks that address as soon as the button is drawn, and the store drops the
file when runs of this or another session end (404 "Download Button source error").
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from .. import share, text
from ..views import export
from ..views.map_view import COLOUR_MODES
from ..views.section_views import DrawnMap


def share_and_download(drawn: DrawnMap) -> None:
    """The link to this view, and the map as PNG / HTML and every clip's coordinates as CSV."""
    d = drawn
    with st.expander("Share or download this map"):
        st.caption(text.SHARE_HELP)
        try:
            base_url = st.context.url
        except Exception:  # no browser (tests): the query string alone
            base_url = None
        # inline code, not st.code: a code block loads the syntax highlighter (~0.7 s of browser time per visit)
        st.markdown(f"`{share.link(base_url, d.params)}`")
        stem = export.file_stem(d.bundle_name, d.embedding, d.colour_by)
        title = f"{text.layer_title(d.embedding)} ({d.embedding}), coloured by {COLOUR_MODES[d.colour_by]}"
        png_col, html_col, csv_col = st.columns(3)
        png_col.download_button(  # PNG and HTML are made only when clicked
            "Map as PNG",
            partial(export.map_png, d.frame, d.bundle.labels, d.colour_by, d.markers, d.paths, d.selection, title),
            file_name=f"{stem}.png", mime=export.PNG_MIME, key="export_png", on_click="ignore",
            icon=":material/image:")
        html_col.download_button(
            "Interactive map (HTML)", partial(export.map_html, d.fig, f"{text.TITLE}: {title}"),
            file_name=f"{stem}.html", mime=export.HTML_MIME, key="export_html", on_click="ignore",
            icon=":material/public:")
        csv_col.download_button(
            "Coordinates (CSV)", lambda: export.csv_bytes(export.coordinates_frame(d.bundle, d.results)),
            file_name=export.file_stem(d.bundle_name, "coordinates") + ".csv", mime=export.CSV_MIME,
            key="export_coordinates", on_click="ignore", icon=":material/table:")
        st.caption(text.EXPORT_HELP)
