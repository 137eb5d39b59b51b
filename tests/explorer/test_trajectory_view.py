"""Issue 7's views as plain functions: trajectory, sounds like, side by side, shareable URL, exports, collections."""
from __future__ import annotations

import io
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from explorer import share, state, upload
from explorer.state import DEFAULT_BUNDLE
from explorer.views import export, map_view, palette, sounds_like, trajectory_view
from explorer.views.plotting import trace_kind
from pipeline.bundle import load_bundle
from tests.explorer.test_views import kinds, validated
from tests.synth import genre_clip


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


@pytest.fixture(scope="module")
def placer(bundle):
    from pipeline.place import Placer
    return Placer(bundle)  # no warm-up: only its neighbours are used here


def fake_placement(n_windows: int, embeddings=("none", "immediate", "deep", "shallow"), seconds: float | None = None):
    """A Placement-like object whose windows walk along a line (window i at x = i)."""
    genres = ["blues", "jazz", "rock"]
    windows = [{"start_s": 5.0 * i, "end_s": 5.0 * i + 10.0, "genre": genres[i % 3], "confidence": 0.5 + 0.01 * i,
                "maps": {e: {"x": float(i), "y": float(-i)} for e in embeddings}} for i in range(n_windows)]
    duration = seconds if seconds is not None else 5.0 * n_windows + 5.0
    return SimpleNamespace(genre="jazz", probabilities={"jazz": 0.6, "blues": 0.3, "rock": 0.1},
                           maps={e: {"x": 0.5, "y": -0.5, "neighbours": []} for e in embeddings},
                           trajectory=windows, duration_s=duration, n_segments=n_windows,
                           vectors={e: np.ones(3, np.float32) for e in embeddings})


# ---------------------------------------------------------------- song trajectory
def test_clock_and_labels():
    assert trajectory_view.clock(0) == "0:00" and trajectory_view.clock(83.4) == "1:23"
    assert trajectory_view.clock(600) == "10:00"
    w = {"start_s": 65.0, "end_s": 75.0, "genre": "blues"}
    assert trajectory_view.window_label(w) == "1:05–1:15 · blues"


def test_song_path_needs_two_windows_in_that_embedding():
    assert trajectory_view.song_path("upload:a", "a.wav", fake_placement(1), "deep") is None
    no_path = SimpleNamespace(trajectory=None, duration_s=5)
    assert trajectory_view.song_path("upload:a", "a.wav", no_path, "deep") is None
    assert trajectory_view.song_path("upload:a", "a.wav", fake_placement(3, ("deep",)), "shallow") is None
    path = trajectory_view.song_path("upload:a", "a.wav", fake_placement(11), "deep")
    assert path["item"] == "upload:a" and len(path["windows"]) == 11
    assert [w["x"] for w in path["windows"]] == [float(i) for i in range(11)]


def test_trajectory_on_the_map_is_coloured_by_time_with_genre_rings(bundle):
    frame = map_view.map_frame(bundle, "deep")
    base = map_view.base_figure(frame, bundle.labels)
    path = trajectory_view.song_path("upload:k", "long.wav", fake_placement(12), "deep")
    marker = {"key": "k", "name": "long.wav", "x": 0.5, "y": -0.5, "genre": "jazz", "confidence": 0.6}
    fig = validated(map_view.add_overlays(base, frame, bundle.labels, markers=[marker], paths=[path]))
    (traj,) = kinds(fig, "trajectory")
    assert trace_kind(fig.data[-1]) == "upload" and trace_kind(fig.data[-2]) == "trajectory"  # the star on top
    assert len(traj.x) == 12 and traj.mode == "lines+markers"
    times = list(traj.marker.color)
    assert times == sorted(times) and times[0] == 0.0 and 0.8 < times[-1] <= 1.0  # start → end
    colours = palette.genre_colours(bundle.labels)
    assert list(traj.marker.line.color)[:3] == [colours["blues"], colours["jazz"], colours["rock"]]
    assert traj.marker.showscale and traj.customdata[1][2] == "0:05–0:15"
    assert "%{customdata[2]}" in traj.hovertemplate  # hover gives the time range
    assert fig.layout.margin.b >= 60  # room for the time colour bar
    # only the first song carries the colour bar; a selected song keeps its whole path highlighted
    two = validated(map_view.add_overlays(base, frame, bundle.labels, paths=[path, {**path, "item": "upload:j"}],
                                          selected=["upload:k"]))
    a, b = kinds(two, "trajectory")
    assert a.marker.showscale and not b.marker.showscale
    assert list(a.selectedpoints) == list(range(12)) and list(b.selectedpoints) == []


