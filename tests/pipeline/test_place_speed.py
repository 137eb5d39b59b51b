"""Placement's faster paths give the numbers of the plain ones.

Each shortcut is checked against the straightforward computation it replaces:
affinities by Newton steps against openTSNE's bisection, the field's one-gather
read against the four-corner formula, one input per onnxruntime run against a
batch, one network's placement against the same maps in a two-network one, the
networks side by side against one after the other, and the trajectory against
each window placed alone.
"""
import numpy as np
import pytest

from pipeline.audio import load_audio
from pipeline.bundle import BundleError, load_bundle
from pipeline.networks import split_key
from pipeline.place import Placer
from pipeline.project import RepulsionField, affinities, exact_fields
from pipeline.serve import OnnxNetwork, limit_blas_threads
from tests.synth import genre_clip, write_audio

SR = 22050


def bisection_affinities(distances, perplexity=5.0, tol=1e-8, max_iter=200):
    """openTSNE's ``compute_gaussian_perplexity``: β by bisection (the code ``affinities`` replaced)."""
    d2 = np.asarray(distances, dtype=np.float64) ** 2
    target = np.log(min(perplexity, d2.shape[1]))
    beta, lo, hi = np.ones(len(d2)), np.full(len(d2), -np.inf), np.full(len(d2), np.inf)
    for _ in range(max_iter):
        P = np.exp(-d2 * beta[:, None])
        total = np.maximum(P.sum(axis=1), 1e-12)
        P /= total[:, None]
        diff = np.log(total) + beta * (d2 * P).sum(axis=1) - target
        if np.all(np.abs(diff) <= tol):
            break
        up = diff > 0
        lo, hi = np.where(up, beta, lo), np.where(up, hi, beta)
        beta = np.where(up, np.where(np.isinf(hi), beta * 2, (beta + hi) / 2),
                        np.where(np.isinf(lo), beta / 2, (beta + lo) / 2))
    return P / P.sum(axis=1, keepdims=True)


