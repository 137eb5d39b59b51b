"""End to end: a synthetic corpus → ``build`` → bundle → ``place`` / ``info`` on the command line.

Needs no shared files: the backbone weights are a randomly initialised
torchvision MobileNetV2 saved to a temporary file. Only the accuracy check on
separable synthetic genres uses the shared ImageNet weights (skipped without them).
"""
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import pipeline.stream as stream_mod
from pipeline.build import BuildConfig, _cache_key, build
from pipeline.bundle import load_bundle
from pipeline.cli import main as cli_main
from pipeline.dataset import discover_tracks
from pipeline.networks.mobilenet_v2_net import EMBEDDINGS, pooled_dim
from pipeline.place import Placer
from pipeline.previews import PREVIEW_SECONDS
from pipeline.splits import audit_leakage, split_groups
from tests.conftest import GENRES, REPO
from tests.synth import genre_clip, tone, write_audio, write_tone_corpus

SR = 22050
# "immediate" = the pooled MobileNetV2 blocks of the build's default (all 19 blocks: 2816-d)
DIMS = {"none": 32 * 64, "immediate": pooled_dim(BuildConfig("").pool_blocks), "deep": 256, "shallow": 64}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def songs(tiny):
    """Fresh synthetic songs (not in the corpus), a corrupt one and a missing one."""
    d = tiny.base / "songs"
    rng = np.random.default_rng(123)
    good1 = write_audio(d / "new alpha song.wav", genre_clip(0, 15.0, SR, rng), SR)
    good2 = write_audio(d / "new_gamma.flac", genre_clip(2, 8.0, SR, rng), SR)
    bad = d / "broken.wav"
    bad.write_text("a text file renamed to .wav\n" * 40)
    bad_mp3 = d / "broken.mp3"
    bad_mp3.write_bytes(rng.bytes(4096))
    return SimpleNamespace(good1=good1, good2=good2, bad=bad, bad_mp3=bad_mp3, missing=d / "missing.ogg")


def run_cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})


# --- the build -------------------------------------------------------------------------------


def test_bundle_loads_with_four_embeddings(tiny):
    b = load_bundle(tiny.bundle)
    assert b.labels == list(GENRES)
    assert len(b.tracks) == 18
    assert sorted(b.tracks["track_id"]) == sorted(f"{g}.{i:05d}" for g in GENRES for i in range(6))
    assert {e: b.meta["embeddings"][e]["dim"] for e in EMBEDDINGS} == DIMS
    for e, d in DIMS.items():
        assert b.vectors(e).shape == (18, d) and np.isfinite(b.vectors(e)).all(), e
        assert b.coords(e).shape == (18, 2) and np.isfinite(b.coords(e)).all(), f"map {e} not finite"
        assert np.ptp(b.coords(e), axis=0).min() > 0, f"map {e} collapsed"
        S = b.similarity(e)
        assert S.shape == (3, 3) and np.isfinite(S).all()
        np.testing.assert_allclose(S, S.T, atol=1e-6)
    p = b.arrays["probabilities"]
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    # 12 s tracks → one 10 s window each (the 2 s tail is under half a hop)
    np.testing.assert_array_equal(b.arrays["segment_track"], np.arange(18))
    per_window = [k for k in b.arrays if k.startswith("segment_") and k[8:] in DIMS]
    assert not per_window, "per-window vectors: no view reads them"
    preview = b.preview(0)  # every dot can be heard without the dataset: the centre 5 s of the 12 s
    y, sr = sf.read(io.BytesIO(preview))
    assert sr == 22050 and len(y) == int(PREVIEW_SECONDS * sr) and np.abs(y).max() > 0.01
    assert b.preview(len(b.tracks)) is None
    assert b.arrays["thumbnails"].dtype == np.uint8 and len(b.arrays["thumbnails"]) == 18
    assert set(b.tracks["predicted"]) <= set(GENRES)
    assert b.tracks["path"].str.match(r"^(alpha|beta|gamma)/").all()
    sd = b.state_dict()
    assert any(k.startswith("backbone.features.") for k in sd) and any(k.startswith("head.") for k in sd)


