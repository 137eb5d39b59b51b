"""Audio the pages play, served from disk by Streamlit's static file serving, so a player never loses its file.

``st.audio(data)`` keeps the bytes in Streamlit's in-memory media store, which drops a file as soon as no
finished run references it: a full rerun of the same session clears its references when it starts, and any
session's run that ends meanwhile collects the file. The browser still shows the player; its next request
(play, seek) gets 404 ("Audio source error"; a known Streamlit bug, its GitHub issue 8932; 29 such errors in a
150 s soak of 8
sessions). Files under ``static/`` next to app.py are served at ``/app/static/…`` straight from disk when
``server.enableStaticServing`` is on (``.streamlit/config.toml``), with range requests (seeking).

- A clip: its dataset file when it is on this computer (copied once; formats browsers do not play, such as
  GTZAN's .au, decoded to WAV), else the bundle's stored preview; written once per bundle under
  ``static/clips/<bundle>/``.
- A dropped-in song: its bytes, written once under ``static/songs/<server>/<session>/``, with random names
  (nobody else can guess them). A song's file goes 30 s after the song is removed (its player may still be
  fetching it); a session's folder when the session ends (the sweep of ended sessions); the server's when it
  stops; a server that starts removes the folders of servers no longer running. Song bytes then live in the
  upload store only.

Without static serving, or when ``static/`` cannot be written, players get ``st.audio``'s own arguments (the
in-memory store) as before.
"""
from __future__ import annotations

import atexit
import hashlib
import io
import logging
import os
import shutil
import threading
import time
import uuid
import weakref
from pathlib import Path, PurePath

import streamlit as st

from . import keys
from .views.track_view import BROWSER_AUDIO, audio_file, audio_for_player, upload_audio_for_player

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"  # the folder next to app.py that Streamlit serves
STATIC_URL = "/app/static/"
SESSION_FOLDER = "media_folder"  # session-state key of this session's SongFolder
GONE_GRACE_S = 30.0  # a removed song's file stays this long (its player may still be fetching it)


def static_serving() -> bool:
    """Whether Streamlit serves ``static/`` (off in AppTest and when the option was turned off)."""
    try:
        return bool(st.get_option("server.enableStaticServing"))
    except Exception:
        return False


def url(path: Path) -> str:
    """The address a file under ``STATIC_DIR`` is served at."""
    from urllib.parse import quote

    return STATIC_URL + quote(path.relative_to(STATIC_DIR).as_posix())


