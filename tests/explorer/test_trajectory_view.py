"""A song's path through time, as plain functions: clock, labels, the path on the map, window clicks, the timeline."""
from __future__ import annotations

from types import SimpleNamespace

from explorer import upload
from explorer.views import map_view, palette, song_marks, trajectory_view
from explorer.views.plotting import trace_kind
from tests.explorer.fakes import fake_placement
from tests.explorer.test_views import kinds, validated


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
    paths = song_marks.paths([ok_long, ok_short, failed], "deep")
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


def _two_clusters():
    """A map of two genres' clusters: blues around (0, 0), classical around (10, 0)."""
    import pandas as pd

    xs = [0.0, 0.5, 1.0, 10.0, 10.5, 11.0]
    return pd.DataFrame({"x": xs, "y": [0.0] * 6, "genre": ["blues"] * 3 + ["classical"] * 3})


def _path(xs):
    return {"item": "upload:k", "name": "song.wav", "duration": 5.0 * len(xs) + 5,
            "windows": [{"start_s": 5.0 * i, "end_s": 5.0 * i + 10, "genre": "blues", "confidence": 0.5,
                         "x": float(x), "y": 0.0} for i, x in enumerate(xs)]}


def test_a_song_whose_windows_fall_in_several_genres_regions_is_between_them():
    frame = _two_clusters()
    halves = _path([0.2] * 6 + [10.2] * 4)
    assert trajectory_view.window_regions(halves, frame) == {"blues": 6, "classical": 4}
    assert trajectory_view.between_genres(halves, frame) == {"blues": 6, "classical": 4}
    # one region, or one holding most windows, or a stray window elsewhere: the star stands for its region
    assert trajectory_view.between_genres(_path([0.2] * 10), frame) == {}
    assert trajectory_view.between_genres(_path([0.2] * 8 + [10.2] * 2), frame) == {}  # 80 % in one
    assert trajectory_view.between_genres(_path([0.2] * 3 + [10.2]), frame) == {}  # one window is noise
    assert trajectory_view.window_regions(_path([]), frame) == {}


def test_a_star_between_genres_says_so_on_the_map(bundle):
    frame = map_view.map_frame(bundle, "deep")
    blues, classical = (frame[frame["genre"] == g][["x", "y"]].median().to_numpy() for g in ("blues", "classical"))
    windows = [blues] * 5 + [classical] * 5
    path = {"item": "upload:k", "name": "long.wav", "duration": 60.0,
            "windows": [{"start_s": 5.0 * i, "end_s": 5.0 * i + 10, "genre": "blues", "confidence": 0.5,
                         "x": float(x), "y": float(y)} for i, (x, y) in enumerate(windows)]}
    markers = [{"key": "k", "name": "long.wav", "x": 0.0, "y": 0.0, "genre": "blues", "confidence": 0.5},
               {"key": "other", "name": "short.wav", "x": 1.0, "y": 1.0, "genre": "jazz", "confidence": 0.5}]
    marked = map_view.mark_between_clusters(markers, [path], frame)
    assert "between" not in markers[0]  # copies
    assert marked[0]["between"] == {"blues": 5, "classical": 5} and marked[1]["between"] == {}
    fig = validated(map_view.add_overlays(map_view.base_figure(frame, bundle.labels), frame, bundle.labels,
                                          markers=marked, paths=[path]))
    star, other = kinds(fig, "upload")
    assert star.text[0] == "long.wav<br><i>between 2 genres</i>" and other.text[0] == "short.wav"
    assert "its windows fall in 2 genres' regions (blues 5, classical 5)" in star.hovertemplate
    assert "regions" not in other.hovertemplate


def test_a_songs_name_on_its_path_is_drawn_as_written(bundle):
    name = "<b>x</b> & y.wav"
    path = trajectory_view.song_path("upload:k", name, fake_placement(3), "deep")
    trace = trajectory_view.trajectory_trace(path, palette.genre_colours(bundle.labels))
    assert trace["customdata"][0][1] == "&lt;b&gt;x&lt;/b&gt; &amp; y.wav"
    assert name not in trace["hovertemplate"] and "%{customdata[1]}" in trace["hovertemplate"]
    assert trace["name"] == "↝ &lt;b&gt;x&lt;/b&gt; &amp; y.wav, window by window"
    assert trace["legend"] == trajectory_view.SONG_LEGEND  # with its star's entry
