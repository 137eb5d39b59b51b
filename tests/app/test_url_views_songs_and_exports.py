"""Beyond the paper, in the page (AppTest): URL views, sounds like, song paths, linked grid, exports, collections."""
from __future__ import annotations

import io
import json
import shutil

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.state import DEFAULT_BUNDLE, ENV_VAR
from pipeline.readout import FIRST_WINDOWS
from tests.app.test_app import (
    APP,
    COMPARE,
    MAP,
    SIMILARITY,
    TIMEOUT,
    charts,
    colour,
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


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.delenv(ENV_VAR, raising=False)
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """file name → (bytes, mime) of every st.download_button the page draws (deferred ones are called)."""
    import streamlit.elements.widgets.button as button

    seen = {}
    original = button.marshall_file

    def recording(coordinates, data, proto, mimetype, file_name=None, **kwargs):
        seen[file_name] = (data, mimetype)
        return original(coordinates, data, proto, mimetype, file_name, **kwargs)

    monkeypatch.setattr(button, "marshall_file", recording)
    return _Recorder(seen)


class _Recorder:
    """A view of the recorded downloads with a helper that runs deferred generators."""

    def __init__(self, seen: dict):
        self.seen = seen

    def names(self) -> list[str]:
        return sorted(n for n in self.seen if n)

    def mime(self, name: str) -> str:
        return self.seen[name][1]

    def bytes(self, name: str) -> bytes:
        data = self.seen[name][0]
        data = data() if callable(data) else data
        return data.encode() if isinstance(data, str) else bytes(data)


def test_url_restores_the_view_and_follows_it(app):
    app.query_params.update(embedding="shallow", colour="predicted", track="blues.00003")
    app.run()
    no_problems(app)
    assert layer(app).value == "shallow" and colour(app).value == "predicted"
    assert "(shallow)" in map_caption(app)
    assert app.session_state["selection"] == ["blues.00003"] and highlighted(map_spec(app)) == ["blues.00003"]
    assert any(s.value == "blues.00003" for s in app.subheader)  # its detail panel is open
    assert app.query_params == {"embedding": "shallow", "colour": "predicted", "track": "blues.00003"}
    assert any("?embedding=shallow&colour=predicted&track=blues.00003" in m.value for m in app.markdown)  # to copy
    # the address follows the page
    layer(app).set_value("immediate").run()
    assert app.query_params["embedding"] == "immediate" and app.query_params["track"] == "blues.00003"
    app.session_state["selection"] = []
    app.run()
    assert "track" not in app.query_params
    # and the page follows the address when it changes under it (back / forward)
    app.query_params.update(embedding="none", track="rock.00002")
    app.run()
    no_problems(app)
    assert layer(app).value == "none" and app.session_state["selection"] == ["rock.00002"]


def test_invalid_url_params_are_ignored(app):
    app.query_params.update(embedding="sideways", colour="loudness", track="blues.00012,<script>", bundle="../etc")
    app.run()
    no_problems(app)
    assert layer(app).value == "deep" and colour(app).value == "genre"
    assert app.session_state["selection"] == []
    assert "blues.00012" in app.toast[0].value  # said, not failed: this collection has no blues.00012
    assert app.query_params == {"embedding": "deep", "colour": "genre"}  # the bad ones are dropped from the address


def test_sounds_like_for_a_clip_with_the_why_and_every_layer(app, downloads):
    app.run()
    app.selectbox(key="lookup").set_value("blues.00001").run()
    no_problems(app)
    assert any(h.value == "Sounds like blues.00001" for h in app.header)
    ranked = app.dataframe(key="sounds_like_table").value
    assert len(ranked) == 5 and ranked["similarity"].is_monotonic_decreasing
    assert "blues.00001" not in set(ranked["clip"])
    assert {"genre", "artist – title", "listen"} <= set(ranked.columns)
    why = " ".join(m.value for m in app.markdown)
    # the clip's genre is the predictor's out-of-fold guess: the neighbourhood may agree with it or not
    assert "The model hears **" in why and "the *deep* layer" in why
    assert "real genre is **blues**" in why
    # the model's probabilities vs. the neighbours' genres
    assert any("The model vs. the neighbours" in h.proto.body for h in app.get("html"))
    tables = [d.value for d in app.dataframe]
    side = next(t for t in tables if "rank" in t.columns).set_index("rank")
    assert list(side.columns) == ["none", "immediate", "deep", "shallow"] and "blues clips" in side.index
    assert side.loc["1", "deep"] == ranked["clip"].iloc[0]
    assert side.loc["also in the deep list", "deep"] == "5 of 5"
    overlap = next(t for t in tables if list(t.index) == list(t.columns) == ["none", "immediate", "deep", "shallow"])
    assert overlap.shape == (4, 4) and (overlap.to_numpy().diagonal() == 5).all()
    near = pd.read_csv(io.BytesIO(downloads.bytes("genre-map_gtzan_deep_neighbours.csv")))
    assert set(near["embedding"]) == {"none", "immediate", "deep", "shallow"} and set(near["for"]) == {"blues.00001"}
    assert near[near["embedding"] == "deep"]["track_id"].tolist() == ranked["clip"].tolist()
    if ranked["listen"].iloc[0] == "▶ below":  # the shared GTZAN audio is on this machine
        assert len(app.get("audio")) >= 2  # the clip's own player and the neighbour's
    # more clips, then jump to the first neighbour
    app.select_slider(key="n_neighbours").set_value(10).run()
    assert len(app.dataframe(key="sounds_like_table").value) == 10
    first = app.dataframe(key="sounds_like_table").value["clip"].iloc[0]
    app.button(key="show_neighbour").click().run()
    no_problems(app)
    assert app.session_state["selection"] == [first] and app.query_params["track"] == first


def test_a_60s_song_gets_its_path_through_time_and_exports(app, downloads):
    app.run()
    uploader(app).set_value(("long song.wav", wav_bytes(60.0, genre_index=2, seed=3), "audio/wav")).run()
    no_problems(app)
    (first,) = traces(map_spec(app), "trajectory")
    assert len(first["x"]) == FIRST_WINDOWS  # the first answer: a budget of windows spread over the song
    (result,) = app.session_state["uploads"].values()
    result.job.final.result(timeout=120)  # the rest of the song, heard in the background…
    app.run()  # …is drawn on the next run (in a browser the sidebar's progress asks for it)
    no_problems(app)
    (path,) = traces(map_spec(app), "trajectory")
    assert len(path["x"]) >= 2 and len(path["x"]) == 11  # 10 s windows every 5 s over 60 s
    assert path["customdata"][0][2] == "0:00–0:10" and path["customdata"][-1][2] == "0:50–1:00"
    (star,) = traces(map_spec(app), "upload")
    assert path["customdata"][0][0] == star["customdata"][0][0]  # the path belongs to the star
    assert "detail_timeline" in charts(app) and "detail_spectrogram" in charts(app)
    assert any(h.value == "Sounds like ★ long song.wav" for h in app.header)
    assert len(app.dataframe(key="sounds_like_table").value) == 5
    # the player starts at the beginning; "play from" moves it (and starts it)
    jump = [s for s in app.select_slider if s.key.startswith("jump_")][0]
    assert app.get("audio")[0].proto.start_time == 0
    # windows start on the STFT frame grid: the one nearest 20 s (19.99 s)
    starts = [float(w["start_s"]) for w in app.session_state["uploads"][next(iter(app.session_state["uploads"]))]
              .placement.trajectory]
    app.select_slider(key=jump.key).set_value(min(starts, key=lambda s: abs(s - 20.0))).run()
    no_problems(app)
    audio = app.get("audio")[0].proto
    assert audio.start_time in (19, 20) and audio.autoplay
    app.run()
    assert not app.get("audio")[0].proto.autoplay  # only right after the jump

    # exports of this view: PNG, offline HTML, coordinates with the song and its windows; the similarity
    # matrices on the Genre similarity page
    go(app, SIMILARITY)
    no_problems(app)
    names = downloads.names()
    png, html = "genre-map_gtzan_deep_genre.png", "genre-map_gtzan_deep_genre.html"
    assert {png, html, "genre-map_gtzan_coordinates.csv", "genre-map_gtzan_deep_similarity.csv",
            "genre-map_gtzan_similarity_all_layers.csv"} <= set(names)
    assert downloads.mime(png) == "image/png" and downloads.bytes(png)[:8] == b"\x89PNG\r\n\x1a\n"
    page = downloads.bytes(html).decode()
    assert downloads.mime(html) == "text/html" and "<script src=" not in page and "long song.wav" in page
    coords = pd.read_csv(io.BytesIO(downloads.bytes("genre-map_gtzan_coordinates.csv")))
    assert {"kind", "id", "genre", "x_deep", "y_deep", "x_shallow", "start_s"} <= set(coords.columns)
    assert (coords["kind"] == "song window").sum() == 11 and coords["id"].eq("long song.wav").sum() == 12
    sim = pd.read_csv(io.BytesIO(downloads.bytes("genre-map_gtzan_deep_similarity.csv")), index_col=0)
    assert sim.shape == (10, 10) and downloads.mime("genre-map_gtzan_deep_similarity.csv") == "text/csv"
    all_layers = pd.read_csv(io.BytesIO(downloads.bytes("genre-map_gtzan_similarity_all_layers.csv")))
    assert len(all_layers) == 8 * 100  # 4 layers x 2 networks


def test_linked_selection_across_the_grid(app):
    app.run()
    go(app, COMPARE)
    no_problems(app)
    grid = [k for k in charts(app) if k.startswith("grid_")]
    assert sorted(grid) == ["grid_deep", "grid_immediate", "grid_none", "grid_shallow"]
    # what a lasso on the shallow map does (the chart's on_select callback: select(keys, origin="grid_shallow"))
    app.session_state["selection"] = ["blues.00001", "metal.00002"]
    app.session_state["selection_origin"] = "grid_shallow"
    app.run()
    no_problems(app)
    specs = charts(app)
    for key in ["grid_none", "grid_immediate", "grid_deep"]:
        assert sorted(highlighted(specs[key])) == ["blues.00001", "metal.00002"], key
    # the lassoed map itself is left as the browser last had it (plotly already shows the lasso; zoom survives)
    assert highlighted(specs["grid_shallow"]) == []
    go(app, MAP)  # …and the selection is on the Map page's map
    assert sorted(highlighted(map_spec(app))) == ["blues.00001", "metal.00002"]
    app.selectbox(key="lookup").set_value("rock.00002").run()  # a selection made elsewhere reaches every cell
    go(app, COMPARE)
    assert all(highlighted(s) == ["rock.00002"] for k, s in charts(app).items() if k in grid)
    # each cell keeps its own layer's positions
    xs = {k: sorted(x for t in traces(specs[k], "tracks") for x in t["x"]) for k in grid}
    assert len({tuple(v) for v in xs.values()}) == 4


def test_bundle_selector_lists_the_collections(monkeypatch, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(DEFAULT_BUNDLE, mine)
    monkeypatch.setenv(ENV_VAR, str(mine))  # started with --bundle mine; assets/ holds gtzan
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    no_problems(at)
    chooser = at.sidebar.selectbox(key="bundle")
    assert [o.split(" — ")[0] for o in chooser.options] == ["mine", "gtzan"]
    assert chooser.value == str(mine.resolve()) and "bundle" not in at.query_params
    chooser.set_value(str(DEFAULT_BUNDLE.resolve())).run()
    no_problems(at)
    assert at.query_params["bundle"] == "gtzan" and "`gtzan`" in at.sidebar.caption[-1].value
    # the link opens that collection
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)
    again.query_params.update(bundle="gtzan", embedding="none")
    again.run()
    no_problems(again)
    assert again.sidebar.selectbox(key="bundle").value == str(DEFAULT_BUNDLE.resolve())
    assert layer(again).value == "none"
    # a collection that cannot be opened: a clear error, and the selector is still there to go back
    (mine / "bundle.json").write_text(json.dumps({"format": "nope"}))
    broken = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not broken.exception and len(broken.error) == 1
    broken.sidebar.selectbox(key="bundle").set_value(str(DEFAULT_BUNDLE.resolve())).run()
    no_problems(broken)
    assert broken.query_params["bundle"] == "gtzan" and map_spec(broken)