def test_upload_paths_only_for_songs_longer_than_one_window():
    ok_long = upload.UploadResult("k1", "long.wav", placement=fake_placement(5))
    ok_short = upload.UploadResult("k2", "short.wav", placement=fake_placement(1))
    failed = upload.UploadResult("k3", "bad.wav", error="no")
    paths = upload.paths([ok_long, ok_short, failed], "deep")
    assert [p["item"] for p in paths] == ["upload:k1"] and len(paths[0]["windows"]) == 5


def test_window_clicks_read_trajectory_and_timeline_points():
    sel = {"selection": {"points": [
        {"customdata": ["upload:k", "a.wav", "0:05–0:15", "jazz", "50%", "window", 5.0]},
        {"customdata": ["blues.00001", "x", "blues", "blues", "90%", "train"]},  # a track: not a window
        {"customdata": ["upload:k"]}, {"point_index": 2},
    ]}}
    assert trajectory_view.window_clicks(sel) == [("upload:k", 5.0)]
    assert trajectory_view.window_clicks(None) == [] and trajectory_view.window_clicks({"selection": {}}) == []
    # a click on a path point also selects its song on the map
    assert map_view.selection_keys(sel) == ["upload:k", "blues.00001"]


def test_timeline_tiles_the_song_and_marks_the_player(bundle):
    windows = fake_placement(6, seconds=33.0).trajectory
    fig = validated(trajectory_view.timeline_figure(windows, palette.genre_colours(bundle.labels), "upload:k", "a.wav",
                                                    current=10.0))
    bar = fig.data[0]
    assert list(bar.x) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    assert list(bar.width) == [5.0] * 5 + [10.0]  # the last window runs to its end
    assert bar.marker.color[1] == palette.GTZAN_COLOURS["jazz"] and bar.customdata[2][5] == trajectory_view.WINDOW_TAG
    assert fig.layout.shapes[0].x0 == 10.0
    assert trajectory_view.window_clicks({"selection": {"points": [{"customdata": list(bar.customdata[3])}]}}) == [
        ("upload:k", 15.0)]


# ---------------------------------------------------------------- sounds like
def test_neighbour_lists_rank_every_embedding_and_exclude_the_clip(bundle, placer):
    i = 3
    tid = bundle.tracks["track_id"].iloc[i]
    lists = sounds_like.neighbour_lists(placer, sounds_like.track_vectors(bundle, i), k=10, exclude=tid)
    assert list(lists) == bundle.embeddings
    for e, ns in lists.items():
        assert len(ns) == 10 and tid not in {n["track_id"] for n in ns}
        sims = [n["similarity"] for n in ns]
        assert sims == sorted(sims, reverse=True)
    assert lists["deep"][0]["track_id"] != lists["none"][0]["track_id"] or lists["deep"] != lists["none"]
    song = fake_placement(3)
    song.vectors = {e: bundle.vectors(e)[i] for e in bundle.embeddings}
    assert sounds_like.song_vectors(song, bundle.embeddings).keys() == set(bundle.embeddings)


