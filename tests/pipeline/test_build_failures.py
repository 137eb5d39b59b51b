"""Datasets and builds: junk in the data folder, too little data, interrupted builds, the feature cache.

- A folder with corrupt, empty, non-audio, silent, too-short and hidden files, an empty genre folder and a
  genre whose every file is broken: ``build`` skips and reports (bundle.json ``dataset.skipped``), or stops
  with a one-line DatasetError when too little is left.
- A build interrupted at every stage (an exception raised from that stage's function), and a real build
  process killed with SIGKILL while writing, leave the previous bundle byte for byte as it was, loadable.
- A re-run after the kill reuses the cached features (the per-track work is made to fail); a changed config
  (another segment length) gets its own cache entry and never mixes with the old one; a damaged cache
  file is recomputed, never trusted.

Builds here use the tiny bundle's random-init MobileNetV2 weights, 3 epochs, no augmentation and one torch
thread; the "previous bundle" is a copy of the tiny bundle (conftest.py).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import pipeline.build as build_mod
import pipeline.bundle.writing as bundle_mod
import pipeline.dataset as dataset_mod
import pipeline.maps as maps_mod
import pipeline.stream as stream_mod
from pipeline.build import BuildConfig, build
from pipeline.bundle import load_bundle
from pipeline.cli import main as cli_main
from pipeline.dataset import DatasetError
from pipeline.spectrogram import SpectrogramConfig
from pipeline.train import TrainConfig
from tests.conftest import GENRES, REPO
from tests.synth import tone, write_audio, write_tone_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fast_config(tiny, data, out, cache, **changes) -> BuildConfig:
    """A quick build: the tiny bundle's weights, 3 epochs, no augmentation, no cross-validation."""
    cfg = dict(data=str(data), out=str(out), weights=str(tiny.weights), cache=str(cache), seed=0, cv_folds=2,
               cv_repeats=0, train=TrainConfig(max_epochs=3, patience=2, augment="none"), networks=("mobilenet_v2",))
    return BuildConfig(**{**cfg, **changes})


def quiet(*_):
    pass


def npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def fingerprint(bundle: Path) -> dict:
    """File name -> sha256 of everything in a bundle directory."""
    return {p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bundle.rglob("*")) if p.is_file()}


@pytest.fixture
def previous(tiny, tmp_path):
    """A good bundle at tmp_path/"maps"/"bundle" (a copy of the tiny one) and its fingerprint."""
    out = tmp_path / "maps" / "bundle"
    shutil.copytree(tiny.bundle, out)
    return out, fingerprint(out)


def assert_untouched(out: Path, before: dict) -> None:
    assert out.is_dir(), f"the previous bundle at {out} is gone; beside it: {sorted(os.listdir(out.parent))}"
    assert fingerprint(out) == before, "the previous bundle's files changed"
    b = load_bundle(out)
    assert b.labels == list(GENRES) and len(b.tracks) == 18


@pytest.fixture(scope="module")
def corpus(tiny, tmp_path_factory) -> Path:
    """A private copy of the tiny corpus (18 tracks + a corrupt and two hidden files)."""
    root = tmp_path_factory.mktemp("corpus") / "data"
    shutil.copytree(tiny.root, root)
    return root


# --- junk in the dataset folder -------------------------------------------------------------------


