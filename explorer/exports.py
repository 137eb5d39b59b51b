"""Downloads (PNG, HTML, CSV exports) served from disk like the players' audio, so a click's file never 404s.

``st.download_button`` keeps a clicked file in Streamlit's in-memory media store without any session
referring to it: the end of the next two runs of any session deletes it. With a class on one server that can
happen before the browser fetches it (7 of 22 downloads got HTTP 404 in an 8-session soak, and the 2-session
short soak failed once in 4 runs). Here a click is an ordinary button: the run it starts makes the file, writes
it under this session's folder in ``static/`` (``explorer/media.py``: a random folder per export, the file
under its own name) and mounts a tiny component whose script saves it (``<a download>`` clicked once per
address). The file stays until it is ``EXPORT_TTL_S`` old (older exports of the session are removed when it
makes a new one, and by the sessions' sweep) or the session ends.

Without static serving (AppTest, the option off) or when ``static/`` cannot be written, the button is
``st.download_button`` with the same function, made on click as before.
"""
from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import streamlit as st

from . import media

log = logging.getLogger(__name__)
EXPORT_TTL_S = 600.0  # an export's file is kept this long: the browser fetches it within a second or two
EXPORTS = "exports"  # the sub-folder of a session's folder that holds its exports

# Saves the file once per address: a later run that still shows the component does not download it again.
SAVE_JS = """
export default function({ data }) {
  const saved = window.__genreMapSaved || (window.__genreMapSaved = new Set());
  if (!data || !data.url || saved.has(data.url)) return;
  saved.add(data.url);
  const a = document.createElement("a");
  a.href = data.url;
  a.download = data.name;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
}
"""
_saver = st.components.v2.component("genre_map_save_file", js=SAVE_JS)


def safe_name(file_name: str) -> str:
    """A file name that is one path component of letters, digits, '.', '-' and '_'."""
    name = re.sub(r"[^\w.\-]+", "_", Path(file_name).name).strip("._")
    return name or "download"


def prune(folder: Path, ttl_s: float = EXPORT_TTL_S, now: float | None = None) -> int:
    """Remove the exports in ``folder`` older than ``ttl_s``; returns how many went."""
    now = time.time() if now is None else now
    gone = 0
    for d in folder.glob("*") if folder.is_dir() else []:
        try:
            old = now - d.stat().st_mtime > ttl_s
        except OSError:  # removed meanwhile
            continue
        if old:
            shutil.rmtree(d, ignore_errors=True)
            gone += 1
    return gone


def write_export(session_folder: Path, file_name: str, data: bytes) -> Path:
    """``data`` as ``<session folder>/exports/<random>/<file name>`` (atomic); older exports are pruned."""
    folder = session_folder / EXPORTS
    prune(folder)
    return media.write_once(folder / uuid.uuid4().hex / safe_name(file_name), lambda: data)


def as_bytes(data) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def in_a_browser() -> bool:
    """Whether a browser drives this run (AppTest has no HTTP headers; its download buttons are inspected)."""
    try:
        return bool(st.context.headers)
    except Exception:
        return False


def export_button(where, label: str, make, *, file_name: str, mime: str, key: str, icon: str | None = None) -> None:
    """A download button in ``where`` (a column…; None: here) whose file ``make()`` builds when it is clicked,
    served from ``static/``."""
    with where if where is not None else nullcontext():
        if not (media.static_serving() and in_a_browser()):
            st.download_button(label, make, file_name=file_name, mime=mime, key=key, on_click="ignore", icon=icon)
        elif st.button(label, key=key, icon=icon):
            save(label, make, file_name, mime, key)


def save(label: str, make, file_name: str, mime: str, key: str) -> None:
    """Build a clicked export, write it under ``static/`` and have the browser save it."""
    try:
        path = write_export(media.song_folder().path, file_name, as_bytes(make()))
    except OSError as e:  # a read-only app folder: Streamlit's in-memory store (a second click)
        log.warning("static/ cannot be written (%s); exports come from memory", e)
        st.download_button(label, make, file_name=file_name, mime=mime, key=f"{key}_memory", on_click="ignore")
        return
    _saver(data={"url": media.url(path), "name": path.name}, key=f"{key}_save")