def test_ranked_frame_and_the_why(bundle):
    ns = [{"track_id": f"blues.0000{j}", "genre": g, "similarity": 0.9 - 0.1 * j, "artist": "A", "title": None}
          for j, g in enumerate(["blues", "blues", "jazz", "blues", "rock"])]
    ranked = sounds_like.ranked_frame(ns, {"blues.00000": True})
    assert list(ranked.columns) == ["similarity", "genre", "artist – title", "clip", "listen"]
    assert ranked.index[0] == 1 and ranked["listen"].iloc[0] == "▶ below" and ranked["listen"].iloc[1] != "▶ below"
    probs = {g: 0.0 for g in bundle.labels} | {"blues": 0.7, "jazz": 0.2, "rock": 0.1}
    why = sounds_like.why_frame(probs, ns, bundle.labels)
    assert why["genre"].tolist()[0] == "blues" and why["nearest clips"].sum() == pytest.approx(1.0)
    assert set(why["genre"]) == {"blues", "jazz", "rock"} and why["clips"].sum() == 5
    fig = validated(sounds_like.why_figure(why, bundle.labels))
    assert [t.meta["kind"] for t in fig.data] == ["why_model", "why_neighbours", "legend", "legend"]
    assert fig.data[0].y[-1] == "blues" and not fig.data[0].showlegend and fig.data[2].marker.color == "#666666"
    agree = sounds_like.why_sentence(probs, ns, "deep", real_genre="blues")
    assert "3 of the 5" in agree and "agrees" in agree and "real genre is **blues**" in agree
    jazzy = [{**n, "genre": "jazz"} for n in ns[:3]] + ns[3:]
    disagree = sounds_like.why_sentence(probs, jazzy, "shallow")
    assert "mostly **jazz**" in disagree and "second guess" in disagree  # jazz is the model's second choice
    assert "different stories" in sounds_like.why_sentence({"blues": 0.7, "rock": 0.3, "jazz": 0.0}, jazzy, "deep")
    assert "no other clips" in sounds_like.why_sentence(probs, [], "deep")


def test_layers_compared_side_by_side_with_overlaps():
    def ns(*ids):
        return [{"track_id": t, "genre": t.split(".")[0], "similarity": 0.5} for t in ids]
    lists = {"none": ns("rock.1", "pop.1", "pop.2", "jazz.1", "rock.2"),
             "deep": ns("blues.1", "blues.2", "jazz.1", "rock.2", "blues.3", "blues.9"),
             "shallow": ns("blues.1", "blues.2", "blues.3", "blues.4", "blues.5")}
    table = sounds_like.comparison_frame(lists, "blues", "deep")
    assert list(table.columns) == ["none", "deep", "shallow"]
    assert table.loc["1"].tolist() == ["rock.1", "blues.1", "blues.1"]
    assert table.loc["blues clips"].tolist() == ["0 of 5", "3 of 5", "5 of 5"]
    assert table.loc["also in the deep list"].tolist() == ["2 of 5", "5 of 5", "3 of 5"]
    over = sounds_like.overlap_frame(lists)
    assert np.diag(over.to_numpy()).tolist() == [5, 5, 5] and (over.to_numpy() == over.to_numpy().T).all()
    assert over.loc["deep", "shallow"] == 3 and over.loc["none", "shallow"] == 0
    assert sounds_like.overlap_sentence(lists, "deep") == "The *deep* top 5 shares 2 with *none* and 3 with *shallow*."
    assert sounds_like.cell({"track_id": "x7", "genre": "pop"}) == "x7 (pop)"  # ids that do not name their genre


# ---------------------------------------------------------------- side by side
def test_small_maps_for_the_grid(bundle):
    frame = map_view.map_frame(bundle, "shallow")
    fig = validated(map_view.small_figure(frame, bundle.labels, "genre", "Last layer (shallow)"))
    assert fig.layout.showlegend is False and fig.layout.title.text == "Last layer (shallow)"
    assert sum(len(t.x) for t in kinds(fig, "tracks")) == len(bundle.tracks)
    assert fig.layout.height == map_view.GRID_HEIGHT


def test_a_selection_made_in_one_grid_map_is_drawn_in_the_others():
    from explorer.views.map_view import selection_to_draw
    sig = ("deep", "genre", ())
    last = (sig, ["a"])
    # the clicked chart keeps its figure as sent; every other chart draws the new selection
    assert selection_to_draw(["b"], "grid_deep", sig, last, chart="grid_deep") == ["a"]
    assert selection_to_draw(["b"], "grid_deep", sig, last, chart="grid_none") == ["b"]
    assert selection_to_draw(["b"], "grid_deep", sig, last) == ["b"]  # the main map


