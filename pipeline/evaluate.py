"""Repeated, grouped, stratified cross-validation of the head and of a reference probe.

The reference is the issue's baseline: the same frozen backbone features with
class-weighted logistic regression, window probabilities averaged per track.
Every fold is scored by accuracy, balanced accuracy (mean per-genre recall)
and macro-F1, because the genres are imbalanced.
"""
from __future__ import annotations

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


def cross_validate(features: SegmentFeatures, labels, genres, groups, n_classes: int, cfg: TrainConfig,
                   seed: int = 0, n_folds: int = 5, repeats: int = 3, progress: bool = True) -> dict:
    """Grouped K-fold CV (repeated with seeds seed..seed+repeats-1), head vs. logistic probe, same folds.

    Each fold's head early-stops on a validation part carved (by group) out of
    that fold's training tracks, so test tracks are never looked at.

    Returns
    -------
    dict : ``folds``, ``repeats``, ``seed`` and, for ``head`` and
        ``logistic_baseline``, ``{score: {"mean", "std", "folds": [...]}}`` for
        accuracy, balanced_accuracy and macro_f1.
    """
    labels, genres, groups = map(np.asarray, (labels, genres, groups))
    res = {"head": [], "logistic_baseline": []}
    jobs = [(r, tr, te) for r in range(repeats) for tr, te in cv_folds(genres, groups, n_folds, seed + r)]
    for r, tr, te in tqdm(jobs, desc=f"{n_folds}-fold CV x{repeats}", unit="fold", disable=not progress):
        inner_tr, inner_val = cv_folds(genres[tr], groups[tr], n_folds, seed + 100 + r)[0]
        head, _ = fit_head(features, labels, tr[inner_tr], tr[inner_val], n_classes, cfg, seed + r)
        X, t = features.select(te, with_augmented=False)
        p = track_probabilities(head, X, t, te)
        res["head"].append(scores(labels[te], p.argmax(1)))
        pb = logistic_probabilities(features, labels, tr, te, n_classes, seed + r)
        res["logistic_baseline"].append(scores(labels[te], pb.argmax(1)))
    return {"folds": n_folds, "repeats": repeats, "seed": seed, **{k: summarize_scores(v) for k, v in res.items()}}
