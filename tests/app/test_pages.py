"""The multipage explorer in AppTest: every page starts and its controls work, the view and the songs survive
page moves, a click reruns only what it changes, a bundle with two networks gets a network picker, and a large
collection gets a WebGL map, a word search and panels that do not grow with it."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import cache, keys
from explorer.sections import detail
from explorer.sections import sounds_like as sounds_section
from explorer.state import DEFAULT_BUNDLE, ENV_VAR
from pipeline.bundle import load_bundle, write_bundle
from pipeline.networks import LAYERS, network_title
from tests.app.test_app import (
    APP,
    COMPARE,
    MAP,
    MODEL,
    SIMILARITY,
    TIMEOUT,
    charts,
    colour,
    control,
    go,
    highlighted,
    layer,
    map_caption,
    map_spec,
    no_problems,
    traces,
    uploader,
    wav_bytes,
)
from tests.conftest import large_bundle_module

REPO = Path(__file__).resolve().parents[2]


def open_app(monkeypatch, bundle: Path | None = None) -> AppTest:
    if bundle is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, str(bundle))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    no_problems(at)
    return at


@pytest.fixture
def app(monkeypatch) -> AppTest:
    return open_app(monkeypatch)


def cosine_heatmaps(at) -> list[dict]:
    return [t for s in charts(at).values() for t in s["data"] if t["type"] == "heatmap"
            and "cosine" in t.get("hovertemplate", "")]


# ---------------------------------------------------------------- every page
def test_compare_page_grid_follows_the_colouring_and_the_scale(app):
    go(app, COMPARE)
    no_problems(app)
    grid = {k: s for k, s in charts(app).items() if k.startswith("grid_")}
    assert sorted(grid) == ["grid_deep", "grid_immediate", "grid_none", "grid_shallow"]
    assert all(s["layout"]["height"] < 640 for s in grid.values())  # small multiples, not full-size maps
    captions = " ".join(c.value for c in app.caption)
    assert "not informative" in captions and "best balance" in captions  # each cell says what the paper found
    colour(app).set_value("correct").run()
    no_problems(app)
    assert all([t["name"] for t in traces(s, "tracks")] == ["model right", "model wrong"]
               for k, s in charts(app).items() if k.startswith("grid_"))
    assert len(cosine_heatmaps(app)) == 4
    app.radio(key=keys.COMPARE_SCALE).set_value("absolute").run()
    assert all((t["zmin"], t["zmax"]) == (0.0, 1.0) for t in cosine_heatmaps(app))


def test_similarity_page_follows_the_layer(app):
    go(app, SIMILARITY)
    no_problems(app)
    deep = cosine_heatmaps(app)
    assert len(deep) == 2 and all(len(t["z"]) == 10 for t in deep)
    layer(app).set_value("none").run()
    no_problems(app)
    none = cosine_heatmaps(app)
    assert none[0]["z"] != deep[0]["z"]
    assert any("(none)" in c.value for c in app.caption)


def test_model_page_numbers_and_quality_table(app):
    go(app, MODEL)
    no_problems(app)
    text = " ".join(m.value for m in app.markdown)
    assert "Test accuracy" in text and "Cross-validation, held-out artists" in text
    assert sorted(charts(app)) == ["confusion", "per_genre"]
    quality = app.dataframe[-1].value
    shipped = load_bundle(DEFAULT_BUNDLE)  # two networks: a network column names each layer's
    assert list(quality["layer"]) == shipped.embeddings and list(quality["network"].unique()) == list(shipped.networks)


def test_model_page_shows_balanced_accuracy_and_macro_f1_when_the_bundle_has_them(monkeypatch, tmp_path):
    src = load_bundle(DEFAULT_BUNDLE)
    meta = json.loads(json.dumps(src.meta))
    m = meta["metrics"]["networks"][meta["predictor"]]  # the page shows the predicting network's numbers first
    m["test"].update(balanced_accuracy=0.71, macro_f1=0.69)
    score = {"accuracy": {"mean": 0.8, "std": 0.1, "folds": [0.8]}, "balanced_accuracy": {"mean": 0.77, "std": 0.09,
             "folds": [0.77]}, "macro_f1": {"mean": 0.75, "std": 0.1, "folds": [0.75]}}
    m["cross_validation"] = {kind: {"folds": 5, "repeats": 3, "seed": 0, "grouping": "artist", "head": score,
                                    "logistic_baseline": score} for kind in ("artist", "track")}
    out = write_bundle(tmp_path / "metrics3", meta, src.tracks, dict(src.arrays), src.state_dict())
    at = open_app(monkeypatch, out)
    go(at, MODEL)
    no_problems(at)
    text = " ".join(m.value for m in at.markdown)
    assert "balanced accuracy 71 %" in text and "macro-F1 69 %" in text
    assert "balanced accuracy 77 % ± 9 %" in text


# ---------------------------------------------------------------- moving between pages
def test_layer_colouring_selection_and_songs_survive_page_moves(app):
    uploader(app).set_value(("my song.wav", wav_bytes(), "audio/wav")).run()
    no_problems(app)
    song = traces(map_spec(app), "upload")[0]["customdata"][0][0]
    layer(app).set_value("shallow").run()
    colour(app).set_value("predicted").run()
    control(app, "selectbox", keys.LOOKUP).set_value("blues.00003").run()
    # after a fragment rerun AppTest holds (and sends back) only the fragments' widgets, where a browser sends
    # every widget on screen, the sidebar's uploader too: the whole page first, as a browser has it
    app.run()
    for page in (COMPARE, SIMILARITY, MODEL, MAP):
        go(app, page)
        no_problems(app)
        assert app.session_state[keys.EMBEDDING] == "shallow" and app.session_state[keys.COLOUR] == "predicted"
        assert app.session_state[keys.SELECTION] == ["blues.00003"]
        assert app.query_params["embedding"] == "shallow" and app.query_params["track"] == "blues.00003"
        assert any("my song.wav" in b.label for b in app.sidebar.button)  # the song, on every page
        if page == COMPARE:
            assert traces(charts(app)["grid_shallow"], "upload")[0]["customdata"][0][0] == song
        if page == SIMILARITY:
            assert layer(app).value == "shallow"
    assert layer(app).value == "shallow" and colour(app).value == "predicted" and "(shallow)" in map_caption(app)
    assert [t["customdata"][0][0] for t in traces(map_spec(app), "upload")] == [song]
    assert highlighted(map_spec(app)) == ["blues.00003"]


# ---------------------------------------------------------------- what a click reruns
OTHER_PAGES = ("map_small", "similarity", "similarity_all", "model_panel")  # figure builders of the other pages


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """How often the Map page's sections and the other pages' figure builders are called (by the page: the
    background loader, which also warms figure caches, is not started)."""
    from explorer import state

    monkeypatch.setattr(state, "start_placer", lambda path, before=None: None)
    counts = Counter()

    def counting(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("map_base_dict",) + OTHER_PAGES:  # the Map page's map: read from the cache once a run
        counting(cache, name)
    counting(detail, "show_track")
    counting(sounds_section, "show")
    return counts


def test_a_layer_switch_reruns_the_map_and_sounds_like_only(app, calls):
    app.selectbox(key=keys.LOOKUP).set_value("blues.00001").run()
    radio = layer(app)  # (a whole-page run when the tree lacks it)
    calls.clear()
    radio.set_value("shallow").run()
    no_problems(app)
    assert calls["map_base_dict"] == 1 and calls["show"] == 1  # the map and "sounds like" (the layer's neighbours)
    assert calls["show_track"] == 0  # the detail panel does not depend on the layer: not redrawn
    assert not any(calls[n] for n in OTHER_PAGES)  # other pages
    assert "(shallow)" in map_caption(app) and not app.title  # only the fragments ran, not the page around them

    select = colour(app)
    calls.clear()
    select.set_value("correct").run()
    assert calls["map_base_dict"] == 1 and calls["show"] == calls["show_track"] == 0  # the map alone

    calls.clear()  # picking one of several selected clips: the panel and "sounds like", not the map
    app.session_state[keys.SELECTION] = ["blues.00001", "metal.00002"]
    app.run()
    calls.clear()
    app.selectbox(key=keys.FOCUS).set_value("metal.00002").run()
    assert calls["show_track"] == 1 and calls["show"] == 1 and calls["map_base_dict"] == 0


def test_a_network_switch_reruns_the_map_page_only(app, calls):
    calls.clear()
    control(app, "selectbox", keys.NETWORK).set_value("musicnn").run()
    no_problems(app)
    assert calls["map_base_dict"] == 1 and "(musicnn.deep)" in map_caption(app)
    assert not any(calls[n] for n in OTHER_PAGES)  # the other pages' figures are not built


def test_an_upload_is_placed_once_and_runs_no_other_page(app, calls, monkeypatch):
    from explorer import upload

    placed = Counter()
    place = upload.place_upload

    def counting_place(*args, **kwargs):
        placed[args[2]] += 1
        return place(*args, **kwargs)

    monkeypatch.setattr(upload, "place_upload", counting_place)
    calls.clear()
    uploader(app).set_value(("my song.wav", wav_bytes(), "audio/wav")).run()
    no_problems(app)
    assert placed == {"my song.wav": 1}
    assert [t["name"] for t in traces(map_spec(app), "upload")] == ["★ my song.wav"]
    assert any(s.value == "★ my song.wav" for s in app.subheader)  # its detail panel
    assert any("my song.wav" in b.label for b in app.sidebar.button)
    assert not any(calls[n] for n in OTHER_PAGES)
    layer(app).set_value("shallow").run()  # later runs do not place it again
    assert placed == {"my song.wav": 1}


# ---------------------------------------------------------------- two networks
@pytest.fixture(scope="module")
def two_networks(tmp_path_factory) -> Path:
    """The shipped bundle with a second network: its arrays again under ``musicnn.*`` keys (maps mirrored)."""
    src = load_bundle(DEFAULT_BUNDLE)
    meta = json.loads(json.dumps(src.meta))
    arrays = dict(src.arrays)
    for name in LAYERS:
        key = f"musicnn.{name}"
        arrays[f"track_{key}"] = src.vectors(name)
        arrays[f"map_{key}"] = src.coords(name) * np.array([-1.0, 1.0], dtype=np.float32)
        arrays[f"similarity_{key}"] = src.similarity(name)
        meta["embeddings"][key] = dict(src.meta["embeddings"][name])
        meta["metrics"]["embedding_quality"][key] = src.meta["metrics"]["embedding_quality"][name]
    meta["networks"] = {"mobilenet_v2": {"layers": list(LAYERS)},
                        "musicnn": {"layers": [f"musicnn.{name}" for name in LAYERS]}}
    return write_bundle(tmp_path_factory.mktemp("two") / "two_networks", meta, src.tracks, arrays, src.state_dict())


def test_two_networks_get_a_network_picker_on_every_page(monkeypatch, two_networks):
    at = open_app(monkeypatch, two_networks)
    picker = control(at, "selectbox", keys.NETWORK)
    assert picker.options == [network_title("mobilenet_v2"), network_title("musicnn")]
    assert layer(at).options == list(LAYERS)  # the four layers of the chosen network, not eight
    deep_x = sorted(x for t in traces(map_spec(at), "tracks") for x in t["x"])
    picker.set_value("musicnn").run()
    no_problems(at)
    assert at.session_state[keys.EMBEDDING] == "musicnn.deep"  # the same layer of the other network
    assert layer(at).options == list(LAYERS) and layer(at).value == "musicnn.deep"
    assert sorted(x for t in traces(map_spec(at), "tracks") for x in t["x"]) == sorted(-x for x in deep_x)
    assert at.query_params["embedding"] == "musicnn.deep" and "(musicnn.deep)" in map_caption(at)
    layer(at).set_value("musicnn.shallow").run()
    no_problems(at)
    go(at, COMPARE)
    no_problems(at)
    assert control(at, "selectbox", keys.NETWORK).value == "musicnn"
    assert sorted(k for k in charts(at) if k.startswith("grid_")) == ["grid_deep", "grid_immediate", "grid_none",
                                                                      "grid_shallow"]
    assert charts(at)["grid_shallow"]["layout"]["title"]["text"] == "Last layer (musicnn.shallow)"
    go(at, SIMILARITY)
    no_problems(at)
    assert layer(at).value == "musicnn.shallow"
    go(at, MODEL)
    no_problems(at)
    quality = at.dataframe[-1].value
    assert len(quality) == 8 and set(quality["network"]) == {"mobilenet_v2", "musicnn"}
    # a link to a layer of the second network opens that network
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)
    again.query_params.update(embedding="musicnn.none")
    again.run()
    no_problems(again)
    assert control(again, "selectbox", keys.NETWORK).value == "musicnn" and layer(again).value == "musicnn.none"


# ---------------------------------------------------------------- a large collection
@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    return large_bundle_module().make_large_bundle(DEFAULT_BUNDLE, tmp_path_factory.mktemp("large") / "large", 2600)


def test_a_large_collection_gets_webgl_smaller_dots_search_and_fixed_size_panels(monkeypatch, large):
    from explorer.pages.map import FOCUS_LIMIT, LOOKUP_LIMIT
    from explorer.views.map_view import GL_FROM

    assert 2600 > max(GL_FROM, LOOKUP_LIMIT)
    at = open_app(monkeypatch, large)
    spec = map_spec(at)
    dots = traces(spec, "tracks")
    assert sum(len(t["x"]) for t in dots) == 2600
    assert {t["type"] for t in dots} == {"scattergl"} and all(t["marker"]["size"] < 8 for t in dots)
    assert not [s for s in at.selectbox if s.key == keys.LOOKUP]  # not a list of 2 600 clips: a word search
    at.text_input(key=keys.SEARCH).input("metal").run()
    found = at.selectbox(key=keys.LOOKUP)
    ids = [o.split(" — ")[0] for o in found.options]  # shown as "id — artist – title"
    assert 0 < len(ids) <= 50 and all(i.startswith("metal.") for i in ids)
    found.set_value(ids[1]).run()
    no_problems(at)
    assert at.session_state[keys.SELECTION] == [ids[1]] and highlighted(map_spec(at)) == [ids[1]]
    assert len(at.dataframe(key=keys.SOUNDS_TABLE).value) == 5
    # a lasso of hundreds of clips: counted, and a bounded choice of which one to show
    at.session_state[keys.SELECTION] = list(at.session_state[keys.SELECTION]) + [f"rock.0000{i % 8}.c{i}"
                                                                                  for i in range(1, 300)]
    at.run()
    no_problems(at)
    assert len(at.selectbox(key=keys.FOCUS).options) <= FOCUS_LIMIT
    go(at, SIMILARITY)
    assert all(len(t["z"]) == 10 for t in cosine_heatmaps(at))  # genre × genre, whatever the number of clips
    go(at, COMPARE)
    no_problems(at)
    cells = [s for k, s in charts(at).items() if k.startswith("grid_")]
    assert all({t["type"] for t in traces(s, "tracks")} == {"scattergl"} for s in cells)


def test_pages_read_only_the_arrays_they_need(monkeypatch, tmp_path):
    from explorer import state

    fresh = tmp_path / "fresh"
    shutil.copytree(DEFAULT_BUNDLE, fresh)  # its own cache entry: nothing read yet
    monkeypatch.setattr(state, "start_placer", lambda path, before=None: None)  # no model (it reads every layer)
    at = open_app(monkeypatch, fresh)
    read = set(state.get_bundle(fresh.resolve()).arrays.loaded())
    assert read <= {"probabilities"} | {f"map_{e}" for e in LAYERS}, read  # the maps; no vectors, no thumbnails
    go(at, MODEL)
    go(at, SIMILARITY)
    read = set(state.get_bundle(fresh.resolve()).arrays.loaded())
    assert not any(k.startswith(("track_", "thumbnails", "segment_")) for k in read), read
