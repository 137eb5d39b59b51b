"""The genre predictor's candidates: out-of-fold probabilities that never saw their fold, the choice the
stored scores name, and the stored predictor applied in numpy."""
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline import candidates
from pipeline.candidates import Folds, blend_fold, neighbours_fold, out_of_fold, probe_fold
from pipeline.predictor import Blend, Head, Neighbours, load_predictor, title

N_LABELS = 3


def _folds(seed: int = 0, n_per: int = 12) -> Folds:
    """Three genres, two networks' vectors: a genre direction plus noise; four artists per genre."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_LABELS), n_per)
    genres = np.array([f"g{i}" for i in y])
    groups = np.array([f"artist:{g}{i % 4}" for i, g in enumerate(genres)])
    vectors = {}
    for key, dim in (("immediate", 16), ("musicnn.immediate", 12)):
        centres = rng.normal(size=(N_LABELS, dim))
        vectors[key] = (centres[y] + 1.2 * rng.normal(size=(len(y), dim))).astype(np.float32)
    return Folds(vectors, y, genres, groups, N_LABELS, n_folds=3, seed=0, repeats=2)


def _with_labels_changed(data: Folds, test: np.ndarray) -> Folds:
    """The same data with the ``test`` tracks' labels rotated: a model that never saw them cannot tell."""
    y = data.y.copy()
    y[test] = (y[test] + 1) % N_LABELS
    return Folds(data.vectors, y, data.genres, data.groups, N_LABELS, data.n_folds, data.seed, data.repeats)


def leaked_folds(data: Folds, make) -> list:
    """The outer folds whose out-of-fold rows change when only that fold's labels change (a leak)."""
    leaks = []
    for r in range(data.repeats):
        for f, (train, test) in enumerate(data.outer(r)):
            a = make(data)(train, test, r)
            b = make(_with_labels_changed(data, test))(train, test, r)
            if not np.allclose(a, b):
                leaks.append((r, f))
    return leaks


PROBE = lambda data: probe_fold(data, "immediate")  # noqa: E731
NEIGHBOURS = lambda data: neighbours_fold(data, "musicnn.immediate")  # noqa: E731
BLEND = lambda data: blend_fold(data, [probe_fold(data, "immediate"), probe_fold(data, "musicnn.immediate")])  # noqa: E731


@pytest.mark.parametrize("make", [PROBE, NEIGHBOURS, BLEND], ids=["probe", "neighbours", "blend"])
def test_out_of_fold_probabilities_never_come_from_a_model_that_saw_the_fold(make):
    data = _folds()
    assert leaked_folds(data, make) == []
    oof = out_of_fold(data, make(data))
    assert np.isfinite(oof).all() and np.allclose(oof.sum(-1), 1.0)  # every track scored once per repeat


def test_a_planted_leak_is_caught():
    def leaky(data):  # the probe, fitted on the test fold too
        run = probe_fold(data, "immediate")
        return lambda train, test, r: run(np.union1d(train, test), test, r)

    def leaky_neighbours(data):  # the reference tracks include the test fold
        run = neighbours_fold(data, "immediate")
        return lambda train, test, r: run(np.arange(len(data.y)), test, r)

    data = _folds()
    assert leaked_folds(data, leaky), "a probe that saw its test fold went unnoticed"
    assert leaked_folds(data, leaky_neighbours), "neighbours that include the test fold went unnoticed"


def _heads_oof(data: Folds, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.dirichlet(np.ones(N_LABELS), size=(data.repeats, len(data.y))) for n in ("mobilenet_v2", "musicnn")}


def test_the_chosen_predictor_is_the_one_the_stored_scores_name():
    data = _folds()
    out = candidates.evaluate_candidates(data, ["mobilenet_v2", "musicnn"], _heads_oof(data), "artist")
    meta = out["meta"]
    records = meta["candidates"]
    both = ["mobilenet_v2", "musicnn"]
    singles = {title(k, [n]) for n in both for k in ("head", "probe", "neighbours")}
    assert set(records) == singles | {title("probe", both), title("neighbours", both)}
    assert len(records[title("head", ["musicnn"])]["balanced_accuracy"]["folds"]) == 3 * 2
    pick = meta["chosen"]["candidate"]
    assert (pick, meta["reason"]) == candidates.choose(records)
    best = max(r["balanced_accuracy"]["mean"] for r in records.values())
    d = records[pick]["vs_chosen"]
    assert d == {"mean": 0.0, "se": 0.0}
    gap = best - records[pick]["balanced_accuracy"]["mean"]
    se = max(r["vs_chosen"]["se"] for r in records.values() if r["balanced_accuracy"]["mean"] == best)
    assert gap <= se + 1e-12  # the best, or a simpler one within a standard error of it
    assert out["predictor"].score["mean"] == records[pick]["balanced_accuracy"]["mean"]
    assert out["predictor"].name.startswith(pick)
    for name, r in records.items():  # the stored scores are the out-of-fold probabilities' scores
        assert r["balanced_accuracy"] == candidates.fold_summary(data, out["oof"][name])["balanced_accuracy"]


