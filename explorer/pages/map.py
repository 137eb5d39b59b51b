"""The Map page: pick a network and a layer, colour the dots, click one to see and hear it, see what sounds like it.

Three fragments, so a click reruns only what it changes (callbacks name the
fragments to rerun with ``st.rerun([...])``):

- ``map_fragment``: the controls and the map. A layer switch reruns it and
  "sounds like" (the neighbours are the layer's); a colouring, only it.
- ``detail_fragment``: "find a clip" and the detail panel. A click or lasso on
  the map reruns it and "sounds like", not the map (plotly already shows the
  selection it made).
- ``sounds_fragment``: the clips that sound like the selected one.

The map itself is ``explorer.map_chart``: one Plotly chart that stays on the page
and is redrawn in place (``st.plotly_chart`` would draw a new chart, and open a
new WebGL context, for every new figure).

Songs are dropped in the sidebar (every page; ``explorer.session``): a new song
reruns the page. Run by ``st.navigation`` (``app.py``) as a script.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from explorer import cache, keys, media, session, state, text
from explorer.map_chart import map_chart
from explorer.sections import controls, detail, downloads, layer_play
from explorer.sections import sounds_like as sounds_section
from explorer.views import export, song_marks, track_view
from explorer.views.map_view import (
    find_tracks,
    mark_between_clusters,
    overlay_spec,
    selection_keys,
    selection_to_draw,
    undrawn_selection_trace,
)
from explorer.views.plotting import CONFIG, figure_json
from explorer.views.section_views import DrawnMap, Subject
from pipeline.predictor import chosen_phrase

ALL = (keys.MAP_FRAGMENT, keys.DETAIL_FRAGMENT, keys.SOUNDS_FRAGMENT)
LAYER_CHANGES = (keys.MAP_FRAGMENT, keys.SOUNDS_FRAGMENT)
FOCUS_CHANGES = (keys.DETAIL_FRAGMENT, keys.SOUNDS_FRAGMENT)
LOOKUP_LIMIT = 2000  # above this many clips "find a clip" searches by words instead of listing every clip
FOCUS_LIMIT = 50  # at most this many of a lasso's clips are offered one by one


def page() -> None:
    ctx = session.context()
    bundle = ctx.bundle
    st.title(text.TITLE)
    # the controls sit outside the fragments: their callbacks rerun the fragments a change concerns
    several = len(bundle.networks) > 1
    columns = st.columns([2, 4, 1.8, 1.8] if several else [3, 2, 2], vertical_alignment="bottom")
    if several:
        with columns[0]:
            controls.network_picker(bundle)
    layer_col, colour_col, intro_col = columns[-3:]
    with layer_col:
        controls.layer_picker(bundle, rerun=LAYER_CHANGES)
    with colour_col:
        controls.colour_picker(rerun=(keys.MAP_FRAGMENT,))
    with intro_col:
        st.page_link(layer_play.PRESENT_PAGE, label="Present to a class", icon=":material/co_present:")
    with intro_col, st.expander(text.INTRO_TITLE):  # folded: on a projector the whole map fits the first screen
        st.markdown(text.intro(len(bundle.tracks), len(bundle.labels), str(bundle.meta["dataset"].get("name", "?"))))
    map_col, detail_col = st.columns([3, 2], gap="medium")
    with map_col:
        map_fragment()
    with detail_col:
        detail_fragment()
    sounds_fragment()
    # In a background thread, a few seconds from now: the other layers' maps (so that a first switch draws from
    # the cache), then the model. Uploads and neighbour lists wait for the model, the map does not.
    ss = st.session_state
    state.start_placer(ctx.path, before=partial(cache.warm, *ctx.ref, bundle.networks[ss[keys.NETWORK]],
                                                ss[keys.COLOUR]))


# ---------------------------------------------------------------- what is selected
def current_selection(ctx: session.Context, songs: dict) -> list:
    """The selected items that exist: clips of this bundle and placed songs of this session."""
    known = session.track_ids(*ctx.ref)
    return [k for k in st.session_state.get(keys.SELECTION, []) if k in songs or k in known]


def current_focus(selection: list):
    """The item the detail panel and "sounds like" show: the one picked among several, else the first."""
    if not selection:
        return None
    chosen = st.session_state.get(keys.FOCUS)
    return chosen if len(selection) > 1 and chosen in selection[:FOCUS_LIMIT] else selection[0]


# ---------------------------------------------------------------- callbacks (module functions: no closures)
def on_map_select() -> None:
    """A click or lasso on the map: select it (a click on a song's path also plays from that window)."""
    if layer_play.take_layer(keys.MAP_CHART):  # the map stopped playing on a layer: the whole page follows
        st.rerun()
    detail.on_window_click(keys.MAP_CHART)
    session.select(selection_keys(st.session_state.get(keys.MAP_CHART)), origin="map", rerun=FOCUS_CHANGES)


def on_lookup() -> None:
    ss = st.session_state
    picked = ss.get(keys.LOOKUP)
    ss[keys.LOOKUP] = None
    if picked:
        session.select([picked], rerun=ALL)


# ---------------------------------------------------------------- the fragments
@st.fragment(key=keys.MAP_FRAGMENT)
def map_fragment() -> None:
    ss = st.session_state
    ctx = session.context()
    bundle = ctx.bundle
    params = session.write_url(ctx)
    embedding, colour_by = ss[keys.EMBEDDING], ss[keys.COLOUR]
    songs = session.placed_songs()
    results = list(songs.values())
    frame = cache.map_frame(*ctx.ref, embedding)
    markers, paths = song_marks.markers(results, embedding), song_marks.paths(results, embedding)
    markers = mark_between_clusters(markers, paths, frame)  # a star between clusters says so
    selection = current_selection(ctx, songs)
    signature = (ctx.ref, embedding, colour_by, tuple((m["key"], m["name"]) for m in markers))
    drawn = selection_to_draw(selection, ss.get(keys.SELECTION_ORIGIN), signature, ss.get(keys.MAP_DRAWN))
    ss[keys.MAP_DRAWN] = (signature, drawn)
    base = cache.map_base_dict(*ctx.ref, embedding, colour_by)
    overlaid = bool(markers or drawn or paths)
    fig = overlay_spec(base, bundle.labels, markers=markers, selected=drawn, paths=paths) if overlaid else base
    dots = cache.drawn_frame(*ctx.ref, embedding)
    found = undrawn_selection_trace(frame, dots, drawn, bundle.labels) if len(dots) < len(frame) else None
    if found:
        fig["data"].append(found)  # a new list: overlay_spec copies it (drawn is not empty here)
    # a plain map is sent as the JSON made once for it; songs and selections are drawn on it without a copy
    map_chart(figure_json(fig) if overlaid else cache.map_base_spec(*ctx.ref, embedding, colour_by),
              key=keys.MAP_CHART, on_select=on_map_select, config=CONFIG,
              frames=layer_play.frames_for(ctx, embedding, colour_by, results))
    shown = (f" ({len(dots)} drawn as dots: an even sample; a lasso or box selects drawn dots, "
             "“Find a clip” finds any)" if len(dots) < len(frame) else "")
    st.caption(f"**{text.layer_title(embedding)} ({embedding})**, {len(frame)} clips{shown}: "
               f"{text.layer_finding(embedding, controls.dim(bundle, embedding))}")
    with st.expander("How to use the map"):
        st.caption(text.MAP_HELP + (" " + text.CORRECT_HELP if colour_by == "correct" else ""))
    downloads.share_and_download(DrawnMap(bundle, ctx.path.name, embedding, colour_by, params, fig, frame, markers,
                                          paths, selection, results))


@st.fragment(key=keys.DETAIL_FRAGMENT)
def detail_fragment() -> None:
    ctx = session.context()
    bundle = ctx.bundle
    session.write_url(ctx)
    songs = session.placed_songs()
    frame = cache.map_frame(*ctx.ref, st.session_state[keys.EMBEDDING])
    find_a_clip(frame)
    selection = current_selection(ctx, songs)
    if not selection:
        st.info("Click a dot on the map (or find a clip above, or drop in a song) to see and hear it here.")
        return
    names = dict(zip(frame["track_id"], frame["name"]))
    if len(selection) > 1:
        genre_of = dict(zip(frame["track_id"], frame["genre"]))
        st.markdown(f"**{len(selection)} selected**: "
                    + track_view.selection_summary(genre_of.get(k, "your songs") for k in selection))
        st.selectbox("Show", selection[:FOCUS_LIMIT], key=keys.FOCUS, label_visibility="collapsed",
                     on_change=session.rerun_fragments, args=(FOCUS_CHANGES,),
                     format_func=lambda k: f"★ {songs[k].name}" if k in songs else f"{k} — {names.get(k, '')}")
        st.button("Clear selection", on_click=session.select, args=([], "page", ALL), key="clear_selection")
    focus = current_focus(selection)
    if focus in songs:
        detail.show_song(songs[focus], bundle.labels, media.song_player(session.uploaded_file(focus)),
                         chosen_phrase(bundle.meta))
    else:
        detail.show_track(bundle, names[focus], focus)


def find_a_clip(frame) -> None:
    """Pick a clip by name: from the list of every clip, or (large collections) from a search by words."""
    if len(frame) <= LOOKUP_LIMIT:
        names = dict(zip(frame["track_id"], frame["name"]))
        st.selectbox("Find a clip", list(names), index=None, key=keys.LOOKUP, on_change=on_lookup,
                     placeholder="type a genre, artist or title…", format_func=lambda t: f"{t} — {names[t]}")
        return
    words = st.text_input("Find a clip", key=keys.SEARCH, placeholder="type a genre, artist or title, then Enter…")
    if words:
        found = find_tracks(frame, words)
        labels = dict(zip(found["track_id"], found["name"]))
        st.selectbox(f"{len(found)} clip(s) found" if len(found) else "No clip found", list(labels), index=None,
                     key=keys.LOOKUP, on_change=on_lookup, placeholder="pick one…",
                     format_func=lambda t: f"{t} — {labels[t]}")


@st.fragment(key=keys.SOUNDS_FRAGMENT)
def sounds_fragment() -> None:
    ss = st.session_state
    ctx = session.context()
    bundle = ctx.bundle
    session.write_url(ctx)
    songs = session.placed_songs()
    focus = current_focus(current_selection(ctx, songs))
    embedding = ss[keys.EMBEDDING]
    layers = bundle.networks[session.network_of(embedding)]
    stem = export.file_stem(ctx.path.name, embedding)
    if focus is None:
        st.header("Sounds like…")
        st.info("Pick a clip or drop in a song: the clips that sound most like it appear here, with the reasons.")
        return
    if focus in songs:
        p = songs[focus].placement
        subject = Subject(songs[focus].name, f"★ {songs[focus].name}",
                          {e: p.vectors[e] for e in layers if e in p.vectors}, p.probabilities, None, None)
    else:
        i = track_view.track_index(bundle, focus)
        subject = Subject(focus, focus, {e: bundle.vectors(e)[i] for e in layers},
                          track_view.track_probabilities(bundle, i), str(bundle.tracks["genre"].iloc[i]), focus)
    sounds_section.show(bundle, subject, embedding, lambda: state.get_placer(ctx.path), stem, rerun=ALL)


if __name__ == "__main__":
    page()
