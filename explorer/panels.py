"""The detail panel beside the map (Streamlit): one clip or uploaded song.

What it is, a player when the audio is on this computer, what the network sees
and hears, and the clips it sounds like in the current embedding. Figures and
tables come from ``track_view``; this module only lays them out.
"""
from __future__ import annotations

import streamlit as st

from . import track_view
from .map_view import SPLIT_NAMES
from .plotting import CONFIG


def show_neighbours(neighbours: list, embedding: str) -> None:
    st.markdown(f"**Sounds like** — the {len(neighbours)} closest clips in the *{embedding}* layer "
                "(cosine similarity, 1 = same direction)")
    st.dataframe(track_view.neighbour_frame(neighbours), width="stretch",
                 column_config={"similarity": st.column_config.NumberColumn(format="%.3f")})


def show_track(bundle, name: str, track_id: str, embedding: str, get_placer) -> None:
    """A bundle clip; ``get_placer`` gives the shared Placer (for its neighbours)."""
    i = track_view.track_index(bundle, track_id)
    row = bundle.tracks.iloc[i]
    st.subheader(track_id)
    st.markdown(f"{name}  \nReal genre **{row['genre']}** · the model says **{row['predicted']}** "
                f"({float(row['confidence']):.0%}) · {SPLIT_NAMES.get(row['split'], row['split'])}")
    audio = track_view.audio_file(bundle, i)
    if audio is not None:
        try:
            st.audio(**track_view.audio_for_player(audio))
        except Exception as e:  # an unreadable file must not take the panel down
            st.caption(f"The audio of this clip could not be played ({type(e).__name__}).")
    else:
        st.caption("The audio of this clip is not on this computer.")
    st.plotly_chart(track_view.spectrogram_figure(bundle.arrays["thumbnails"][i], track_view.track_seconds(bundle, i),
                                                  title="What the network sees: the spectrogram"),
                    config=CONFIG, theme=None, key="detail_spectrogram")
    st.plotly_chart(track_view.probability_figure(track_view.track_probabilities(bundle, i), bundle.labels),
                    config=CONFIG, theme=None, key="detail_probabilities")
    try:
        with st.spinner("Loading the model…"):
            placer = get_placer()
    except Exception as e:
        st.warning(f"The model could not be loaded, so no neighbours: {type(e).__name__}: {e}")
        return
    show_neighbours(placer.neighbours(embedding, bundle.vectors(embedding)[i], k=5, exclude=track_id), embedding)


def show_song(result, labels, embedding: str) -> None:
    """An uploaded song (an ``upload.UploadResult`` that was placed)."""
    p = result.placement
    st.subheader(f"★ {result.name}")
    st.markdown(f"Your song · the model says **{p.genre}** ({p.probabilities[p.genre]:.0%}) · "
                f"{p.duration_s:.0f} s in {p.n_segments} windows, placed in {result.seconds:.2f} s")
    st.plotly_chart(track_view.probability_figure(p.probabilities, labels), config=CONFIG, theme=None,
                    key="detail_probabilities")
    show_neighbours(p.maps[embedding]["neighbours"], embedding)
