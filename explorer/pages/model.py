"""The Model page: how good the model is (accuracy and how it was measured, per genre, confusion) and each
layer's map quality. Run by ``st.navigation`` (``app.py``) as a script.
"""
from __future__ import annotations

import streamlit as st

from explorer import cache, session, text
from explorer.views import model_view
from explorer.views.plotting import CONFIG

QUALITY_COLUMNS = ("kNN genre accuracy", "silhouette", "trustworthiness")


def page() -> None:
    ctx = session.context()
    bundle = ctx.bundle
    session.write_url(ctx)
    st.header("How good is the model?")
    chosen = model_view.genre_predictor_line(bundle.meta)
    predictor = model_view.predictor_line(bundle.predictor, bundle.networks, text.network_title(bundle.predictor),
                                          bundle.meta.get("predictor_reason"))
    network = bundle.predictor
    if chosen:  # the genre predictor the build chose, beside every candidate it was scored against
        st.markdown(chosen)
        st.dataframe(model_view.candidates_frame(bundle.meta), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("balanced accuracy", "± (folds)", "accuracy", "macro-F1")})
    elif predictor:
        st.markdown(predictor)
    if len(bundle.networks) > 1:
        names = list(bundle.networks)
        network = st.radio("Whose numbers?", names, index=names.index(bundle.predictor), horizontal=True,
                           key="model_network", format_func=text.network_title)
    panel = cache.model_panel(*ctx.ref, network)
    st.markdown("\n\n".join(panel["lines"]))
    bar_col, cm_col = st.columns(2, gap="large")
    with bar_col:
        st.plotly_chart(panel["per_genre"], config=CONFIG, theme=None, key="per_genre")
    with cm_col:
        st.plotly_chart(panel["confusion"], config=CONFIG, theme=None, key="confusion")
    st.subheader("How good is each layer's map?")
    st.dataframe(panel["quality"], hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in QUALITY_COLUMNS})
    st.caption(text.QUALITY_HELP)


if __name__ == "__main__":
    page()
