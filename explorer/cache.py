"""The pages' figures and tables, built once per bundle (and embedding / colouring) and shared by all sessions.

Every function is keyed on the bundle path and its version stamp, so a rebuilt
bundle is redrawn. Returned figures are shared between sessions: never modify
them in place (``map_view.add_overlays`` returns a copy).
"""
from __future__ import annotations

import json

import streamlit as st

from . import text
from .state import cached_bundle
from .views import map_view, model_view, plotting, similarity_view


@st.cache_resource(show_spinner=False, max_entries=64)
def map_frame(path: str, version: float, embedding: str):
    return map_view.map_frame(cached_bundle(path, version), embedding)


@st.cache_resource(show_spinner=False, max_entries=64)
def drawn_frame(path: str, version: float, embedding: str):
    """The clips of ``map_frame`` the maps draw as dots: all, or a large collection's even sample."""
    return map_view.drawn(map_frame(path, version, embedding))


@st.cache_resource(show_spinner=False, max_entries=64)
def map_base(path: str, version: float, embedding: str, colour_by: str):
    """The Map page's map; it keeps the user's zoom across colourings and songs, not across layers."""
    bundle = cached_bundle(path, version)
    return map_view.base_figure(drawn_frame(path, version, embedding), bundle.labels, colour_by, revision=embedding)


@st.cache_resource(show_spinner=False, max_entries=64)
def map_base_spec(path: str, version: float, embedding: str, colour_by: str) -> str:
    """``map_base`` as the JSON the browser gets, made once: a plain layer switch (no song, nothing selected)
    sends it as it is (a 10 000-dot figure takes ~40 ms to copy and encode)."""
    return plotting.figure_json(map_base(path, version, embedding, colour_by))


@st.cache_resource(show_spinner=False, max_entries=64)
def map_base_dict(path: str, version: float, embedding: str, colour_by: str) -> dict:
    """``map_base_spec`` read back as plain dicts and lists: what ``map_view.overlay_spec`` draws songs and
    selections on without copying it. Shared by every session: never modified."""
    return json.loads(map_base_spec(path, version, embedding, colour_by))


@st.cache_resource(show_spinner=False, max_entries=64)
def map_small(path: str, version: float, embedding: str, colour_by: str):
    """One cell of the Compare page's 2 × 2 grid."""
    bundle = cached_bundle(path, version)
    return map_view.small_figure(drawn_frame(path, version, embedding), bundle.labels, colour_by,
                                 f"{text.layer_title(embedding)} ({embedding})")


@st.cache_resource(show_spinner=False, max_entries=64)
def similarity(path: str, version: float, embedding: str, scale: str):
    bundle = cached_bundle(path, version)
    return similarity_view.similarity_figure(bundle.similarity(embedding), bundle.labels, scale)


@st.cache_resource(show_spinner=False, max_entries=16)
def similarity_all(path: str, version: float, embeddings: tuple, scale: str):
    """The heatmaps of ``embeddings`` (one network's layers) side by side."""
    bundle = cached_bundle(path, version)
    return similarity_view.comparison_figure({e: bundle.similarity(e) for e in embeddings}, bundle.labels, scale)


@st.cache_resource(show_spinner=False, max_entries=4)
def model_panel(path: str, version: float, network: str | None = None) -> dict:
    bundle = cached_bundle(path, version)
    meta = model_view.network_meta(bundle.meta, network or bundle.predictor)
    per_genre = model_view.per_genre_frame(meta, bundle.labels)
    return {
        "lines": model_view.accuracy_lines(meta),
        "per_genre": model_view.per_genre_figure(per_genre),
        "confusion": model_view.confusion_figure(meta, bundle.labels),
        "quality": model_view.quality_frame(bundle.meta, bundle.networks),
    }


def warm(path: str, version: float, embeddings, colour_by: str) -> None:
    """Build these layers' maps once, so that the first switch to each is as fast as the rest."""
    for e in embeddings:
        map_base_spec(path, version, e, colour_by)
