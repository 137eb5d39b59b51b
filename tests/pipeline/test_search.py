"""The index behind a large collection's nearest tracks (``pipeline.search``): exactly ``project.nearest``'s
answer, from fewer rows; and the Placer uses it on large bundles with the same placement."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import place
from pipeline.project import _sorted_top_k, inverse_norms, nearest, top_k
from pipeline.search import CosineIndex, top_directions
from tests.conftest import REPO

SHIPPED = REPO / "assets" / "gtzan"


def clustered(n: int, d: int, clusters: int = 12, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Non-negative rows around a few centres (like a network layer's ReLU features), some all zero."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.standard_normal((clusters, d))) * (rng.random((clusters, d)) < 0.3)
    X = np.abs(centres[rng.integers(clusters, size=n)] + 0.2 * rng.standard_normal((n, d)))
    X[rng.choice(n, 5, replace=False)] = 0
    return X.astype(dtype)


def queries_for(X: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.asarray(X[rng.choice(len(X), 6, replace=False)], dtype=np.float32)
    noisy = rows + 0.3 * rng.standard_normal(rows.shape).astype(np.float32)
    far = np.abs(rng.standard_normal((2, X.shape[1]))).astype(np.float32)  # like no row
    return np.vstack([rows, noisy, far, np.zeros((1, X.shape[1]), np.float32)])


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("k", [1, 15, 700])
def test_the_index_answers_exactly_as_nearest(dtype, k):
    X = clustered(3000, 96, dtype=dtype)
    inv = inverse_norms(X)
    index = CosineIndex(X, inv, components=16, sample_rows=256, block_rows=512)
    Q = queries_for(X)
    idx, sims = index.query(Q, k)
    want_idx, want_sims = nearest(X, Q, k, inv)
    np.testing.assert_allclose(sims, want_sims, atol=1e-6)
    # the same rows in the same order, but where two rows are equally similar (to float rounding)
    assert (idx != want_idx).mean() < 0.01


def test_the_index_reads_few_rows_of_clustered_data():
    X = clustered(6000, 128, clusters=40)
    index = CosineIndex(X, inverse_norms(X), components=32, sample_rows=512)
    index.query(queries_for(X)[:6], 15)  # the collection's own kind of query
    assert index.rows_read < len(X) / 4


@pytest.mark.parametrize("case", ["repeated rows", "fewer rows than directions", "one row"])
def test_the_bound_holds_for_degenerate_rows(case):
    rng = np.random.default_rng(2)
    base = np.abs(rng.standard_normal((3, 40))).astype(np.float32)
    X = {"repeated rows": np.repeat(base, 200, axis=0), "fewer rows than directions": base,
         "one row": base[:1]}[case]
    inv = inverse_norms(X)
    index = CosineIndex(X, inv, components=8)
    Q = np.abs(rng.standard_normal((4, 40))).astype(np.float32)
    idx, sims = index.query(Q, 5)
    np.testing.assert_allclose(sims, nearest(X, Q, 5, inv)[1], atol=1e-6)


def test_top_directions_are_orthonormal_and_the_longest():
    rng = np.random.default_rng(3)
    rows = (rng.standard_normal((300, 3)) @ rng.standard_normal((3, 50))).astype(np.float32)  # rank 3
    basis = top_directions(rows, 5)
    np.testing.assert_allclose(basis.T @ basis, np.eye(5), atol=1e-5)
    kept = np.linalg.norm(rows @ basis[:, :3]) / np.linalg.norm(rows)
    assert kept > 0.999  # the first three directions hold all of a rank-3 set


def test_the_placer_uses_the_index_on_large_bundles_with_the_same_placement(monkeypatch):
    """The shipped bundle (both networks, real vectors) placed on as if it were large."""
    rng = np.random.default_rng(4)
    t = np.arange(22050 * 9) / 22050
    clip = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(len(t)))
    clip = clip.astype(np.float32)
    plain = place.Placer.from_path(SHIPPED, threads=1)
    assert not plain._indexes
    monkeypatch.setattr(place, "INDEX_MIN_ROWS", 1)
    indexed = place.Placer.from_path(SHIPPED, threads=1)
    wide = {e for e in indexed.embeddings if indexed.bundle.vectors(e).shape[1] >= place.MIN_WIDTH}
    assert wide and set(indexed._indexes) == wide
    a, b = plain.place_audio(clip, "clip"), indexed.place_audio(clip, "clip")
    assert a.genre == b.genre
    for e, spot in a.maps.items():
        assert abs(spot["x"] - b.maps[e]["x"]) < 1e-4 and abs(spot["y"] - b.maps[e]["y"]) < 1e-4
        assert [n["track_id"] for n in spot["neighbours"]] == [n["track_id"] for n in b.maps[e]["neighbours"]]


@pytest.mark.parametrize("k", [1, 15, 200])
def test_top_k_over_many_columns_is_the_plain_sort(k):
    """The group-maxima floor leaves the answer as it is, ties (to the lower index) included."""
    rng = np.random.default_rng(5)
    sims = np.round(rng.random((7, 10_007)), 3).astype(np.float32)  # many equal values
    sims[3] = 0.5  # one row all equal
    idx, top = top_k(sims, k)
    want_idx, want_top = _sorted_top_k(sims, k)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(top, want_top)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_the_index_reads_its_rows_once_for_their_norms_too(dtype):
    X = clustered(2000, 64, dtype=dtype)
    index = CosineIndex(X, components=16, block_rows=300)  # no inverse norms given: found in the same pass
    np.testing.assert_allclose(index.inverse_norms, inverse_norms(X), rtol=1e-6)
    np.testing.assert_allclose(index.query(queries_for(X), 15)[1], nearest(X, queries_for(X), 15)[1], atol=1e-6)
