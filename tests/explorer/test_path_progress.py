"""The sidebar's path progress (``explorer.sidebar``): when a song's path is done, the page reruns with the view
the session last wrote, not with the address the timer's request carried.

The race, seen in a 16-session soak: a student clicks a dot while a song's path is computed; the click's run
writes the address (``track=…``); the path-progress timer's request, sent before that, carries the old address;
when its run finds the path done it reruns the whole page, whose set-up reads that old address as a link and
drops the click (the detail panel went back to "Click a dot on the map").
"""
from __future__ import annotations

import streamlit as st

from explorer import keys, sidebar


def test_a_finished_path_reruns_the_page_with_the_view_last_written(monkeypatch):
    events = []

    class StaleAddress:  # st.query_params as the timer's request left it
        def from_dict(self, params):
            events.append(("address", dict(params)))

    monkeypatch.setattr(sidebar.st, "query_params", StaleAddress())
    monkeypatch.setattr(sidebar.st, "rerun", lambda **kwargs: events.append(("rerun", kwargs)))
    monkeypatch.setattr(sidebar.upload, "refresh", lambda results: True)  # a path has just finished
    written = {"embedding": "deep", "colour": "genre", "track": "rock.00007"}
    st.session_state[keys.URL_WRITTEN] = written
    try:
        sidebar.path_progress.__wrapped__()  # its body: a fragment needs a page to run in
    finally:
        del st.session_state[keys.URL_WRITTEN]
    assert events == [("address", written), ("rerun", {"scope": "app"})]
