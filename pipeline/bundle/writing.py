"""Writing a bundle atomically: a crash at any point leaves the previous one intact.

Everything goes to a hidden sibling directory first; only a complete, synced
bundle replaces the old one, by one atomic exchange (``renameat2``) or, where
that is missing, two renames that ``recover_bundle`` completes after a kill.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..onnx_link import link_weights
from ..predictor import PREDICTOR_FILE
from .format import FILES, FORMAT, FORMAT_VERSION, TRACK_COLUMNS, WEIGHTS, meta_hash, sha256_file

if TYPE_CHECKING:
    import pandas as pd


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bundle(out: str | Path, meta: dict, tracks: pd.DataFrame, arrays: dict, state_dict: dict,
                 graphs: dict[str, bytes] | None = None, tensors: dict[str, np.ndarray] | None = None) -> Path:
    """Write a bundle atomically: a crash at any point leaves the previous one intact.

    Everything goes to a hidden sibling directory first; only a complete,
    synced bundle replaces ``out``, by one atomic exchange (see ``_swap_in``).
    ``graphs`` maps file names (``model.onnx``) to serialised ONNX models;
    their weights that are also in ``state_dict`` are stored once, in
    model.safetensors, and the graph points at them (``link_weights``).
    ``tensors`` (a genre predictor's numpy arrays, e.g. a probe's scaler and
    coefficients) go to predictor.safetensors, listed and hashed like the rest.
    """
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover_bundle(out)
    remove_stale_temps(out)
    tmp = out.parent / _temp_name(out, "tmp")
    tmp.mkdir()
    try:
        save_file({k: _storage(v) for k, v in state_dict.items()}, tmp / "model.safetensors")
        tracks.loc[:, list(TRACK_COLUMNS) + [c for c in tracks.columns if c not in TRACK_COLUMNS]].to_csv(
            tmp / "tracks.csv", index=False)
        np.savez_compressed(tmp / "arrays.npz", **arrays)
        for name, graph in (graphs or {}).items():
            (tmp / name).write_bytes(link_weights(graph, tmp / WEIGHTS))
        names = FILES + tuple(graphs or ())
        if tensors:
            from safetensors.numpy import save_file as save_arrays

            save_arrays({k: np.ascontiguousarray(v) for k, v in tensors.items()}, tmp / PREDICTOR_FILE)
            names += (PREDICTOR_FILE,)
        meta = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION,
                "files": {name: sha256_file(tmp / name) for name in names}}
        meta["meta_sha256"] = meta_hash(meta)
        (tmp / "bundle.json").write_text(json.dumps(meta, indent=2, sort_keys=False, allow_nan=False))
        for name in names + ("bundle.json",):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        _swap_in(tmp, out)
        _fsync_dir(out.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the new bundle on failure, the previous one on success
    return out


def _storage(tensor):
    """A weight as it is stored: float16 when that is exact (the pretrained networks ship as float16, so their
    frozen weights are), else float32. Halves the bundle's weights; the values are unchanged."""
    v = tensor.detach().contiguous().float()
    half = v.half()
    return half if v.is_floating_point() and bool((half.float() == v).all()) else v


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished bundle ``tmp`` at ``out``; afterwards ``tmp`` holds what was there before.

    One atomic exchange where the OS has it, so there is never a moment with
    no bundle at ``out``. Elsewhere: two renames, and ``recover_bundle`` puts
    the previous bundle back if a crash falls between them.
    """
    if not out.exists():
        tmp.rename(out)
        return
    if _exchange(tmp, out):
        return
    old = out.parent / _temp_name(out, "old")
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)  # put the previous bundle back
        raise
    old.rename(tmp)


def _temp_name(out: Path, kind: str) -> str:
    """``.<name>.<kind>-<pid>-<random>``: hidden, beside ``out``, and naming the process that owns it."""
    return f".{out.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _owner_alive(temp: Path) -> bool:
    """Whether the process named in a temporary folder's name still runs (True when the name has no pid)."""
    try:
        pid = int(temp.name.rsplit("-", 2)[-2])
    except (ValueError, IndexError):
        return True  # not ours to judge: leave it
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is another user's
        pass
    return True


def remove_stale_temps(out: Path) -> list[Path]:
    """Delete what killed writes left beside ``out`` (their process is gone); returns what was removed.

    ``.old-*`` folders (a previous bundle moved aside) are only removed while
    ``out`` holds a bundle, so they are never the only copy of one.
    """
    out = Path(out)
    kinds = ("tmp", "old") if (out / "bundle.json").is_file() else ("tmp",)
    stale = [p for kind in kinds for p in out.parent.glob(f".{out.name}.{kind}-*")
             if p.is_dir() and not _owner_alive(p)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def recover_bundle(out: Path) -> None:
    """If a crash left ``out`` missing between two renames, restore the previous bundle."""
    if out.exists():
        return
    olds = sorted(out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds:
        if (old / "bundle.json").is_file():
            old.rename(out)
            return
