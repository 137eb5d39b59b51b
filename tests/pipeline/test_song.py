"""A song placed window by window (pipeline.song) and what its windows say (pipeline.readout)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.audio import AudioError, load_audio, to_mono
from pipeline.cli import main as cli_main
from pipeline.place import Placer
from pipeline.readout import FIRST_WINDOWS, budget_windows, readout, window_votes
from pipeline.song import INPUT_REACH_S, NetworkWork, PartSignal, first_spans
from tests.synth import genre_clip, write_audio

SR = 22050


# ---------------------------------------------------------------- the readout
@pytest.mark.parametrize("n, k, expected", [(1, 4, [0]), (4, 4, [0, 1, 2, 3]), (5, 4, [0, 1, 3, 4]),
                                            (42, 4, [5, 15, 26, 36]), (47, 1, [23])])
def test_budget_windows_spread_over_the_song(n, k, expected):
    assert budget_windows(n, k).tolist() == expected


def test_budget_is_fixed_whatever_the_length():
    assert {len(budget_windows(n)) for n in range(FIRST_WINDOWS, 500)} == {FIRST_WINDOWS}


def test_votes_count_each_windows_genre():
    p = np.array([[0.6, 0.4, 0.0], [0.1, 0.9, 0.0], [0.55, 0.45, 0.0], [0.0, 0.8, 0.2]])
    assert window_votes(p, 3).tolist() == [2, 2, 0]


def test_readout_names_the_support_and_a_close_runner_up():
    assert readout("pop", {"pop": 24, "classical": 11, "rock": 7}, 42) == "pop — 24 of 42 windows"
    assert readout("pop", {"pop": 24, "classical": 12}, 42) == "pop — 24 of 42 windows; classical 12"
    assert readout("jazz", {"jazz": 3, "reggae": 7, "classical": 1}, 11) == "jazz — 3 of 11 windows; reggae 7"
    assert readout("jazz", {"jazz": 1}, 1) == "jazz"


# ---------------------------------------------------------------- a song, window by window
@pytest.fixture(scope="module")
def placer(tiny_two):
    return Placer.from_path(tiny_two.bundle, threads=1)


@pytest.fixture(scope="module")
def long_signal():
    rng = np.random.default_rng(11)  # a song that changes: two "genres" one after the other, 80 s
    return np.concatenate([genre_clip(0, 40.0, SR, rng), genre_clip(2, 40.0, SR, rng)])


def count_inputs(monkeypatch) -> list:
    """Every network input row computed from now on, as (network, input index)."""
    seen = []
    real = NetworkWork.run

    def counting(self, input_idx):
        seen.extend((self.network.name, int(i)) for i in input_idx)
        return real(self, input_idx)

    monkeypatch.setattr(NetworkWork, "run", counting)
    return seen


def test_first_answer_costs_a_budget_and_the_rest_computes_nothing_twice(placer, long_signal, monkeypatch):
    song = placer.song(long_signal, "long.wav")
    seen = count_inputs(monkeypatch)
    first = song.first_windows()
    song.compute(first)
    quick = song.placement(first)
    first_inputs = len(seen)
    assert len(first) == FIRST_WINDOWS < song.n_windows and song.computed() == FIRST_WINDOWS
    assert len(quick.trajectory) == FIRST_WINDOWS and sum(quick.votes.values()) == FIRST_WINDOWS
    assert first_inputs < sum(w.n_inputs for w in song.work) / 2  # not the whole song's work
    song.compute(song.all_windows())
    assert len(seen) == len(set(seen)) == sum(w.n_inputs for w in song.work)  # each input once
    whole = song.placement(song.all_windows())
    assert song.computed() == song.n_windows == len(whole.trajectory) == sum(whole.votes.values())
    # the windows of the first answer keep their place on the path
    by_start = {w["start_s"]: w for w in whole.trajectory}
    for w in quick.trajectory:
        assert by_start[w["start_s"]]["maps"] == w["maps"]


def lazy_song(placer, y, name):
    """A song as the app opens it: its front ends computed only where a task needs them."""
    song = placer.song(y, name, prepare=False)
    song.prepare(whole=False)
    return song


@pytest.mark.parametrize("lazy", [False, True], ids=["front ends first", "inputs on demand"])
def test_step_by_step_equals_the_whole_song_at_once(placer, long_signal, lazy):
    song = lazy_song(placer, long_signal, "long.wav") if lazy else placer.song(long_signal, "long.wav")
    first = song.first_windows()
    song.compute(first)
    song.placement(first)
    for task in song.complete_tasks():
        task()
    song.compute(song.all_windows())
    stepwise = song.placement(song.all_windows())
    at_once = placer.place_audio(long_signal, "long.wav", trajectory=True)
    assert stepwise.genre == at_once.genre and stepwise.votes == at_once.votes  # the same windows, the same genre
    np.testing.assert_allclose(list(stepwise.probabilities.values()), list(at_once.probabilities.values()), atol=1e-9)
    for e in at_once.maps:
        # one query row or many: BLAS kernels round float32 similarities differently
        assert stepwise.maps[e]["x"] == pytest.approx(at_once.maps[e]["x"], abs=1e-4)
        assert stepwise.maps[e]["neighbours"] == at_once.maps[e]["neighbours"]
    for a, b in zip(stepwise.trajectory, at_once.trajectory):
        for e in a["maps"]:
            np.testing.assert_allclose(list(a["maps"][e].values()), list(b["maps"][e].values()), atol=1e-4)


@pytest.mark.parametrize("seconds", [2.0, 9.0, 37.3, 80.0])
def test_inputs_on_demand_are_the_front_ends_rows(placer, long_signal, seconds):
    y = long_signal[: int(seconds * SR)]
    for network in placer.networks:
        whole, source = network.front_end(y), network.song_inputs(y)
        np.testing.assert_array_equal(source.starts_s, whole.starts_s)
        assert source.n_inputs == len(whole.inputs) and (source.pool is None) == (whole.pool is None)
        if whole.pool is not None:
            np.testing.assert_array_equal(source.pool, whole.pool)
        some = np.unique([0, source.n_inputs // 2, source.n_inputs - 1])
        inputs, _ = source.at(some)
        np.testing.assert_allclose(inputs, whole.inputs[some], atol=1e-6)  # the same frames and filters


def test_a_first_answer_computes_only_its_own_inputs(placer, long_signal, monkeypatch):
    song = lazy_song(placer, long_signal, "long.wav")
    seen = count_inputs(monkeypatch)
    first = song.first_windows()
    song.compute(first)
    song.placement(first)
    assert all(w.windows is None for w in song.work)  # no whole-song front end ran
    assert sorted(seen) == sorted((w.network.name, int(i)) for w in song.work for i in w.inputs_of(first))
    assert song.placement(first).thumbnail is None  # the thumbnail comes with the whole song
    for task in song.complete_tasks():
        task()
    song.compute(song.all_windows())
    assert len(seen) == len(set(seen)) and song.placement(song.all_windows()).thumbnail is not None


def finish(song):
    """The rest of a song, as the app's path thread computes it: the whole front ends, then every window."""
    for task in song.complete_tasks():
        task()
    song.compute(song.all_windows())
    return song.placement(song.all_windows())


