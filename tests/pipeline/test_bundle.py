import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.bundle import (
    FORMAT_VERSION,
    TRACK_COLUMNS,
    BundleError,
    load_bundle,
    read_meta,
    sha256_file,
    write_bundle,
)
from pipeline.bundle import writing as bundle_mod

DIMS = {"none": 12, "immediate": 10, "deep": 6, "shallow": 4}
LABELS = ["blues", "jazz", "rock"]


def make_parts(n=6, marker="v1", seed=0):
    """meta, tracks, arrays and state dict of a small but complete bundle."""
    rng = np.random.default_rng(seed)
    genres = [LABELS[i % len(LABELS)] for i in range(n)]
    tracks = pd.DataFrame({
        "track_id": [f"{g}.{i:05d}" for i, g in enumerate(genres)], "genre": genres,
        "split": ["train", "val", "test"] * (n // 3) + ["train"] * (n % 3),
        "artist": ["Ann", None, "Bob, Jr.", None, "Ünïcode", "Ann"][:n] + ["X"] * max(0, n - 6),
        "title": ['Say "hi"', "t2", None, "t4", "t5", "t6"][:n] + ["T"] * max(0, n - 6),
        "path": [f"{g}/{g}.{i:05d}.wav" for i, g in enumerate(genres)],
        "predicted": genres, "confidence": rng.random(n).round(4), "n_segments": np.full(n, 5),
    })
    arrays = {"probabilities": rng.random((n, len(LABELS))).astype(np.float32),
              "thumbnails": rng.integers(0, 255, (n, 8, 16), dtype=np.uint8)}
    tracks["predicted"] = [LABELS[i] for i in arrays["probabilities"].argmax(1)]  # as a build writes it
    for e, d in DIMS.items():
        arrays[f"track_{e}"] = rng.random((n, d)).astype(np.float32)
        arrays[f"segment_{e}"] = rng.random((n * 5, d)).astype(np.float16)
        arrays[f"map_{e}"] = rng.normal(size=(n, 2)).astype(np.float32)
        arrays[f"similarity_{e}"] = rng.random((len(LABELS), len(LABELS)))
    meta = {"config": {"seed": 0, "spectrogram": {"n_mels": 128}}, "labels": LABELS,
            "embeddings": {e: {"dim": d} for e, d in DIMS.items()},
            "metrics": {"test": {"accuracy": 0.5}, "marker": marker},
            "dataset": {"name": "tiny", "n_tracks": n, "skipped": []}}
    torch.manual_seed(seed)
    state = {"head.deep.1.weight": torch.randn(6, 10), "head.out.bias": torch.randn(3),
             "backbone.mean": torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)}
    return meta, tracks, arrays, state


@pytest.fixture()
def written(tmp_path):
    parts = make_parts()
    path = write_bundle(tmp_path / "bundle", *parts)
    return path, parts


def leftovers(parent: Path):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_round_trip(written):
    path, (meta, tracks, arrays, state) = written
    assert sorted(p.name for p in path.iterdir()) == ["arrays.npz", "bundle.json", "model.safetensors", "tracks.csv"]
    b = load_bundle(path)
    assert b.meta["format_version"] == FORMAT_VERSION and b.meta["format"] == "gtzan-genre-map"
    for k in meta:
        assert b.meta[k] == meta[k], k
    assert set(b.meta["files"]) == {"arrays.npz", "model.safetensors", "tracks.csv"}
    assert b.labels == LABELS and b.embeddings == list(DIMS)
    assert set(b.arrays) == set(arrays)
    for k, v in arrays.items():
        assert b.arrays[k].dtype == v.dtype, k
        np.testing.assert_array_equal(b.arrays[k], v)
    for e in DIMS:
        np.testing.assert_array_equal(b.vectors(e), arrays[f"track_{e}"])
        np.testing.assert_array_equal(b.coords(e), arrays[f"map_{e}"])
        np.testing.assert_array_equal(b.similarity(e), arrays[f"similarity_{e}"])
    assert list(b.tracks.columns[: len(TRACK_COLUMNS)]) == list(TRACK_COLUMNS)
    for col in tracks.columns:
        got = b.tracks[col].astype(object).where(b.tracks[col].notna(), None).tolist()
        want = tracks[col].astype(object).where(tracks[col].notna(), None).tolist()
        if col == "confidence":
            np.testing.assert_allclose(got, want)
        else:
            assert got == want, col
    assert leftovers(path.parent) == []


