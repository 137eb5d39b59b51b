"""The pages, run by Streamlit's AppTest (no browser): start, switch, heatmaps, uploads, bad input.

The Map page reruns fragments, not the whole page, after most clicks: AppTest then holds only the
elements of the fragments that ran (``app.run()`` draws the whole page again).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from explorer import map_chart
from explorer.state import ENV_VAR
from explorer.text import markdown_text
from tests.synth import genre_clip, write_bad_files

APP = str(Path(__file__).resolve().parents[2] / "app.py")
COMPARE, SIMILARITY, MODEL, MAP = ("explorer/pages/compare_layers.py", "explorer/pages/similarity.py",
                                   "explorer/pages/model.py", "explorer/pages/map.py")
TIMEOUT = 90  # the first upload waits for the model (torch import + warm-up) on a busy 2-core machine


def wav_bytes(seconds: float = 12.0, genre_index: int = 1, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, genre_clip(genre_index, seconds, 22050, np.random.default_rng(seed)), 22050, format="WAV")
    return buf.getvalue()


def specs(at) -> list[dict]:
    return list(charts(at).values())


def chart_key(el) -> str:
    """The ``key=`` of a plotly chart (the end of its element id)."""
    return el.proto.id.rsplit("-", 1)[-1]


def charts(at) -> dict[str, dict]:
    """Plotly figures by chart key: st.plotly_chart's, and the Map page's map (``explorer.map_chart``, a
    component: its figure is the ``spec`` argument)."""
    found = {chart_key(el): json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    for el in at.get("component_instance"):
        if el.proto.component_name.endswith(map_chart.NAME):
            found[chart_key(el)] = json.loads(json.loads(el.proto.json_args)["spec"])
    return found


def control(at, kind: str, key: str):
    """A page-level control (outside the Map page's fragments): after a fragment rerun AppTest holds only the
    fragments' elements, so the page is run whole first (in a browser the control stays on screen)."""
    found = [w for w in at.get(kind) if getattr(w, "key", None) == key]
    if not found:
        at.run()
        found = [w for w in at.get(kind) if getattr(w, "key", None) == key]
    return found[0]


def uploader(at):
    if not at.get("file_uploader"):
        at.run()
    return at.get("file_uploader")[0]


def go(at, page: str):
    """Move to another page. AppTest forgets the pages ``st.navigation`` declared when its last run was a
    fragment rerun (and would show the first page): the page is run whole first, as a browser has it."""
    at.run()
    return at.switch_page(page).run()


def layer(at):
    return control(at, "radio", "embedding")


def colour(at):
    return control(at, "selectbox", "colour")


def map_caption(at) -> str:
    """The line under the map naming its layer: 'Deep layer (deep), 94 clips: …'."""
    return next(c.value for c in at.caption if " clips: " in c.value)


def map_spec(at) -> dict:
    """The Map page's map (the Compare page holds four small maps, keyed grid_<layer>)."""
    found = [s for k, s in charts(at).items() if k == "map_chart"]
    assert len(found) == 1, "exactly one main map on the page"
    assert any((t.get("meta") or {}).get("kind") == "tracks" for t in found[0]["data"])
    return found[0]


def traces(spec: dict, kind: str) -> list[dict]:
    return [t for t in spec["data"] if (t.get("meta") or {}).get("kind") == kind]


def highlighted(spec: dict) -> list[str]:
    """Item keys the figure marks as selected (plotly selectedpoints)."""
    return [t["customdata"][i][0] for t in spec["data"] for i in t.get("selectedpoints") or []]


def no_problems(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.delenv(ENV_VAR, raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def test_starts_with_the_deep_map_and_every_track(app):
    no_problems(app)
    assert app.title[0].value.startswith("The genre map")
    assert layer(app).value == "deep"
    spec = map_spec(app)
    from explorer.state import DEFAULT_BUNDLE
    from pipeline.bundle import load_bundle
    n = len(load_bundle(DEFAULT_BUNDLE).tracks)
    assert sum(len(t["x"]) for t in traces(spec, "tracks")) == n
    # each layer says what the paper found: the control's help lists them all, the map's caption its own
    captions = layer(app).proto.help
    assert "not informative" in captions and "best balance" in captions
    assert "best balance" in map_caption(app) and "(deep)" in map_caption(app)


def test_the_recorder_keeps_what_the_networks_hear(app):
    import re

    from explorer import recorder
    from explorer.upload import RECORDING_MAX_S
    from pipeline.audio import SAMPLE_RATE

    assert not app.get("audio_input")  # our recorder: PCM kept while recording, a WAV ready at "Stop"
    (el,) = [e for e in app.get("bidi_component") if e.proto.component_name == "genre_map_recorder"]
    assert json.loads(el.proto.json)["limit_s"] == RECORDING_MAX_S  # it stops by itself at 30 s
    # not Streamlit's 16 kHz: a room recording keeps its top octave
    assert re.search(r"const RATE = (\d+);", recorder.SCRIPT.read_text()).group(1) == str(SAMPLE_RATE)


def test_embedding_switch_changes_the_map(app):
    before = [x for t in traces(map_spec(app), "tracks") for x in t["x"]]
    layer(app).set_value("shallow").run()
    no_problems(app)
    after = [x for t in traces(map_spec(app), "tracks") for x in t["x"]]
    assert len(after) == len(before) and sorted(after) != sorted(before)
    assert "(shallow)" in map_caption(app)


def test_colouring_switch(app):
    colour(app).set_value("correct").run()
    no_problems(app)
    assert [t["name"] for t in traces(map_spec(app), "tracks")] == ["model right", "model wrong"]


def cosine_heatmaps(at) -> list[dict]:
    return [t for s in specs(at) for t in s["data"] if t["type"] == "heatmap" and len(t["z"]) == 10
            and "cosine" in t.get("hovertemplate", "")]


def test_heatmaps_render_in_both_scales(app):
    go(app, SIMILARITY)
    no_problems(app)
    heat = cosine_heatmaps(app)
    assert len(heat) == 2  # absolute + relative for this layer
    assert (heat[0]["zmin"], heat[0]["zmax"]) == (0.0, 1.0)
    assert heat[1]["zmin"] > 0.0 or heat[1]["zmax"] < 1.0
    go(app, COMPARE)
    no_problems(app)
    assert len(cosine_heatmaps(app)) == 4  # the four-layer comparison
    app.radio(key="compare_scale").set_value("absolute").run()
    no_problems(app)
    assert all((t["zmin"], t["zmax"]) == (0.0, 1.0) for t in cosine_heatmaps(app))
    go(app, MODEL)
    no_problems(app)
    assert any("Confusion" in json.dumps(s["layout"].get("title", "")) for s in specs(app))
    assert app.dataframe[-1].value.shape[0] == 8  # embedding-quality table, one row per layer of each network


def test_clicked_track_shows_detail_and_neighbours(app):
    app.selectbox(key="lookup").set_value("blues.00001").run()  # same path as a click: the selection
    no_problems(app)
    assert app.session_state["selection"] == ["blues.00001"]
    assert any(s.value == "blues.00001" for s in app.subheader)
    neighbours = app.dataframe[0].value
    assert len(neighbours) == 5 and "blues.00001" not in set(neighbours["clip"])
    assert neighbours["similarity"].is_monotonic_decreasing
    assert highlighted(map_spec(app)) == ["blues.00001"]
    # the selection follows an embedding switch, with neighbours of that embedding
    layer(app).set_value("none").run()
    assert highlighted(map_spec(app)) == ["blues.00001"]
    assert any(h.value == "Sounds like blues.00001" for h in app.header)
    app.run()  # the whole page: the detail panel was not redrawn by the switch (it does not depend on the layer)
    assert any(s.value == "blues.00001" for s in app.subheader)


def test_upload_places_song_with_neighbours_and_bad_upload_errors(app, tmp_path):
    bad = write_bad_files(tmp_path)["text.wav"].read_bytes()
    uploader(app).set_value(("text.wav", bad, "audio/wav")).run()
    assert not app.exception
    assert len(app.error) == 1
    assert "text.wav" in app.error[0].value and "not a decodable audio file" in app.error[0].value
    assert traces(map_spec(app), "upload") == []

    uploader(app).set_value(("my song.wav", wav_bytes(), "audio/wav")).run()
    no_problems(app)
    stars = traces(map_spec(app), "upload")
    assert [t["name"] for t in stars] == ["★ my song.wav"] and stars[0]["marker"]["symbol"] == "star"
    assert any(s.value == "★ my song.wav" for s in app.subheader)  # the new song is shown in the detail panel
    assert highlighted(map_spec(app)) == [stars[0]["customdata"][0][0]]
    neighbours = app.dataframe[0].value
    assert len(neighbours) == 5 and neighbours["similarity"].between(-1, 1).all()
    assert any("my song.wav" in b.label and "the model says" in b.label for b in app.sidebar.button)

    # the star follows an embedding switch (a placement exists for every embedding)
    x_deep = stars[0]["x"]
    layer(app).set_value("immediate").run()
    stars = traces(map_spec(app), "upload")
    assert len(stars) == 1 and stars[0]["x"] != x_deep

    # several songs at once, then remove them all
    uploader(app).set_value([("my song.wav", wav_bytes(), "audio/wav"),
                                    ("second.wav", wav_bytes(8.0, genre_index=2, seed=5), "audio/wav")]).run()
    no_problems(app)
    assert len(traces(map_spec(app), "upload")) == 2
    control(app, "button", "remove_songs").click().run()
    no_problems(app)
    assert traces(map_spec(app), "upload") == [] and app.session_state["uploads"] == {}


def live_uploaded_files() -> list:
    """Streamlit UploadedFile objects still alive in this process (each holds an upload's bytes)."""
    import gc

    from streamlit.runtime.uploaded_file_manager import UploadedFile

    gc.collect()
    return [o for o in gc.get_objects() if type(o) is UploadedFile]


def test_songs_removed_are_not_kept_alive_by_earlier_runs(app):
    # Streamlit keeps widget callbacks after a run; had they been defined in the script's globals, every
    # run's uploads would stay in memory (a server grew ~6 MB per upload under the soak until app.py moved
    # its page into main()).
    assert live_uploaded_files() == []
    for i in range(3):
        uploader(app).set_value((f"song {i}.wav", wav_bytes(seconds=4.0, seed=i), "audio/wav")).run()
        no_problems(app)
        assert len(traces(map_spec(app), "upload")) == 1
        layer(app).set_value(["shallow", "none", "immediate"][i]).run()  # more runs with the song
        control(app, "button", "remove_songs").click().run()
        assert traces(map_spec(app), "upload") == []
    assert live_uploaded_files() == [], "uploads outlive their removal"


@pytest.mark.parametrize("name, expected", [("empty.wav", "empty file"), ("random.mp3", "not a decodable"),
                                            ("all_nan.wav", "no finite samples"), ("short.wav", "too short"),
                                            ("song.m4a", "unsupported format '.m4a'; supported: wav, flac, au, mp3")])
def test_bad_files_give_clear_errors(app, tmp_path, name, expected):
    data = write_bad_files(tmp_path)[name].read_bytes()
    uploader(app).set_value((name, data, "application/octet-stream")).run()
    assert not app.exception
    assert len(app.error) == 1 and markdown_text(name) in app.error[0].value and expected in app.error[0].value
    assert traces(map_spec(app), "upload") == []


def test_lasso_selection_of_several_tracks(app):
    app.session_state["selection"] = ["blues.00001", "metal.00002", "pop.00003"]
    app.run()
    no_problems(app)
    assert sorted(highlighted(map_spec(app))) == ["blues.00001", "metal.00002", "pop.00003"]
    assert any("3 selected" in m.value and "blues 1" in m.value for m in app.markdown)
    app.selectbox(key="focus").set_value("metal.00002").run()
    assert any(s.value == "metal.00002" for s in app.subheader)
    app.button(key="clear_selection").click().run()
    assert app.session_state["selection"] == [] and highlighted(map_spec(app)) == []


def test_missing_bundle_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert len(at.error) == 1 and "python -m pipeline build" in at.error[0].value
    assert not at.get("plotly_chart")


def test_incompatible_bundle_gives_a_clear_error(monkeypatch, tmp_path):
    from explorer.state import DEFAULT_BUNDLE
    meta = json.loads((DEFAULT_BUNDLE / "bundle.json").read_text())
    (tmp_path / "bundle.json").write_text(json.dumps({**meta, "format_version": 99}))
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception and "newer than this code reads" in at.error[0].value
    assert "python -m pipeline build" in at.error[0].value