def test_split_audit_holds(tiny):
    b = load_bundle(tiny.bundle)
    t = b.tracks
    counts = b.meta["splits"]["counts"]
    assert sum(counts.values()) == 18 and min(counts.values()) >= 1
    assert counts == t["split"].value_counts().to_dict()
    assert b.meta["splits"]["genres_grouped_by_track"] == list(GENRES)  # no artist metadata here
    groups, _ = split_groups(list(t["track_id"]), t["genre"].to_numpy(), [None] * len(t), min_artists=3)
    audit_leakage(t["split"].to_numpy(), list(t["track_id"]), groups)
    for g in GENRES:
        assert "train" in set(t.loc[t["genre"] == g, "split"]), f"{g} has no training track"


def test_corrupt_file_is_reported_and_hidden_files_ignored(tiny):
    skipped = tiny.meta["dataset"]["skipped"]
    assert [s["file"] for s in skipped] == ["beta.00099"], skipped
    assert "not a decodable audio file" in skipped[0]["reason"]
    assert any("beta.00099" in line for line in tiny.logs)
    ids = set(load_bundle(tiny.bundle).tracks["track_id"])
    assert not any(i.startswith(".") or "DS_Store" in i or "beta.00099" in i for i in ids)


def test_metrics_and_timings_are_recorded(tiny):
    m = tiny.meta["metrics"]
    cv = m["cross_validation"]["track"]
    assert cv["folds"] == 3 and cv["repeats"] == 1 and cv["seed"] == 0
    assert cv["grouping"].startswith("track") and cv["genres_grouped_by_track"] == []
    for k in ("head", "logistic_baseline"):  # PLAN.md's metrics contract
        assert set(cv[k]) == {"accuracy", "balanced_accuracy", "macro_f1"}
        for score in cv[k].values():
            assert len(score["folds"]) == 3 and all(0 <= v <= 1 for v in score["folds"])
            assert score["mean"] == pytest.approx(np.mean(score["folds"]))
            assert score["std"] == pytest.approx(np.std(score["folds"]))
    assert "artist" not in m["cross_validation"]  # no artist metadata
    test = m["test"]
    n_test = tiny.meta["splits"]["counts"]["test"]
    assert test["n_tracks"] == n_test and np.sum(test["confusion_matrix"]) == n_test
    assert 0 <= test["accuracy"] <= 1 and np.isfinite(test["loss"])
    assert 0 <= test["balanced_accuracy"] <= 1 and 0 <= test["macro_f1"] <= 1
    assert set(test["per_genre_f1"]) == set(test["per_genre_accuracy"]) == set(load_bundle(tiny.bundle).labels)
    assert set(m["embedding_quality"]) == set(EMBEDDINGS)
    for q in m["embedding_quality"].values():
        assert 0 <= q["knn_accuracy"] <= 1 and -1 <= q["silhouette"] <= 1 and 0 <= q["trustworthiness"] <= 1
    stages = {"discover", "features", "split", "cross-validation", "train", "embed", "maps", "write", "total"}
    assert stages <= set(tiny.meta["timings_s"])
    assert load_bundle(tiny.bundle).meta["config"]["weights"] == tiny.weights.name
    if Path("/proc/self/status").exists():  # each stage's memory at its end: where a build's peak was set
        memory = load_bundle(tiny.bundle).meta["memory_mb"]
        assert stages - {"write", "total"} <= set(memory)
        peaks = [m["peak"] for m in memory.values()]
        assert peaks == sorted(peaks) and all(0 < m["rss"] <= m["peak"] for m in memory.values())


def cache_entries(cache: Path) -> list[Path]:
    """Every per-track feature cache entry under ``cache`` (one folder per network/config key)."""
    return sorted(Path(cache).glob("tracks-*/*.npz"))


def cached_rows(cache: Path, root: Path, network: str = "mobilenet_v2") -> dict:
    """A network's cached rows of every track, concatenated in track order (as the build reads them)."""
    from pipeline.embed import concat_track_rows
    from pipeline.feature_cache import TrackCache

    def holds(folder: Path) -> bool:
        files = np.load(next(folder.glob("*.npz"))).files
        return "clean" in files and ("weight" in files) == (network == "musicnn")

    (folder,) = [f for f in Path(cache).glob("tracks-*") if holds(f)]
    store = TrackCache(folder.parent, folder.name.removeprefix("tracks-"))
    tracks, _ = discover_tracks(root)
    return concat_track_rows([r for r in (store.load(t) for t in tracks) if r is not None])


