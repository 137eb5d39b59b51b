"""project.py: openTSNE's transform over a precomputed repulsion field, checked against openTSNE itself."""
import numpy as np
import openTSNE
import pytest

from pipeline.project import (
    N_NEIGHBOURS,
    PERPLEXITY,
    RepulsionField,
    affinities,
    exact_fields,
    nearest,
    place_points,
    similarities,
    unit_rows,
)
from tests.pipeline.test_maps import clusters
from tests.tsne_oracle import OracleProjector as MapProjector


@pytest.fixture(scope="module")
def fitted():
    X, genres = clusters(n_genres=5, per_genre=30, dim=24, spread=3.0)
    return X, genres, MapProjector(random_state=0).fit(X)


def queries_near(X, n=30, seed=1):
    """New vectors near the reference (each a reference row plus noise), like songs close to known ones."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(X), n, replace=False)
    return np.abs(X[picks] + rng.normal(0, 0.8, (n, X.shape[1]))), picks


def place(proj, Q):
    idx, sims = nearest(proj.reference_, Q, N_NEIGHBOURS)
    field = RepulsionField({"m": proj.coords_})
    return place_points(field, {"m": (idx, affinities(1 - sims))})["m"]


def test_nearest_is_the_cosine_ranking_with_ties_to_the_lower_index():
    rng = np.random.default_rng(0)
    R = np.abs(rng.normal(size=(50, 8)))
    R[7] = R[3] * 2.0  # same direction as row 3: a tie in cosine
    Q = np.abs(rng.normal(size=(4, 8)))
    Q[0] = R[3]
    idx, sims = nearest(R, Q, 6)
    full = unit_rows(Q) @ unit_rows(R).T
    for i in range(len(Q)):
        np.testing.assert_allclose(sims[i], np.sort(full[i])[::-1][:6], atol=1e-6)
    assert idx[0, :2].tolist() == [3, 7]


def test_a_float16_reference_is_searched_block_by_block_with_the_same_answer(monkeypatch):
    import pipeline.project as project

    rng = np.random.default_rng(0)
    reference = rng.standard_normal((1000, 40)).astype(np.float16)  # a large bundle's wide layers are float16
    queries = unit_rows(rng.standard_normal((3, 40)), np.float32)
    whole = (reference.astype(np.float32) @ queries.T).T
    np.testing.assert_allclose(similarities(reference, queries, block_rows=64), whole, rtol=1e-5, atol=1e-5)
    at_once = nearest(reference, queries, 10)  # fewer rows than BLOCK_ROWS: converted whole
    monkeypatch.setattr(project, "BLOCK_ROWS", 96)
    by_block = nearest(reference, queries, 10)
    np.testing.assert_array_equal(by_block[0], at_once[0])
    np.testing.assert_allclose(by_block[1], at_once[1], atol=1e-6)


def test_affinities_are_opentsnes(fitted):
    X, _, proj = fitted
    Q, _ = queries_near(X)
    theirs = openTSNE.affinity.PerplexityBasedNN(X, perplexity=30, method="exact", metric="cosine", random_state=0)
    P_ref, nb_ref, _ = theirs.to_new(Q, perplexity=PERPLEXITY, return_distances=True)
    idx, sims = nearest(X, Q, N_NEIGHBOURS)
    P = affinities(1 - sims)
    np.testing.assert_array_equal(np.sort(idx, 1), np.sort(nb_ref, 1))
    for row in range(len(Q)):
        np.testing.assert_allclose(P[row], P_ref[row, idx[row]].toarray()[0], atol=1e-5)
    np.testing.assert_allclose(P.sum(1), 1.0)


def test_repulsion_field_matches_the_exact_sums(fitted):
    _, _, proj = fitted
    coords = proj.coords_
    field = RepulsionField({"a": coords, "b": coords * 3 + 10})
    rng = np.random.default_rng(0)
    for slot, pts in enumerate((coords, coords * 3 + 10)):
        probe = pts[rng.choice(len(pts), 40)] + rng.normal(0, 1.0, (40, 2))
        probe = np.vstack([probe, pts.max(0) + 100.0])  # far off the grid: the exact sums
        Z, V = field(probe, np.full(len(probe), slot))
        exact = exact_fields(pts, probe)
        np.testing.assert_allclose(Z, exact[:, 0], rtol=1e-2)
        # grid spacing 0.2: within a few % of the largest repulsion (Barnes-Hut at theta 0.5, openTSNE's, is no closer)
        assert np.abs(V - exact[:, 1:]).max() < 0.05 * np.abs(exact[:, 1:]).max()
        np.testing.assert_allclose(field(probe[-1:], np.array([slot]))[1], exact[-1:, 1:], rtol=1e-12)


def test_placements_agree_with_opentsnes_transform(fitted):
    X, _, proj = fitted
    Q, _ = queries_near(X)
    ours, theirs = place(proj, Q), proj.transform(Q)
    nn = np.sort(np.linalg.norm(proj.coords_[:, None] - proj.coords_[None], axis=-1), axis=1)[:, 1]
    moved = np.linalg.norm(ours - theirs, axis=1)
    # openTSNE approximates the repulsion too (Barnes-Hut): the two agree to a small fraction of the gap between
    # neighbouring points (measured: median 0.3 %, 90th percentile 0.6 %)
    assert np.median(moved) < 0.02 * np.median(nn) and np.quantile(moved, 0.9) < 0.1 * np.median(nn), moved
    # and each new point has (nearly) the same map neighbours either way
    agree = [len(set(np.argsort(np.linalg.norm(proj.coords_ - a, axis=1))[:10])
                 & set(np.argsort(np.linalg.norm(proj.coords_ - b, axis=1))[:10])) / 10 for a, b in zip(ours, theirs)]
    assert np.mean(agree) > 0.95


def test_a_reference_vector_lands_on_its_own_point():
    # as tests/pipeline/test_maps.py checks openTSNE's transform, on the same map
    X, genres = clusters()
    proj = MapProjector(random_state=0).fit(X)
    extent = np.ptp(proj.coords_, axis=0).max()
    idx = [0, 7, 13, 26, 39]
    for i, p in zip(idx, place(proj, X[idx])):
        d = np.linalg.norm(proj.coords_ - p, axis=1)
        assert d[i] < 0.05 * extent and i in np.argsort(d)[:4] and genres[d.argmin()] == genres[i]


def test_maps_placed_together_are_placed_as_alone(fitted):
    X, _, proj = fitted
    Q, _ = queries_near(X, n=5)
    idx, sims = nearest(X, Q, N_NEIGHBOURS)
    P = affinities(1 - sims)
    other = proj.coords_[::-1] * 2.0
    both = RepulsionField({"a": proj.coords_, "b": other})
    together = place_points(both, {"a": (idx, P), "b": (idx[:2], P[:2])})
    alone_a = place_points(RepulsionField({"a": proj.coords_}), {"a": (idx, P)})["a"]
    alone_b = place_points(RepulsionField({"b": other}), {"b": (idx[:2], P[:2])})["b"]
    np.testing.assert_allclose(together["a"], alone_a, atol=1e-6)
    # b's grid is laid out for the larger of the two maps when they share one array: same field, other sampling
    np.testing.assert_allclose(together["b"], alone_b, atol=0.02 * np.ptp(other, axis=0).max())
