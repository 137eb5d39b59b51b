"""Which reader of the features gives a song its genre: every candidate scored on the same grouped CV folds.

Candidates, per network: its trained head (out-of-fold probabilities from
``evaluate.cross_validate``), a class-weighted logistic probe on the track
vectors of its ``immediate`` layer, and the k nearest tracks by cosine on the
same vectors (k chosen by an inner CV inside each training fold); and both
networks together: the probes' (or the neighbours') probabilities averaged
with a weight chosen by an inner CV inside each training fold, never on the
fold that scores it. Every candidate is fitted and applied to track vectors
as the bundle stores them (the wide layers in float16), so what is scored is
what ``place`` applies.

The predictor is the best candidate by balanced accuracy, except that a
simpler one whose paired per-fold difference to the best is within one
standard error wins (``choose``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .evaluate import summarize_scores
from .predictor import Blend, Head, Neighbours, Probe, title
from .splits import cv_folds
from .train import scores

K_GRID = (1, 3, 5, 7, 9, 15)
WEIGHT_GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
PROBE_C = 0.5  # the inverse regularisation of the window-level probe beside the heads (evaluate.py)
SIMPLICITY = {"neighbours": 0, "probe": 1, "head": 2, "blend": 3}  # within noise, the lower wins


@dataclass
class Folds:
    """The data every candidate is scored on: track vectors, labels and the grouping of the folds."""

    vectors: dict  # embedding key → (n_tracks, dim) float32 (as stored)
    y: np.ndarray
    genres: np.ndarray
    groups: np.ndarray
    n_labels: int
    n_folds: int
    seed: int
    repeats: int

    def outer(self, repeat: int) -> list:
        """The folds of one repeat: the same call (and seed) as ``evaluate.cross_validate``."""
        return cv_folds(self.genres, self.groups, self.n_folds, self.seed + repeat)

    def inner(self, train: np.ndarray, repeat: int) -> list:
        """Folds inside ``train`` (global indices), grouped the same way: where k and weights are chosen."""
        try:
            folds = cv_folds(self.genres[train], self.groups[train], self.n_folds, self.seed + 100 + repeat)
        except ValueError:  # a tiny collection: too few groups of a genre here to stratify; group folds alone
            from sklearn.model_selection import GroupKFold

            k = min(self.n_folds, len(np.unique(self.groups[train])))
            if k < 2:  # one group: choose on the training tracks themselves (the outer test fold stays unseen)
                return [(train, train)]
            folds = list(GroupKFold(k).split(train, groups=self.groups[train]))
        return [(train[a], train[b]) for a, b in folds]


def balanced(y, p) -> float:
    return scores(y, p.argmax(1))["balanced_accuracy"]


def fit_probe(X: np.ndarray, y: np.ndarray, n_labels: int, embedding: str, seed: int = 0) -> Probe:
    """A class-weighted logistic regression on standardised vectors, as a numpy ``Probe``."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    mean, scale = X.mean(0), X.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    if len(np.unique(y)) < 2:  # a tiny inner fold with one genre: that genre, always
        intercept = np.full(n_labels, -1e9)
        intercept[y[0]] = 0.0
        return Probe(embedding, mean, scale, np.zeros((n_labels, X.shape[1])), intercept)
    with threadpool_limits(limits=1, user_api="blas"):
        clf = LogisticRegression(C=PROBE_C, max_iter=3000, random_state=seed, class_weight="balanced")
        clf.fit((X - mean) / scale, y)
    coef = np.zeros((n_labels, X.shape[1]))
    intercept = np.full(n_labels, -1e9)  # a genre absent from the training tracks is never predicted
    coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # binary: sklearn keeps one row for the second class
        coef[clf.classes_] = np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        intercept[clf.classes_] = [-clf.intercept_[0] / 2, clf.intercept_[0] / 2]
    # as predictor.safetensors stores them (float32), so the build's own numbers are what place computes
    return Probe(embedding, *(np.asarray(a, np.float32).astype(np.float64) for a in (mean, scale, coef, intercept)))