def test_within_noise_the_simpler_candidate_wins():
    folds = [0.8, 0.7, 0.9, 0.75]
    records = {"a head": {"kind": "head", "balanced_accuracy": {"mean": 0.79, "folds": folds}},
               "a neighbours": {"kind": "neighbours", "balanced_accuracy": {"mean": 0.7875,
                                                                            "folds": [0.8, 0.7, 0.9, 0.74]}},
               "a probe": {"kind": "probe", "balanced_accuracy": {"mean": 0.6, "folds": [0.6] * 4}}}
    assert candidates.choose(records)[0] == "a neighbours"
    records["a neighbours"]["balanced_accuracy"]["folds"] = [0.5, 0.4, 0.6, 0.45]
    records["a neighbours"]["balanced_accuracy"]["mean"] = 0.4875
    assert candidates.choose(records)[0] == "a head"


def test_stored_predictors_round_trip_and_old_bundles_fall_back_to_the_head():
    data = _folds()
    out = candidates.evaluate_candidates(data, ["mobilenet_v2", "musicnn"], _heads_oof(data), "track")
    probe = candidates.fit_probe(data.vectors["immediate"], data.y, N_LABELS, "immediate")
    tensors = probe.tensors("probe/immediate")
    labels = [f"g{i}" for i in range(N_LABELS)]
    tracks = {"genre": SimpleNamespace(astype=lambda t: data.genres)}
    bundle = SimpleNamespace(labels=labels, tracks=tracks, vectors=lambda e: data.vectors[e], path=None,
                             networks={"mobilenet_v2": [], "musicnn": []}, predictor="musicnn",
                             meta={"metrics": {}, "files": {}})
    from pipeline.predictor import from_spec

    spec = {"kind": "blend", "weights": [0.3, 0.7],
            "parts": [{"kind": "probe", "embedding": "immediate", "tensors": "probe/immediate"},
                      {"kind": "neighbours", "embedding": "musicnn.immediate", "k": 3}]}
    model = from_spec(spec, tensors, bundle)
    assert isinstance(model, Blend) and isinstance(model.parts[1][1], Neighbours)
    rows = {k: v[:5] for k, v in data.vectors.items()}
    expect = 0.3 * probe.predict(rows, {}) + 0.7 * Neighbours("musicnn.immediate", 3, data.vectors[
        "musicnn.immediate"], data.y, N_LABELS).predict(rows, {})
    np.testing.assert_allclose(model.predict(rows, {}), expect, atol=1e-6)  # float32 tensors: 1e-6
    old = load_predictor(bundle)  # no genre_predictor in bundle.json
    assert isinstance(old, Head) and old.network == "musicnn" and "no other candidates" in old.name
    assert out["meta"]["grouping"] == "track" and out["predictor"].score["grouping"] == "track"


def test_the_shipped_bundle_uses_the_predictor_its_stored_scores_choose():
    from pipeline.bundle import load_bundle
    from pipeline.paths import DEFAULT_BUNDLE

    bundle = load_bundle(DEFAULT_BUNDLE)
    spec = bundle.meta["genre_predictor"]
    assert spec["grouping"] == "artist" and spec["repeats"] * spec["folds"] == len(
        spec["candidates"][spec["chosen"]["candidate"]]["balanced_accuracy"]["folds"])
    assert candidates.choose(spec["candidates"]) == (spec["chosen"]["candidate"], spec["reason"])
    model = load_predictor(bundle)
    assert model.name == spec["chosen"]["name"]
    assert model.score["mean"] == spec["candidates"][spec["chosen"]["candidate"]]["balanced_accuracy"]["mean"]
