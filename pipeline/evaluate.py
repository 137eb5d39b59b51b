"""Repeated, grouped, stratified cross-validation of the head and of a reference probe.

The reference is the baseline: the same frozen backbone features with
class-weighted logistic regression, window probabilities averaged per track.
Every fold is scored by accuracy, balanced accuracy (mean per-genre recall)
and macro-F1, because the genres are imbalanced.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from .splits import cv_folds
from .train import SegmentFeatures, TrainConfig, fit_head, scores, track_probabilities

SCORES = ("accuracy", "balanced_accuracy", "macro_f1")


def logistic_probabilities(features: SegmentFeatures, labels, train, test, n_classes, seed,
                           class_weight: str | None = "balanced") -> np.ndarray:
    """Baseline: (class-weighted) logistic regression on clean window features, averaged per track."""
    X, t = features.select(train, with_augmented=False)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000, random_state=seed,
                                                             class_weight=class_weight))
    clf.fit(X, labels[t])
    Xt, tt = features.select(test, with_augmented=False)
    p = np.zeros((len(Xt), n_classes))
    p[:, clf.classes_] = clf.predict_proba(Xt)
    return np.stack([p[tt == i].mean(0) for i in test])


def summarize_scores(folds: list[dict]) -> dict:
    """{score: {"mean", "std", "folds"}} over per-fold ``scores`` dicts (the bundle's CV format)."""
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v}
            for k in SCORES for v in [[float(f[k]) for f in folds]]}


def fold_scores(features: SegmentFeatures, labels, genres, groups, n_classes: int, cfg: TrainConfig, n_folds: int,
                seed: int, repeat: int, train, test) -> tuple[dict, dict, np.ndarray]:
    """One fold: (head scores, logistic-probe scores, the head's probabilities) on the ``test`` tracks.

    The head early-stops on a validation part carved (by group) out of the
    fold's training tracks, so test tracks are never looked at. numpy's BLAS
    stays on one thread: these are small products, and extra BLAS threads cost
    far more than they gain when folds run side by side on shared cores
    (measured: the probe 8.6 s with two threads under load vs 0.1 s with one).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        inner_tr, inner_val = cv_folds(genres[train], groups[train], n_folds, seed + 100 + repeat)[0]
        head, _ = fit_head(features, labels, train[inner_tr], train[inner_val], n_classes, cfg, seed + repeat)
        X, t = features.select(test, with_augmented=False)
        p = track_probabilities(head, X, t, test)
        pb = logistic_probabilities(features, labels, train, test, n_classes, seed + repeat)
    return scores(labels[test], p.argmax(1)), scores(labels[test], pb.argmax(1)), p


def cross_validate(features: SegmentFeatures, labels, genres, groups, n_classes: int, cfg: TrainConfig,
                   seed: int = 0, n_folds: int = 5, repeats: int = 3, progress: bool = True, jobs: int = 1) -> dict:
    """Grouped K-fold CV (repeated with seeds seed..seed+repeats-1), head vs. logistic probe, same folds.

    Folds run in ``jobs`` worker processes (each fold is seeded on its own, so
    the result does not depend on ``jobs``).

    Returns
    -------
    dict : ``folds``, ``repeats``, ``seed`` and, for ``head`` and
        ``logistic_baseline``, ``{score: {"mean", "std", "folds": [...]}}`` for
        accuracy, balanced_accuracy and macro_f1; ``oof_head``: the head's
        out-of-fold probabilities, (repeats, n_tracks, n_classes), each row from
        the head of the one fold that held that track out.
    """
    labels, genres, groups = map(np.asarray, (labels, genres, groups))
    plan = [(r, tr, te) for r in range(repeats) for tr, te in cv_folds(genres, groups, n_folds, seed + r)]
    one_fold = partial(fold_scores, features, labels, genres, groups, n_classes, cfg, n_folds, seed)
    if jobs > 1 and len(plan) > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs, return_as="generator")(delayed(one_fold)(*job) for job in plan)
    else:
        results = (one_fold(*job) for job in plan)
    res = {"head": [], "logistic_baseline": []}
    oof = np.full((repeats, len(labels), n_classes), np.nan)
    progress_bar = tqdm(results, total=len(plan), desc=f"{n_folds}-fold CV x{repeats}", unit="fold",
                        disable=not progress)
    for (r, _, test), (head, probe, p) in zip(plan, progress_bar):
        oof[r, test] = p
        res["head"].append(head)
        res["logistic_baseline"].append(probe)
    return {"folds": n_folds, "repeats": repeats, "seed": seed, **{k: summarize_scores(v) for k, v in res.items()},
            "oof_head": oof}