def probe_fold(data: Folds, embedding: str) -> Callable:
    """(train, test, repeat) → the probe fitted on ``train``'s vectors, applied to ``test``'s."""
    X = data.vectors[embedding]

    def run(train, test, repeat):
        probe = fit_probe(X[train], data.y[train], data.n_labels, embedding, data.seed + repeat)
        return probe.predict({embedding: X[test]}, {})
    return run


def choose_k(data: Folds, embedding: str, train: np.ndarray, repeat: int) -> int:
    """The k of ``K_GRID`` with the best balanced accuracy over inner folds of ``train`` (ties: the smaller)."""
    X = data.vectors[embedding]
    oof = {k: np.zeros((len(data.y), data.n_labels)) for k in K_GRID}
    inner = data.inner(train, repeat)
    for tr, te in inner:
        for k in K_GRID:
            oof[k][te] = Neighbours(embedding, k, X[tr], data.y[tr], data.n_labels).predict({embedding: X[te]}, {})
    held = np.concatenate([te for _, te in inner])
    return max(K_GRID, key=lambda k: (balanced(data.y[held], oof[k][held]), -k))


def neighbours_fold(data: Folds, embedding: str) -> Callable:
    """(train, test, repeat) → k chosen inside ``train``, then ``test``'s k nearest among ``train``'s tracks."""
    X = data.vectors[embedding]

    def run(train, test, repeat):
        k = choose_k(data, embedding, train, repeat)
        return Neighbours(embedding, k, X[train], data.y[train], data.n_labels).predict({embedding: X[test]}, {})
    return run


