"""The "Sounds like" section (Streamlit): ranked neighbours with a player, the why, and every layer's answer.

Frames, figures and sentences come from ``sounds_like``; this module lays them out.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from .. import media, session, text
from ..exports import export_button
from ..keys import N_NEIGHBOURS, SOUNDS_TABLE
from ..views import export, sounds_like, track_view
from ..views.map_view import display_name
from ..views.section_views import Subject

TABLE = SOUNDS_TABLE
COUNTS = [5, 10, 15, 20]


def _playable(bundle, neighbours) -> dict:
    """track id → its row in the bundle when it can be heard (its file, or the bundle's preview), else None."""
    rows = {n["track_id"]: track_view.track_index(bundle, n["track_id"]) for n in neighbours}
    return {t: i if i is not None and media.clip_playable(bundle, i) else None for t, i in rows.items()}


def show(bundle, subject: Subject, embedding: str, get_placer, file_stem: str, rerun=None) -> dict | None:
    """Draw the section for one item; returns embedding → neighbours (or None without a model).

    ``subject.vectors`` hold the item in the embeddings of ``embedding``'s network (its layers are compared);
    ``rerun``: the fragments "show it on the map" reruns.
    """
    s = subject
    st.header(f"Sounds like {s.title}")
    k = st.select_slider("How many clips", COUNTS, value=COUNTS[0], key=N_NEIGHBOURS)
    try:
        with st.spinner("Loading the model…"):
            placer = get_placer()
    except Exception as e:
        st.warning(f"The model could not be loaded, so no neighbours: {type(e).__name__}: {e}")
        return None
    lists = sounds_like.neighbour_lists(placer, s.vectors, k=max(k, sounds_like.COMPARE_K), exclude=s.exclude)
    ranked = lists[embedding][:k]
    table_col, why_col = st.columns([3, 2], gap="large")
    with table_col:
        ranked_table(bundle, ranked, _playable(bundle, ranked), embedding, rerun)
    with why_col:
        st.markdown(sounds_like.why_sentence(s.probabilities, ranked, embedding, s.real_genre))
        why = sounds_like.why_frame(s.probabilities, ranked, bundle.labels)
        st.html(sounds_like.why_bars(why, bundle.labels))
        st.caption(text.WHY_HELP)

    every_layer(lists, s.real_genre or max(s.probabilities, key=s.probabilities.get), embedding)
    export_button(None, "Neighbours in every layer (CSV)",  # made on click (see downloads.py)
                  partial(neighbours_csv, lists, s.item),
                  file_name=f"{file_stem}_neighbours.csv", mime=export.CSV_MIME, key="export_neighbours",
                  icon=":material/table:")
    return lists


def neighbours_csv(lists: dict, item: str) -> bytes:
    return export.csv_bytes(export.neighbours_frame(lists, item))


def ranked_table(bundle, ranked: list, audio: dict, embedding: str, rerun) -> None:
    """The ranked neighbours; the picked row (the first by default) with its player and "show it on the map"."""
    st.markdown(text.SOUNDS_LIKE_HELP.format(embedding=embedding))
    event = st.dataframe(sounds_like.ranked_frame(ranked, {t: p is not None for t, p in audio.items()}),
                         key=TABLE, on_select="rerun", selection_mode="single-row", width="stretch",
                         column_config={"similarity": st.column_config.NumberColumn(format="%.3f")})
    rows = [r for r in (getattr(getattr(event, "selection", None), "rows", None) or []) if r < len(ranked)]
    if not ranked:
        return
    r = rows[0] if rows else 0
    n = ranked[r]
    st.markdown(f"**{r + 1}. {n['track_id']}** · {display_name(n.get('artist'), n.get('title'))} "
                f"· {n['genre']} · similarity {n['similarity']:.3f}")
    row = audio.get(n["track_id"])
    if row is not None:
        try:
            st.audio(**media.clip_player(bundle, row))
        except Exception as e:
            st.caption(f"This clip could not be played ({type(e).__name__}).")
    else:
        st.caption("The audio of this clip is not on this computer.")
    st.button("Show it on the map", key="show_neighbour", on_click=session.select,
              args=([n["track_id"]], "page", rerun))


def every_layer(lists: dict, genre: str, embedding: str) -> None:
    """"Does the layer change the answer?": every layer's top 5 side by side, and how much they share."""
    st.subheader("Does the layer change the answer?")
    st.markdown(sounds_like.overlap_sentence(lists, embedding))
    side_col, overlap_col = st.columns([5, 3], gap="large")
    with side_col:
        st.dataframe(sounds_like.comparison_frame(lists, genre, embedding).reset_index(), hide_index=True,
                     width="stretch")
    with overlap_col:
        st.markdown(f"**Clips two layers share** (of their top {sounds_like.COMPARE_K})")
        st.dataframe(sounds_like.overlap_frame(lists), width="stretch")
    st.caption(text.COMPARE_HELP)
