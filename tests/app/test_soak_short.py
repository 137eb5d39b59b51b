"""A short soak in the test suite: 2 browser sessions for ~20 s on one server, doing what a class does.

Each session, in turn and again: switches the layer, clicks a dot of the map and plays it until it sounds,
downloads the map's coordinates, drops in a song (a real GTZAN clip when ../shared/data/gtzan is here,
else a synthetic one) or a broken file. The sessions are ``benchmarks/soak.py``'s (``drive``); the test
fails on any console error (e.g. a player's "Audio source error"), any HTTP status >= 400 (e.g. a /media/
file Streamlit dropped while the page still showed it), any exception block, a page error, a lost session
or an upload that got neither its star nor a message. Timings are not asserted (see benchmarks/soak.py).
"""
from __future__ import annotations

import asyncio

from tests.browser import needs_chromium, serve
from tests.conftest import benchmark_module

SESSIONS, SECONDS = 2, 20.0
pytestmark = needs_chromium


def test_two_sessions_switch_play_download_and_upload_without_an_error(tmp_path):
    soak = benchmark_module("soak")
    songs, bad = soak.write_songs(tmp_path, 2, 12.0)
    for url in serve(tmp_path):
        sessions, _, _ = asyncio.run(soak.drive(url, SESSIONS, SECONDS, songs, bad, log=lambda _: None))
    assert soak.problems(sessions) == []
    assert all(s.switches > 0 and s.placed > 0 for s in sessions), sessions
    # players read from disk (explorer/media.py), not from Streamlit's in-memory store, which drops files
    assert set().union(*(s.sources for s in sessions)) <= {"/app/static/clips/", "/app/static/songs/"}, sessions
    # every round clicks a dot (a click between dots selects nothing) and every third downloads
    assert sum(s.played for s in sessions) > 0 and sum(s.downloaded for s in sessions) > 0, sessions
