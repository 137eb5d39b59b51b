"""The page's figures and tables, built once per bundle (and embedding / colouring) and shared.

Every function is keyed on the bundle path and its version stamp, so a rebuilt
bundle is redrawn. Returned figures are shared between sessions: never modify
them in place (``map_view.add_overlays`` returns a copy).
"""
from __future__ import annotations

import streamlit as st

from . import map_view, model_view, similarity_view, text
from .state import _load


@st.cache_resource(show_spinner=False, max_entries=64)
def map_frame(path: str, version: float, embedding: str):
    return map_view.map_frame(_load(path, version), embedding)


@st.cache_resource(show_spinner=False, max_entries=64)
def map_base(path: str, version: float, embedding: str, colour_by: str):
    bundle = _load(path, version)
    return map_view.base_figure(map_frame(path, version, embedding), bundle.labels, colour_by)


@st.cache_resource(show_spinner=False, max_entries=64)
def map_small(path: str, version: float, embedding: str, colour_by: str):
    """One cell of the side-by-side grid."""
    bundle = _load(path, version)
    return map_view.small_figure(map_frame(path, version, embedding), bundle.labels, colour_by,
                                 f"{text.embedding_title(embedding)} ({embedding})")


@st.cache_resource(show_spinner=False, max_entries=64)
def similarity(path: str, version: float, embedding: str, scale: str):
    bundle = _load(path, version)
    return similarity_view.similarity_figure(bundle.similarity(embedding), bundle.labels, scale)


@st.cache_resource(show_spinner=False, max_entries=16)
def similarity_all(path: str, version: float, scale: str):
    bundle = _load(path, version)
    matrices = {e: bundle.similarity(e) for e in bundle.embeddings}
    return similarity_view.comparison_figure(matrices, bundle.labels, scale)


@st.cache_resource(show_spinner=False, max_entries=4)
def model_panel(path: str, version: float) -> dict:
    bundle = _load(path, version)
    per_genre = model_view.per_genre_frame(bundle.meta, bundle.labels)
    return {
        "lines": model_view.accuracy_lines(bundle.meta),
        "per_genre": model_view.per_genre_figure(per_genre),
        "confusion": model_view.confusion_figure(bundle.meta, bundle.labels),
        "quality": model_view.quality_frame(bundle.meta),
    }


def warm(path: str, version: float, embeddings, colour_modes) -> None:
    """Build every map once (a few ms each) so the first switch is as fast as the rest."""
    for e in embeddings:
        for c in colour_modes:
            map_base(path, version, e, c)
            map_small(path, version, e, c)
