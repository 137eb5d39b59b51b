import threading

import numpy as np
import pytest

from pipeline.maps import (
    embedding_quality,
    genre_similarity,
    knn_genre_accuracy,
    layer_maps,
    rotated_onto,
    unit_spread,
)
from pipeline.networks import layer_groups
from pipeline.project import unit_rows
from tests.tsne_oracle import OracleProjector as MapProjector
from tests.tsne_oracle import nearest_tracks


def clusters(n_genres=4, per_genre=10, dim=20, spread=1.0, seed=0):
    """Non-negative vectors in well-separated clusters, and their genre names."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_genres, dim)) * 5
    X = np.abs(np.concatenate([c + spread * rng.normal(size=(per_genre, dim)) for c in centres]))
    return X, np.repeat([f"g{i}" for i in range(n_genres)], per_genre)


@pytest.fixture(scope="module")
def fitted():
    X, genres = clusters()
    return X, genres, MapProjector(random_state=0).fit(X)


# --- genre similarity ------------------------------------------------------------------------


def test_genre_similarity_diagonal_leaves_out_self_pairs():
    # genre a: three orthogonal songs, so every distinct pair has similarity 0;
    # counting each song with itself would give 1/3 instead.
    X = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 2]], dtype=float)
    genres = ["a", "a", "a", "b", "b"]
    S = genre_similarity(X, genres, ["a", "b"])
    assert S[0, 0] == pytest.approx(0.0), "self-similarity leaked into the diagonal"
    assert S[1, 1] == pytest.approx(1.0)
    assert S[0, 1] == pytest.approx(0.0)


def test_genre_similarity_matches_brute_force_and_is_symmetric():
    rng = np.random.default_rng(1)
    X = rng.random((30, 8))
    genres = rng.choice(["x", "y", "z"], size=30)
    labels = ["x", "y", "z"]
    S = genre_similarity(X, genres, labels)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            pairs = [U[p] @ U[q] for p in range(30) for q in range(30) if genres[p] == a and genres[q] == b and p != q]
            assert S[i, j] == pytest.approx(np.mean(pairs))
    np.testing.assert_allclose(S, S.T)
    assert (S >= 0).all() and (S <= 1 + 1e-12).all(), "non-negative vectors must give similarities in [0, 1]"


def test_genre_similarity_single_song_genre_and_zero_vectors():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    S = genre_similarity(X, ["a", "b", "b"], ["a", "b", "c"])
    assert np.isnan(S[0, 0]), "a genre with one song has no distinct pairs"
    assert np.isfinite(S[1, 1]) and S[1, 1] == pytest.approx(0.0)  # a zero vector has similarity 0, not NaN
    assert np.isnan(S[2, 2]) and np.isnan(S[0, 2])  # a label with no songs


def test_unit_rows_and_nearest_tracks():
    rng = np.random.default_rng(2)
    R = rng.random((50, 6))
    q = rng.random(6)
    idx, sims = nearest_tracks(q, unit_rows(R), k=5)
    brute = (R @ q) / (np.linalg.norm(R, axis=1) * np.linalg.norm(q))
    assert list(idx) == list(np.argsort(-brute)[:5])
    np.testing.assert_allclose(sims, brute[idx])
    assert np.all(np.diff(sims) <= 0)
    assert not unit_rows(np.zeros((2, 3))).any()


# --- MapProjector ----------------------------------------------------------------------------


def test_fit_is_deterministic_given_random_state(fitted):
    X, _, proj = fitted
    again = MapProjector(random_state=0).fit(X)
    np.testing.assert_array_equal(proj.coords_, again.coords_)
    other = MapProjector(random_state=1).fit(X)
    assert not np.allclose(proj.coords_, other.coords_)
    assert proj.coords_.shape == (len(X), 2) and np.isfinite(proj.coords_).all()


def test_fit_keeps_clusters_together(fitted):
    X, genres, proj = fitted
    q = embedding_quality(X, proj.coords_, genres)
    assert q["trustworthiness"] > 0.9
    # 2-D nearest neighbour of every point is in its own cluster
    d = np.linalg.norm(proj.coords_[:, None] - proj.coords_[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert np.mean(genres[d.argmin(1)] == genres) > 0.95


def test_transform_does_not_move_the_reference(fitted):
    X, _, proj = fitted
    before = proj.coords_.copy()
    rng = np.random.default_rng(3)
    proj.transform(np.abs(rng.normal(size=(3, X.shape[1]))) * 5)
    proj.transform(X[:2] + 100.0)  # far away: openTSNE would re-centre the reference
    np.testing.assert_array_equal(proj.coords_, before)


def test_concurrent_transforms_neither_move_the_reference_nor_each_other(fitted):
    X, _, proj = fitted
    before = proj.coords_.copy()
    queries = [X[i : i + 1] * 1.01 for i in range(0, 40, 5)] + [X[:1] + 50.0]
    expected = [proj.transform(q) for q in queries]
    results = [None] * len(queries)
    errors = []

    def work(i):
        try:
            for _ in range(2):
                results[i] = proj.transform(queries[i])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    np.testing.assert_array_equal(proj.coords_, before)
    for r, e in zip(results, expected):
        np.testing.assert_allclose(r, e, atol=1e-6, err_msg="a concurrent transform gave a different position")


def test_placing_a_reference_vector_lands_on_its_own_point(fitted):
    X, genres, proj = fitted
    extent = np.ptp(proj.coords_, axis=0).max()
    idx = [0, 7, 13, 26, 39]
    new = proj.transform(X[idx])
    for i, p in zip(idx, new):
        d = np.linalg.norm(proj.coords_ - p, axis=1)
        assert d[i] < 0.05 * extent, f"point {i} placed {d[i]:.2f} from its own position (map extent {extent:.1f})"
        assert i in np.argsort(d)[:4], f"point {i} is not among the 4 map points nearest its placement"
        assert genres[d.argmin()] == genres[i]


def test_transform_does_not_move_an_uncentred_reference(fitted):
    # openTSNE re-centres the embedding it transforms against, in place; a map
    # restored with coordinates that are not centred must still not move.
    X, _, proj = fitted
    shifted = proj.coords_ + np.array([10.0, -4.0])
    restored = MapProjector(random_state=0).set_state(X, shifted.copy())
    restored.transform(X[:3] * 1.01)
    np.testing.assert_array_equal(restored.coords_, shifted)


def test_placement_follows_an_uncentred_reference(fitted):
    X, _, proj = fitted
    shift = np.array([10.0, -4.0])
    restored = MapProjector(random_state=0).set_state(X, proj.coords_ + shift)
    np.testing.assert_allclose(restored.transform(X[:2]), proj.transform(X[:2]) + shift, atol=1e-6,
                               err_msg="new points do not move with the reference map they are placed on")


def test_set_state_restores_a_map(fitted):
    X, _, proj = fitted
    restored = MapProjector(random_state=0).set_state(proj.reference_.copy(), proj.coords_.copy())
    q = X[[3, 17]] * 0.9
    np.testing.assert_allclose(restored.transform(q), proj.transform(q), atol=1e-8)


def test_small_reference_sets_work():
    X, _ = clusters(n_genres=2, per_genre=3, dim=5)
    proj = MapProjector(perplexity=30, random_state=0).fit(X)
    assert proj.coords_.shape == (6, 2)
    assert np.isfinite(proj.transform(X[:2])).all()


# --- embedding quality -----------------------------------------------------------------------


def test_embedding_quality_ranges_and_separation(fitted):
    X, genres, proj = fitted
    good = embedding_quality(X, proj.coords_, genres)
    rng = np.random.default_rng(4)
    R = rng.random(X.shape)
    bad = embedding_quality(R, MapProjector(random_state=0).fit(R).coords_, genres)
    for q in (good, bad):
        assert 0 <= q["knn_accuracy"] <= 1
        assert -1 <= q["silhouette"] <= 1
        assert 0 <= q["trustworthiness"] <= 1
    assert good["knn_accuracy"] == 1.0
    assert good["knn_accuracy"] > bad["knn_accuracy"] + 0.3
    assert good["silhouette"] > 0.5 > bad["silhouette"] + 0.4
    assert good["trustworthiness"] > bad["trustworthiness"]


def test_embedding_quality_knn_leaves_each_point_out():
    # Two genres whose songs sit exactly on top of a song of the other genre:
    # counting a point as its own neighbour would inflate accuracy.
    X = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0.01], [0.01, 1]], dtype=float)
    genres = np.array(["a", "b", "a", "b", "a", "b"])
    q = embedding_quality(X, np.random.default_rng(0).random((6, 2)), genres, k=1)
    assert q["knn_accuracy"] < 1.0


# --- maps that follow each other ---------------------------------------------------------------


def layers_of(X, seed=0):
    """Four "layers" of the same tracks: the clusters seen through different random mixes, sharpening as they go."""
    rng = np.random.default_rng(seed)
    return {name: np.abs(X @ rng.normal(size=(X.shape[1], 16)) * (1 + i)) + 0.01 * rng.random((len(X), 16))
            for i, name in enumerate(("none", "immediate", "deep", "shallow"))}


def moved(a, b):
    return float(np.linalg.norm(unit_spread(a) - unit_spread(b), axis=1).mean())


def test_aligned_maps_move_a_track_less_than_independent_ones_at_no_cost():
    X, genres = clusters(n_genres=4, per_genre=12)
    vectors = layers_of(X)
    params = {"random_state": 0}
    independent = {k: MapProjector(**params).fit(v).coords_ for k, v in vectors.items()}
    aligned = {k: p.coords_ for k, p in layer_maps(vectors, [list(vectors)], params).items()}
    keys = list(vectors)
    for before, after in zip(keys, keys[1:]):
        assert moved(aligned[before], aligned[after]) < moved(independent[before], independent[after]), after
    for k in keys:  # the same map turned: distances, so trustworthiness and map k-NN accuracy, are unchanged
        d_ind = np.linalg.norm(independent[k][:, None] - independent[k][None], axis=-1)
        d_ali = np.linalg.norm(aligned[k][:, None] - aligned[k][None], axis=-1)
        np.testing.assert_allclose(d_ali, d_ind, atol=1e-9)
        quality = embedding_quality(vectors[k], aligned[k], genres)
        assert quality == pytest.approx(embedding_quality(vectors[k], independent[k], genres))
        assert knn_genre_accuracy(aligned[k], genres, metric="euclidean") == pytest.approx(
            knn_genre_accuracy(independent[k], genres, metric="euclidean"))
    np.testing.assert_allclose(aligned["none"], independent["none"])  # the first layer is fitted on its own


def test_rotated_onto_finds_a_turn_and_a_mirror():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(30, 2))
    turn = np.array([[np.cos(1.1), -np.sin(1.1)], [np.sin(1.1), np.cos(1.1)]])
    for q in (turn, turn @ np.diag([1.0, -1.0])):
        np.testing.assert_allclose(rotated_onto(target @ q + [5.0, -2.0], target), target, atol=1e-9)


def test_layer_groups_follow_each_network_from_input_to_output():
    keys = ["shallow", "musicnn.deep", "none", "musicnn.none", "deep", "immediate"]
    assert layer_groups(keys) == [["none", "immediate", "deep", "shallow"], ["musicnn.none", "musicnn.deep"]]


def test_map_knn_accuracy_scores_the_map_itself():
    coords = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]], dtype=float)
    assert knn_genre_accuracy(coords, list("aaabbb"), k=2, metric="euclidean") == 1.0
    assert knn_genre_accuracy(coords, list("ababab"), k=2, metric="euclidean") < 0.5
