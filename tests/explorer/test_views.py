"""The explorer's views as plain functions: figures and frames, no Streamlit, no browser."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from explorer import upload
from explorer.state import DEFAULT_BUNDLE, ENV_VAR, bundle_path
from explorer.views import map_view, model_view, palette, similarity_view, song_marks, track_view
from explorer.views.plotting import trace_kind
from pipeline.audio import AudioError
from pipeline.bundle import load_bundle


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


def validated(fig) -> go.Figure:
    """Fully validate a figure the views built unvalidated.

    Raises on a bad property, and checks that validation changes nothing: what
    the page sends to plotly.js unvalidated must be exactly what plotly.py would
    send (catches colour-scale names, ``font_size`` shorthands, named templates).
    """
    out = go.Figure(fig.to_dict())
    sent = json.loads(pio.to_json(fig, validate=False))
    assert sent == json.loads(pio.to_json(out)), "validation changes this figure: plotly.js would get something else"
    return out


def kinds(fig, kind):
    return [t for t in fig.data if trace_kind(t) == kind]


# ---------------------------------------------------------------- palette
def test_palette_is_fixed_for_gtzan_and_deterministic_for_other_labels(bundle):
    colours = palette.genre_colours(bundle.labels)
    assert colours == palette.genre_colours(list(reversed(bundle.labels)))  # order does not matter
    assert len(set(colours.values())) == len(bundle.labels) == 10
    assert colours["metal"] == palette.GTZAN_COLOURS["metal"]
    other = palette.genre_colours(["gamma", "alpha", "beta"])
    assert other == palette.genre_colours(["alpha", "beta", "gamma"]) and len(set(other.values())) == 3
    mixed = palette.genre_colours(["rock", "zouk"])
    assert mixed["rock"] == palette.GTZAN_COLOURS["rock"] and mixed["zouk"] != mixed["rock"]
    assert len(palette.genre_colours([f"g{i}" for i in range(25)])) == 25


# ---------------------------------------------------------------- map
@pytest.mark.parametrize("embedding", ["none", "immediate", "deep", "shallow"])
def test_map_has_one_point_per_track(bundle, embedding):
    frame = map_view.map_frame(bundle, embedding)
    fig = validated(map_view.base_figure(frame, bundle.labels))
    tracks = kinds(fig, "tracks")
    assert sum(len(t.x) for t in tracks) == len(bundle.tracks)
    ids = [c[0] for t in tracks for c in t.customdata]
    assert sorted(ids) == sorted(bundle.tracks["track_id"])
    np.testing.assert_allclose(sorted(x for t in tracks for x in t.x), sorted(bundle.coords(embedding)[:, 0]),
                               rtol=1e-6)


def test_embeddings_give_different_maps(bundle):
    deep = map_view.map_frame(bundle, "deep")[["x", "y"]].to_numpy()
    shallow = map_view.map_frame(bundle, "shallow")[["x", "y"]].to_numpy()
    assert not np.allclose(deep, shallow)


def test_colouring_modes(bundle):
    frame = map_view.map_frame(bundle, "deep")
    colours = palette.genre_colours(bundle.labels)
    by_genre = validated(map_view.base_figure(frame, bundle.labels, "genre"))
    for t in by_genre.data:
        assert t.marker.color == colours[t.name]
        assert {c[2] for c in t.customdata} == {t.name}  # customdata[2] is the true genre
    by_pred = validated(map_view.base_figure(frame, bundle.labels, "predicted"))
    for t in by_pred.data:
        assert {c[3] for c in t.customdata} == {t.name}
    by_correct = validated(map_view.base_figure(frame, bundle.labels, "correct"))
    assert [t.name for t in by_correct.data] == ["model right", "model wrong"]
    n_wrong = int((bundle.tracks["genre"] != bundle.tracks["predicted"]).sum())
    assert len(by_correct.data[1].x) == n_wrong
    assert by_correct.data[0].marker.color != by_correct.data[1].marker.color
    with pytest.raises(ValueError):
        map_view.base_figure(frame, bundle.labels, "loudness")


def test_hover_names_track_artist_title_genres_split(bundle):
    frame = map_view.map_frame(bundle, "deep")
    fig = map_view.base_figure(frame, bundle.labels)
    custom = fig.data[0].customdata[0]
    row = bundle.tracks.set_index("track_id").loc[custom[0]]
    assert custom[2] == row["genre"] and custom[3] == row["predicted"] and custom[4].endswith("%")
    assert custom[5] in map_view.SPLIT_NAMES.values()
    assert "%{customdata[1]}" in fig.data[0].hovertemplate
    # a track without artist/title still gets a readable name
    assert map_view.display_name(None, float("nan")) == "unknown artist and title"
    assert map_view.display_name("A", None) == "A"


def test_upload_markers_are_star_traces_named_by_file(bundle):
    frame = map_view.map_frame(bundle, "deep")
    base = map_view.base_figure(frame, bundle.labels)
    n_base = len(base.data)
    markers = [{"key": "f1", "name": "my song.wav", "x": 1.0, "y": 2.0, "genre": "pop", "confidence": 0.6},
               {"key": "f2", "name": "other.mp3", "x": -3.0, "y": 0.5, "genre": "jazz", "confidence": 0.4}]
    fig = validated(map_view.add_overlays(base, frame, bundle.labels, markers=markers))
    assert len(base.data) == n_base  # the cached base figure is never modified
    stars = kinds(fig, "upload")
    assert [t.name for t in stars] == ["★ my song.wav", "★ other.mp3"]
    assert all(t.marker.symbol == "star" and len(t.x) == 1 for t in stars)
    assert list(stars[0].text) == ["my song.wav"] and stars[0].marker.color == palette.GTZAN_COLOURS["pop"]
    assert trace_kind(fig.data[-1]) == "upload"  # stars drawn on top
    assert all(t.selectedpoints is None for t in fig.data)  # nothing selected: nothing faded
    # without overlays the figure is the base itself, unchanged
    assert map_view.add_overlays(base, frame, bundle.labels) is base


def test_selected_items_are_highlighted_on_any_embedding(bundle):
    markers = [{"key": "f1", "name": "song.wav", "x": 1.0, "y": 2.0, "genre": "pop", "confidence": 0.6}]
    for embedding in ("deep", "none"):
        frame = map_view.map_frame(bundle, embedding)
        fig = validated(map_view.add_overlays(map_view.base_figure(frame, bundle.labels), frame, bundle.labels,
                                              markers=markers, selected=["blues.00001", "upload:f1"]))
        chosen = [t.customdata[i][0] for t in fig.data for i in t.selectedpoints]
        assert sorted(chosen) == ["blues.00001", "upload:f1"]
        assert all(t.selectedpoints is not None for t in fig.data)  # every other point is faded
        assert fig.data[0].unselected.marker.opacity < 0.5 and fig.data[0].selected.marker.size > 12


def test_overlays_on_a_cached_plain_dict_copy_nothing_and_match_add_overlays(bundle):
    from explorer.views.plotting import figure, figure_json

    frame = map_view.map_frame(bundle, "deep")
    base = map_view.base_figure(frame, bundle.labels, revision="deep")
    spec = json.loads(figure_json(base))  # what the page caches (cache.map_base_dict)
    sent = json.dumps(spec)
    marker = {"key": "f1", "name": "song.wav", "x": 1.0, "y": 2.0, "genre": "pop", "confidence": 0.6}
    path = {"item": "upload:f1", "name": "song.wav", "duration": 20.0, "windows": [
        {"start_s": s, "end_s": s + 10.0, "genre": "pop", "confidence": 0.5, "x": s / 10, "y": 1.0}
        for s in (0.0, 5.0)]}
    overlays = dict(markers=[marker], selected=["blues.00001", "upload:f1"], paths=[path])
    out = map_view.overlay_spec(spec, bundle.labels, **overlays)
    assert json.dumps(spec) == sent  # the cached map is never modified…
    assert out["data"][0]["customdata"] is spec["data"][0]["customdata"]  # …nor copied
    expected = json.loads(figure_json(map_view.add_overlays(base, frame, bundle.labels, **overlays)))
    assert json.loads(json.dumps(out)) == expected
    validated(figure(out["data"], out["layout"]))


def test_a_click_on_the_map_keeps_the_figure_as_sent():
    from explorer.views.map_view import selection_to_draw
    sig = ("deep", "genre", ())
    assert selection_to_draw(["a"], "page", sig, None) == ["a"]
    assert selection_to_draw(["b"], "map", sig, (sig, ["a"])) == ["a"]  # plotly shows the click itself
    assert selection_to_draw(["b"], "map", ("shallow", "genre", ()), (sig, ["a"])) == ["b"]  # another map
    assert selection_to_draw([], "page", sig, (sig, ["a"])) == []  # cleared by the page


def test_selection_keys_reads_track_ids_and_uploads():
    state = {"selection": {"points": [
        {"customdata": ["blues.00001", "x"], "curve_number": 0},
        {"customdata": ["upload:abc", "song.wav"]},
        {"customdata": ["blues.00001"]},  # the ring over a selected track
        {"point_index": 3},  # no customdata: ignored
    ]}}
    assert map_view.selection_keys(state) == ["blues.00001", "upload:abc"]
    assert map_view.selection_keys(None) == [] and map_view.selection_keys({}) == []


# ---------------------------------------------------------------- similarity heatmaps
def test_heatmap_scales_absolute_and_relative(bundle):
    m = bundle.similarity("deep")
    absolute = validated(similarity_view.similarity_figure(m, bundle.labels, "absolute"))
    relative = validated(similarity_view.similarity_figure(m, bundle.labels, "relative"))
    assert (absolute.data[0].zmin, absolute.data[0].zmax) == (0.0, 1.0)
    assert relative.data[0].zmin == pytest.approx(np.nanmin(m)) and relative.data[0].zmax == pytest.approx(np.nanmax(m))
    assert list(absolute.data[0].x) == bundle.labels and np.asarray(absolute.data[0].z, float).shape == (10, 10)
    assert "%{z" in absolute.data[0].hovertemplate
    with_nan = m.copy()
    with_nan[0, 0] = np.nan
    assert similarity_view.scale_range(with_nan, "relative")[0] == pytest.approx(np.nanmin(with_nan))
    assert similarity_view.scale_range(np.full((2, 2), 0.5), "relative")[0] < 0.5  # flat matrix still a valid range
    with pytest.raises(ValueError):
        similarity_view.scale_range(m, "log")


def test_comparison_shows_every_embedding(bundle):
    matrices = {e: bundle.similarity(e) for e in bundle.embeddings}
    rel = validated(similarity_view.comparison_figure(matrices, bundle.labels, "relative"))
    assert len(rel.data) == len(bundle.embeddings)
    assert [a.text for a in rel.layout.annotations] == [f"<b>{e}</b>" for e in bundle.embeddings]
    for t, e in zip(rel.data, bundle.embeddings):
        assert t.zmax == pytest.approx(np.nanmax(bundle.similarity(e)))
    ab = validated(similarity_view.comparison_figure(matrices, bundle.labels, "absolute"))
    assert all((t.zmin, t.zmax) == (0.0, 1.0) for t in ab.data) and sum(bool(t.showscale) for t in ab.data) == 1


# ---------------------------------------------------------------- model panel
def test_model_panel_frames(bundle):
    meta = bundle.meta
    lines = model_view.accuracy_lines(meta)
    t = meta["metrics"]["test"]
    assert f"{100 * t['accuracy']:.0f} %" in lines[0] and f"seed {t['seed']}" in lines[0] and t["split"] in lines[0]
    assert all("seed" in line for line in lines) and len(lines) == 1 + len(meta["metrics"]["cross_validation"])
    for kind, cv in meta["metrics"]["cross_validation"].items():
        seeds = (f"seed {cv['seed']})" if cv["repeats"] == 1 else
                 f"seeds {cv['seed']}–{cv['seed'] + cv['repeats'] - 1})")  # each repeat has its own seed
        assert any(f"{cv['repeats']} repeats, {seeds}" in line for line in lines), (kind, lines)
    per = model_view.per_genre_frame(meta, bundle.labels)
    assert list(per["genre"]) == bundle.labels and per["test clips"].sum() == t["n_tracks"]
    assert np.isnan(per.loc[per["genre"] == "jazz", "accuracy"]).all() == (t["per_genre_accuracy"]["jazz"] is None)
    validated(model_view.per_genre_figure(per))
    cm = validated(model_view.confusion_figure(meta, bundle.labels))
    assert np.asarray(cm.data[0].z).sum() == t["n_tracks"]
    q = model_view.quality_frame(meta)
    assert list(q["layer"]) == bundle.embeddings
    assert {"kNN genre accuracy", "silhouette", "trustworthiness", "numbers per clip"} <= set(q.columns)
    assert q.set_index("layer").loc["deep", "kNN genre accuracy"] == pytest.approx(
        meta["metrics"]["embedding_quality"]["deep"]["knn_accuracy"])


def test_model_page_names_the_genre_predictor_with_its_score_beside_every_candidate(bundle):
    spec = bundle.meta["genre_predictor"]
    line = model_view.genre_predictor_line(bundle.meta)
    assert spec["chosen"]["name"] in line and f"{spec['chosen']['score']['mean']:.3f}" in line
    frame = model_view.candidates_frame(bundle.meta)
    assert len(frame) == len(spec["candidates"]) and frame["predictor"].str.startswith("★ ").sum() == 1
    assert frame["balanced accuracy"].is_monotonic_decreasing
    assert model_view.genre_predictor_line({}) is None and model_view.candidates_frame({}).empty


# ---------------------------------------------------------------- detail panel
def test_track_detail_pieces(bundle):
    i = track_view.track_index(bundle, bundle.tracks["track_id"].iloc[3])
    assert i == 3 and track_view.track_index(bundle, "nope.00000") is None
    seconds = track_view.track_seconds(bundle, i)
    assert 10 <= seconds <= 31
    spec = validated(track_view.spectrogram_figure(bundle.arrays["thumbnails"][i], seconds))
    assert np.asarray(spec.data[0].z).shape == bundle.arrays["thumbnails"][i].shape
    probs = track_view.track_probabilities(bundle, i)
    bars = validated(track_view.probability_figure(probs, bundle.labels))
    assert bars.data[0].y[-1] == max(probs, key=probs.get)  # most likely genre drawn on top
    frame = track_view.neighbour_frame([{"track_id": "a.1", "genre": "blues", "similarity": 0.9, "artist": None,
                                         "title": "T"}])
    assert list(frame.columns) == ["similarity", "genre", "artist – title", "clip"] and frame.index[0] == 1
    assert track_view.selection_summary(["pop", "rock", "pop"]) == "pop 2 · rock 1"
    path = track_view.audio_file(bundle, i)
    assert path is None or path.is_file()


def test_audio_player_gets_a_format_browsers_play(tmp_path):
    from tests.synth import tone, write_audio
    flac = write_audio(tmp_path / "a.flac", tone(1.5), 22050)
    assert track_view.audio_for_player(flac) == {"data": str(flac), "format": "audio/flac"}
    au = track_view.audio_for_player(write_audio(tmp_path / "b.au", tone(1.5), 22050))  # GTZAN's own format
    assert au["sample_rate"] == 22050 and au["data"].shape == (int(1.5 * 22050),)


# ---------------------------------------------------------------- uploads (with a stand-in placer)
class FakePlacer:
    def __init__(self):
        self.calls = 0

    def place_file(self, data, filename=None, max_bytes=None, trajectory=False):
        self.calls += 1
        self.trajectory = trajectory
        if max_bytes is not None and len(data) > max_bytes:
            raise AudioError("file too large")
        if not data.startswith(b"RIFF"):
            raise AudioError("not a decodable audio file")
        if filename == "boom.wav":
            raise RuntimeError("unexpected")
        return SimpleNamespace(genre="pop", probabilities={"pop": 0.7, "jazz": 0.3},
                               maps={"deep": {"x": 1.0, "y": 2.0, "neighbours": []}}, trajectory=None)


def upfile(file_id, name, data=b"RIFF....WAVE"):
    return SimpleNamespace(file_id=file_id, name=name, getvalue=lambda: data)


def test_sync_uploads_places_each_file_once_and_reports_errors():
    placer, cache = FakePlacer(), {}
    files = [upfile("1", "a.wav"), upfile("2", "text.wav", b"hello"), upfile("3", "a.wav"), upfile("4", "boom.wav")]
    results, new = upload.sync_uploads(files, cache, lambda: placer)
    assert [r.name for r in results] == ["a.wav", "text.wav", "a.wav (2)", "boom.wav"] and len(new) == 4
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[1].error == "not a decodable audio file" and "RuntimeError" in results[3].error
    again, new = upload.sync_uploads(files, cache, lambda: pytest.fail("no new file: placer not needed"))
    assert new == [] and placer.calls == 4 and [r.name for r in again] == [r.name for r in results]
    assert placer.trajectory  # every upload is placed window by window too (its path through time)
    kept, _ = upload.sync_uploads(files[2:3], cache, lambda: placer)  # removing a file drops its result
    assert list(cache) == ["3"] and kept[0].name == "a.wav (2)"
    big, _ = upload.sync_uploads([upfile("9", "big.wav", b"RIFF" + bytes(100))], {}, lambda: placer, max_bytes=50)
    assert big[0].error == "file too large"
    marks = song_marks.markers(results, "deep")
    assert [m["name"] for m in marks] == ["a.wav", "a.wav (2)"] and marks[0]["confidence"] == 0.7
    assert song_marks.markers(results, "shallow") == []


def test_sync_uploads_survives_a_model_that_cannot_load():
    def broken():
        raise OSError("model.safetensors: no such file")

    cache = {}
    results, new = upload.sync_uploads([upfile("1", "a.wav")], cache, broken)
    assert not results[0].ok and "model could not be loaded" in results[0].error and cache == {}  # retried next time
    results, _ = upload.sync_uploads([upfile("1", "a.wav")], cache, lambda: FakePlacer())
    assert results[0].ok


def test_uploader_label_names_every_format_the_pipeline_reads():
    from pipeline.audio import SUPPORTED_EXTENSIONS
    named = upload.FORMATS_LABEL.replace(" or ", ", ").split(", ")
    assert sorted("." + t for t in named) == sorted(SUPPORTED_EXTENSIONS)


# ---------------------------------------------------------------- bundle path
def test_bundle_path_precedence(tmp_path):
    assert bundle_path([], {}) == DEFAULT_BUNDLE.resolve()
    assert bundle_path([], {ENV_VAR: str(tmp_path)}) == tmp_path.resolve()
    other = tmp_path / "b"
    assert bundle_path(["--bundle", str(other)], {ENV_VAR: str(tmp_path)}) == other.resolve()
    assert bundle_path(["-q", "tests/x.py"], {}) == DEFAULT_BUNDLE.resolve()  # unrelated arguments are ignored


def test_names_are_drawn_as_written_and_long_ones_cut():
    from explorer.views.plotting import plotly_text, short_text
    assert plotly_text("<b>x</b> & 'y'") == "&lt;b&gt;x&lt;/b&gt; &amp; 'y'"
    assert short_text("abcdef", 6) == "abcdef" and short_text("abcdefg", 6) == "abcde…"
    assert short_text("abc   defg", 6) == "abc…"  # no space before the ellipsis


def test_a_long_or_html_name_stays_a_short_literal_label(bundle):
    name = "<b>bold</b><a href='javascript:alert(1)'>x</a> & a long name, live at the Royal Albert Hall.mp3"
    marker = {"key": "f1", "name": name, "x": 1.0, "y": 2.0, "genre": "pop", "confidence": 0.6}
    star = map_view.upload_trace(marker, "#000000")
    short = map_view.plotly_text(map_view.short_text(name, map_view.LABEL_CHARS))
    assert star["text"] == [short] and short.endswith("…") and "<" not in short
    assert star["name"] == "★ " + short
    assert star["customdata"][0] == ["upload:f1", map_view.plotly_text(name)]  # the whole name, for the hover
    assert name not in star["hovertemplate"] and "%{customdata[1]}" in star["hovertemplate"]
    assert star["meta"]["name"] == name and star["legend"] == "legend2"


def test_a_star_label_points_to_the_middle_of_the_map():
    extent = ((0.0, 10.0), (0.0, 10.0))
    assert map_view.label_position(9.5, 5.0, extent) == "top left"
    assert map_view.label_position(0.5, 5.0, extent) == "top right"
    assert map_view.label_position(5.0, 5.0, extent) == "top center"
    assert map_view.label_position(9.5, 9.5, extent) == "bottom left"
    assert map_view.data_extent([{"x": [1, 3], "y": [2, None]}, {"x": [-1], "y": [5]}, {}]) == ((-1, 3), (2, 5))
    assert map_view.data_extent([]) == ((0.0, 1.0), (0.0, 1.0))


def test_songs_have_their_own_legend_under_the_map(bundle):
    frame = map_view.map_frame(bundle, "deep")
    base = map_view.base_figure(frame, bundle.labels)
    marker = {"key": "f1", "name": "song.wav", "x": float(frame["x"].max()), "y": 0.0, "genre": "pop",
              "confidence": 0.6}
    fig = validated(map_view.add_overlays(base, frame, bundle.labels, markers=[marker]))
    layout = fig.layout.to_plotly_json()
    assert "legend2" not in base.layout.to_plotly_json()
    songs = layout["legend2"]
    # under the plot, each entry a fixed share of its width (two a row for short names): it never widens a margin
    assert songs["orientation"] == "h" and songs["y"] < 0 and songs["entrywidthmode"] == "fraction"
    assert 1 / 3 < songs["entrywidth"] < 0.5 and layout["margin"]["b"] >= 60
    assert 0.5 < map_view.song_legend_layout(["a long name.mp3"])["entrywidth"] < 0.72  # left of the colour bar
    (star,) = kinds(fig, "upload")
    assert star.legend == "legend2" and star.textposition == "top left"  # the star is on the right edge


def test_track_names_in_the_hover_are_drawn_as_written(bundle):
    frame = map_view.map_frame(bundle, "deep").head(3).assign(name=["A & B", "<i>C</i>", "D"])
    fig = map_view.base_figure(frame, bundle.labels)
    names = {c[0]: c[1] for t in fig.data for c in t.customdata}
    assert sorted(names.values()) == ["&lt;i&gt;C&lt;/i&gt;", "A &amp; B", "D"]