def test_affinities_by_newton_equal_bisection():
    rng = np.random.default_rng(0)
    d = np.vstack([rng.uniform(0, 2, (300, 15)),  # cosine distances of every spread
                   np.sort(rng.uniform(0, 0.05, (50, 15)), axis=1),  # a song among near-duplicates (large β)
                   np.sort(rng.uniform(0.9, 1.1, (50, 15)), axis=1),
                   np.zeros((2, 15)), np.full((1, 15), 0.7)])  # no spread at all: uniform rows
    np.testing.assert_allclose(affinities(d), bisection_affinities(d), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(affinities(d[:, :8]), bisection_affinities(d[:, :8]), rtol=1e-6, atol=1e-12)
    # fewer neighbours than the perplexity (a tiny bundle): the target is the uniform row's entropy, which both
    # approach only to within the entropy tolerance
    np.testing.assert_allclose(affinities(d[:, :4]), bisection_affinities(d[:, :4]), atol=1e-4)


def four_corner_read(field, y, owner):
    """The repulsion field's bilinear read as four separate gathers (the code ``reader`` replaced)."""
    g = (y - field.origin[owner]) / field.spacing[owner][:, None]
    base = np.clip(np.floor(g).astype(np.int64), 0, field.cells - 2)
    f = g - base
    i, j, fx, fy, grid = base[:, 0], base[:, 1], f[:, :1], f[:, 1:], field.grid
    out = ((1 - fx) * ((1 - fy) * grid[owner, i, j] + fy * grid[owner, i, j + 1])
           + fx * ((1 - fy) * grid[owner, i + 1, j] + fy * grid[owner, i + 1, j + 1]))
    for row in np.flatnonzero(np.any((g < 0) | (g > field.cells - 1), axis=1)):
        out[row] = exact_fields(field.points[owner[row]], y[row : row + 1])[0]
    return out[:, 0], out[:, 1:]


def test_field_read_in_one_gather_equals_four_corners():
    rng = np.random.default_rng(1)
    field = RepulsionField({"a": rng.normal(0, 10, (200, 2)), "b": rng.normal(5, 3, (50, 2))})
    y = np.vstack([rng.normal(0, 12, (40, 2)), [[500.0, -500.0], [-80.0, 3.0]]])  # two far off any grid
    owner = rng.integers(0, 2, len(y))
    for got, want in zip(field.reader(owner)(y), four_corner_read(field, y, owner)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def shipped():
    return load_bundle("assets/gtzan")


@pytest.mark.parametrize("graph", ["mobilenet_v2", "musicnn"])
def test_one_input_per_run_equals_a_batch(shipped, graph):
    rng = np.random.default_rng(2)
    shape = (5, 128, 431) if graph == "mobilenet_v2" else (5, 187, 96)
    x = rng.random(shape, dtype=np.float32)
    path = shipped.graph_path(graph)
    one, batch = OnnxNetwork(path, threads=1).run(x), OnnxNetwork(path, threads=1, batch_size=4).run(x)
    for k in one:
        np.testing.assert_allclose(one[k], batch[k], rtol=1e-5, atol=1e-5 * np.abs(batch[k]).max(), err_msg=k)


@pytest.fixture(scope="module")
def song(tiny_two):
    return write_audio(tiny_two.base / "two" / "speed_song.wav", genre_clip(1, 41.0, SR, np.random.default_rng(5)), SR)


def assert_same_maps(a, b, keys, atol=1e-9):
    for e in keys:
        np.testing.assert_allclose([a.maps[e]["x"], a.maps[e]["y"]], [b.maps[e]["x"], b.maps[e]["y"]], atol=atol,
                                   err_msg=e)
        assert [n["track_id"] for n in a.maps[e]["neighbours"]] == [n["track_id"] for n in b.maps[e]["neighbours"]]


@pytest.mark.parametrize("network", ["mobilenet_v2", "musicnn"])
def test_one_networks_placement_is_its_part_of_both(tiny_two, song, network):
    both = Placer.from_path(tiny_two.bundle, threads=1).place_file(song, trajectory=True)
    one = Placer.from_path(tiny_two.bundle, threads=1, networks=[network]).place_file(song, trajectory=True)
    keys = [e for e in both.maps if split_key(e)[0] == network]
    assert list(one.maps) == keys and all(set(w["maps"]) == set(keys) for w in one.trajectory)
    assert_same_maps(one, both, keys)
    for a, b in zip(one.trajectory, both.trajectory):
        for e in keys:
            np.testing.assert_allclose(list(a["maps"][e].values()), list(b["maps"][e].values()), atol=1e-9)
    assert (one.thumbnail is None) == (network == "musicnn")  # the thumbnail is MobileNetV2's mel


def test_work_side_by_side_equals_one_after_the_other(tiny_two, song):
    y = load_audio(song, sr=SR)
    try:
        side = Placer.from_path(tiny_two.bundle, threads=2)
        assert side._pool is not None
        a = side.place_audio(y, "song", trajectory=True)
    finally:
        limit_blas_threads(1)  # Placer sets numpy's BLAS threads process-wide
    b = Placer.from_path(tiny_two.bundle, threads=1).place_audio(y, "song", trajectory=True)
    for e in b.vectors:  # two onnxruntime threads may sum in another order: float32 rounding only
        np.testing.assert_allclose(a.vectors[e], b.vectors[e], rtol=1e-5, atol=1e-5 * np.abs(b.vectors[e]).max())
    np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-6)
    assert_same_maps(a, b, list(b.maps), atol=1e-3)


def test_trajectory_equals_each_window_placed_alone(tiny_two, song):
    placer = Placer.from_path(tiny_two.bundle, threads=1)
    y = load_audio(song, sr=SR)
    p = placer.place_audio(y, "song", trajectory=True)
    seg, _ = placer.segment_vectors(y)
    assert len(p.trajectory) == len(seg["deep"]) >= 6
    for i in (0, 3, len(p.trajectory) - 1):
        alone, _ = placer.project({e: seg[e][i : i + 1] for e in placer.embeddings})
        for e in placer.embeddings:  # one query row or many: BLAS kernels round float32 similarities differently
            np.testing.assert_allclose(list(p.trajectory[i]["maps"][e].values()), alone[e][0], atol=1e-4, err_msg=e)


def test_networks_to_place_on_must_be_the_bundles(tiny_two):
    with pytest.raises(BundleError, match="has no vggish network"):
        Placer.from_path(tiny_two.bundle, networks=["mobilenet_v2", "vggish"])
    with pytest.raises(BundleError, match="not among the networks placed on"):
        Placer.from_path(tiny_two.bundle, network="musicnn", networks=["mobilenet_v2"])
