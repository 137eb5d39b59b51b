"""The versioned, atomic, pickle-free bundle the pipeline writes and the explorer reads.

Layout of a bundle directory::

    bundle.json        format + version, config, labels, dataset, splits, metrics, file hashes
    model.safetensors  backbone + head weights (float32)
    model.onnx         the network's graph for onnxruntime (placing songs needs no torch); its
                       weights are not copied: they point into model.safetensors (ONNX external data)
    predictor.safetensors  the genre predictor's arrays when it has any (a logistic probe's scaler and weights)
    tracks.csv         one row per track: id, genre, split, artist, title, path, prediction
    arrays.npz         embeddings (per track), maps, similarity matrices, probabilities,
                       spectrogram thumbnails, short audio previews (Ogg Vorbis bytes)

Only arrays, text and protobuf: ``np.load(..., allow_pickle=False)``, safetensors
and ONNX, so a bundle from anyone can be opened without running their code.
``bundle.json`` records each network's graph under ``onnx`` (network → file).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import BundleError, one_line
from .networks import DEFAULT_NETWORK
from .predictor import PREDICTOR_FILE
from .previews import unpack_preview

if TYPE_CHECKING:  # pandas is imported where tables are read or written: `info` needs only bundle.json
    import pandas as pd

FORMAT = "gtzan-genre-map"
FORMAT_VERSION = 3  # 2: bundle.json carries a hash of its own content; 3: model.onnx (serving without torch)
FILES = ("model.safetensors", "tracks.csv", "arrays.npz")  # always there; graphs (model.onnx) are listed in "files" too
WEIGHTS = "model.safetensors"
FLOAT16_SUFFIX = ".float16"  # a graph initializer read as float16 from WEIGHTS (a Cast node restores the name)
TRACK_COLUMNS = ("track_id", "genre", "split", "artist", "title", "path", "predicted", "confidence")
REQUIRED_META = ("format", "format_version", "config", "labels", "embeddings", "files", "metrics", "dataset")


@dataclass
class Bundle:
    """Everything a bundle holds: ``arrays`` in memory, or read when first asked for (``load_bundle(lazy=True)``);
    weights stay on disk until asked for."""

    path: Path
    meta: dict
    tracks: pd.DataFrame
    arrays: dict = field(repr=False)

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def embeddings(self) -> list[str]:
        return list(self.meta["embeddings"])

    def vectors(self, embedding: str) -> np.ndarray:
        """Per-track vectors of one embedding, (n_tracks, dim)."""
        return self.arrays[f"track_{embedding}"]

    def coords(self, embedding: str) -> np.ndarray:
        """2-D map positions of every track in one embedding, (n_tracks, 2)."""
        return self.arrays[f"map_{embedding}"]

    def preview(self, index: int) -> bytes | None:
        """Track ``index``'s short Ogg Vorbis preview, or None when the bundle was built without previews."""
        if "preview_bytes" not in self.arrays:
            return None
        return unpack_preview(self.arrays["preview_bytes"], self.arrays["preview_offsets"], index)

    @property
    def networks(self) -> dict[str, list[str]]:
        """Network name → its embedding keys, in order; older bundles: the default only."""
        nets = self.meta.get("networks")
        if isinstance(nets, dict) and nets:
            return {n: list(v["layers"]) for n, v in nets.items()}
        return {DEFAULT_NETWORK: self.embeddings}

    @property
    def predictor(self) -> str:
        """The network whose probabilities are the bundle's (and a placed song's) prediction."""
        return self.meta.get("predictor", DEFAULT_NETWORK)

    def similarity(self, embedding: str) -> np.ndarray:
        """Genre × genre mean cosine similarity, (n_genres, n_genres)."""
        return self.arrays[f"similarity_{embedding}"]

    def graph_path(self, network: str = DEFAULT_NETWORK) -> Path:
        """Where ``network``'s ONNX graph is (hash-checked on load); raises BundleError if the bundle has none."""
        name = (self.meta.get("onnx") or {}).get(network, {}).get("file")
        if not isinstance(name, str) or name not in self.meta["files"] or "/" in name:
            raise BundleError(f"bundle {self.path} has no ONNX graph for {network}; rebuild it")
        return self.path / name

    def graphs(self) -> dict[str, bytes]:
        """Every ONNX graph, weights inline (what ``write_bundle(graphs=...)`` takes to rewrite a bundle).

        Needs the onnx package.
        """
        import onnx

        out = {}
        for record in (self.meta.get("onnx") or {}).values():
            model = onnx.load(str(self.path / record["file"]), load_external_data=True)
            out[record["file"]] = model.SerializeToString()
        return out

    def state_dict(self) -> dict:
        """Model weights as torch tensors (safetensors: no code is run); raises BundleError if unreadable."""
        from safetensors.torch import load_file

        try:
            return load_file(self.path / "model.safetensors")
        except Exception as e:  # not a safetensors file (e.g. a pickle renamed), truncated, unreadable
            raise BundleError(f"bundle {self.path}: model.safetensors cannot be read ({one_line(e)}); "
                              "rebuild it") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def meta_hash(meta: dict) -> str:
    """Hash of bundle.json's content (all but this hash): an edited setting is refused, not obeyed."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


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


def safetensors_offsets(path: Path) -> dict[str, tuple[str, list, int, int]]:
    """name → (dtype, shape, first byte, end byte) of every tensor in a safetensors file (header only)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    base = 8 + n
    return {k: (v["dtype"], v["shape"], base + v["data_offsets"][0], base + v["data_offsets"][1])
            for k, v in header.items() if k != "__metadata__"}


