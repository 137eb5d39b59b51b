"""What the Map page's sections are given: one object each, made where the page has the pieces (no Streamlit)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class DrawnMap:
    """The map as this run drew it: what "Share or download this map" links to and exports."""

    bundle: object  # the collection (``pipeline.bundle.Bundle``)
    bundle_name: str  # its folder's name: the files' stem
    embedding: str  # the layer shown
    colour_by: str  # a key of ``map_view.COLOUR_MODES``
    params: dict  # the view in the address bar (``share``)
    fig: dict  # the figure as drawn (songs and selection on it)
    frame: pd.DataFrame  # one row per clip: its position and labels
    markers: list  # the placed songs' stars
    paths: list  # the songs' paths through time
    selection: list  # the selected items
    results: list  # every placed song (``upload.UploadResult``)


@dataclass(frozen=True)
class Subject:
    """What "Sounds like" is about: a clip of the collection or a placed song."""

    item: str  # its key: a track id or a song's key
    title: str  # how the section names it
    vectors: dict  # its vectors in the layers of the shown layer's network
    probabilities: dict  # genre → probability
    real_genre: str | None  # a clip's genre (None for a song)
    exclude: str | None  # a track to leave out of its neighbours (itself)
