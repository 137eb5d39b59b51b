"""'Sounds like': the clips nearest to a song or a clip, why, and how the answer depends on the layer.

Neighbours come from the shared Placer (``placer.neighbours``: cosine similarity
against every bundle track in one embedding). Everything else here is plain
frames, figures and sentences over those lists, so it is tested without Streamlit.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .map_view import display_name
from .palette import genre_colours
from .plotting import base_layout, figure

COMPARE_K = 5  # the side-by-side comparison always uses the top 5 of every layer


def track_vectors(bundle, index: int) -> dict:
    """A bundle track's vector in every embedding."""
    return {e: bundle.vectors(e)[index] for e in bundle.embeddings}


def song_vectors(placement, embeddings) -> dict:
    """An uploaded song's mean vector in every embedding (its overall placement)."""
    return {e: placement.vectors[e] for e in embeddings if e in placement.vectors}


def neighbour_lists(placer, vectors: dict, k: int, exclude: str | None = None) -> dict:
    """embedding → the k most similar bundle tracks (``placer.neighbours``), best first."""
    return {e: placer.neighbours(e, v, k=k, exclude=exclude) for e, v in vectors.items()}


def ranked_frame(neighbours: list, on_disk=None) -> pd.DataFrame:
    """The ranked list: similarity, genre, artist – title, clip id and whether it can be played here."""
    on_disk = on_disk or {}
    return pd.DataFrame({
        "similarity": [float(n["similarity"]) for n in neighbours],
        "genre": [n["genre"] for n in neighbours],
        "artist – title": [display_name(n.get("artist"), n.get("title")) for n in neighbours],
        "clip": [n["track_id"] for n in neighbours],
        "listen": ["▶ below" if on_disk.get(n["track_id"]) else "not on this computer" for n in neighbours],
    }, index=pd.RangeIndex(1, len(neighbours) + 1, name="rank"))


