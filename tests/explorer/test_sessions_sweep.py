"""The sessions' sweep (explorer/sessions_sweep.py): an ended session's folder and songs' work go, a live
one's stay; a session that is disconnected for less than Streamlit keeps it is not ended; old exports go."""
from __future__ import annotations

import os
import time
from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from explorer import exports, sessions_sweep


@pytest.fixture(autouse=True)
def no_sessions(monkeypatch):
    monkeypatch.setattr(sessions_sweep, "_held", {})
    monkeypatch.setattr(sessions_sweep, "start", lambda *a: None)  # no thread: the test sweeps itself


def job():
    cancelled = []
    return SimpleNamespace(final=Future(), cancel=lambda: cancelled.append(True), cancelled=cancelled)


def test_an_ended_session_loses_its_folder_and_its_songs_work_a_live_one_keeps_them(tmp_path):
    live_folder, gone_folder = tmp_path / "live", tmp_path / "gone"
    for f in (live_folder, gone_folder):
        (f / "exports").mkdir(parents=True)
        (f / "song.wav").write_bytes(b"x")
    live_job, gone_job = job(), job()
    sessions_sweep.register(live_folder, [live_job], session_id="live")
    sessions_sweep.register(gone_folder, [gone_job], session_id="gone")
    connected = {"live"}.__contains__
    assert sessions_sweep.sweep(connected, ttl_s=10, now=100) == []  # just disconnected: may come back
    assert gone_folder.is_dir() and not gone_job.cancelled
    assert sessions_sweep.sweep(connected, ttl_s=10, now=111) == ["gone"]
    assert not gone_folder.exists() and gone_job.cancelled == [True]
    assert (live_folder / "song.wav").is_file() and not live_job.cancelled
    assert sessions_sweep.held_sessions() == ["live"]


def test_a_session_that_reconnects_in_time_is_kept(tmp_path):
    sessions_sweep.register(tmp_path, session_id="s")
    sessions_sweep.sweep(lambda _: False, ttl_s=10, now=100)
    sessions_sweep.sweep(lambda _: True, ttl_s=10, now=105)  # back
    assert sessions_sweep.sweep(lambda _: False, ttl_s=10, now=112) == [] and tmp_path.is_dir()


def test_finished_jobs_are_not_kept(tmp_path):
    done = job()
    done.final.set_result(None)
    sessions_sweep.register(tmp_path, [done], session_id="s")
    sessions_sweep.register(jobs=[], session_id="s")
    assert sessions_sweep._held["s"].jobs == []


def test_old_exports_go_new_ones_stay(tmp_path):
    old = exports.write_export(tmp_path, "map à.csv", b"a,b\n")
    new = exports.write_export(tmp_path, "../map.png", b"png")
    assert old.name == "map_à.csv" and new.name == "map.png" and new.parent.parent == tmp_path / "exports"
    an_hour_ago = time.time() - 3600
    os.utime(old.parent, (an_hour_ago, an_hour_ago))
    sessions_sweep.register(tmp_path, session_id="s")
    sessions_sweep.sweep(lambda _: True, ttl_s=10, prune_exports=lambda f: exports.prune(f / exports.EXPORTS))
    assert not old.parent.exists() and new.read_bytes() == b"png"
