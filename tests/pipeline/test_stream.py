"""The streamed build: per-track entries equal the in-memory features, a resumed build computes only what is
missing and equals an uninterrupted one, Ray (a local 2-worker cluster) gives the same features and bundle, and
nothing imports Ray unless it is asked for."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline.stream as stream_mod
from pipeline.build import BuildConfig, build, network_parts
from pipeline.bundle import load_bundle
from pipeline.dataset import load_corpus
from pipeline.embed import extract_features, track_rng
from pipeline.onnx_features import OnnxFeatures
from tests.conftest import REPO
from tests.pipeline.test_build import cached_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def assert_same_bundle(a_dir: Path, b_dir: Path, atol: float = 0.0) -> None:
    a, b = load_bundle(a_dir), load_bundle(b_dir)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    assert set(a.arrays) == set(b.arrays)
    for k in a.arrays:
        if atol:
            np.testing.assert_allclose(a.arrays[k], b.arrays[k], atol=atol, rtol=0, err_msg=k)
        else:
            np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=f"{k} differs")


def test_a_tracks_generator_depends_on_seed_and_id_only():
    a, b = track_rng(0, "blues.00001").random(3), track_rng(0, "blues.00001").random(3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, track_rng(1, "blues.00001").random(3))
    assert not np.allclose(a, track_rng(0, "blues.00002").random(3))


def test_streamed_entries_equal_the_in_memory_features(tiny):
    """The per-track cache the tiny build streamed = ``extract_features`` over every decoded track at once."""
    corpus = load_corpus(tiny.root, sr=22050, max_seconds=tiny.cfg.max_track_seconds, progress=False)
    _, part = network_parts(tiny.cfg, len(corpus.labels))["mobilenet_v2"]
    run = OnnxFeatures.from_graph(part.graph())
    memory = extract_features(run, corpus.audios, tiny.cfg.spectrogram, tiny.cfg.seed, True, False, corpus.ids)
    streamed = cached_rows(tiny.cfg.cache, tiny.root)
    assert set(memory) == set(streamed)
    for k in memory:
        np.testing.assert_allclose(streamed[k], memory[k], rtol=0, atol=1e-6, err_msg=k)


def test_a_build_killed_halfway_resumes_with_only_the_missing_tracks(tiny, tmp_path, monkeypatch):
    cfg = BuildConfig(**{**vars(tiny.cfg), "out": str(tmp_path / "bundle"), "cache": str(tmp_path / "cache")})
    real_work, calls, kill_after = stream_mod.TrackWork.__call__, [], [9]

    def work_until_killed(work, track, names):
        if len(calls) == kill_after[0]:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) after 9 of the 19 files
        calls.append(track.track_id)
        return real_work(work, track, names)

    monkeypatch.setattr(stream_mod.TrackWork, "__call__", work_until_killed)
    with pytest.raises(KeyboardInterrupt):
        build(cfg, progress=False, log=lambda *a: None)
    first = list(calls)
    calls.clear()
    kill_after[0] = None  # the restarted build runs to the end
    build(cfg, progress=False, log=lambda *a: None)
    assert len(first) == 9 and len(calls) == 19 - 9 and not set(first) & set(calls), "a cached track was recomputed"
    assert_same_bundle(tiny.bundle, Path(cfg.out))  # = the uninterrupted build's


def test_nothing_imports_ray_without_the_ray_executor():
    code = ("import sys; import pipeline.build, pipeline.cli, pipeline.stream; from pipeline.executors import "
            "executor_map; executor_map('local'); assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=300)


def test_ray_build_on_a_local_two_worker_cluster_equals_the_local_build(tiny, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
    cfg = BuildConfig(**{**vars(tiny.cfg), "out": str(tmp_path / "bundle"), "cache": str(tmp_path / "cache")})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"py_modules": [str(REPO / "pipeline")]})
    try:
        build(cfg, progress=False, log=lambda *a: None, executor="ray", workers=2)
    finally:
        ray.shutdown()
    local, remote = cached_rows(tiny.cfg.cache, tiny.root), cached_rows(cfg.cache, tiny.root)
    for k in local:  # one onnxruntime thread per actor against all cores here: the same numbers to float rounding
        np.testing.assert_allclose(remote[k], local[k], rtol=0, atol=1e-5, err_msg=k)
    assert_same_bundle(tiny.bundle, Path(cfg.out), atol=1e-4)