def test_second_build_reuses_the_feature_cache(tiny, monkeypatch):
    entries = cache_entries(tiny.cfg.cache)
    assert len(entries) == 2 * 19 - 1, entries  # features and listening per track; the corrupt file: listening only
    mtimes = [e.stat().st_mtime_ns for e in entries]

    def no_recompute(*a, **k):
        raise AssertionError("features were recomputed although they are cached")

    monkeypatch.setattr(stream_mod.TrackWork, "__call__", no_recompute)
    out2 = tiny.base / "bundle2"
    # the same settings: the CV's out-of-fold probabilities and the genre predictor they choose are arrays too
    meta2 = build(BuildConfig(**{**vars(tiny.cfg), "out": str(out2)}), progress=False, log=lambda *a: None)
    assert meta2["timings_s"]["features"] < tiny.meta["timings_s"]["features"]
    assert cache_entries(tiny.cfg.cache) == entries
    assert [e.stat().st_mtime_ns for e in entries] == mtimes
    # Same data, config and seed: the same bundle (deterministic build).
    a, b = load_bundle(tiny.bundle), load_bundle(out2)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=f"{k} differs between two builds")


def test_augmentation_never_reaches_the_embeddings(tiny):
    rows = cached_rows(tiny.cfg.cache, tiny.root)
    clean, augmented, kinds = rows["clean"], rows["augmented"], rows["augmentation"]
    assert augmented.shape == clean.shape and len(kinds) == len(clean)
    # (random backbone features are tiny, ~1e-9: compare relatively)
    changed = np.isin(kinds, [2, 3])  # pitch, noise
    assert changed.any() and not np.allclose(clean[changed], augmented[changed], rtol=1e-3, atol=0)
    # one window per track here, so each track's vector is its clean window's features (stored in float16)
    stored = load_bundle(tiny.bundle).vectors("immediate")
    np.testing.assert_allclose(stored, clean, rtol=1e-3, atol=1e-3 * np.abs(clean).max())
    assert not np.allclose(stored[changed], augmented[changed], rtol=1e-3, atol=1e-3 * np.abs(clean).max())


def test_feature_cache_key_follows_data_and_config(tmp_path, random_weights):
    from pipeline.feature_cache import file_key

    root = write_tone_corpus(tmp_path / "d", genres=("a", "b"), tracks_per_genre=1, seconds=1.0)
    tracks, _ = discover_tracks(root)
    cfg = BuildConfig(data=str(root))
    key = _cache_key(cfg, str(random_weights))
    assert key == _cache_key(BuildConfig(data=str(root), cv_folds=2), str(random_weights))  # CV does not matter
    assert key != _cache_key(BuildConfig(data=str(root), seed=1), str(random_weights))
    assert key != _cache_key(BuildConfig(data=str(root), max_track_seconds=10.0), str(random_weights))
    before = [file_key(t) for t in tracks]
    write_audio(tracks[0].path, tone(1.0, freq=300.0), SR)  # the audio changed: that track's entry misses
    os.utime(tracks[0].path, ns=(1, 1))
    assert [file_key(t) for t in tracks] != before and file_key(tracks[1]) == before[1]


def test_build_without_cross_validation(tiny):
    out = tiny.base / "bundle_no_cv"
    build(BuildConfig(**{**vars(tiny.cfg), "out": str(out), "cv_repeats": 0}), progress=False, log=lambda *a: None)
    assert load_bundle(out).meta["metrics"]["test"]["n_tracks"] >= 1


def test_placer_finds_a_bundle_track_itself(tiny):
    placer = Placer.from_path(tiny.bundle)
    track = placer.bundle.tracks.iloc[4]
    p = placer.place_file(tiny.root / track["path"])
    for e in EMBEDDINGS:
        top = p.maps[e]["neighbours"][0]
        assert top["track_id"] == track["track_id"], f"{e}: nearest is {top}, not the track itself"
        assert top["similarity"] > 0.999
        np.testing.assert_allclose(p.vectors[e], placer.bundle.vectors(e)[4], rtol=1e-3, atol=1e-6,
                                   err_msg=f"{e}: placement and build disagree on the same audio")
    b = placer.bundle  # its genre: the stored predictor on the track's stored vectors (float16: 1e-3)
    stored = placer.predictor_model.predict({e: b.vectors(e)[4:5] for e in b.embeddings},
                                            {n: b.arrays[f"probabilities_{n}"][4:5] for n in b.networks})[0]
    np.testing.assert_allclose(list(p.probabilities.values()), stored, atol=1e-3)
    assert "trajectory" not in p.to_json() and p.trajectory is None


