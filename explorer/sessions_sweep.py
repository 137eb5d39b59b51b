"""What an ended session held is released: its folder under ``static/`` (songs, exports) and its songs' work.

Streamlit 1.67 has no session-end callback, and a closed session's state is freed only when nothing refers to
it any more (a weakref finalizer on it did not fire in the soak: song folders stayed after the sessions
closed). So each session registers what it holds here, keyed by its session id, and one thread per server
process compares them with the runtime's sessions every ``SWEEP_S``: a session that has not been connected for
longer than Streamlit keeps a disconnected one (``server.disconnectedSessionTTL``) has ended; its folder is
deleted and its songs' background work cancelled. Every sweep also removes exports older than their TTL
(``explorer/exports.py``), whatever the session.
"""
from __future__ import annotations

import gc
import itertools
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import memory

log = logging.getLogger(__name__)
SWEEP_S = 5.0  # how often ended sessions are looked for
TRIM_EVERY = 12  # sweeps: free heap memory goes back to the system once a minute (explorer.memory)
DEFAULT_TTL_S = 120.0  # Streamlit's default server.disconnectedSessionTTL


@dataclass
class Held:
    """What one session holds outside its session state."""

    folder: Path | None = None
    jobs: list = field(default_factory=list)  # explorer.placing.SongJob
    gone_since: float | None = None  # when the sweep first saw it disconnected


_lock = threading.Lock()
_held: dict[str, Held] = {}
_thread: dict = {}


def current_session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(ctx, "session_id", None)


def register(folder: Path | None = None, jobs=(), session_id: str | None = None) -> None:
    """Note that this session (or ``session_id``) holds ``folder`` and ``jobs``; starts the sweep."""
    session_id = session_id or current_session_id()
    if session_id is None:  # no page (a test calling a function directly)
        return
    with _lock:
        held = _held.setdefault(session_id, Held())
        if folder is not None:
            held.folder = folder
        held.jobs = [j for j in held.jobs if not j.final.done()] + [j for j in jobs if j is not None]
    start()


def release(held: Held) -> None:
    for job in held.jobs:
        job.cancel()
    if held.folder is not None:
        shutil.rmtree(held.folder, ignore_errors=True)


def sweep(connected, ttl_s: float, now: float | None = None, prune_exports=None) -> list[str]:
    """Release the sessions not ``connected(id)`` for longer than ``ttl_s``; returns their ids.

    ``prune_exports(folder)`` is called on every other session's folder (old exports go).
    """
    now = time.monotonic() if now is None else now
    ended = []
    with _lock:
        for session_id, held in list(_held.items()):
            if connected(session_id):
                held.gone_since = None
            elif held.gone_since is None:
                held.gone_since = now
            if held.gone_since is not None and now - held.gone_since > ttl_s:
                ended.append((session_id, _held.pop(session_id)))
        folders = [h.folder for h in _held.values() if h.folder is not None]
    for _, held in ended:
        release(held)
    for folder in folders if prune_exports else []:
        prune_exports(folder)
    return [session_id for session_id, _ in ended]


def held_sessions() -> list[str]:
    with _lock:
        return list(_held)


def runtime_sweep() -> list[str]:
    """One sweep against the running Streamlit server's sessions."""
    import streamlit as st
    from streamlit import runtime

    from .exports import EXPORTS, prune

    if not runtime.exists():
        return []
    ttl = float(st.get_option("server.disconnectedSessionTTL") or DEFAULT_TTL_S)
    ended = sweep(runtime.get_instance().is_active_session, ttl, prune_exports=lambda f: prune(f / EXPORTS))
    if ended:  # their states are garbage now; cycles among them wait for a full collection otherwise
        gc.collect()
        memory.release_free_memory()  # and what they held goes back to the system
        log.info("released %d ended session(s)", len(ended))
    return ended


def start(every_s: float = SWEEP_S) -> None:
    """The sweep's thread (once per process)."""
    with _lock:
        if "thread" in _thread:
            return

        def loop():
            for n in itertools.count(1):
                time.sleep(every_s)
                try:
                    runtime_sweep()
                    if n % TRIM_EVERY == 0:  # songs removed and paths finished in sessions that go on
                        memory.release_free_memory()
                except Exception:  # the sweep must never stop the server
                    log.exception("the sessions' sweep failed")

        _thread["thread"] = threading.Thread(target=loop, name="sessions-sweep", daemon=True)
        _thread["thread"].start()