def test_junk_files_are_skipped_and_reported(tiny, tmp_path):
    root = write_tone_corpus(tmp_path / "data", genres=GENRES, tracks_per_genre=4, seconds=6.0, seed=3)
    junk = {  # path -> what the skip reason must say
        "alpha/corrupt.wav": "not a decodable audio file",
        "alpha/header only.wav": "not a decodable audio file",
        "beta/empty.wav": "empty file",
        "beta/cover.jpg": "not a supported audio format (.jpg)",
        "gamma/notes.txt": "not a supported audio format (.txt)",
        "gamma/silent.wav": "silent",
        "gamma/blip.wav": "too short",
        "epsilon/broken.mp3": "not a decodable audio file",  # a genre with nothing usable in it
        "epsilon/also broken.flac": "not a decodable audio file",
        "delta/": "no audio files in this genre folder",
    }
    (root / "alpha" / "corrupt.wav").write_text("a text file with a .wav name\n" * 30)
    (root / "alpha" / "header only.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    (root / "beta" / "empty.wav").write_bytes(b"")
    (root / "beta" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (root / "gamma" / "notes.txt").write_text("liner notes")
    write_audio(root / "gamma" / "silent.wav", np.zeros(5 * 22050, np.float32), 22050)
    write_audio(root / "gamma" / "blip.wav", tone(0.2), 22050)
    (root / "epsilon").mkdir()
    (root / "epsilon" / "broken.mp3").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "epsilon" / "also broken.flac").write_bytes(b"fLaC" + bytes(500))
    hidden = ["alpha/._alpha.00000.wav", "beta/.DS_Store", ".hidden genre/x.wav", "gamma/.partial.wav"]
    for h in hidden:
        (root / h).parent.mkdir(exist_ok=True)
        (root / h).write_bytes(b"\x00\x05\x16\x07AppleDouble" + bytes(100))
    (root / "delta").mkdir()  # an empty genre folder
    (root / "README.md").write_text("files directly in the root are not tracks")

    logs = []
    meta = build(fast_config(tiny, root, tmp_path / "bundle", tmp_path / "cache"), progress=False, log=logs.append)
    b = load_bundle(tmp_path / "bundle")
    assert b.labels == list(GENRES), "empty or all-broken genre folders must not become genres"
    assert len(b.tracks) == 12 and sorted(b.tracks["genre"].value_counts()) == [4, 4, 4]
    skipped = {s["file"]: s["reason"] for s in b.meta["dataset"]["skipped"]}
    assert b.meta["dataset"]["skipped"] == meta["dataset"]["skipped"]
    assert len(skipped) == len(junk), sorted(skipped)
    # files found during discovery are named by their path, files that failed to decode by their track id
    for path, reason in junk.items():
        key = path if path in skipped else Path(path).stem
        assert key in skipped, f"{path} is not reported as skipped: {sorted(skipped)}"
        assert reason in skipped[key] and "\n" not in skipped[key], f"{path}: {skipped[key]!r}"
        assert any(key in line and reason in line for line in logs), f"{path} skipped without a log line"
    for h in hidden:
        assert h not in skipped and Path(h).stem not in skipped, f"hidden file {h} reported"
    assert not any(t.startswith(".") or "DS_Store" in t for t in b.tracks["track_id"])


@pytest.mark.parametrize("case", ["one genre", "one genre left after broken files", "too few tracks in a genre",
                                  "only junk", "no genre folders"])
def test_too_little_data_stops_with_a_clear_error(tiny, tmp_path, case, previous):
    out, before = previous
    root = tmp_path / "data"
    if case == "one genre":
        write_tone_corpus(root, genres=("alpha",), tracks_per_genre=5, seconds=2.0)
        expected = "too little usable data"
    elif case == "one genre left after broken files":
        write_tone_corpus(root, genres=("alpha",), tracks_per_genre=5, seconds=2.0)
        for i in range(4):
            (root / "beta" / f"beta.{i}.wav").parent.mkdir(exist_ok=True)
            (root / "beta" / f"beta.{i}.wav").write_text("not audio")
        expected = "too little usable data"
    elif case == "too few tracks in a genre":
        write_tone_corpus(root, genres=("alpha", "beta"), tracks_per_genre=4, seconds=2.0)
        for p in sorted((root / "beta").iterdir())[2:]:
            p.unlink()
        expected = "'beta': 2"
    elif case == "only junk":
        (root / "alpha").mkdir(parents=True)
        (root / "alpha" / "notes.txt").write_text("x")
        (root / "beta").mkdir()
        (root / "beta" / "._x.wav").write_bytes(b"\x00\x05")
        expected = "0 tracks in 0 genres"
    else:
        root.mkdir()
        (root / "song.wav").write_bytes(b"RIFF")
        expected = "no genre folders"
    cfg = fast_config(tiny, root, out, tmp_path / "cache")
    with pytest.raises(DatasetError) as info:
        build(cfg, progress=False, log=quiet)
    message = str(info.value)
    assert "\n" not in message and expected in message, message
    if case != "no genre folders":
        assert "need at least 2 genres with 3 tracks each" in message
    assert_untouched(out, before)
    if case in ("one genre", "only junk", "no genre folders"):  # the files found already say so: nothing decoded
        assert not (tmp_path / "cache").exists(), "nothing is computed for a dataset that cannot be built"


def test_cli_build_with_too_little_data_is_one_line(tiny, tmp_path, capsys):
    root = write_tone_corpus(tmp_path / "data", genres=("alpha",), tracks_per_genre=3, seconds=2.0)
    code = cli_main(["build", "--data", str(root), "--out", str(tmp_path / "b"), "--weights", str(tiny.weights),
                     "--cache", str(tmp_path / "cache"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: too little usable data") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "b").exists()


# --- interrupted builds -----------------------------------------------------------------------------


def _raise(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


def _partial_savez(exc):
    real = np.savez_compressed

    def savez(file, **arrays):
        real(file, **{k: arrays[k] for k in list(arrays)[:3]})  # part of the new bundle is on disk...
        raise exc  # ...then the disk is full
    return savez


# stage -> (object, attribute, what the replacement raises inside that stage)
STAGES = {
    "discover": (dataset_mod, "discover_tracks", PermissionError("Permission denied: data")),
    "features": (stream_mod, "decode_track", KeyboardInterrupt()),
    "split": (build_mod, "split_tracks", ValueError("cannot split")),
    "cross-validation": (build_mod, "cross_validate", KeyboardInterrupt()),
    "train": (build_mod, "fit_head", RuntimeError("NaN loss")),
    "embed": (build_mod, "head_taps", RuntimeError("out of memory")),
    "maps": (maps_mod, "layer_maps", KeyboardInterrupt()),
    "write": (bundle_mod.np, "savez_compressed", OSError(28, "No space left on device")),  # after a partial write
}


@pytest.fixture(scope="module")
def stage_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("stage-cache")


@pytest.mark.parametrize("stage", list(STAGES))
def test_build_interrupted_at_any_stage_leaves_the_previous_bundle(tiny, corpus, stage_cache, previous, stage,
                                                                   monkeypatch):
    out, before = previous
    target, name, exc = STAGES[stage]
    monkeypatch.setattr(target, name, _partial_savez(exc) if stage == "write" else _raise(exc))
    cfg = fast_config(tiny, corpus, out, stage_cache, cv_repeats=1)  # cv_repeats=1: the CV stage runs
    stages_done = []
    with pytest.raises(type(exc)):
        build(cfg, progress=False, log=lambda line: stages_done.append(line.split(":")[0].strip()))
    monkeypatch.undo()
    order = list(STAGES)
    assert [s for s in stages_done if s in STAGES] == order[:order.index(stage)], "raised in another stage"
    assert_untouched(out, before)
    assert sorted(p.name for p in out.parent.iterdir()) == ["bundle"], "temporary files left beside the bundle"


KILL_DURING_WRITE = textwrap.dedent("""
    import os, sys, time
    import torch
    torch.set_num_threads(1)
    import pipeline.bundle.writing as bundle_mod
    from pipeline.build import BuildConfig, build
    from pipeline.train import TrainConfig

    real_fsync = os.fsync
    def fsync(fd):  # the new bundle is complete in its temporary folder: wait here to be killed
        real_fsync(fd)
        print("WRITING", flush=True)
        time.sleep(300)
    bundle_mod.os.fsync = fsync
    data, out, weights, cache = sys.argv[1:5]
    build(BuildConfig(data=data, out=out, weights=weights, cache=cache, seed=0, cv_folds=2, cv_repeats=0,
                      train=TrainConfig(max_epochs=3, patience=2, augment="none"), networks=("mobilenet_v2",)),
          progress=False)
    print("FINISHED", flush=True)
""")


def test_killed_build_leaves_the_previous_bundle_and_a_rerun_reuses_its_features(tiny, corpus, previous, tmp_path,
                                                                                 monkeypatch):
    out, before = previous
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", KILL_DURING_WRITE, str(corpus), str(out), str(tiny.weights),
                             str(cache)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = []
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:  # the build logs each stage; WRITING comes from inside write_bundle
            lines.append(line)
            if line.startswith("WRITING") or time.monotonic() > deadline:
                break
        assert lines and lines[-1].startswith("WRITING"), "the build never reached the write stage:\n" + "".join(lines)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert_untouched(out, before)
    # the half-written new bundle is only ever in a hidden temporary folder beside it, named by its process
    (left,) = [p for p in out.parent.iterdir() if p.name != "bundle"]
    assert left.name.startswith(f".bundle.tmp-{proc.pid}-")

    features = sorted(cache.glob("tracks-*/*.npz"))
    saved = ([f.stat().st_mtime_ns for f in features], fingerprint(cache))
    monkeypatch.setattr(stream_mod.TrackWork, "__call__", _raise(AssertionError("cached features were recomputed")))
    build(fast_config(tiny, corpus, out, cache), progress=False, log=quiet)
    monkeypatch.undo()
    assert ([f.stat().st_mtime_ns for f in features], fingerprint(cache)) == saved, "the cache was rewritten"
    b = load_bundle(out)
    assert fingerprint(out) != before and b.meta["config"]["train"]["max_epochs"] == 3  # the new bundle is in place
    assert len(b.tracks) == 18 and len(b.arrays["segment_track"]) == 18
    assert not left.exists(), "the next build clears what the killed one left"
    assert [p.name for p in out.parent.iterdir()] == ["bundle"]


def test_changed_config_gets_its_own_features_and_a_damaged_cache_is_recomputed(tiny, corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = []
    real_work = stream_mod.TrackWork.__call__

    def counting_work(work, track, names):
        calls.extend((work.spectrogram.segment_seconds, track.track_id) for name in names if name != "listening")
        return real_work(work, track, names)

    monkeypatch.setattr(stream_mod.TrackWork, "__call__", counting_work)
    # stop right after the features stage: the cache is what is being tested
    monkeypatch.setattr(build_mod, "split_tracks", _raise(KeyboardInterrupt()))

    def features_stage(**changes):
        with pytest.raises(KeyboardInterrupt):
            build(fast_config(tiny, corpus, tmp_path / "b", cache, **changes), progress=False, log=quiet)

    def network_folders() -> list[Path]:
        return sorted(f for f in cache.glob("tracks-*") if "clean" in npz(next(f.glob("*.npz"))))

    features_stage()
    assert len(calls) == 19  # 18 tracks and the corrupt file (tried once; its failure is cached)
    (ten,) = network_folders()
    ten_bytes = {f: f.read_bytes() for f in ten.glob("*.npz")}
    features_stage()
    assert len(calls) == 19, "the same config recomputed its features"

    five = SpectrogramConfig(segment_seconds=5.0, segment_hop_seconds=2.5)
    features_stage(spectrogram=five)
    assert [c[0] for c in calls[19:]] == [5.0] * 19, "another segment length reused the 10 s features"
    folders = network_folders()
    assert len(folders) == 2 and ten in folders, "the 10 s entries were moved"
    assert {f: f.read_bytes() for f in ten.glob("*.npz")} == ten_bytes, "the 10 s entries were rewritten"
    (five_folder,) = [f for f in folders if f != ten]
    # 12 s tracks: one 10 s window each, or 4 windows of 5 s (0, 2.5, 5 and 7 s): never a mixture
    for f in five_folder.glob("*.npz"):
        assert sorted(npz(f)["start_s"].round(2)) == [0.0, 2.5, 5.0, 7.0]
    assert all(len(npz(f)["start_s"]) == 1 for f in ten.glob("*.npz"))

    damaged = sorted(ten_bytes)[0]
    damaged.write_bytes(ten_bytes[damaged][: len(ten_bytes[damaged]) // 3])  # cut short (disk full, killed mid-save)
    features_stage()
    assert len(calls) == 19 * 2 + 1, "a damaged cache file was trusted, or an intact one recomputed"
    recomputed, before = npz(damaged), npz_bytes(ten_bytes[damaged])
    assert recomputed.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(recomputed[k], before[k], err_msg=f"recomputed {k} differs")

    # a full build from the 5 s cache: its bundle holds 5 s windows throughout
    monkeypatch.undo()
    monkeypatch.setattr(stream_mod.TrackWork, "__call__", _raise(AssertionError("recomputed")))
    build(fast_config(tiny, corpus, tmp_path / "b5", cache, spectrogram=five), progress=False, log=quiet)
    b = load_bundle(tmp_path / "b5")
    assert b.meta["config"]["spectrogram"]["segment_seconds"] == 5.0
    assert len(b.arrays["segment_track"]) == len(b.arrays["segment_start_s"]) == 4 * 18


def npz_bytes(data: bytes) -> dict:
    import io

    with np.load(io.BytesIO(data)) as z:
        return {k: z[k] for k in z.files}


KILL_BETWEEN_RENAMES = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from pipeline.bundle import writing as bundle
    from pipeline.bundle import load_bundle, write_bundle

    bundle._exchange = lambda a, b: False  # the two-rename fallback (no renameat2), where a kill can fall between
    out = Path(sys.argv[1])
    b = load_bundle(out)
    real_rename = Path.rename
    def rename(self, target):
        result = real_rename(self, target)
        if ".old-" in Path(target).name:  # the old bundle has just moved aside; the new one is not in place yet
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    Path.rename = rename
    write_bundle(out, b.meta, b.tracks, b.arrays, b.state_dict())
""")


def test_kill_between_the_two_final_renames_leaves_a_loadable_bundle(previous):
    out, before = previous
    r = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(out)], cwd=REPO, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    load_bundle(out)  # opening the bundle puts the previous one back from .bundle.old-*
    assert_untouched(out, before)