def test_silent_windows_stay_off_the_trajectory(tiny):
    # A song with a gap of digital silence: the silent window has no direction in the cosine maps,
    # so it is left off the path (it used to make openTSNE's transform fail with NaN).
    placer = Placer.from_path(tiny.bundle)
    y = tone(12.0, SR, 440.0)
    song = np.concatenate([y, np.zeros(int(15 * SR), np.float32), y])
    p = placer.place_audio(song, "gap.wav", trajectory=True)
    starts = [w["start_s"] for w in p.trajectory]
    assert 15.0 not in starts and len(starts) == p.n_segments - 1, starts
    assert all(np.isfinite([w["maps"][e]["x"], w["maps"][e]["y"]]).all() for w in p.trajectory for e in EMBEDDINGS)


# --- the command line ------------------------------------------------------------------------


def _check_record(rec, bundle):
    ids = dict(zip(bundle.tracks["track_id"], bundle.tracks["genre"]))
    assert {"file", "genre", "probabilities", "maps"} <= set(rec)
    assert set(rec["probabilities"]) == set(GENRES)
    assert sum(rec["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert rec["genre"] == max(rec["probabilities"], key=rec["probabilities"].get)
    assert set(rec["maps"]) == set(EMBEDDINGS)
    for e, m in rec["maps"].items():
        assert np.isfinite([m["x"], m["y"]]).all()
        nb = m["neighbours"]
        assert len(nb) == 5 and len({n["track_id"] for n in nb}) == 5
        for n in nb:
            assert {"track_id", "genre", "similarity"} <= set(n)
            assert ids[n["track_id"]] == n["genre"]
            assert -1.0 <= n["similarity"] <= 1.0 + 1e-6
        sims = [n["similarity"] for n in nb]
        assert sims == sorted(sims, reverse=True), f"{e}: neighbours not sorted by similarity"


@pytest.fixture(scope="module")
def cli_place(tiny, songs):
    """One ``place --json --trajectory`` run: two good files around a corrupt and a missing one."""
    return run_cli("place", songs.good1, songs.bad, songs.missing, songs.good2, "--bundle", tiny.bundle, "--json",
                   "--trajectory")


def test_place_json_with_bad_files_among_good_ones(tiny, songs, cli_place):
    r = cli_place
    assert r.returncode != 0, "a failed file must make the exit code non-zero"
    lines = r.stdout.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [rec["file"] for rec in records] == [songs.good1.name, songs.good2.name]
    b = load_bundle(tiny.bundle)
    for rec in records:
        _check_record(rec, b)
    assert records[0]["duration_s"] == pytest.approx(15.0, abs=0.01) and records[0]["n_segments"] == 2
    assert "Traceback" not in r.stderr
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 2, f"expected one stderr line per bad file, got:\n{r.stderr}"
    assert err[0].startswith(f"error: {songs.bad}") and "not a decodable audio file" in err[0]
    assert err[1].startswith(f"error: {songs.missing}") and "file not found" in err[1]


def test_corrupt_mp3_error_is_one_line(tiny, songs, capfd):
    code = cli_main(["place", str(songs.bad_mp3), str(songs.good2), "--bundle", str(tiny.bundle), "--json"])
    out, err = capfd.readouterr()
    assert code == 1 and len(out.strip().splitlines()) == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr for one corrupt mp3 should be one line, got:\n{err}"


def test_place_trajectory(cli_place):
    long, short = (json.loads(line) for line in cli_place.stdout.strip().splitlines())
    traj = long["trajectory"]
    assert len(traj) == long["n_segments"] == 2
    assert [w["start_s"] for w in traj] == [0.0, 5.0]
    assert traj[-1]["end_s"] == pytest.approx(15.0, abs=0.01)
    for w in traj:
        assert w["end_s"] - w["start_s"] == pytest.approx(10.0, abs=0.01)
        assert w["genre"] in GENRES and 0 < w["confidence"] <= 1
        assert set(w["maps"]) == set(EMBEDDINGS)
        assert all(np.isfinite([m["x"], m["y"]]).all() for m in w["maps"].values())
    # an 8 s song is one (padded) window that ends where the song ends
    assert [(w["start_s"], w["end_s"]) for w in short["trajectory"]] == [(0.0, pytest.approx(8.0, abs=0.01))]


def test_place_text_mode_in_process(tiny, songs, capsys):
    assert cli_main(["place", str(songs.good2), "--bundle", str(tiny.bundle)]) == 0
    out = capsys.readouterr().out
    first, rest = out.split("\n", 1)
    assert first.startswith("genre by ") and "CV balanced accuracy" in first  # the predictor, named once
    assert rest.startswith(f"{songs.good2.name}: ") and out.count("nearest:") == 4


def test_info_json_and_text(tiny, capsys):
    r = run_cli("info", "--bundle", tiny.bundle, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["labels"] == list(GENRES) and info["dataset"]["n_tracks"] == 18
    assert info["embeddings"]["deep"]["dim"] == 256 and Path(info["path"]) == tiny.bundle
    assert "files" not in info
    assert cli_main(["info", "--bundle", str(tiny.bundle)]) == 0
    out = capsys.readouterr().out
    assert "18 tracks, 3 genres" in out and "beta.00099" in out and "CV by track" in out


def test_cli_reports_a_missing_bundle_in_one_line(tmp_path, songs, capsys):
    assert cli_main(["place", str(songs.good1), "--bundle", str(tmp_path / "nowhere"), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: no bundle at") and len(err.strip().splitlines()) == 1, err


# --- with ImageNet weights, separable synthetic genres must be learned -----------------------


@pytest.fixture(scope="module")
def imagenet(tiny, shared_weights):
    out = tiny.base / "bundle_imagenet"
    # its own cache dir: the shared tiny cache must keep exactly the tiny build's features
    cfg = BuildConfig(**{**vars(tiny.cfg), "out": str(out), "weights": str(shared_weights),
                         "cache": str(tiny.base / "cache_imagenet")})
    meta = build(cfg, progress=False, log=lambda *a: None)
    return SimpleNamespace(meta=meta, placer=Placer.from_path(out))


def test_imagenet_features_separate_synthetic_genres(imagenet):
    # The premise of the next test: a linear model on the same features separates the genres.
    track_cv = imagenet.meta["metrics"]["cross_validation"]["track"]
    assert track_cv["logistic_baseline"]["balanced_accuracy"]["mean"] >= 0.9


def test_trained_classifier_places_fresh_clips_in_their_genre(imagenet):
    rng = np.random.default_rng(2024)
    wrong = []
    for i, g in enumerate(GENRES):
        for _ in range(2):
            p = imagenet.placer.place_audio(genre_clip(i, 12.0, SR, rng), f"fresh {g}")
            if p.genre != g:
                wrong.append((g, p.genre, round(p.probabilities[p.genre], 3)))
    assert not wrong, f"fresh clips placed in the wrong genre (true, placed, p): {wrong}"
    assert imagenet.meta["metrics"]["cross_validation"]["track"]["head"]["balanced_accuracy"]["mean"] >= 0.9


def test_build_cli_defaults_are_the_configs_defaults():
    from pipeline.build import BuildConfig
    from pipeline.cli import parser, spectrogram_config
    from pipeline.spectrogram import SpectrogramConfig

    args = parser().parse_args(["build", "--data", "x"])
    assert spectrogram_config(args) == SpectrogramConfig() and args.pool_blocks is None
    args = parser().parse_args(["build", "--data", "x", "--segment", "6", "--image-size", "0",
                                "--pool-blocks", "17", "18"])
    spec = spectrogram_config(args)
    assert (spec.segment_seconds, spec.segment_hop_seconds, spec.image_size) == (6.0, 3.0, None)
    assert args.pool_blocks == [17, 18] and BuildConfig(data="x").pool_blocks == tuple(BuildConfig.pool_blocks)
