"""The "Share or download this map" expander under the map (Streamlit).

Layout only: figures and files come from ``views.export`` and ``share``. Every
download here (and on the other pages) is a function, made only when its button is
clicked, and served from disk (``explorer/exports.py``): Streamlit's in-memory media
store drops a file when runs of this or another session end, before or after the
browser fetched it (404 "Download Button source error").
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from .. import share, text
from ..exports import export_button
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
        export_button(  # PNG and HTML are made only when clicked
            png_col, "Map as PNG",
            partial(export.map_png, d.frame, d.bundle.labels, d.colour_by, d.markers, d.paths, d.selection, title),
            file_name=f"{stem}.png", mime=export.PNG_MIME, key="export_png", icon=":material/image:")
        export_button(
            html_col, "Interactive map (HTML)", partial(export.map_html, d.fig, f"{text.TITLE}: {title}"),
            file_name=f"{stem}.html", mime=export.HTML_MIME, key="export_html", icon=":material/public:")
        export_button(
            csv_col, "Coordinates (CSV)", lambda: export.csv_bytes(export.coordinates_frame(d.bundle, d.results)),
            file_name=export.file_stem(d.bundle_name, "coordinates") + ".csv", mime=export.CSV_MIME,
            key="export_coordinates", icon=":material/table:")
        st.caption(text.EXPORT_HELP)