# ---------------------------------------------------------------- shareable views
def test_view_from_the_url_keeps_only_what_fits():
    embeddings, colours, ids = ["none", "immediate", "deep", "shallow"], ["genre", "predicted", "correct"], [
        "blues.00001", "blues.00003", "rock.00002"]
    assert share.parse_view({"embedding": "shallow", "track": "blues.00003"}, embeddings, colours, ids) == {
        "embedding": "shallow", "track": ["blues.00003"]}
    assert share.parse_view({"embedding": "Shallow", "colour": "PREDICTED"}, embeddings, colours, ids) == {
        "embedding": "shallow", "colour": "predicted"}
    bad = {"embedding": "sideways", "colour": "loudness", "track": "blues.99999", "other": "x"}
    assert share.parse_view(bad, embeddings, colours, ids) == {}
    assert share.parse_view({}, embeddings, colours, ids) == {}
    assert share.parse_view({"track": "rock.00002, blues.00001,nope,rock.00002", "color": "correct"},
                            embeddings, colours, ids) == {"track": ["rock.00002", "blues.00001"], "colour": "correct"}
    assert share.parse_view({"embedding": ["deep", "none"], "track": ""}, embeddings, colours, ids) == {
        "embedding": "none"}  # a repeated key: the last one wins
    assert share.unknown_tracks("blues.00012,blues.00001", ids) == ["blues.00012"]
    assert share.parse_tracks(",".join(ids * 40), ids) == ids


def test_view_params_and_link():
    params = share.view_params("shallow", "genre", ["blues.00003", "rock.00002"])
    assert params == {"embedding": "shallow", "colour": "genre", "track": "blues.00003,rock.00002"}
    assert list(share.view_params("deep", "genre", [], bundle="mine")) == ["bundle", "embedding", "colour"]
    assert share.link("http://localhost:8501", {"embedding": "shallow", "track": "a,b"}) == \
        "http://localhost:8501/?embedding=shallow&track=a,b"
    assert share.link(None, {"embedding": "deep"}) == "?embedding=deep"
    many = share.view_params("deep", "genre", [f"t{i}" for i in range(200)])
    assert len(many["track"].split(",")) == share.MAX_TRACKS


# ---------------------------------------------------------------- exports
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


# ---------------------------------------------------------------- bring your own collection
def test_bundles_found_in_assets(tmp_path):
    for name in ("zeta", "alpha"):
        (tmp_path / name).mkdir()
        shutil.copy(DEFAULT_BUNDLE / "bundle.json", tmp_path / name / "bundle.json")
    (tmp_path / "not_a_bundle").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bundle.json").write_text("{")
    found = state.find_bundles(tmp_path)
    assert [p.name for p in found] == ["alpha", "broken", "zeta"]
    assert state.find_bundles(tmp_path / "nowhere") == []
    choices = state.bundle_choices(tmp_path / "zeta", tmp_path)
    assert [p.name for p in choices] == ["zeta", "alpha", "broken"]  # the startup bundle first, once
    assert state.describe_bundle(tmp_path / "alpha") == "alpha — gtzan, 253 clips"
    assert "cannot be opened" in state.describe_bundle(tmp_path / "broken")
    meta = json.loads((DEFAULT_BUNDLE / "bundle.json").read_text())
    assert state.describe_bundle(DEFAULT_BUNDLE).endswith(f"{meta['dataset']['n_tracks']} clips")


# ---------------------------------------------------------------- a path never costs a song its place
def test_a_song_whose_windows_cannot_all_be_placed_is_placed_without_its_path():
    class NoPathPlacer:
        calls = []

        def place_file(self, data, filename=None, max_bytes=None, trajectory=False):
            self.calls.append(trajectory)
            if trajectory:
                raise ValueError("Input X contains NaN.\nmore")
            return fake_placement(3)

    r = upload.place_upload(NoPathPlacer(), "k", "gap.wav", b"RIFF")
    assert r.ok and r.note == upload.NO_PATH and NoPathPlacer.calls == [True, False]


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # the silent window
def test_a_real_song_with_ten_silent_seconds_is_placed(placer):
    y = np.concatenate([np.zeros(12 * 22050, np.float32), genre_clip(1, 12.0, 22050, np.random.default_rng(0))])
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="WAV")
    r = upload.place_upload(placer, "k", "gap.wav", buf.getvalue())
    assert r.ok, r.error
    if r.placement.trajectory is None:  # the pipeline cannot place a silent window: no path, but a place
        assert r.note == upload.NO_PATH
    else:
        assert r.note is None and len(r.placement.trajectory) >= 2
