"""Exports: the map as PNG and offline HTML, the numbers as CSV."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from explorer import upload
from explorer.views import export, map_view, trajectory_view
from tests.explorer.fakes import fake_placement


def test_map_png_is_a_picture_of_the_map(bundle):
    frame = map_view.map_frame(bundle, "deep")
    path = trajectory_view.song_path("upload:k", "long.wav", fake_placement(5), "deep")
    marker = {"key": "k", "name": "long.wav", "x": 0.5, "y": -0.5, "genre": "jazz", "confidence": 0.6}
    png = export.map_png(frame, bundle.labels, "correct", markers=[marker], paths=[path], selected=["blues.00001"],
                         title="deep", dpi=60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    from matplotlib.image import imread
    img = imread(io.BytesIO(png))
    assert img.shape[0] == 8 * 60 and img.shape[1] == 11 * 60
    assert img[..., :3].std() > 0.01  # not a blank canvas


def test_map_html_works_offline(bundle):
    fig = map_view.map_figure(map_view.map_frame(bundle, "deep"), bundle.labels, selected=["blues.00001"])
    html = export.map_html(fig, "my title").decode("utf-8")
    assert html.startswith("<!doctype html>") and "<title>my title</title>" in html
    assert "<script src=" not in html and len(html) > 1_000_000  # plotly.js is inside the file
    assert "blues.00001" in html and "Plotly.newPlot" in html


def test_csv_exports_have_a_header_and_every_row(bundle):
    long_song = upload.UploadResult("k", "long.wav", placement=fake_placement(4))
    coords = pd.read_csv(io.BytesIO(export.csv_bytes(export.coordinates_frame(bundle, [long_song]))))
    expected = ["kind", "id", "artist", "title", "genre", "predicted", "confidence", "split", "start_s", "end_s"]
    assert list(coords.columns) == expected + [f"{a}_{e}" for e in bundle.embeddings for a in ("x", "y")]
    assert (coords["kind"] == "clip").sum() == len(bundle.tracks)
    assert (coords["kind"] == "song").sum() == 1 and (coords["kind"] == "song window").sum() == 4
    clip = coords[coords["id"] == "blues.00001"].iloc[0]
    assert clip["x_shallow"] == pytest.approx(bundle.coords("shallow")[1, 0], abs=1e-6)

    lists = {"deep": [{"track_id": "a.1", "genre": "blues", "similarity": 0.9, "artist": None, "title": "T"}],
             "none": [{"track_id": "b.1", "genre": "rock", "similarity": 0.8, "artist": "X", "title": None}]}
    near = pd.read_csv(io.BytesIO(export.csv_bytes(export.neighbours_frame(lists, "blues.00001"))))
    assert list(near.columns) == ["for", "embedding", "rank", "track_id", "genre", "artist", "title", "name",
                                  "similarity"]
    assert near["embedding"].tolist() == ["deep", "none"] and near["name"].tolist() == ["T", "X"]

    sim = pd.read_csv(io.BytesIO(export.csv_bytes(export.similarity_frame(bundle.similarity("deep"), bundle.labels),
                                                  index=True)), index_col=0)
    assert list(sim.columns) == bundle.labels and list(sim.index) == bundle.labels
    np.testing.assert_allclose(sim.to_numpy(), bundle.similarity("deep"), rtol=1e-6)
    all_layers = export.similarity_long_frame({e: bundle.similarity(e) for e in bundle.embeddings}, bundle.labels)
    assert len(all_layers) == len(bundle.embeddings) * len(bundle.labels) ** 2
    assert export.file_stem("my map", "deep", "genre") == "genre-map_my-map_deep_genre"