def assert_same_placement(a, b):
    assert a.genre == b.genre and a.votes == b.votes and a.n_segments == b.n_segments
    for e in b.maps:
        assert a.maps[e]["x"] == pytest.approx(b.maps[e]["x"], abs=1e-4)
    for wa, wb in zip(a.trajectory, b.trajectory, strict=True):
        for e in wa["maps"]:
            np.testing.assert_allclose(list(wa["maps"][e].values()), list(wb["maps"][e].values()), atol=1e-4)


def test_a_long_file_first_decodes_only_where_its_first_answer_listens(placer, long_signal, tmp_path, monkeypatch):
    import pipeline.place as place

    path = write_audio(tmp_path / "long.mp3", np.stack([long_signal, 0.8 * long_signal], axis=1), SR)
    decoded = []
    monkeypatch.setattr(place, "load_audio", lambda *a, **k: decoded.append(1) or load_audio(*a, **k))
    song = placer.open_file(path.read_bytes(), "long.mp3", prepare=False, whole=False)
    song.prepare(whole=False)
    first = song.first_windows()
    assert song.part is not None and first.tolist() == song.part.windows.tolist()
    song.compute(first)
    quick = song.placement(first)
    assert decoded == [] and len(quick.trajectory) == len(first)  # no whole decode for the first answer
    heard = np.zeros(len(song.y), dtype=bool)
    for a, b in song.part.spans:
        heard[a:b] = True
    assert heard.mean() == pytest.approx(4 * 14 / 80, abs=0.01) and not song.y[~heard].any()  # 4 × (10 s + 2 × 2 s)
    whole = finish(song)
    assert decoded == [1] and song.part is None
    assert_same_placement(whole, placer.place_file(path, trajectory=True))