def test_safetensors_weights_load(written):
    path, (_, _, _, state) = written
    loaded = load_bundle(path).state_dict()
    assert set(loaded) == set(state)
    for k, v in state.items():
        assert loaded[k].dtype == torch.float32
        torch.testing.assert_close(loaded[k], v.float(), rtol=0, atol=0)
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:  # a real safetensors file, no pickle
        assert set(f.keys()) == set(state)


def test_rewrite_replaces_the_bundle_without_leftovers(written):
    path, _ = written
    write_bundle(path, *make_parts(n=9, marker="v2", seed=1))
    b = load_bundle(path)
    assert b.meta["metrics"]["marker"] == "v2" and len(b.tracks) == 9
    assert leftovers(path.parent) == []


def test_leftovers_of_killed_writes_are_cleared_by_the_next_write_and_live_ones_kept(written):
    import subprocess
    import sys

    path, _ = written
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)  # that process has exited
    made = {name: path.parent / name for name in
            (f".bundle.tmp-{dead_pid}-0badc0de", f".bundle.old-{dead_pid}-0badc0de",  # a killed write's
             f".bundle.tmp-{bundle_mod.os.getpid()}-00c0ffee",  # a write still running (this process)
             ".bundle.tmp-0badc0de")}  # no pid in the name (an older version's): not ours to judge
    for folder in made.values():
        folder.mkdir()
        (folder / "arrays.npz").write_bytes(b"half written")
    write_bundle(path, *make_parts(n=9, marker="v2", seed=1))
    assert load_bundle(path).meta["metrics"]["marker"] == "v2"
    assert leftovers(path.parent) == sorted([f".bundle.tmp-{bundle_mod.os.getpid()}-00c0ffee", ".bundle.tmp-0badc0de"])


# --- atomic write ----------------------------------------------------------------------------


def _assert_still_v1(path):
    b = load_bundle(path)
    assert b.meta["metrics"]["marker"] == "v1" and len(b.tracks) == 6


@pytest.mark.parametrize("exc", [OSError("No space left on device"), KeyboardInterrupt()])
def test_crash_mid_write_leaves_previous_bundle_intact(written, monkeypatch, exc):
    path, _ = written
    real_savez = np.savez_compressed

    def crash(file, **arrays):
        real_savez(file, **{k: arrays[k] for k in list(arrays)[:2]})  # part of the data is on disk...
        raise exc  # ...then the disk fills up / the user presses Ctrl-C

    monkeypatch.setattr(bundle_mod.np, "savez_compressed", crash)
    with pytest.raises(type(exc)):
        write_bundle(path, *make_parts(marker="v2", seed=1))
    monkeypatch.undo()
    _assert_still_v1(path)
    assert leftovers(path.parent) == [], "temporary directories left behind"


def test_unserialisable_meta_leaves_previous_bundle_intact(written):
    path, _ = written
    meta, tracks, arrays, state = make_parts(marker="v2")
    meta["metrics"]["accuracy"] = float("nan")  # strict JSON has no NaN
    with pytest.raises(ValueError):
        write_bundle(path, meta, tracks, arrays, state)
    _assert_still_v1(path)
    assert leftovers(path.parent) == []


def test_crash_on_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_mod, "sha256_file", lambda p: (_ for _ in ()).throw(OSError("I/O error")))
    with pytest.raises(OSError):
        write_bundle(tmp_path / "new", *make_parts())
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


def test_failed_final_rename_keeps_previous_bundle(written, monkeypatch):
    path, _ = written
    real_rename = Path.rename

    def rename(self, target):
        if Path(target) == path and ".tmp-" in self.name:
            raise OSError("rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    monkeypatch.setattr(bundle_mod, "_exchange", lambda a, b: False)  # the two-rename path (no renameat2)
    with pytest.raises(OSError):
        write_bundle(path, *make_parts(marker="v2", seed=1))
    monkeypatch.undo()
    assert path.is_dir(), f"no bundle left at {path}; hidden dirs: {leftovers(path.parent)}"
    _assert_still_v1(path)


# --- damaged bundles -------------------------------------------------------------------------


def test_missing_bundle_directory(tmp_path):
    with pytest.raises(BundleError, match=r"no bundle at .*python -m pipeline build"):
        load_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["bundle.json", "arrays.npz", "tracks.csv", "model.safetensors"])
