"""The detail panel beside the map (Streamlit): one clip or uploaded song.

What it is, a player when the audio is at hand (for a song: with "play from"
along its windows), what the network sees and hears. Figures and tables come
from ``track_view`` and ``trajectory_view``; this module only lays them out.
The clips it sounds like have their own section (``sounds_panel``).
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from .. import media, text
from ..keys import AUTOPLAY, JUMP_PREFIX, TIMELINE_CHART
from ..views import track_view
from ..views.map_view import SPLIT_NAMES, UPLOAD_PREFIX
from ..views.palette import genre_colours
from ..views.plotting import CONFIG
from ..views.trajectory_view import timeline_figure, window_clicks, window_label


def jump_key(item: str) -> str:
    """Session key of a song's 'play from' control (its value: a window start in s)."""
    return JUMP_PREFIX + item.removeprefix(UPLOAD_PREFIX)


def jump_to(item: str, start_s: float) -> None:
    """Set a song's player to start at ``start_s`` and play (a click on its path or timeline)."""
    st.session_state[jump_key(item)] = float(start_s)
    st.session_state[AUTOPLAY] = item


def _autoplay(item: str) -> None:
    st.session_state[AUTOPLAY] = item


def on_window_click(chart_key: str) -> None:
    """Callback of a chart with trajectory / timeline points: jump to the last clicked window."""
    for item, start in window_clicks(st.session_state.get(chart_key))[-1:]:
        jump_to(item, start)


def _play(audio: dict | None, start: float, item: str, what: str) -> None:
    if audio is None:
        st.caption(f"The audio of this {what} is not on this computer.")
        return
    try:
        st.audio(**audio, start_time=int(start), autoplay=st.session_state.get(AUTOPLAY) == item)
    except Exception as e:  # an unreadable file must not take the panel down
        st.caption(f"The audio of this {what} could not be played ({type(e).__name__}).")
    if st.session_state.get(AUTOPLAY) == item:
        del st.session_state[AUTOPLAY]


def thumbnail(bundle, index: int):
    """One clip's spectrogram thumbnail (one row: a large bundle's thumbnails are not all read for it)."""
    row = getattr(bundle.arrays, "row", None)
    return row("thumbnails", index) if row is not None else bundle.arrays["thumbnails"][index]


def show_track(bundle, name: str, track_id: str) -> None:
    """A bundle clip."""
    i = track_view.track_index(bundle, track_id)
    row = bundle.tracks.iloc[i]
    st.subheader(track_id)
    st.markdown(f"{name}  \nReal genre **{row['genre']}** · the model says **{row['predicted']}** "
                f"({float(row['confidence']):.0%}) · {SPLIT_NAMES.get(row['split'], row['split'])}")
    _play(media.clip_player(bundle, i), 0, track_id, "clip")
    st.plotly_chart(track_view.spectrogram_figure(thumbnail(bundle, i), track_view.track_seconds(bundle, i),
                                                  title="What the network sees: the spectrogram"),
                    config=CONFIG, theme=None, key="detail_spectrogram")
    st.plotly_chart(track_view.probability_figure(track_view.track_probabilities(bundle, i), bundle.labels),
                    config=CONFIG, theme=None, key="detail_probabilities")


def show_song(result, labels, audio: dict | None = None, predictor: str | None = None) -> None:
    """An uploaded song (an ``upload.UploadResult`` that was placed); ``audio``: ``st.audio`` arguments;
    ``predictor``: what gives the genre, with its score (``pipeline.predictor.chosen_phrase``)."""
    p = result.placement
    item = UPLOAD_PREFIX + result.key
    st.subheader(f"★ {result.name}", anchor=False)
    heard = sum(p.votes.values())
    status = f"first answer in {result.seconds:.2f} s" + (
        f" from {heard} of its {p.n_segments} windows; the rest is being heard" if result.job is not None else "")
    early = result.early_inputs
    if early:  # a recording: the networks ran on what had arrived before "Stop"
        status += f"; {early} network input{'s' if early > 1 else ''} computed while you recorded"
    st.markdown(f"Your song · {text.genre_readout(result)} · {p.duration_s:.0f} s "
                f"({status})")
    if predictor:
        st.caption(f"The genre comes from the {predictor} (Model page: every candidate).")
    if getattr(result, "note", None):
        st.caption(f"Note: {result.note}.")
    windows = p.trajectory or []
    start = 0.0
    if len(windows) >= 2:
        by_start = {float(w["start_s"]): w for w in windows}
        starts = sorted({0.0, *by_start})  # a first answer heard windows from 0:05 on: the player still starts at 0
        key = jump_key(item)
        if key in st.session_state and st.session_state[key] not in starts:
            del st.session_state[key]  # a stale value (the song was placed again) must not break the slider
        start = st.select_slider(text.JUMP_LABEL, starts, key=key,
                                 format_func=lambda s: window_label(by_start[s]) if s in by_start else "0:00 · start",
                                 on_change=_autoplay, args=(item,))
    _play(audio, start, item, "song")
    if len(windows) >= 2:
        st.plotly_chart(timeline_figure(windows, genre_colours(labels), item, result.name, current=start),
                        config=CONFIG, theme=None, key=TIMELINE_CHART,
                        on_select=partial(on_window_click, TIMELINE_CHART), selection_mode="points")
        st.caption(text.TRAJECTORY_HELP)
    if getattr(p, "thumbnail", None) is not None:
        st.plotly_chart(track_view.spectrogram_figure(p.thumbnail, p.duration_s,
                                                      title="What the network sees: the spectrogram"),
                        config=CONFIG, theme=None, key="detail_spectrogram")
    st.plotly_chart(track_view.probability_figure(p.probabilities, labels), config=CONFIG, theme=None,
                    key="detail_probabilities")
