"""Reading a bundle: ``load_bundle`` checks its format version, every file's hash and every array's shape."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BundleError, one_line
from ..networks import DEFAULT_NETWORK
from ..previews import unpack_preview
from .format import FILES, FORMAT, FORMAT_VERSION, REQUIRED_META, TRACK_COLUMNS, meta_hash, sha256_file
from .lazy import LazyArrays
from .writing import recover_bundle

if TYPE_CHECKING:  # pandas is imported where tables are read or written: `info` needs only bundle.json
    import pandas as pd


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


def check_files(path: str | Path, meta: dict, verify: bool = True, cache_dir: str | Path | None = None) -> None:
    """Every file bundle.json lists is there and (``verify``) matches its recorded hash; raises BundleError.

    ``cache_dir``: a file verified once is not hashed again while it is unchanged (``verified_before``).
    """
    path = Path(path)
    for name in meta["files"]:  # FILES (checked by read_meta) and any graphs
        if "/" in name or name.startswith("."):
            raise BundleError(f"bundle {path} is damaged: bundle.json lists a file outside it ({name}); rebuild it")
        if not (path / name).is_file():
            raise BundleError(f"bundle {path} is incomplete: {name} is missing; rebuild it")
        if verify and not verified_before(path / name, meta["files"][name], cache_dir):
            if sha256_file(path / name) != meta["files"].get(name):
                raise BundleError(f"bundle {path} is damaged: {name} does not match its recorded hash; rebuild it")
            remember_verified(path / name, meta["files"][name], cache_dir)


def _verified_stamp(file: Path, digest: str, cache_dir: str | Path) -> Path:
    """The stamp of ``file`` as it is now (path, size, change times, inode) having hashed to ``digest``."""
    st = file.stat()
    key = f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}|{digest}"
    return Path(cache_dir) / "verified" / hashlib.sha256(key.encode()).hexdigest()[:32]


def verified_before(file: Path, digest: str, cache_dir: str | Path | None) -> bool:
    """Whether ``file``, unchanged since (same size, modification and change times, inode), was hashed to
    ``digest`` before: a server restarted on a 3 GB bundle does not read it all again (2.2 s at 100 000
    tracks, from the page cache). Any write to the file changes its times, so it is hashed again."""
    return cache_dir is not None and _verified_stamp(file, digest, cache_dir).exists()


def remember_verified(file: Path, digest: str, cache_dir: str | Path | None) -> None:
    """Leave ``verified_before``'s stamp (nothing if the cache folder cannot be written)."""
    if cache_dir is None:
        return
    try:
        stamp = _verified_stamp(file, digest, cache_dir)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:
        pass


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
        named after arrays.npz's hash) and memory-mapped from: they cost page cache, not the process's memory;
        and where files verified once are remembered (``verified_before``).

    Raises
    ------
    BundleError with a message saying what is wrong and how to fix it.
    """
    path = Path(path)
    meta = read_meta(path)
    check_files(path, meta, verify, cache_dir if lazy else None)
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
