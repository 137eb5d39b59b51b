"""The positions the map chart moves between layers (explorer/views/layer_frames.py)."""
import json

import numpy as np

from explorer.views.layer_frames import frames_json, layer_frames, moving_traces


def fig(*traces):
    return {"data": [{"x": list(x), "y": list(y)} for x, y in traces], "layout": {}}


def test_every_layer_gives_the_positions_of_the_traces_that_exist_on_every_layer():
    figures = {
        "none": fig(([0, 1], [0, 1]), ([5], [5]), ([1, 2, 3], [1, 2, 3])),
        "deep": fig(([2, 3], [2, 3]), ([6], [6]), ([1, 2], [1, 2])),  # the last trace differs: it stays still
    }
    frames = layer_frames(figures, {"none": "none", "deep": "deep"}, {"none": "a", "deep": "b"}, "deep")
    assert frames["current"] == 1
    assert [layer["key"] for layer in frames["layers"]] == ["none", "deep"]
    assert frames["layers"][1]["xy"] == {"0": [[2.0, 3.0], [2.0, 3.0]], "1": [[6.0], [6.0]]}
    assert frames["layers"][0]["caption"] == "a"
    lo, hi = frames["range"]["x"]
    assert lo < 0 and hi > 6  # every layer fits, with a margin
    assert json.loads(frames_json(frames)) == frames


def test_positions_are_rounded_and_empty_traces_do_not_move():
    figures = {"a": fig((np.array([0.123456]), np.array([1.0])), ([], [])),
               "b": fig(([0.5], [0.25]), ([], []))}
    assert moving_traces(list(figures.values())) == [0]
    frames = layer_frames(figures, {}, {}, "missing")
    assert frames["current"] == 0
    assert frames["layers"][0]["xy"]["0"][0] == [0.123]
    assert frames["layers"][0]["label"] == "a"


def test_track_positions_are_the_map_figures_traces(bundle):
    from explorer.views.layer_frames import track_positions
    from explorer.views.map_view import base_figure, map_frame

    for colour_by in ("genre", "predicted", "correct"):
        frame = map_frame(bundle, "deep")
        drawn = base_figure(frame, bundle.labels, colour_by).to_dict()["data"]
        moved = track_positions(frame, bundle.labels, colour_by)["data"]
        assert len(moved) == len(drawn)
        for a, b in zip(moved, drawn):
            np.testing.assert_allclose(a["x"], b["x"])
            np.testing.assert_allclose(a["y"], b["y"])