def choose_weight(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """The weight w of ``WEIGHT_GRID`` for ``b`` in (1 - w) a + w b with the best balanced accuracy (ties: 0.5's)."""
    return max(WEIGHT_GRID, key=lambda w: (balanced(y, (1 - w) * a + w * b), -abs(w - 0.5)))


def blend_fold(data: Folds, parts: list[Callable]) -> Callable:
    """(train, test, repeat) → two parts averaged with a weight chosen on inner folds of ``train`` only."""
    first, second = parts

    def run(train, test, repeat):
        inner = data.inner(train, repeat)
        held = np.concatenate([te for _, te in inner])
        a = np.concatenate([first(tr, te, repeat) for tr, te in inner])
        b = np.concatenate([second(tr, te, repeat) for tr, te in inner])
        w = choose_weight(data.y[held], a, b)
        return (1 - w) * first(train, test, repeat) + w * second(train, test, repeat)
    return run


def out_of_fold(data: Folds, run: Callable) -> np.ndarray:
    """(repeats, n_tracks, n_labels): each track's probabilities from the model of the fold that held it out."""
    oof = np.full((data.repeats, len(data.y), data.n_labels), np.nan)
    for r in range(data.repeats):
        for train, test in data.outer(r):
            oof[r, test] = run(train, test, r)
    return oof


def fold_summary(data: Folds, oof: np.ndarray) -> dict:
    """Per-fold scores of out-of-fold probabilities on the outer folds: ``{score: {"mean", "std", "folds"}}``."""
    return summarize_scores([scores(data.y[te], oof[r, te].argmax(1))
                             for r in range(data.repeats) for _, te in data.outer(r)])


def candidate_oofs(data: Folds, networks: list[str], heads_oof: dict) -> dict:
    """name → (kind, networks, out-of-fold probabilities) for every candidate, on the same outer folds."""
    from .networks import embedding_key

    out = {}
    for net in networks:
        emb = embedding_key(net, "immediate")
        out[title("head", [net])] = ("head", [net], heads_oof[net])
        out[title("probe", [net])] = ("probe", [net], out_of_fold(data, probe_fold(data, emb)))
        out[title("neighbours", [net])] = ("neighbours", [net], out_of_fold(data, neighbours_fold(data, emb)))
    if len(networks) == 2:
        for kind, make in (("probe", probe_fold), ("neighbours", neighbours_fold)):
            parts = [make(data, embedding_key(net, "immediate")) for net in networks]
            out[title(kind, networks)] = ("blend", list(networks), out_of_fold(data, blend_fold(data, parts)))
    return out


def paired(a: list, b: list) -> dict:
    """Mean and standard error of the per-fold differences a - b (same folds)."""
    d = np.asarray(a) - np.asarray(b)
    se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    return {"mean": float(d.mean()), "se": se}


def choose(records: dict) -> tuple[str, str]:
    """The best candidate by mean balanced accuracy, or a simpler one within a standard error of it; and why."""
    folds = {n: r["balanced_accuracy"]["folds"] for n, r in records.items()}
    best = max(records, key=lambda n: records[n]["balanced_accuracy"]["mean"])
    near = [n for n in records if (d := paired(folds[n], folds[best]))["mean"] >= -d["se"]]
    pick = min(near, key=lambda n: (SIMPLICITY[records[n]["kind"]], -records[n]["balanced_accuracy"]["mean"]))
    if pick == best:
        return pick, "the highest balanced accuracy"
    return pick, (f"the simplest within one standard error of the best ({best}, "
                  f"{records[best]['balanced_accuracy']['mean']:.3f})")


def deployed(data: Folds, name: str, kind: str, networks: list, oofs: dict) -> tuple[object, dict, dict]:
    """The chosen candidate fitted on every track: (predictor, its bundle.json description, its tensors)."""
    from .networks import embedding_key

    everything = np.arange(len(data.y))
    if kind == "head":
        return Head(networks[0], name), {"kind": "head", "network": networks[0]}, {}
    if kind in ("probe", "neighbours"):
        emb = embedding_key(networks[0], "immediate")
        if kind == "probe":
            probe = fit_probe(data.vectors[emb], data.y, data.n_labels, emb, data.seed)
            return probe, {"kind": "probe", "embedding": emb, "tensors": f"probe/{emb}"}, probe.tensors(f"probe/{emb}")
        k = choose_k(data, emb, everything, 0)
        model = Neighbours(emb, k, data.vectors[emb], data.y, data.n_labels)
        return model, {"kind": "neighbours", "embedding": emb, "k": k}, {}
    part_kind = "probe" if name.endswith("probes") else "neighbours"
    parts = [deployed(data, title(part_kind, [n]), part_kind, [n], oofs) for n in networks]
    a, b = (oofs[title(part_kind, [n])][2] for n in networks)
    w = choose_weight(np.tile(data.y, data.repeats), a.reshape(-1, data.n_labels), b.reshape(-1, data.n_labels))
    weights = [round(1 - w, 2), round(w, 2)]
    blend = Blend([(weights[i], parts[i][0]) for i in range(2)])
    spec = {"kind": "blend", "weights": weights, "parts": [p[1] for p in parts]}
    return blend, spec, {k: v for p in parts for k, v in p[2].items()}


def evaluate_candidates(data: Folds, networks: list[str], heads_oof: dict, grouping: str) -> dict:
    """Score every candidate, choose the predictor and fit it on every track.

    Returns
    -------
    dict : ``meta`` (bundle.json's ``genre_predictor``: grouping, folds, every candidate's scores and paired
        differences to the chosen one, the chosen one's description), ``predictor`` (ready to apply),
        ``tensors`` (for predictor.safetensors) and ``oof`` (candidate name → (repeats, n, n_labels)).
    """
    oofs = candidate_oofs(data, networks, heads_oof)
    records = {name: {"kind": kind, "networks": nets, **fold_summary(data, oof)}
               for name, (kind, nets, oof) in oofs.items()}
    pick, why = choose(records)
    for r in records.values():
        r["vs_chosen"] = paired(r["balanced_accuracy"]["folds"], records[pick]["balanced_accuracy"]["folds"])
    model, spec, tensors = deployed(data, pick, records[pick]["kind"], records[pick]["networks"], oofs)
    if spec["kind"] == "blend":
        pick_name = f"{pick} {spec['weights'][0]:.1f}/{spec['weights'][1]:.1f}"
    else:
        pick_name = pick + (f" (k = {spec['k']})" if spec["kind"] == "neighbours" else "")
    score = {"grouping": grouping, **records[pick]["balanced_accuracy"]}
    model.name, model.score = pick_name, score
    meta = {"grouping": grouping, "folds": data.n_folds, "repeats": data.repeats, "seed": data.seed,
            "candidates": records, "chosen": {**spec, "name": pick_name, "candidate": pick, "score": score},
            "reason": why}
    return {"meta": meta, "predictor": model, "tensors": tensors, "oof": {n: o for n, (_, _, o) in oofs.items()}}
