"""What a song's windows say about its genre: the vote, the readout, and which windows to hear first.

A whole song is heard as overlapping 10 s windows, and its windows may not
agree: a rock ballad's piano intro sounds classical, its chorus pop. The
song's genre alone ("classical 17 %") then reads as an answer when it is
not one. So the genre (the bundle's predictor on the song's mean vectors,
the reader its cross-validation chose) is reported with how many windows
choose it and the most chosen other genre when it is close:
"pop — 24 of 42 windows; classical 11", or "jazz — 3 of 11 windows; reggae 7".

The first answer to a dropped-in song is computed from a fixed budget of
windows spread evenly over it (``budget_windows``), so it costs the same
for a 30 s clip and a 5-minute song; the rest of the windows follow.
``benchmarks/window_budget.py`` chose the budget: the fewest windows whose
genre agrees with the whole song's.
"""
from __future__ import annotations

import numpy as np

FIRST_WINDOWS = 4  # the first answer's budget (benchmarks/window_budget.py)
CLOSE = 0.5  # a runner-up with at least this share of the winner's windows is named


def budget_windows(n_windows: int, k: int = FIRST_WINDOWS) -> np.ndarray:
    """Indices of ``k`` windows spread evenly over ``n_windows`` (all of them when ``n_windows <= k``).

    Each index is the middle window of one of ``k`` equal stretches of the song,
    so the first answer hears its beginning, middle and end alike.
    """
    if n_windows <= k:
        return np.arange(n_windows)
    return np.unique(((np.arange(k) + 0.5) * n_windows / k).astype(np.int64))


def window_votes(window_probabilities: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_labels,) how many windows choose each genre (their argmax)."""
    p = np.atleast_2d(np.asarray(window_probabilities))
    return np.bincount(np.argmax(p, axis=1), minlength=n_labels) if len(p) else np.zeros(n_labels, np.int64)


def readout(genre: str, votes: dict, n_windows: int) -> str:
    """'pop — 24 of 42 windows; classical 11' (the runner-up only when close); 'pop' for one window.

    The runner-up is the other genre most windows choose; it is named when it has at least ``CLOSE``
    times the genre's windows (so always when the windows choose it more often than the genre).
    """
    if n_windows <= 1:
        return genre
    ranked = sorted(((n, g) for g, n in votes.items() if g != genre and n > 0), reverse=True)
    text = f"{genre} — {votes.get(genre, 0)} of {n_windows} windows"
    if ranked and ranked[0][0] >= CLOSE * max(votes.get(genre, 0), 1):
        text += f"; {ranked[0][1]} {ranked[0][0]}"
    return text
