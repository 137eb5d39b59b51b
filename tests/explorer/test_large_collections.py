"""The explorer at scale, without a browser: dot styles and WebGL by size, word search, lazily read bundles,
the synthetic large bundles of benchmarks/large_bundle.py, and layer texts read from a layer's name."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from explorer import text
from explorer.state import DEFAULT_BUNDLE
from explorer.views import map_view
from explorer.views.plotting import plotly_text
from pipeline.bundle import BundleError, LazyArrays, load_bundle
from pipeline.maps import genre_similarity
from tests.conftest import large_bundle_module
from tests.explorer.test_views import validated

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


# ---------------------------------------------------------------- dots by the number of dots
def test_dots_shrink_and_fade_as_their_number_grows():
    styles = [map_view.dot_style(n) for n in (94, 1_000, 10_000, 100_000)]
    sizes, opacities = [s["size"] for s in styles], [s["opacity"] for s in styles]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 12 and sizes[-1] >= 3
    assert opacities == sorted(opacities, reverse=True) and opacities[0] == 0.9 and opacities[-1] >= 0.45
    assert styles[0]["selected_size"] == 20 and all(s["selected_size"] > s["size"] for s in styles)
    assert [s["gl"] for s in styles] == [n >= map_view.GL_FROM for n in (94, 1_000, 10_000, 100_000)]
    assert map_view.dot_style(10_000, small=True)["size"] <= styles[2]["size"]


def test_map_switches_to_webgl_from_gl_from_dots(bundle):
    frame = map_view.map_frame(bundle, "deep")
    svg = validated(map_view.base_figure(frame, bundle.labels))
    assert {t.type for t in svg.data} == {"scatter"}
    big = frame.sample(map_view.GL_FROM, replace=True, random_state=0)
    gl = validated(map_view.base_figure(big, bundle.labels, revision="deep"))
    assert {t.type for t in gl.data} == {"scattergl"} and gl.layout.uirevision == "deep"
    assert sum(len(t.x) for t in gl.data) == map_view.GL_FROM
    # stars and selections still work on top of a WebGL map
    marker = {"key": "k", "name": "song", "x": 0.0, "y": 0.0, "genre": "rock", "confidence": 0.5}
    both = validated(map_view.add_overlays(gl, big, bundle.labels, markers=[marker],
                                           selected=[big["track_id"].iloc[0]]))
    assert [t.type for t in both.data if (t.meta or {}).get("kind") == "upload"] == ["scatter"]
    assert sum(len(t.selectedpoints or ()) for t in both.data) >= 1


def test_a_webgl_map_sends_little_hover_text_a_dot_and_still_names_each_dot(bundle):
    frame = map_view.map_frame(bundle, "deep")
    big = frame.sample(map_view.GL_FROM, replace=True, random_state=1)
    names, genres = dict(zip(big["track_id"], big["name"])), dict(zip(big["track_id"], big["genre"]))
    for colour_by in map_view.COLOUR_MODES:
        fig = validated(map_view.base_figure(big, bundle.labels, colour_by))
        for t in fig.data:
            custom = [list(c) for c in t.customdata]
            # id and name; the real genre too where the trace is not one genre (predicted, correct)
            assert {len(c) for c in custom} == {{"genre": 2, "predicted": 3, "correct": 4}[colour_by]}
            # artist – title, from the track's id, as Plotly draws it literally ("Peaches &amp; Herb")
            assert all(plotly_text(names[c[0]]) == c[1] for c in custom)
            if colour_by != "genre":
                assert all(genres[c[0]] == c[2] for c in custom)
            hover = t.hovertemplate
            assert "%{customdata[1]}" in hover and map_view.SLIM_HINT in hover  # artist – title; the rest on click
            if colour_by == "genre":
                assert f"genre: <b>{t.name}</b>" in hover  # the trace's genre, written once
            else:
                assert "%{customdata[2]}" in hover and t.name in hover
            if colour_by == "correct":  # the help says: hover to see which clips were held out for testing
                assert "%{customdata[3]}" in hover and {c[3] for c in custom} <= set(map_view.SPLIT_NAMES.values())
        # a click or lasso on the WebGL map gives back the same item keys, and the page's selection is drawn
        points = [{"customdata": list(t.customdata[0]), "curve_number": i} for i, t in enumerate(fig.data)]
        keys = map_view.selection_keys({"selection": {"points": points}})
        assert keys == list(dict.fromkeys(t.customdata[0][0] for t in fig.data))
        drawn = map_view.add_overlays(fig, big, bundle.labels, selected=keys[:1])
        assert [t.customdata[i][0] for t in drawn.data for i in t.selectedpoints] == [keys[0]] * sum(
            1 for t in fig.data for c in t.customdata if c[0] == keys[0])
    # a small map keeps its six strings a dot
    assert {len(c) for t in map_view.base_figure(frame, bundle.labels).data for c in t.customdata} == {6}


def test_a_large_map_draws_the_same_even_sample_of_its_clips_on_every_layer(bundle):
    frame = map_view.map_frame(bundle, "deep")
    big = frame.sample(10_000, replace=True, random_state=2).reset_index(drop=True)
    big["track_id"] = [f"t{i}" for i in range(len(big))]
    limit = 2000
    rows = map_view.drawn_rows(len(big), limit)
    assert len(rows) == limit and np.all(np.diff(rows) > 0)  # distinct, in the collection's order
    assert np.array_equal(rows, map_view.drawn_rows(len(big), limit))  # the same on every call (every layer)
    assert np.array_equal(map_view.drawn_rows(limit, limit), np.arange(limit))  # a small collection: every clip
    dots = map_view.drawn(big, limit)
    assert list(dots["track_id"]) == list(big["track_id"].iloc[rows])
    assert map_view.drawn(frame, len(frame)) is frame
    # the sample keeps each genre's share, to sampling noise
    share = big["genre"].value_counts(normalize=True)
    assert (dots["genre"].value_counts(normalize=True) - share).abs().max() < 0.04  # ~0.01 is one standard error


def test_a_clip_left_out_of_a_large_maps_dots_is_drawn_when_selected(bundle):
    frame = map_view.map_frame(bundle, "deep")
    dots = frame.iloc[: len(frame) // 2]
    left_out, shown = frame["track_id"].iloc[-1], frame["track_id"].iloc[0]
    assert map_view.undrawn_selection_trace(frame, dots, [shown], bundle.labels) is None
    trace = map_view.undrawn_selection_trace(frame, dots, [shown, left_out], bundle.labels)
    assert trace["customdata"][0][0] == left_out and len(trace["x"]) == 1
    assert trace["x"][0] == frame["x"].iloc[-1] and trace["y"][0] == frame["y"].iloc[-1]
    validated(map_view.figure([trace], {}))


def test_display_names_of_a_whole_table_are_display_name_row_by_row():
    import pandas as pd

    artists = pd.Series(["A", None, " ", "B & C", np.nan, "X", ""], dtype=object)
    titles = pd.Series(["t1", "t2", None, "", "  ", 5, "only a title"], dtype=object)
    want = [map_view.display_name(a, t) for a, t in zip(artists, titles)]
    assert list(map_view.display_names(artists, titles)) == want
    assert want[2] == "unknown artist and title" and want[5] == "X – 5"


def test_find_tracks_matches_every_word_in_any_case(bundle):
    frame = map_view.map_frame(bundle, "deep")
    found = map_view.find_tracks(frame, "BLUES")
    assert set(frame[frame["genre"] == "blues"]["track_id"]) <= set(found["track_id"])
    assert all("blues" in (t + n + g).lower() for t, n, g in zip(found["track_id"], found["name"], found["genre"]))
    both = map_view.find_tracks(frame, "blues hooker")
    assert len(both) > 0 and all("Hooker" in n for n in both["name"])
    assert map_view.find_tracks(frame, "blues metal").empty
    assert len(map_view.find_tracks(frame, "", limit=7)) == 7


# ---------------------------------------------------------------- lazily read bundles
def lazily(path, **kwargs):
    return load_bundle(path, lazy=True, **kwargs)


def test_a_lazy_bundle_reads_arrays_on_demand(bundle):
    lazy = lazily(DEFAULT_BUNDLE)
    assert isinstance(lazy.arrays, LazyArrays)
    assert lazy.arrays.loaded() == ["probabilities"]  # the labels check needs it; nothing else yet
    assert set(lazy.arrays) == set(bundle.arrays) and lazy.labels == bundle.labels
    assert lazy.tracks.equals(bundle.tracks) and lazy.networks == bundle.networks
    np.testing.assert_array_equal(lazy.coords("deep"), bundle.coords("deep"))
    assert lazy.arrays.loaded() == ["map_deep", "probabilities"]
    np.testing.assert_array_equal(lazy.arrays.row("thumbnails", 7), bundle.arrays["thumbnails"][7])
    assert lazy.arrays.shape("track_none") == bundle.vectors("none").shape


def test_big_arrays_are_memory_mapped_from_a_cache_folder(tmp_path, monkeypatch):
    import pipeline.bundle.lazy

    monkeypatch.setattr(pipeline.bundle.lazy, "MMAP_FROM", 1_000_000)  # the thumbnails (1.9 MB) count as big here
    lazy = lazily(DEFAULT_BUNDLE, cache_dir=tmp_path)
    thumbs = lazy.arrays["thumbnails"]
    assert isinstance(thumbs, np.memmap) and not isinstance(lazy.arrays["map_deep"], np.memmap)
    (unpacked,) = list(tmp_path.glob("*/thumbnails.npy"))  # one folder per content hash
    np.testing.assert_array_equal(np.load(unpacked), load_bundle(DEFAULT_BUNDLE).arrays["thumbnails"])
    again = LazyArrays(DEFAULT_BUNDLE / "arrays.npz", unpacked.parent)  # a restarted server maps it at once
    assert isinstance(again["thumbnails"], np.memmap)


def test_a_lazy_bundle_is_refused_as_an_eager_one_is(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(DEFAULT_BUNDLE, broken)
    with open(broken / "arrays.npz", "r+b") as f:  # damaged after the build
        f.seek(1000)
        f.write(b"\x00" * 16)
    for opener in (load_bundle, lazily):
        with pytest.raises(BundleError, match="does not match its recorded hash"):
            opener(broken)
    edited = tmp_path / "edited"
    shutil.copytree(DEFAULT_BUNDLE, edited)
    meta = json.loads((edited / "bundle.json").read_text())
    meta["embeddings"]["deep"]["dim"] += 1  # …and its content hash redone: a shape that does not fit
    from pipeline.bundle import meta_hash

    meta["meta_sha256"] = meta_hash(meta)
    (edited / "bundle.json").write_text(json.dumps(meta))
    for opener in (load_bundle, lazily):
        with pytest.raises(BundleError, match="inconsistent.*track_deep"):
            opener(edited)


def test_a_lazy_bundle_checks_its_graphs_and_refuses_pickled_arrays(tmp_path):
    damaged = tmp_path / "graph"
    shutil.copytree(DEFAULT_BUNDLE, damaged)
    (damaged / "model.onnx").write_bytes((damaged / "model.onnx").read_bytes()[:-10])  # any listed file counts
    with pytest.raises(BundleError, match="model.onnx does not match its recorded hash"):
        lazily(damaged)
    pickled = tmp_path / "pickled"
    shutil.copytree(DEFAULT_BUNDLE, pickled)
    with np.load(DEFAULT_BUNDLE / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["notes"] = np.array([{"a": 1}], dtype=object)  # an array only a pickle can hold
    np.savez_compressed(pickled / "arrays.npz", **arrays)
    for opener in (load_bundle, lazily):  # refused when opened, not when a view first reads it
        with pytest.raises(BundleError, match="cannot be read"):
            opener(pickled, verify=False)


# ---------------------------------------------------------------- benchmarks/large_bundle.py
def test_large_bundle_writes_a_valid_bundle_of_jittered_copies(tmp_path, bundle):
    large_bundle = large_bundle_module()
    out = large_bundle.make_large_bundle(DEFAULT_BUNDLE, tmp_path / "big", 600, windows=2)
    big = load_bundle(out)  # hashes, shapes, labels against predictions
    n = len(bundle.tracks)
    assert len(big.tracks) == 600 and big.tracks["track_id"].is_unique
    assert big.tracks["track_id"].iloc[n] == bundle.tracks["track_id"].iloc[0] + ".c1"
    assert big.meta["dataset"]["n_tracks"] == 600 and big.embeddings == bundle.embeddings
    np.testing.assert_array_equal(big.coords("deep")[:n], bundle.coords("deep"))  # the first copy is the original
    assert not np.allclose(big.coords("deep")[n:2 * n], bundle.coords("deep"))  # the others are jittered
    genres = big.tracks["genre"].astype(str).to_numpy()
    for e in big.embeddings:
        np.testing.assert_allclose(big.similarity(e), genre_similarity(big.vectors(e), genres, big.labels), atol=1e-9)
    assert len(big.arrays["segment_track"]) == 1200 and not any(k.startswith("segment_d") for k in big.arrays)
    assert big.arrays["thumbnails"].shape[0] == 600


def test_large_bundle_keeps_previews_for_first_copies_only():
    from pipeline.previews import pack_previews, unpack_preview

    packed = pack_previews([b"aa", b"bbb", b"c"])
    src, copy = np.array([0, 1, 2, 0, 1, 2, 0]), np.array([0, 0, 0, 1, 1, 1, 2])
    out = large_bundle_module().first_copy_previews(packed["preview_bytes"], packed["preview_offsets"], src, copy)
    got = [unpack_preview(out["preview_bytes"], out["preview_offsets"], i) for i in range(7)]
    assert got == [b"aa", b"bbb", b"c", None, None, None, None] and len(out["preview_offsets"]) == 8


# ---------------------------------------------------------------- words keyed by layer
def test_layer_texts_come_from_the_layer_name():
    assert text.layer_title("deep") == text.layer_title("musicnn.deep") == "Deep layer"
    assert "Paper: the best balance" in text.layer_finding("deep", 256)
    assert "Paper" not in text.layer_finding("musicnn.deep", 256)
    assert "256 numbers" in text.layer_finding("musicnn.deep", 256)
    assert "MusiCNN" in text.layer_finding("musicnn.immediate", 753)
    assert text.layer_caption("shallow", 64).startswith("Last layer: 64 numbers")
    assert text.network_title("musicnn") == "Trained on music (MusiCNN)"
    assert text.layer_title("mystery") == "mystery" and "?" in text.layer_finding("mystery", None)
