"""A bundle's arrays read lazily: each on first access, the big ones memory-mapped from a cache folder."""
from __future__ import annotations

import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

MMAP_FROM = 32 * 1024 * 1024  # with load_bundle(lazy=True, cache_dir=...): arrays this big (bytes) are memory-mapped


class LazyArrays(Mapping):
    """The arrays of an ``.npz`` file by name, each read on first access (thread-safe) and then kept.

    Nothing is unpickled (``allow_pickle=False``), as in the eager load.

    Parameters
    ----------
    path : the ``.npz`` file.
    mmap_dir : where arrays of at least ``MMAP_FROM`` bytes are unpacked once to be memory-mapped (one folder
        per file content: put its hash in the name); None keeps every array in memory.
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
                    shutil.copyfileobj(src, dst, 1 << 22)
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

    def header(self, key: str) -> tuple[tuple, np.dtype]:
        """An array's (shape, dtype) from its header alone (nothing is decompressed beyond it)."""
        with self._lock, self._zip.open(self._members[key]) as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            return tuple(shape), dtype

    def shape(self, key: str) -> tuple:
        return self.header(key)[0]

    def row(self, key: str, index: int) -> np.ndarray:
        """One row of an array, as a copy (a memory-mapped array is not pinned by the caller)."""
        return np.array(self[key][index])
