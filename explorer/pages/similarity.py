"""The Genre similarity page: how alike the genres are in one layer, in absolute and relative colours.

Run by ``st.navigation`` (``app.py``) as a script.
"""
from __future__ import annotations

import streamlit as st

from explorer import cache, session, text
from explorer.exports import export_button
from explorer.sections import controls
from explorer.views import export
from explorer.views.plotting import CONFIG


def page() -> None:
    ctx = session.context()
    bundle = ctx.bundle
    session.write_url(ctx)
    st.header("How similar are the genres?")
    controls.network_picker(bundle)
    embedding = controls.layer_picker(bundle)
    st.markdown(text.SIMILARITY_HELP)
    abs_col, rel_col = st.columns(2, gap="large")
    for col, scale in ((abs_col, "absolute"), (rel_col, "relative")):
        with col:
            st.plotly_chart(cache.similarity(*ctx.ref, embedding, scale), config=CONFIG, theme=None,
                            key=f"sim_{scale}")
    st.caption(f"**{text.layer_title(embedding)} ({embedding})**: "
               f"{text.layer_finding(embedding, controls.dim(bundle, embedding))}")
    downloads(ctx, embedding)


def downloads(ctx: session.Context, embedding: str) -> None:
    """This layer's matrix and every layer's, as CSV."""
    bundle = ctx.bundle
    one_col, all_col, _ = st.columns([1, 1, 2])
    export_button(
        one_col, "This layer's matrix (CSV)",
        lambda: export.csv_bytes(export.similarity_frame(bundle.similarity(embedding), bundle.labels), index=True),
        file_name=f"{export.file_stem(ctx.path.name, embedding)}_similarity.csv", mime=export.CSV_MIME,
        key="export_similarity", icon=":material/table:")
    export_button(
        all_col, "Every layer's matrix (CSV)",
        lambda: export.csv_bytes(export.similarity_long_frame({e: bundle.similarity(e) for e in bundle.embeddings},
                                                              bundle.labels)),
        file_name=export.file_stem(ctx.path.name, "similarity_all_layers") + ".csv", mime=export.CSV_MIME,
        key="export_similarity_all", icon=":material/table:")


if __name__ == "__main__":
    page()