def test_a_stretch_the_whole_decode_disagrees_with_is_computed_again(placer, long_signal, monkeypatch):
    n = len(long_signal)
    windows, spans = first_spans(n, placer.spec)
    partial = np.zeros(n, dtype=np.float32)
    for a, b in spans:
        partial[a:b] = long_signal[a:b]
    a, b = spans[1]
    partial[a:b] *= 0.5  # as if this stretch had been decoded wrongly
    song = placer.song(partial, "long.wav", prepare=False, part=PartSignal(windows, spans, lambda: long_signal))
    song.prepare(whole=False)
    seen = count_inputs(monkeypatch)
    song.compute(song.first_windows())
    first_inputs = list(seen)
    whole = finish(song)
    again = [i for i in seen[len(first_inputs):] if i in first_inputs]
    wrong = {(w.network.name, int(i)) for w in song.work for i in w.inputs_of(windows[1:2])}
    assert sorted(again) == sorted(wrong)  # the wrong stretch's inputs once more, and nothing else twice
    assert_same_placement(whole, placer.place_audio(long_signal, "long.wav", trajectory=True))


def test_input_reach_covers_every_networks_inputs(placer):
    for network in placer.networks:
        source = network.song_inputs(np.zeros(60 * SR, dtype=np.float32))
        if source.pool is None:  # an input is its window
            continue
        patch_s = source.cfg.patch_seconds  # inputs pooled into the windows their centres fall in
        assert patch_s / 2 <= INPUT_REACH_S, network.name


def test_a_silent_song_is_refused_before_any_network_runs(placer, monkeypatch):
    seen = count_inputs(monkeypatch)
    with pytest.raises(AudioError, match="^silent: the clip has no sound"):
        placer.song(np.zeros(30 * SR, dtype=np.float32), "silence.wav")
    hiss = (1e-4 * np.random.default_rng(0).standard_normal(30 * SR)).astype(np.float32)  # a muted microphone
    with pytest.raises(AudioError, match="^silent: nothing louder than -60 dBFS"):
        placer.song(hiss, "quiet room.wav")
    assert seen == []


def test_a_song_whose_budget_windows_are_silent_is_answered_from_its_sounding_ones(placer, long_signal):
    y = long_signal.copy()
    y[10 * SR : 70 * SR] = 0.0  # sound only in the first and last 10 s: most evenly spread windows are silent
    song = placer.song(y, "gaps.wav")
    first = song.first_windows()
    song.compute(first)
    assert len(song.placement(first).trajectory) == len(first) == FIRST_WINDOWS


def test_the_first_answer_skips_silent_windows(placer, long_signal):
    y = long_signal.copy()
    y[: 30 * SR] = 0.0  # 30 s of digital silence before the music
    song = placer.song(y, "late start.wav")
    first = song.first_windows()
    assert (song.starts_s[first] >= 25.0).all()  # a window that starts in the silence overlaps no sound…
    song.compute(first)
    assert song.placement(first).genre  # …and the answer comes from the sounding part


def test_cli_place_prints_the_readout(tiny_two, long_signal, capfd):
    path = write_audio(tiny_two.base / "two" / "readout.wav", long_signal, SR)
    assert cli_main(["place", str(path), "--bundle", str(tiny_two.bundle), "--json"]) == 0
    record = json.loads(capfd.readouterr().out)
    assert record["readout"].startswith(record["genre"] + " — ") and sum(record["votes"].values()) > 1
    assert cli_main(["place", str(path), "--bundle", str(tiny_two.bundle)]) == 0
    assert record["readout"] in capfd.readouterr().out


def test_load_audio_mono_mix_is_the_channel_mean():
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, size=(SR, 2)).astype(np.float32)
    stereo[10, 1] = np.nan  # a bad sample in one channel: zeroed, the other channel kept
    mono = to_mono(stereo)
    np.testing.assert_allclose(mono[11:], stereo[11:].mean(axis=1), atol=1e-7)
    assert mono[10] == pytest.approx(stereo[10, 0] / 2)
    assert mono.dtype == np.float32
