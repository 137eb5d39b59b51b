"""Leakage-free splits: by track always, by artist where the metadata allows.

Segments never straddle splits because splits are made over tracks and every
segment inherits its track's split. Grouping by artist keeps an artist's
tracks together; a genre with too few known artists falls back to track
grouping for that genre, because otherwise the genre could not appear in
training at all. Which genres fell back is recorded and reported.

Repeated recordings (the same audio under two ids, Sturm 2013) are grouped
like one artist under every grouping, track-level included: otherwise one
copy is trained on and the other "predicted". Sturm's metadata
(``tracks.csv``) has no repetition column, so the pairs come from a small
table (``REPEATED_RECORDINGS``: the exact repetitions of his fault list that
the shared data README names) plus any two tracks of one genre that the
metadata gives the same artist and title (which also catches the repetitions
of the full GTZAN when a user has it).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from .errors import LeakageError

SPLITS = ("train", "val", "test")

# Exact repetitions in GTZAN (Sturm 2013, arXiv:1306.1461, Table 2) that the
# shared partial copy holds, as listed in ../shared/data/gtzan/README.md.
REPEATED_RECORDINGS = (
    ("disco.00098", "disco.00099"),
    ("reggae.00081", "reggae.00082"),
    ("pop.00015", "pop.00022"),
    ("pop.00030", "pop.00031"),
    ("pop.00047", "pop.00080"),
    ("pop.00052", "pop.00057"),
)


def repeated_recordings(track_ids, genres=None, artists=None, titles=None) -> list[tuple[str, str]]:
    """Pairs of track ids that are (or may be) the same recording, both present.

    Parameters
    ----------
    track_ids : ids of the tracks at hand.
    genres, artists, titles : per-track metadata (None/"" when unknown); two
        tracks of one genre with the same known artist and the same known title
        are treated as a repetition too.

    Returns
    -------
    list of (id, id), each pair once, in a stable order.
    """
    present = set(track_ids)
    pairs = [p for p in REPEATED_RECORDINGS if p[0] in present and p[1] in present]
    if genres is not None and artists is not None and titles is not None:
        first: dict[tuple, str] = {}
        for t, g, a, ti in zip(track_ids, genres, artists, titles):
            if a and ti:
                key = (g, a.casefold(), ti.casefold())
                if key in first:
                    pairs.append(tuple(sorted((first[key], t))))
                else:
                    first[key] = t
    return sorted(set(pairs))


def merge_repeats(groups, track_ids, pairs) -> np.ndarray:
    """Put both tracks of every repeated pair into one group (union of their groups).

    A merged group keeps an ``artist:`` name when one of its parts had one (it
    is still artist-grouped), else it is named ``repeat:<ids>``.
    """
    groups = np.asarray(groups, dtype=object).copy()
    where = {t: i for i, t in enumerate(track_ids)}
    parent = {g: g for g in groups}

    def root(g):
        while parent[g] != g:
            g = parent[g]
        return g

    for a, b in pairs:
        ra, rb = root(groups[where[a]]), root(groups[where[b]])
        if ra != rb:
            keep, drop = sorted((ra, rb), key=lambda g: (not g.startswith("artist:"), g))
            parent[drop] = keep
    merged = np.array([root(g) for g in groups], dtype=object)
    for a, b in pairs:  # two track groups joined: name the group after the recording
        g = merged[where[a]]
        if g.startswith("track:"):
            merged[merged == g] = "repeat:" + "+".join(sorted(track_ids[i] for i in np.flatnonzero(merged == g)))
    return merged.astype(str)


def track_groups(track_ids, genres=None, artists=None, titles=None) -> np.ndarray:
    """Track-level grouping key: the track itself, repeated recordings merged."""
    track_ids = list(track_ids)
    pairs = repeated_recordings(track_ids, genres, artists, titles)
    return merge_repeats([f"track:{t}" for t in track_ids], track_ids, pairs)


def split_groups(track_ids, genres, artists, min_artists: int = 3, titles=None):
    """Grouping key per track: its artist where usable, else the track itself; repeats merged.

    Parameters
    ----------
    artists : per-track artist name or None/"" when unknown.
    min_artists : a genre is grouped by artist only if it has at least this
        many distinct known artists (3 lets train, val and test each hold one;
        2 is enough for K-fold cross-validation).
    titles : per-track titles (optional), to find repetitions beyond the table.

    Returns
    -------
    groups : np.ndarray of str
    fallback_genres : sorted list of genres grouped by track instead.
    """
    track_ids, genres = list(track_ids), np.asarray(genres)
    known = {g: {a for a, gg in zip(artists, genres) if gg == g and a} for g in set(genres)}
    fallback = sorted(g for g, a in known.items() if len(a) < min_artists)
    groups = [f"artist:{a}" if a and g not in fallback else f"track:{t}" for t, g, a in zip(track_ids, genres, artists)]
    return merge_repeats(groups, track_ids, repeated_recordings(track_ids, genres, artists, titles)), fallback


def grouping_line(kind: str, fallback, min_artists: int) -> str:
    """One line saying how CV groups were formed (stored with every CV result)."""
    repeats = "repeated recordings grouped together"
    if kind == "track":
        return f"track ({repeats})"
    fell = f"; {', '.join(fallback)} by track (fewer than {min_artists} known artists)" if fallback else ""
    return (f"artist where a genre has >= {min_artists} known artists, tracks of unknown artist alone"
            f"{fell}; {repeats}")


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
    """Check that no track, artist group or repeated recording spans two splits.

    Raises
    ------
    LeakageError if a track id, an artist group or a pair of
    ``REPEATED_RECORDINGS`` is in more than one split.

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
    where = dict(zip(track_ids, split))
    torn = [p for p in repeated_recordings(list(track_ids)) if where[p[0]] != where[p[1]]]
    if torn:
        raise LeakageError(f"repeated recordings in several splits: {torn[:5]}")
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