def why_frame(probabilities: dict, neighbours: list, labels) -> pd.DataFrame:
    """Per genre: what the model hears (probability) and the share of the neighbours with that genre.

    Genres with neither are left out; rows are sorted by the larger of the two.
    """
    counts = Counter(n["genre"] for n in neighbours)
    k = max(len(neighbours), 1)
    rows = [{"genre": g, "the model hears": float(probabilities.get(g, 0.0)), "nearest clips": counts.get(g, 0) / k,
             "clips": counts.get(g, 0)} for g in labels]
    frame = pd.DataFrame(rows, columns=["genre", "the model hears", "nearest clips", "clips"])
    keep = (frame["the model hears"] >= 0.01) | (frame["clips"] > 0)
    frame = frame[keep]
    strongest = np.maximum(frame["the model hears"].to_numpy(), frame["nearest clips"].to_numpy())
    order = np.argsort(-strongest, kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def why_figure(frame: pd.DataFrame, labels, height: int = 330):
    """Two bars per genre: the model's probability (solid) and the neighbours' share (striped)."""
    colours = genre_colours(labels)
    genres = frame["genre"].tolist()[::-1]  # plotly draws bottom-up: largest on top
    model = frame["the model hears"].tolist()[::-1]
    near = frame["nearest clips"].tolist()[::-1]
    counts = frame["clips"].tolist()[::-1]
    k = max(int(frame["clips"].sum()), 1)
    bar_colours = [colours.get(g, "#888888") for g in genres]
    traces = [
        dict(type="bar", orientation="h", name="the model hears", y=genres, x=model, marker=dict(color=bar_colours),
             hovertemplate="%{y}: the model gives %{x:.0%}<extra></extra>", meta=dict(kind="why_model"),
             showlegend=False, offsetgroup="model"),
        dict(type="bar", orientation="h", name="its nearest clips", y=genres, x=near,
             marker=dict(color="white", line=dict(color=bar_colours, width=2),
                         pattern=dict(shape="/", fgcolor=bar_colours, solidity=0.4)),
             customdata=[[c, k] for c in counts],
             hovertemplate="%{y}: %{customdata[0]} of the %{customdata[1]} nearest clips<extra></extra>",
             meta=dict(kind="why_neighbours"), showlegend=False, offsetgroup="neighbours"),
    ]
    # legend-only twins in grey: the real bars take each genre's colour
    traces += [dict(type="bar", orientation="h", name="the model hears", x=[None], y=[None],
                    marker=dict(color="#666666"), meta=dict(kind="legend"), offsetgroup="model"),
               dict(type="bar", orientation="h", name="its nearest clips", x=[None], y=[None],
                    marker=dict(color="white", line=dict(color="#666666", width=2),
                                pattern=dict(shape="/", fgcolor="#666666", solidity=0.4)), meta=dict(kind="legend"),
                    offsetgroup="neighbours")]
    layout = base_layout(height=height, barmode="group", title=dict(text="The model vs. the neighbours"),
                         xaxis=dict(range=[0, 1.05], tickformat=".0%", showgrid=True),
                         yaxis=dict(showgrid=False, automargin=True),
                         legend=dict(orientation="h", x=0, y=-0.12, yanchor="top"),
                         margin=dict(l=10, r=10, t=40, b=10))
    return figure(traces, layout)


def why_sentence(probabilities: dict, neighbours: list, embedding: str, real_genre: str | None = None) -> str:
    """One or two plain sentences comparing the model's guess with the neighbours' genres."""
    if not neighbours:
        return "There are no other clips to compare with."
    k = len(neighbours)
    counts = Counter(n["genre"] for n in neighbours)
    guess = max(probabilities, key=probabilities.get)
    ranked = sorted(probabilities, key=probabilities.get, reverse=True)
    top_n, c_top = counts.most_common(1)[0]
    layer = f"the *{embedding}* layer"
    if c_top == counts.get(guess, 0):  # the guess is (one of) the most common neighbour genres
        text = (f"The model hears **{guess}** ({probabilities[guess]:.0%}), and {counts[guess]} of the {k} nearest "
                f"clips in {layer} are {guess} too: the neighbourhood agrees with the model.")
    else:
        text = (f"The model hears **{guess}** ({probabilities[guess]:.0%}), but in {layer} the nearest clips are "
                f"mostly **{top_n}** ({c_top} of {k}; {guess}: {counts.get(guess, 0)}).")
        if len(ranked) > 1 and ranked[1] == top_n:
            text += f" {top_n.capitalize()} is the model's second guess ({probabilities[top_n]:.0%}): it hears both."
        else:
            text += " The decision and the neighbourhood tell different stories here."
    if real_genre is not None:
        same = counts.get(real_genre, 0)
        text += f"  \nIts real genre is **{real_genre}**; {same} of the {k} neighbours share it."
    return text


def cell(n: dict) -> str:
    return f"{n['track_id']} ({n['genre']})" if not n["track_id"].startswith(n["genre"] + ".") else n["track_id"]


def comparison_frame(lists: dict, genre: str | None, current: str, k: int = COMPARE_K) -> pd.DataFrame:
    """Top-k per embedding side by side, then how many share ``genre`` and the current layer's list."""
    tops = {e: ns[:k] for e, ns in lists.items()}
    base = {n["track_id"] for n in tops.get(current, [])}
    rows = {str(r + 1): [cell(ns[r]) if r < len(ns) else "" for ns in tops.values()] for r in range(k)}
    if genre is not None:
        rows[f"{genre} clips"] = [f"{sum(n['genre'] == genre for n in ns)} of {len(ns)}" for ns in tops.values()]
    rows[f"also in the {current} list"] = [f"{len(base & {n['track_id'] for n in ns})} of {len(ns)}"
                                           for ns in tops.values()]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(tops))
    frame.index.name = "rank"
    return frame


def overlap_frame(lists: dict, k: int = COMPARE_K) -> pd.DataFrame:
    """How many of their top-k clips two layers share (the diagonal is k)."""
    sets = {e: {n["track_id"] for n in ns[:k]} for e, ns in lists.items()}
    names = list(sets)
    return pd.DataFrame([[len(sets[a] & sets[b]) for b in names] for a in names], index=names, columns=names)


def overlap_sentence(lists: dict, current: str, k: int = COMPARE_K) -> str:
    """'The deep list shares 3 of 5 clips with shallow, 1 with immediate and 0 with none.'"""
    over = overlap_frame(lists, k)
    if current not in over.index or len(over) < 2:
        return ""
    others = [f"{int(over.loc[current, e])} with *{e}*" for e in over.columns if e != current]
    joined = ", ".join(others[:-1]) + (" and " if len(others) > 1 else "") + others[-1]
    return f"The *{current}* top {k} shares {joined}."
