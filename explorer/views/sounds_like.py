"""'Sounds like': the clips nearest to a song or a clip, why, and how the answer depends on the layer.

Neighbours come from the shared Placer (``placer.neighbours``: cosine similarity
against every bundle track in one embedding). Everything else here is plain
frames, figures and sentences over those lists, so it is tested without Streamlit.
"""
from __future__ import annotations

import html
from collections import Counter

import numpy as np
import pandas as pd

from .map_view import display_name
from .palette import genre_colours

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


def why_bars(frame: pd.DataFrame, labels) -> str:
    """Two bars per genre as HTML: the model's probability (solid) and the neighbours' share (striped).

    Plain HTML rather than a Plotly chart: it changes with every layer switch, and a new Plotly chart
    cost the browser ~45 ms of a ~250 ms switch (bench_app.py --breakdown); these bars cost next to nothing.
    """
    colours = genre_colours(labels)
    k = max(int(frame["clips"].sum()), 1)
    rows = []
    for g, model, near, n in frame[["genre", "the model hears", "nearest clips", "clips"]].itertuples(index=False):
        c, name = colours.get(g, "#888888"), html.escape(str(g))
        rows.append(
            f'<div class="why-genre">{name}</div>'
            f'<div class="why-bars"><div class="why-model" title="{name}: the model gives {model:.0%}" '
            f'style="width:{100 * model:.1f}%;background:{c}"></div><span>{model:.0%}</span>'
            f'<div class="why-near" title="{name}: {n} of the {k} nearest clips" style="width:{100 * near:.1f}%;'
            f'border-color:{c};{"" if n else "border-width:0;"}'
            f'background:repeating-linear-gradient(45deg,{c}99 0 3px,#fff 3px 6px)"></div>'
            f"<span>{n} of {k}</span></div>")
    legend = ('<div class="why-legend"><i class="why-model" style="background:#666"></i> the model hears '
              '<i class="why-near" style="border-color:#666;background:repeating-linear-gradient(45deg,#6669 0 3px,'
              '#fff 3px 6px)"></i> its nearest clips</div>')
    return f"<style>{WHY_CSS}</style><div class='why'><b>The model vs. the neighbours</b>{legend}" \
           f"<div class='why-grid'>{''.join(rows)}</div></div>"


WHY_CSS = """.why{font-size:.95rem}.why-legend{margin:.2rem 0 .5rem;color:#555}
.why-legend i{display:inline-block;width:1.2em;height:.8em;margin:0 .2em 0 .6em;vertical-align:middle}
.why-grid{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .6rem;align-items:center}
.why-bars{display:grid;grid-template-columns:1fr 4.5em;row-gap:2px;align-items:center}
.why-bars span{font-size:.8rem;color:#444;padding-left:.3em}
.why-model,.why-near{height:.8em;min-width:1px;box-sizing:border-box}.why-near{border:2px solid}"""


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
