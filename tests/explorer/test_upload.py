"""Uploads: placed whole (no shared threads) or a first answer now and the whole song in the background."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
import soundfile as sf

from explorer import upload
from tests.synth import genre_clip


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # the silent window
def test_a_real_song_with_ten_silent_seconds_is_placed(placer):
    y = np.concatenate([np.zeros(12 * 22050, np.float32), genre_clip(1, 12.0, 22050, np.random.default_rng(0))])
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="WAV")
    r = upload.place_upload(placer, "k", "gap.wav", buf.getvalue())
    assert r.ok, r.error
    assert r.note is None and len(r.placement.trajectory) >= 2  # the silent windows are left off the path


def wav_bytes(y: np.ndarray, sr: int = 22050) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def placing():
    from explorer.placing import Placing

    return Placing(workers=2)


def test_an_upload_answers_from_its_first_windows_then_the_whole_song(placer, placing):
    rng = np.random.default_rng(3)
    y = np.concatenate([genre_clip(0, 40.0, 22050, rng), genre_clip(2, 40.0, 22050, rng)])
    r = upload.place_upload(placer, "k", "long.wav", wav_bytes(y), placing=placing)
    assert r.ok and r.job is not None and upload.pending([r]) == [r]
    first = r.placement
    assert sum(first.votes.values()) == 4 < first.n_segments  # the first answer: a budget of windows
    r.job.final.result(timeout=120)
    assert upload.refresh([r]) and r.job is None and upload.pending([r]) == []
    whole = r.placement
    assert whole is not first and sum(whole.votes.values()) == whole.n_segments == len(whole.trajectory)
    assert r.job is None and not upload.refresh([r])  # swapped in once


def test_a_removed_upload_stops_its_background_work(placer, placing):
    y = genre_clip(1, 120.0, 22050, np.random.default_rng(4))
    cache = {}

    class File:
        file_id, name = "f", "long.wav"

        def getvalue(self):
            return wav_bytes(y)

    results, _ = upload.sync_uploads([File()], cache, lambda: placer, placing=placing)
    job = results[0].job
    upload.sync_uploads([], cache, lambda: placer, placing=placing)  # the file left the uploader
    assert cache == {} and job.cancelled.is_set()
    try:
        assert job.final.result(timeout=120) is None  # it stopped before the whole song was placed…
    except Exception as e:  # …or never started
        assert type(e).__name__ == "CancelledError"
    assert job.song.computed() < job.song.n_windows


def test_bad_audio_through_the_shared_threads_is_a_one_line_error(placer, placing):
    r = upload.place_upload(placer, "k", "noise.mp3", b"not audio at all" * 100, placing=placing)
    assert not r.ok and r.error == "not a decodable audio file" and r.job is None
    silent = upload.place_upload(placer, "k", "quiet.wav", wav_bytes(np.zeros(22050 * 20, np.float32)),
                                 placing=placing)
    assert silent.error.startswith("silent")


def wait_until(condition, seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_songs_that_arrive_together_are_answered_in_order():
    import threading

    from explorer.placing import Placing

    placing = Placing(workers=1)
    gate, seen, took = threading.Event(), [], {}

    def run(number, tasks, progress=None):
        took[number] = placing._run_first(number, tasks, progress)  # (seconds waited, CPU seconds)

    first = threading.Thread(target=run, args=(0, [gate.wait]))
    first.start()
    wait_until(lambda: placing.ahead(1) == 1)  # song 0 is being answered: one song ahead of song 1
    second = threading.Thread(target=run, args=(1, [lambda: sum(range(10**7))], seen.append))
    second.start()
    wait_until(lambda: seen)  # song 1 is told, while it waits, that one song is ahead
    assert seen[0] == 1 and placing.ahead(2) == 2
    time.sleep(0.3)
    gate.set()
    first.join(10), second.join(10)
    assert placing.ahead(2) == 0
    assert took[0][0] < 0.3 <= took[1][0]  # song 1 waited behind song 0
    assert took[0][1] < took[1][1]  # song 0 waited on a gate (next to no CPU); song 1 computed


def test_a_path_waits_for_running_pages_but_not_forever(monkeypatch):
    import inspect
    import threading

    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    from explorer import placing as placing_mod

    assert placing_mod.PAGE_THREAD in inspect.getsource(ScriptRunner.start)  # Streamlit still names it so
    page_done = threading.Event()
    page = threading.Thread(target=page_done.wait, name=placing_mod.PAGE_THREAD)
    assert not placing_mod.pages_running()
    page.start()
    assert placing_mod.pages_running()
    page_done.set()
    page.join()
    assert not placing_mod.pages_running()
    answers = iter([True, True, True, False])
    assert placing_mod.yield_to_pages(lambda: next(answers)) == pytest.approx(3 * placing_mod.YIELD_STEP_S)
    monkeypatch.setattr(placing_mod, "YIELD_MAX_S", 0.05)
    assert placing_mod.yield_to_pages(lambda: True) == pytest.approx(0.05)  # a full class: the path still moves


def test_the_server_takes_the_gil_back_sooner_for_placements():
    """``app.py`` calls this once: a first answer's native calls wait less behind pages' runs."""
    import sys

    from explorer import placing

    before = sys.getswitchinterval()  # an AppTest run earlier in this process may have set it already
    try:
        sys.setswitchinterval(0.005)  # Python's default
        placing.share_the_interpreter()
        assert sys.getswitchinterval() == placing.SWITCH_INTERVAL_S < 0.005
    finally:
        sys.setswitchinterval(before)
