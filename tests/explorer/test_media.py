"""Audio served from disk (explorer/media.py): clips and songs are files under static/ that stay as long as
they are needed, and go with the song or the session; without static serving, st.audio's own arguments."""
from __future__ import annotations

import gc
import os
import time
from copy import deepcopy
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from explorer import media
from explorer.state import DEFAULT_BUNDLE
from pipeline.bundle import load_bundle
from tests.synth import genre_clip, write_audio


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE, lazy=True)


@pytest.fixture
def static(tmp_path, monkeypatch):
    """Static serving on, into a folder of this test."""
    monkeypatch.setattr(media, "STATIC_DIR", tmp_path / "static")
    monkeypatch.setattr(media, "static_serving", lambda: True)
    monkeypatch.setattr(media, "_server", {})
    return tmp_path / "static"


def without_dataset(bundle):
    """The bundle as on a machine without the dataset: its previews are what can be heard."""
    meta = deepcopy(bundle.meta)
    meta["dataset"]["root"] = None
    return SimpleNamespace(**{**vars(bundle), "meta": meta}, preview=bundle.preview)


def test_a_clips_preview_is_written_once_and_served_from_static(bundle, static):
    here = without_dataset(bundle)
    player = media.clip_player(here, 3)
    assert player["format"] == "audio/ogg" and player["data"].startswith("/app/static/clips/")
    path = static / player["data"].removeprefix("/app/static/")
    assert path.read_bytes() == bundle.preview(3)
    stamp = path.stat().st_mtime_ns
    assert media.clip_player(here, 3) == player and path.stat().st_mtime_ns == stamp  # not written again
    assert not list(path.parent.glob(".*.part"))


def test_a_clip_of_a_dataset_on_this_computer_plays_its_own_file(tmp_path, static):
    wav = write_audio(tmp_path / "data" / "blues" / "a.au", genre_clip(0, 2.0, 22050, np.random.default_rng(0)),
                      22050)
    here = SimpleNamespace(path=tmp_path, meta={"dataset": {"root": str(tmp_path / "data")}, "created": "x"},
                           tracks={"path": SimpleNamespace(iloc=["blues/a.au"])}, arrays={})
    player = media.clip_player(here, 0)
    assert player["data"].endswith("/0.wav") and player["format"] == "audio/wav"  # .au: decoded for browsers
    samples, sr = sf.read(static / player["data"].removeprefix("/app/static/"))
    assert sr == 22050 and len(samples) == len(sf.read(wav)[0])


def test_without_static_serving_players_use_streamlits_store(bundle, monkeypatch):
    monkeypatch.setattr(media, "static_serving", lambda: False)
    assert media.clip_player(without_dataset(bundle), 3) == {"data": bundle.preview(3), "format": "audio/ogg"}


class Upload:
    def __init__(self, file_id, name, data):
        self.file_id, self.name, self._data = file_id, name, data

    def getvalue(self):
        return self._data


def test_a_songs_file_goes_with_the_song_and_its_folder_with_the_session(static, monkeypatch):
    state = {}
    monkeypatch.setattr(media.st, "session_state", state)
    song = Upload("f1", "my song.mp3", b"ID3 not really an mp3")
    state["uploads"] = {"f1": object()}
    player = media.song_player(song)
    assert player["format"] == "audio/mpeg" and player["data"].startswith("/app/static/songs/")
    path = static / player["data"].removeprefix("/app/static/")
    assert path.read_bytes() == song.getvalue() and path.name == "f1.mp3"
    folder = path.parent
    assert folder.parent.name.startswith(f"{os.getpid()}-")  # this server's folder
    state["uploads"] = {}  # "remove all my songs"
    media.forget_songs()
    assert path.exists()  # a player may still be fetching it: it goes a grace period later
    state[media.SESSION_FOLDER].keep_only([], now=time.monotonic() + media.GONE_GRACE_S)
    assert not path.exists() and folder.is_dir()
    del state[media.SESSION_FOLDER]  # the session ended: Streamlit drops its state
    gc.collect()
    assert not folder.exists()


def test_song_folders_of_servers_that_are_gone_are_removed_on_start(static):
    stale = static / "songs" / "999999999-deadbeef" / "session"
    stale.mkdir(parents=True)
    mine = media.server_folder()
    assert not stale.parent.exists() and mine.is_dir()