def write_once(path: Path, make) -> Path:
    """``path``, written with ``make()``'s bytes unless it exists; atomic, so a reader never sees half a file."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        try:
            part.write_bytes(make())
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
    return path


def wav_bytes(samples, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def player(path: Path) -> dict:
    """``st.audio`` arguments for a file under ``STATIC_DIR``."""
    return {"data": url(path), "format": BROWSER_AUDIO.get(path.suffix.lower(), "audio/wav")}


# ---------------------------------------------------------------- clips of a bundle
def bundle_folder(bundle) -> Path:
    """``static/clips/<id>``: one folder per bundle build (its path and its bundle.json's hash)."""
    stamp = f"{Path(bundle.path).resolve()}|{bundle.meta.get('meta_sha256') or bundle.meta.get('created')}"
    return STATIC_DIR / "clips" / hashlib.sha256(stamp.encode()).hexdigest()[:16]


def clip_playable(bundle, index: int) -> bool:
    """Whether a clip can be heard: its dataset file is here, or the bundle holds its preview."""
    if audio_file(bundle, index) is not None:
        return True
    return "preview_bytes" in bundle.arrays if hasattr(bundle, "preview") else False


def clip_source(bundle, index: int):
    """(file name, a function making its bytes) of a clip's audio, or None when it has none."""
    source = audio_file(bundle, index)
    if source is not None:
        if source.suffix.lower() in BROWSER_AUDIO:
            return f"{index}{source.suffix.lower()}", source.read_bytes
        decoded = audio_for_player(source)
        return f"{index}.wav", lambda: wav_bytes(decoded["data"], decoded["sample_rate"])
    preview = bundle.preview(index) if hasattr(bundle, "preview") else None
    return (f"{index}.ogg", lambda: preview) if preview else None


def clip_player(bundle, index: int) -> dict | None:
    """``st.audio`` arguments for a clip (its dataset file, else its preview), or None when it has no audio."""
    if static_serving():
        found = clip_source(bundle, index)
        if found is None:
            return None
        try:
            return player(write_once(bundle_folder(bundle) / found[0], found[1]))
        except OSError as e:  # a read-only app folder: the in-memory store still plays it (for a while)
            log.warning("static/ cannot be written (%s); clips play from memory", e)
    return memory_clip_player(bundle, index)


def memory_clip_player(bundle, index: int) -> dict | None:
    path = audio_file(bundle, index)
    if path is not None:
        return audio_for_player(path)
    preview = bundle.preview(index) if hasattr(bundle, "preview") else None
    return {"data": preview, "format": "audio/ogg"} if preview else None


# ---------------------------------------------------------------- songs of a session
_server_lock = threading.Lock()
_server: dict = {}


def server_folder() -> Path:
    """``static/songs/<pid>-<token>``: this server's songs (removed when it stops; stale ones on start)."""
    with _server_lock:
        if "path" not in _server:
            root = STATIC_DIR / "songs"
            for old in root.glob("*") if root.is_dir() else []:
                if not process_alive(old.name.partition("-")[0]):
                    shutil.rmtree(old, ignore_errors=True)
            path = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            path.mkdir(parents=True, exist_ok=True)
            _server["path"] = path
            atexit.register(shutil.rmtree, path, True)
        return _server["path"]


def process_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


class SongFolder:
    """One session's folder of song files (and its ``exports/``: ``explorer/exports.py``); deleted when this
    object is (the session's state was freed) or by the sweep of ended sessions (``explorer/sessions_sweep.py``)."""

    def __init__(self) -> None:
        self._gone: dict[str, float] = {}  # file name → when its song was first seen gone (time.monotonic)
        self.path = server_folder() / uuid.uuid4().hex
        self.path.mkdir(parents=True, exist_ok=True)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, True)

    def song_path(self, file_id: str, filename: str) -> Path:
        suffix = PurePath(filename).suffix.lower()
        return self.path / f"{file_id}{suffix if suffix in BROWSER_AUDIO else '.wav'}"

    def keep_only(self, file_ids, now: float | None = None) -> None:
        """Delete the files of songs that are gone, ``GONE_GRACE_S`` after they went (sub-folders stay).

        A removed song's player can still be fetching its file while the page redraws without it; a file
        deleted under a request is an HTTP 500 from the static handler (seen in an 8-session soak).
        """
        live, now = set(file_ids), time.monotonic() if now is None else now
        for f in self.path.glob("*"):
            if f.stem in live or f.name.startswith(".") or not f.is_file():
                self._gone.pop(f.name, None)
                continue
            if now - self._gone.setdefault(f.name, now) >= GONE_GRACE_S:
                f.unlink(missing_ok=True)
                self._gone.pop(f.name, None)


def song_folder() -> SongFolder:
    ss = st.session_state
    if not isinstance(ss.get(SESSION_FOLDER), SongFolder) or not ss[SESSION_FOLDER].path.is_dir():
        ss[SESSION_FOLDER] = SongFolder()
        from .sessions_sweep import register  # removed by the sweep when the session ends

        register(folder=ss[SESSION_FOLDER].path)
    return ss[SESSION_FOLDER]


def forget_songs() -> None:
    """Delete the files of this session's songs that were removed (call after changing ``keys.UPLOADS``)."""
    folder = st.session_state.get(SESSION_FOLDER)
    if isinstance(folder, SongFolder):
        folder.keep_only(st.session_state.get(keys.UPLOADS, {}))


def song_player(uploaded) -> dict | None:
    """``st.audio`` arguments for an uploaded file (Streamlit's UploadedFile), or None if it cannot be played."""
    if uploaded is None:
        return None
    try:
        if static_serving():
            try:
                folder = song_folder()
                folder.keep_only(list(st.session_state.get(keys.UPLOADS, {})) + [uploaded.file_id])
                path = folder.song_path(uploaded.file_id, uploaded.name)
                return player(write_once(path, lambda: song_bytes(uploaded, path)))
            except OSError as e:
                log.warning("static/ cannot be written (%s); songs play from memory", e)
        return upload_audio_for_player(uploaded.getvalue(), uploaded.name)
    except Exception:  # placed but not playable: the panel still shows the rest
        return None


def song_bytes(uploaded, path: Path) -> bytes:
    """The bytes a song's file holds: the upload itself, or decoded to WAV for formats browsers do not play."""
    if path.suffix != ".wav" or PurePath(uploaded.name).suffix.lower() == ".wav":
        return uploaded.getvalue()
    decoded = upload_audio_for_player(uploaded.getvalue(), uploaded.name)
    return wav_bytes(decoded["data"], decoded["sample_rate"])
