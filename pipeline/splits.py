"""Leakage-free splits: by track always, by artist where the metadata allows.

Segments never straddle splits because splits are made over tracks and every
segment inherits its track's split. Grouping by artist keeps an artist's
tracks together; a genre with too few known artists (in the shared partial
GTZAN, all blues is John Lee Hooker and all reggae Bob Marley) falls back to
track grouping for that genre, because otherwise the genre could not appear
in training at all. Which genres fell back is recorded and reported.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

SPLITS = ("train", "val", "test")


class LeakageError(AssertionError):
    """A track or an artist appears in more than one split."""


def split_groups(track_ids, genres, artists, min_artists: int = 3):
    """Grouping key per track: its artist where usable, else the track itself.

    Parameters
    ----------
    artists : per-track artist name or None/"" when unknown.
    min_artists : a genre is grouped by artist only if it has at least this
        many distinct known artists (3 lets train, val and test each hold one).

    Returns
    -------
    groups : np.ndarray of str
    fallback_genres : sorted list of genres grouped by track instead.
    """
    genres = np.asarray(genres)
    known = {g: {a for a, gg in zip(artists, genres) if gg == g and a} for g in set(genres)}
    fallback = sorted(g for g, a in known.items() if len(a) < min_artists)
    groups = np.array(
        [f"artist:{a}" if a and g not in fallback else f"track:{t}" for t, g, a in zip(track_ids, genres, artists)]
    )
    return groups, fallback


def _group_folds(genres, groups, n_folds, seed):
    with warnings.catch_warnings():  # small genres: sklearn warns, the folds are still valid
        warnings.simplefilter("ignore", UserWarning)
        cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(cv.split(np.zeros(len(genres)), genres, groups))


def split_tracks(genres, groups, seed: int, test_fraction: float = 0.2, val_fraction: float = 0.15) -> np.ndarray:
    """Assign every track to "train", "val" or "test", stratified by genre, whole groups at a time.

    Per genre (in a seeded random order of its groups), test and then val take
    the groups that bring them closest to their share of the genre's tracks,
    at least one group each, while at least one group is always left for
    train. A genre with fewer than three groups cannot fill all three splits;
    it keeps train first, then test. Groups spanning genres go where their
    first genre puts them.

    Returns
    -------
    np.ndarray of str, one split name per track.
    """
    genres, groups = np.asarray(genres), np.asarray(groups)
    rng = np.random.default_rng(seed)
    split = np.full(len(genres), "", dtype=object)
    for genre in sorted(set(genres)):
        in_genre = genres == genre
        free = [g for g in dict.fromkeys(groups[in_genre]) if not split[groups == g][0]]
        free = [free[i] for i in rng.permutation(len(free))]
        size = {g: int(np.sum(in_genre & (groups == g))) for g in free}
        n = int(in_genre.sum())
        for name, fraction in (("test", test_fraction), ("val", val_fraction)):
            target, count = max(1.0, fraction * n), 0
            while len(free) > 1 and (count == 0 or count < target - 0.5):
                best = min(free, key=lambda g: abs(count + size[g] - target))  # ties: first in seeded order
                if count and abs(count + size[best] - target) >= abs(count - target):
                    break
                split[groups == best] = name
                count += size[best]
                free.remove(best)
        for g in free:
            split[groups == g] = "train"
    return split.astype(str)


def cv_folds(genres, groups, n_folds: int = 5, seed: int = 0):
    """Stratified, grouped K-fold over tracks: list of (train_idx, test_idx)."""
    return _group_folds(np.asarray(genres), np.asarray(groups), n_folds, seed)


def audit_leakage(split, track_ids, groups, artists=None) -> dict:
    """Check that no track and no artist-group spans two splits.

    Raises
    ------
    LeakageError if a track id or an artist group is in more than one split.

    Returns
    -------
    dict : counts per split and the artists that straddle splits only because
        their genre fell back to track grouping (a stated caveat, not a leak).
    """
    split = np.asarray(split)
    seen: dict[str, set] = {}
    for t, s in zip(track_ids, split):
        seen.setdefault(t, set()).add(s)
    dup = [t for t, s in seen.items() if len(s) > 1]
    if dup:
        raise LeakageError(f"tracks in several splits: {dup[:5]}")
    by_group: dict[str, set] = {}
    for g, s in zip(groups, split):
        by_group.setdefault(g, set()).add(s)
    leaks = [g for g, s in by_group.items() if g.startswith("artist:") and len(s) > 1]
    if leaks:
        raise LeakageError(f"artists in several splits: {leaks[:5]}")
    straddling = []
    if artists is not None:
        by_artist: dict[str, set] = {}
        for a, s in zip(artists, split):
            if a:
                by_artist.setdefault(a, set()).add(s)
        straddling = sorted(a for a, s in by_artist.items() if len(s) > 1)
    return {
        "counts": {s: int(np.sum(split == s)) for s in SPLITS},
        "artists_across_splits": straddling,
    }
