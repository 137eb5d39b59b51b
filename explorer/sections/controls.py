"""The view's controls (Streamlit): which network, which layer, how to colour the dots.

Each writes one session key of ``explorer.keys`` (the same key on every page
that draws it, so the choice follows the user from page to page). ``rerun``
names the fragments a change reruns instead of the whole page (a keyed
``st.rerun`` from the control's callback), e.g. the map and "sounds like" for
a layer on the Map page.
"""
from __future__ import annotations

import streamlit as st

from pipeline.networks import split_key

from .. import keys, session, text
from ..views.map_view import COLOUR_MODES


def network_picker(bundle) -> str:
    """The network selector when the bundle holds more than one; returns the current network.

    A new network changes the layer control's options, so it reruns the whole page.
    """
    networks = list(bundle.networks)
    if len(networks) > 1:
        st.selectbox("Which network?", networks, key=keys.NETWORK, format_func=text.network_title,
                     on_change=session.switch_network, help=text.NETWORK_HELP)
    return st.session_state[keys.NETWORK]


def layer_picker(bundle, rerun=None) -> str:
    """The layers of the current network, by their layer names; returns the embedding key.

    What each layer is (and what the paper found) is in the control's help and under the map.
    """
    layers = bundle.networks[st.session_state[keys.NETWORK]]
    return st.radio("Which layer of the network?", layers, key=keys.EMBEDDING, horizontal=True,
                    format_func=lambda e: split_key(e)[1], **_rerun(rerun),
                    help="\n\n".join(f"**{split_key(e)[1]}** — {text.layer_caption(e, dim(bundle, e))}"
                                       for e in layers))


def colour_picker(rerun=None) -> str:
    return st.selectbox("Colour the dots by", list(COLOUR_MODES), key=keys.COLOUR, format_func=COLOUR_MODES.get,
                        **_rerun(rerun))


def _rerun(fragments) -> dict:
    """on_change arguments that rerun only ``fragments`` (none: Streamlit's default rerun)."""
    return dict(on_change=session.rerun_fragments, args=(tuple(fragments),)) if fragments else {}


def dim(bundle, embedding: str) -> int | None:
    """How many numbers an embedding has per clip (from bundle.json)."""
    return bundle.meta["embeddings"].get(embedding, {}).get("dim")