def link_weights(graph: bytes, weights: Path) -> bytes:
    """An ONNX model whose float32 initializers found (same name, shape and values) in ``weights`` point into it.

    ONNX external data (location, offset, length) lets onnxruntime read those
    tensors straight from model.safetensors, so a bundle holds its weights
    once; anything not found stays inside the graph. A weight stored as
    float16 (exactly: see ``_storage``) is read as float16 and cast to float32
    by a ``Cast`` node, which onnxruntime folds away when it loads the graph.
    Needs the ``onnx`` package (a build-time dependency; serving only needs onnxruntime).
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(graph)
    tensors = safetensors_offsets(weights)
    data = weights.read_bytes()
    casts = []
    for init in model.graph.initializer:
        half = init.data_type == onnx.TensorProto.FLOAT16 and init.name.endswith(FLOAT16_SUFFIX)  # linked before
        found = tensors.get(init.name.removesuffix(FLOAT16_SUFFIX) if half else init.name)
        if not (init.data_type == onnx.TensorProto.FLOAT or half) or found is None or found[1] != list(init.dims):
            continue
        dtype, _, a, b = found
        values = numpy_helper.to_array(init).astype("<f4")
        stored = {"F32": "<f4", "F16": "<f2"}.get(dtype)
        if stored is None or not np.array_equal(np.frombuffer(data[a:b], stored).astype("<f4"), values.ravel()):
            continue  # a tensor of that name with other values: keep the graph's own
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.ClearField("int32_data")
        if dtype == "F16" and not half:
            name = init.name
            init.name, init.data_type = f"{name}{FLOAT16_SUFFIX}", onnx.TensorProto.FLOAT16
            casts.append(helper.make_node("Cast", [init.name], [name], to=onnx.TensorProto.FLOAT))
        for key, value in (("location", weights.name), ("offset", str(a)), ("length", str(b - a))):
            entry = init.external_data.add()
            entry.key, entry.value = key, value
        init.data_location = onnx.TensorProto.EXTERNAL
    for node in reversed(casts):
        model.graph.node.insert(0, node)
    return model.SerializeToString()


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


def read_meta(path: str | Path) -> dict:
    """bundle.json, checked for format and version; raises BundleError."""
    path = Path(path)
    hint = "build one with: python -m pipeline build --data DIR --weights FILE --out " + str(path)
    recover_bundle(path)
    if not path.is_dir():
        raise BundleError(f"no bundle at {path}; {hint}")
    try:
        meta = json.loads((path / "bundle.json").read_text())
    except FileNotFoundError:
        raise BundleError(f"{path} is not a bundle (bundle.json is missing); {hint}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}/bundle.json is damaged ({e}); rebuild the bundle") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{path}/bundle.json is not a {FORMAT} bundle")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise BundleError(f"{path}/bundle.json lacks {', '.join(missing)}; rebuild the bundle")
    version = meta["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(f"bundle format {version} is newer than this code reads ({FORMAT_VERSION}); update the code")
    if version < FORMAT_VERSION:
        raise BundleError(f"bundle format {version} is out of date (now {FORMAT_VERSION}); rebuild it; {hint}")
    wrong = _meta_type_problems(meta)
    if wrong:
        raise BundleError(f"{path}/bundle.json is damaged ({'; '.join(wrong)}); rebuild the bundle")
    if meta.get("meta_sha256") != meta_hash(meta):
        raise BundleError(f"{path}/bundle.json was edited after the build (its content hash does not match); "
                          "rebuild the bundle")
    return meta


def _meta_type_problems(meta: dict) -> list[str]:
    """What in bundle.json has the wrong type (a hand edit), so it fails here and not deep in the app."""
    wrong = []
    labels = meta.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) and x for x in labels)
            and len(set(labels)) == len(labels)):
        wrong.append("labels must be a list of distinct genre names")
    embeddings = meta.get("embeddings")
    if not (isinstance(embeddings, dict) and embeddings and all(
            isinstance(v, dict) and type(v.get("dim")) is int and v["dim"] > 0 for v in embeddings.values())):
        wrong.append("embeddings must map each name to {dim: positive integer}")
    files = meta.get("files")
    if not (isinstance(files, dict) and all(isinstance(files.get(name), str) for name in FILES)
            and all(isinstance(v, str) for v in files.values())):
        wrong.append(f"files must hold the sha256 of {', '.join(FILES)}")
    wrong += [f"{key} must be an object" for key in ("config", "metrics", "dataset")
              if not isinstance(meta.get(key), dict)]
    return wrong


def check_files(path: str | Path, meta: dict, verify: bool = True) -> None:
    """Every file bundle.json lists is there and (``verify``) matches its recorded hash; raises BundleError."""
    path = Path(path)
    for name in meta["files"]:  # FILES (checked by read_meta) and any graphs
        if "/" in name or name.startswith("."):
            raise BundleError(f"bundle {path} is damaged: bundle.json lists a file outside it ({name}); rebuild it")
        if not (path / name).is_file():
            raise BundleError(f"bundle {path} is incomplete: {name} is missing; rebuild it")
        if verify and sha256_file(path / name) != meta["files"].get(name):
            raise BundleError(f"bundle {path} is damaged: {name} does not match its recorded hash; rebuild it")


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


def load_bundle(path: str | Path, verify: bool = True, lazy: bool = False, cache_dir: str | Path | None = None
                ) -> Bundle:
    """Open a bundle; every file's hash and every array's shape are checked.

    Parameters
    ----------
    path : the bundle directory.
    verify : check every file against the hash bundle.json records.
    lazy : read each array of arrays.npz when it is first asked for (``LazyArrays``) instead of all of them
        now; shapes are checked from the arrays' headers, so the same bundles are refused. A server that
        shows one map at a time then holds one map, not every layer's vectors (~700 MB at 10 000 tracks).
    cache_dir : with ``lazy``, where arrays of at least ``MMAP_FROM`` bytes are unpacked once (in a folder
        named after arrays.npz's hash) and memory-mapped from: they cost page cache, not the process's memory.

    Raises
    ------
    BundleError with a message saying what is wrong and how to fix it.
    """
    path = Path(path)
    meta = read_meta(path)
    check_files(path, meta, verify)
    try:
        if lazy:
            digest = str(meta["files"].get("arrays.npz") or "unverified")[:32]
            arrays = LazyArrays(path / "arrays.npz", None if cache_dir is None else Path(cache_dir) / digest)
            pickled = [k for k in arrays if arrays.header(k)[1].hasobject]
            if pickled:  # refused now, as the eager load refuses them, not when a view first reads one
                raise ValueError(f"Object arrays cannot be loaded when allow_pickle=False ({', '.join(pickled)})")
        else:
            with np.load(path / "arrays.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        tracks = _read_tracks(path)
        _check_shapes(path, meta, tracks, arrays)
    except BundleError:
        raise
    except Exception as e:  # truncated zip, bad CSV, a pickled object array
        raise BundleError(f"bundle {path} cannot be read ({type(e).__name__}: {e}); rebuild it") from None
    return Bundle(path=path, meta=meta, tracks=tracks, arrays=arrays)


def _read_tracks(path: Path) -> pd.DataFrame:
    """tracks.csv, with artist and title allowed to be missing."""
    import pandas as pd

    return pd.read_csv(path / "tracks.csv", dtype={"artist": "string", "title": "string", "path": "string"},
                       keep_default_na=False, na_values={"artist": [""], "title": [""]})


def _shape(arrays, key: str) -> tuple:
    """An array's shape; from its header alone when the arrays are read lazily."""
    return arrays.shape(key) if isinstance(arrays, LazyArrays) else arrays[key].shape


def _check_shapes(path: Path, meta: dict, tracks: pd.DataFrame, arrays) -> None:
    n, g = len(tracks), len(meta["labels"])
    missing_cols = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    expect = {"probabilities": (n, g)}
    for e, info in meta["embeddings"].items():
        expect[f"track_{e}"] = (n, info["dim"])
        expect[f"map_{e}"] = (n, 2)
        expect[f"similarity_{e}"] = (g, g)
    if "preview_bytes" in arrays:  # previews are optional, but whole: one offset per track plus the end
        expect["preview_offsets"] = (n + 1,)
    wrong = [k for k, s in expect.items() if k not in arrays or _shape(arrays, k) != s]
    # every embedding in the arrays is described in bundle.json (none was dropped from it)
    wrong += [k for k in arrays if k.startswith("track_") and k[len("track_"):] not in meta["embeddings"]]
    if missing_cols or wrong or n == 0:
        problems = ", ".join(missing_cols + wrong) or "no tracks"
        raise BundleError(f"bundle {path} is inconsistent ({problems}); rebuild it")
    # bundle.json is not hashed: its labels must agree with the hashed tracks and probabilities, or a
    # reordered or renamed label list would silently put every song under another genre's name
    labels = list(meta["labels"])
    probs = arrays["probabilities"]
    unknown = sorted(set(tracks["genre"].astype(str)) - set(labels))
    predicted = tracks["predicted"].astype(str).map({g: i for i, g in enumerate(labels)})
    disagree = predicted.isna().any() or bool(np.any(
        probs[np.arange(n), predicted.fillna(0).astype(int).to_numpy()] < probs.max(axis=1) - 1e-6))
    if unknown or disagree:
        why = f"genres {unknown} are not in its labels" if unknown else "its labels disagree with its predictions"
        raise BundleError(f"bundle {path} is inconsistent: bundle.json was edited ({why}); rebuild it")