def test_missing_file(written, name):
    path, _ = written
    (path / name).unlink()
    expected = "bundle.json is missing" if name == "bundle.json" else f"incomplete: {name} is missing"
    with pytest.raises(BundleError, match=expected):
        load_bundle(path)


def test_truncated_arrays(written):
    path, _ = written
    data = (path / "arrays.npz").read_bytes()
    (path / "arrays.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="arrays.npz does not match its recorded hash"):
        load_bundle(path)
    with pytest.raises(BundleError, match=r"cannot be read \(.*\); rebuild it"):
        load_bundle(path, verify=False)


def _edit_meta(path, edit, resign: bool = True):
    """Edit bundle.json; ``resign`` also updates its content hash (so the checks behind it are reached)."""
    meta = json.loads((path / "bundle.json").read_text())
    edit(meta)
    if resign and isinstance(meta, dict):
        meta["meta_sha256"] = bundle_mod.meta_hash(meta)
    (path / "bundle.json").write_text(json.dumps(meta))


def test_bad_json(written):
    path, _ = written
    (path / "bundle.json").write_text('{"format": "gtzan-genre-map", "format_version": 1,')
    with pytest.raises(BundleError, match="bundle.json is damaged"):
        load_bundle(path)
    (path / "bundle.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BundleError, match="bundle.json is damaged"):
        load_bundle(path)


@pytest.mark.parametrize("version, message", [
    (FORMAT_VERSION + 1, "is newer than this code reads"),
    (FORMAT_VERSION - 1, "is out of date .* rebuild"),
    ("1", "is newer than this code reads"),  # not an int: refused, never compared as text
])
def test_wrong_format_version(written, version, message):
    path, _ = written
    _edit_meta(path, lambda m: m.update(format_version=version))
    with pytest.raises(BundleError, match=message):
        read_meta(path)
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_not_a_bundle(written):
    path, _ = written
    _edit_meta(path, lambda m: m.update(format="something-else"))
    with pytest.raises(BundleError, match="is not a gtzan-genre-map bundle"):
        load_bundle(path)
    (path / "bundle.json").write_text("[1, 2, 3]")
    with pytest.raises(BundleError, match="is not a gtzan-genre-map bundle"):
        load_bundle(path)


@pytest.mark.parametrize("key", ["labels", "embeddings", "files", "metrics", "config", "dataset"])
def test_missing_meta_key(written, key):
    path, _ = written
    _edit_meta(path, lambda m: m.pop(key))
    with pytest.raises(BundleError, match=f"lacks {key}; rebuild"):
        load_bundle(path)


def test_changed_metric_and_changed_arrays_are_both_refused(written):
    path, _ = written
    original = (path / "bundle.json").read_text()
    _edit_meta(path, lambda m: m["metrics"]["test"].update(accuracy=0.99), resign=False)
    with pytest.raises(BundleError, match="bundle.json was edited after the build"):
        load_bundle(path)
    (path / "bundle.json").write_text(original)
    # A well-formed npz with other numbers: only the hash can tell.
    with np.load(path / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["map_deep"] = arrays["map_deep"] + 1.0
    np.savez_compressed(path / "arrays.npz", **arrays)
    with pytest.raises(BundleError, match="damaged: arrays.npz does not match its recorded hash"):
        load_bundle(path)
    assert load_bundle(path, verify=False).coords("deep").shape == (6, 2)


def test_tampered_tracks_and_weights_are_caught_by_hash(written):
    path, _ = written
    csv = (path / "tracks.csv").read_text().replace("jazz.00001", "jazz.99999")
    (path / "tracks.csv").write_text(csv)
    with pytest.raises(BundleError, match="tracks.csv does not match its recorded hash"):
        load_bundle(path)


def _rehash(path, name):
    """Re-sign a hand-edited file, as a determined forger could: hashes alone are no defence against pickles."""
    _edit_meta(path, lambda m: m["files"].update({name: sha256_file(path / name)}))


class _RunsCodeWhenUnpickled:
    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.sentinel,))


def test_object_array_is_refused_without_unpickling(written, tmp_path):
    path, (_, _, arrays, _) = written
    sentinel = tmp_path / "code_ran"
    evil = dict(arrays)
    evil["track_deep"] = np.array([_RunsCodeWhenUnpickled(sentinel)] * 6, dtype=object)
    np.savez(path / "arrays.npz", **evil)
    _rehash(path, "arrays.npz")  # a hand-made bundle can carry consistent hashes
    with pytest.raises(BundleError, match="cannot be read .*[Pp]ickle"):
        load_bundle(path)
    assert not sentinel.exists(), "loading a bundle ran code from a pickled array"


def test_inconsistent_shapes(written):
    path, (meta, tracks, arrays, state) = written
    arrays = dict(arrays)
    arrays["track_deep"] = arrays["track_deep"][:, :3]  # dim 3, meta says 6
    del arrays["map_none"]
    write_bundle(path, meta, tracks, arrays, state)
    with pytest.raises(BundleError, match="inconsistent .*map_none.*track_deep|inconsistent .*track_deep.*map_none"):
        load_bundle(path)


def test_tracks_csv_missing_column(written):
    path, (meta, tracks, arrays, state) = written
    tracks = tracks.drop(columns=["split"])
    with pytest.raises(KeyError):  # write_bundle itself refuses a table without the required columns
        write_bundle(path, meta, tracks, arrays, state)
    _assert_still_v1(path)
    assert leftovers(path.parent) == []


def test_damaged_safetensors_is_caught(written):
    path, _ = written
    (path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(BundleError, match="model.safetensors does not match its recorded hash"):
        load_bundle(path)


# --- a hand-edited bundle.json (it is not hashed) ---------------------------------------------------


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(labels="blues jazz rock"), "labels must be a list of distinct genre names"),
    (lambda m: m.update(labels=["blues", "blues", "rock"]), "labels must be a list of distinct genre names"),
    (lambda m: m.update(files=[]), "files must hold the sha256"),
    (lambda m: m.update(embeddings=["deep"]), "embeddings must map each name to"),
    (lambda m: m["embeddings"]["deep"].pop("dim"), "embeddings must map each name to"),
    (lambda m: m["embeddings"]["deep"].update(dim="6"), "embeddings must map each name to"),
    (lambda m: m.update(config=None), "config must be an object"),
    (lambda m: m["embeddings"].pop("none"), r"inconsistent \(track_none\)"),
    (lambda m: m.update(labels=LABELS[::-1]), "bundle.json was edited .its labels disagree with its predictions"),
    (lambda m: m.update(labels=["a", "b", "c"]), r"bundle.json was edited .genres \['blues', 'jazz', 'rock'\] are not"),
])
def test_edited_json_is_a_clear_error_not_a_crash_or_a_wrong_map(written, edit, message):
    path, _ = written
    _edit_meta(path, edit)
    with pytest.raises(BundleError, match=message) as info:
        load_bundle(path)
    assert "\n" not in str(info.value) and "rebuild" in str(info.value)


