"""Presentation mode: the map gets the screen, for a teacher in front of a class.

Full width, large dots and type, the controls folded away (no sidebar); ← / → step through the layers
(none → immediate → deep → shallow) with what the paper found at each, in one line; "play the layers" moves
the dots through all four. The last song dropped in (on any page of this session) is shown with its genre in
large type, its star moving with the dots. Opened from the Map page, at /present, or by any link with
``?present=1`` (``app.py``); the layer is in the address as on the Map page (/present?embedding=shallow).
The chart is the Map page's component (``explorer.map_chart``): a step moves the dots in the browser, the page
only hears which layer the map stopped on.
"""
from __future__ import annotations

import html

import streamlit as st

from explorer import cache, keys, session
from explorer.map_chart import map_chart
from explorer.sections import layer_play
from explorer.views import song_marks
from explorer.views.map_view import overlay_spec
from explorer.views.plotting import CONFIG, figure_json

CHART = "present_chart"
# no sidebar, no header bar, little padding: the map is as large as the screen allows
STYLE = """<style>
[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'], [data-testid='stHeader'],
[data-testid='stToolbar'] {display: none;}
[data-testid='stMainBlockContainer'] {padding: 0.6rem 1rem 0.5rem 1rem; max-width: 100%;}
</style>"""
SONG_LINE = "<p style='font-size: 2rem; line-height: 1.2; margin: 0; font-family: sans-serif'>{}</p>"


def page() -> None:
    ctx = session.context()
    session.write_url(ctx)
    st.html(STYLE)
    top = st.columns([6, 1], vertical_alignment="center")
    with top[0]:
        song_banner(list(session.placed_songs().values()))
    with top[1]:
        st.page_link(layer_play.MAP_PAGE, label="Leave", icon=":material/close:")
    present_fragment()


def song_banner(results: list) -> None:
    """The last song placed, with its genre in large type (or how to add one)."""
    if not results:
        st.html(SONG_LINE.format("Drop in or record a song on the Map page: its ★ appears here."))
        return
    last = results[-1].placement
    st.html(SONG_LINE.format(f"★ {html.escape(results[-1].name)} sounds like <b class='present-genre' "
                             f"style='font-size: 2.6rem'>{html.escape(last.genre)}</b> "
                             f"({last.probabilities[last.genre]:.0%})"))


def on_stop() -> None:
    layer_play.take_layer(CHART)


@st.fragment
def present_fragment() -> None:
    ss = st.session_state
    ctx = session.context()
    session.write_url(ctx)
    embedding, colour_by = ss[keys.EMBEDDING], ss[keys.COLOUR]
    results = list(session.placed_songs().values())
    markers = song_marks.markers(results, embedding)
    base = cache.map_base_dict(*ctx.ref, embedding, colour_by)
    spec = (figure_json(overlay_spec(base, ctx.bundle.labels, markers=markers)) if markers
            else cache.map_base_spec(*ctx.ref, embedding, colour_by))
    map_chart(spec, key=CHART, on_select=on_stop, config=CONFIG, present=True,
              frames=layer_play.frames_for(ctx, embedding, colour_by, results, paths=False))


if __name__ == "__main__":
    page()
