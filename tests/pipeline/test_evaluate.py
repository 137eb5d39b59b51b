"""Cross-validation: folds run side by side give exactly the folds run one after the other."""
from types import SimpleNamespace

import numpy as np

from pipeline.evaluate import cross_validate
from pipeline.train import SegmentFeatures, TrainConfig


def _corpus(n_tracks=36, windows=2, dim=12, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n_tracks) % n_classes
    centres = rng.normal(size=(n_classes, dim))
    track = np.repeat(np.arange(n_tracks), windows)
    X = (centres[labels[track]] + rng.normal(scale=1.5, size=(len(track), dim))).astype(np.float32)
    genres = np.array([f"g{c}" for c in labels])
    groups = np.array([f"artist{i // 2}" for i in range(n_tracks)])  # two tracks per artist
    return SegmentFeatures(X, track, None), labels, genres, groups


def test_the_folds_scores_do_not_depend_on_how_many_processes_run_them():
    features, labels, genres, groups = _corpus()
    cfg = TrainConfig(max_epochs=4, patience=2, deep=16, shallow=8)
    one = cross_validate(features, labels, genres, groups, 3, cfg, seed=0, n_folds=3, repeats=2, progress=False,
                         jobs=1)
    two = cross_validate(features, labels, genres, groups, 3, cfg, seed=0, n_folds=3, repeats=2, progress=False,
                         jobs=2)
    np.testing.assert_array_equal(one.pop("oof_head"), two.pop("oof_head"))  # out-of-fold probabilities too
    assert one == two
    assert len(one["head"]["balanced_accuracy"]["folds"]) == 6 and one["repeats"] == 2
    assert one["logistic_baseline"]["accuracy"]["mean"] > 0.5  # well-separated genres: the probe finds them


def test_the_track_cv_is_repeated_like_the_headline_only_when_there_are_no_artists():
    from pipeline.build import BuildConfig, run_cross_validation

    features, labels, genres, _ = _corpus()
    ids = np.array([f"{g}.{i:05d}" for i, g in enumerate(genres)])
    cfg = BuildConfig(data="", cv_folds=2, cv_repeats=2, track_cv_repeats=1, jobs=1,
                      train=TrainConfig(max_epochs=2, patience=1, deep=8, shallow=4))
    known = [f"artist{i // 2}" for i in range(len(ids))]

    def corpus(artists):  # what the CV reads of a dataset.Corpus
        return SimpleNamespace(y=labels, genres=genres, ids=ids, artists=artists, titles=[None] * len(ids),
                               labels=[0, 1, 2])

    with_artists = run_cross_validation(cfg, features, corpus(known), False)
    assert with_artists["artist"]["repeats"] == 2 and with_artists["track"]["repeats"] == 1
    without = run_cross_validation(cfg, features, corpus([None] * len(ids)), False)
    assert "artist" not in without and without["track"]["repeats"] == 2  # the only CV is the headline


def test_column_mean_std_is_numpys_block_by_block():
    from pipeline.train import column_mean_std

    X = (np.random.default_rng(0).standard_normal((1000, 40)) * 3 + 100).astype(np.float32)
    mean, std = column_mean_std(X, block_rows=64)  # 16 blocks, the last one short
    assert mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, X.astype(np.float64).std(0), rtol=1e-5)
