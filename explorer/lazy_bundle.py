"""Open a bundle for the explorer with its arrays read only when a view asks for them.

``pipeline.bundle.load_bundle`` reads every array of ``arrays.npz`` into memory.
A page needs far fewer: the Map page one layer's map at a time, the detail
panel one spectrogram thumbnail. At 10 000 tracks the eager load took ~9 s and
held ~700 MB. ``open_bundle`` checks the same things (format, version, every
file's hash, every array's shape from its header, labels against predictions)
and returns a ``pipeline.bundle.Bundle`` whose ``arrays`` is a ``LazyArrays``:
each array is decompressed on first use and kept. Large arrays (from
``MMAP_FROM`` bytes: at 10 000 tracks the thumbnails and the wide embeddings) are
decompressed once into a cache folder keyed by the file's hash and memory-mapped
from there, so they cost page cache, not the server's memory, and a restarted
server maps them at once.

Proposed to move into the pipeline as ``load_bundle(path, lazy=True)``; until then
the checks below mirror ``load_bundle``'s (no Streamlit here).
"""
from __future__ import annotations

import os
import threading
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.bundle import FILES, TRACK_COLUMNS, Bundle, BundleError, read_meta, sha256_file


MMAP_FROM = 32 * 1024 * 1024  # arrays at least this big (uncompressed) are memory-mapped from the cache folder
CACHE_DIR = Path(os.environ.get("GENRE_MAP_CACHE") or Path(__file__).resolve().parents[1] / ".cache" / "explorer")


class LazyArrays(Mapping):
    """The arrays of an ``.npz`` file by name, each read on first access (thread-safe) and then kept.

    Parameters
    ----------
    path : the ``.npz`` file.
    mmap_dir : where big arrays are unpacked to be memory-mapped (one folder per file content: put its
        hash in the name); None keeps every array in memory.
    """

    def __init__(self, path: str | Path, mmap_dir: Path | None = None):
        self.path = Path(path)
        self.mmap_dir = mmap_dir
        self._zip = zipfile.ZipFile(self.path)
        self._members = {n[:-len(".npy")]: n for n in self._zip.namelist() if n.endswith(".npy")}
        self._loaded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._members:
            raise KeyError(key)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = self._read(key)
            return self._loaded[key]

    def _read(self, key: str) -> np.ndarray:
        member = self._members[key]
        if self.mmap_dir is not None and self._zip.getinfo(member).file_size >= MMAP_FROM:
            try:
                return np.load(self._unpacked(member), mmap_mode="r", allow_pickle=False)
            except OSError:  # a read-only or full disk: keep it in memory instead
                pass
        with self._zip.open(member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    def _unpacked(self, member: str) -> Path:
        """The member as a plain .npy file in ``mmap_dir`` (written once, atomically)."""
        target = self.mmap_dir / member
        if not target.is_file():
            self.mmap_dir.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{member}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                with self._zip.open(member) as src, open(tmp, "wb") as dst:
                    while block := src.read(1 << 22):
                        dst.write(block)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return target

    def __iter__(self):
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, key) -> bool:
        return key in self._members

    def loaded(self) -> list[str]:
        """The names read so far (what the views have asked for)."""
        return sorted(self._loaded)

    def _header(self, f) -> tuple[tuple, bool, np.dtype]:
        major, _ = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        return read(f)

    def shape(self, key: str) -> tuple:
        """An array's shape from its header alone (nothing is decompressed beyond it)."""
        with self._lock, self._zip.open(self._members[key]) as f:
            return tuple(self._header(f)[0])

    def row(self, key: str, index: int) -> np.ndarray:
        """One row of an array, as a copy (a memory-mapped array is not pinned by the caller)."""
        return np.array(self[key][index])


def read_tracks(path: Path) -> pd.DataFrame:
    """tracks.csv as ``load_bundle`` reads it (artist and title may be missing)."""
    return pd.read_csv(path / "tracks.csv", dtype={"artist": "string", "title": "string", "path": "string"},
                       keep_default_na=False, na_values={"artist": [""], "title": [""]})


def open_bundle(path: str | Path, verify: bool = True, cache_dir: Path | None = CACHE_DIR) -> Bundle:
    """A bundle with lazily read arrays; raises BundleError like ``load_bundle``.

    ``cache_dir``: where big arrays are unpacked for memory-mapping (None: keep them in memory).
    """
    path = Path(path)
    meta = read_meta(path)
    for name in FILES:
        if not (path / name).is_file():
            raise BundleError(f"bundle {path} is incomplete: {name} is missing; rebuild it")
        if verify and sha256_file(path / name) != meta["files"].get(name):
            raise BundleError(f"bundle {path} is damaged: {name} does not match its recorded hash; rebuild it")
    try:
        digest = meta["files"].get("arrays.npz") or "unverified"
        arrays = LazyArrays(path / "arrays.npz", None if cache_dir is None else Path(cache_dir) / digest[:32])
        tracks = read_tracks(path)
        check_shapes(path, meta, tracks, arrays)
    except BundleError:
        raise
    except Exception as e:  # truncated zip, bad CSV, a pickled object array
        raise BundleError(f"bundle {path} cannot be read ({type(e).__name__}: {e}); rebuild it") from None
    return Bundle(path=path, meta=meta, tracks=tracks, arrays=arrays)


def check_shapes(path: Path, meta: dict, tracks: pd.DataFrame, arrays: LazyArrays) -> None:
    """Every array the views read has the shape bundle.json promises; labels agree with the predictions."""
    n, g = len(tracks), len(meta["labels"])
    expect = {"probabilities": (n, g)}
    for e, info in meta["embeddings"].items():
        expect.update({f"track_{e}": (n, info["dim"]), f"map_{e}": (n, 2), f"similarity_{e}": (g, g)})
    if "preview_bytes" in arrays:
        expect["preview_offsets"] = (n + 1,)
    wrong = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    wrong += [k for k, s in expect.items() if k not in arrays or arrays.shape(k) != s]
    wrong += [k for k in arrays if k.startswith("track_") and k[len("track_"):] not in meta["embeddings"]]
    if wrong or n == 0:
        raise BundleError(f"bundle {path} is inconsistent ({', '.join(wrong) or 'no tracks'}); rebuild it")
    labels = list(meta["labels"])
    probs = arrays["probabilities"]
    unknown = sorted(set(tracks["genre"].astype(str)) - set(labels))
    predicted = tracks["predicted"].astype(str).map({name: i for i, name in enumerate(labels)})
    disagree = predicted.isna().any() or bool(np.any(
        probs[np.arange(n), predicted.fillna(0).astype(int).to_numpy()] < probs.max(axis=1) - 1e-6))
    if unknown or disagree:
        why = f"genres {unknown} are not in its labels" if unknown else "its labels disagree with its predictions"
        raise BundleError(f"bundle {path} is inconsistent: bundle.json was edited ({why}); rebuild it")