def test_pickled_weights_are_refused_without_unpickling(written, tmp_path):
    path, _ = written
    sentinel = tmp_path / "code_ran"
    torch.save({"w": torch.zeros(2), "evil": _RunsCodeWhenUnpickled(sentinel)}, path / "model.safetensors")
    _rehash(path, "model.safetensors")  # a hand-made bundle with consistent hashes
    b = load_bundle(path)
    with pytest.raises(BundleError, match=r"model.safetensors cannot be read \(SafetensorError"):
        b.state_dict()
    assert not sentinel.exists(), "loading a bundle's weights ran code from a pickle"


def test_a_file_verified_once_is_not_hashed_again_until_it_changes(written, tmp_path, monkeypatch):
    from pipeline.bundle import reading

    written, _ = written
    hashed = []
    real = reading.sha256_file
    monkeypatch.setattr(reading, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    cache = tmp_path / "cache"
    load_bundle(written, lazy=True, cache_dir=cache)
    first = sorted(hashed)
    assert "arrays.npz" in first
    hashed.clear()
    load_bundle(written, lazy=True, cache_dir=cache)
    assert hashed == []  # unchanged since: remembered
    load_bundle(written)  # without a cache folder every file is hashed, as before
    assert sorted(hashed) == first
    hashed.clear()
    tracks = written / "tracks.csv"
    tracks.write_text(tracks.read_text().replace("jazz.00001", "jazz.99999"))  # changed: hashed again, and refused
    with pytest.raises(BundleError, match="tracks.csv does not match"):
        load_bundle(written, lazy=True, cache_dir=cache)
    assert hashed[-1] == "tracks.csv"
