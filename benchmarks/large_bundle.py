"""Write a synthetic bundle of N tracks (jittered copies of a real one) to measure the explorer at scale.

    python benchmarks/large_bundle.py --tracks 10000 --out /tmp/gtzan_10k [--source assets/gtzan] [--seed 0]

Every track of the source is copied ``ceil(N / n_source)`` times (the first copy keeps its id; the others
get ``<id>.c<k>``); each copy's vectors get Gaussian noise (``--jitter`` × each dimension's spread) and its
map position a little noise (``--spread`` × the source map's typical nearest-neighbour distance), so each
source track becomes a small cloud on the map. Probabilities are jittered too and the predicted genre and
confidence recomputed from them; genre × genre similarity is recomputed from the jittered vectors (exactly
as ``pipeline.maps.genre_similarity``, in O(N) memory). Every other per-track array (thumbnails,
``probabilities_<network>``, …) is copied row by row, and the model weights and bundle.json settings are the
source's: placing a song on the result works, and ``load_bundle`` opens it (hashes, shapes, labels).

Per-window arrays (``segment_track``, ``segment_start_s``) are kept consistent but small: ``--windows``
windows per track (default 1); per-window vectors (``segment_<embedding>``, which bundles no longer store) are
not written. Audio previews (``preview_bytes``/``preview_offsets``), when the source has them, are kept for the
first copy of each track only (the others have none: ``Bundle.preview`` gives None), so 10 000 tracks do not
carry 300 MB of repeated audio.
The output is written with ``pipeline.bundle.write_bundle`` (atomic; the same format as ``build``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.bundle import load_bundle, write_bundle  # noqa: E402
from pipeline.predictor import PREDICTOR_FILE  # noqa: E402
from pipeline.project import unit_rows  # noqa: E402


def copy_index(n_source: int, n_tracks: int) -> tuple[np.ndarray, np.ndarray]:
    """(source row, copy number) of every synthetic track: copies interleaved, so any prefix covers every genre."""
    i = np.arange(n_tracks)
    return i % n_source, i // n_source


def genre_similarity_by_sums(X: np.ndarray, genres: np.ndarray, labels) -> np.ndarray:
    """``pipeline.maps.genre_similarity`` without the N × N matrix.

    The mean cosine over all pairs of genres a and b is ``s_a · s_b / (n_a n_b)`` with ``s_a`` the sum of a's
    unit vectors; the diagonal leaves out each song's similarity with itself (``n_a`` ones).
    """
    U = unit_rows(X)
    sums = np.stack([U[genres == g].sum(axis=0) for g in labels])
    counts = np.array([np.sum(genres == g) for g in labels], dtype=float)
    dots = sums @ sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = dots / np.outer(counts, counts)
        diag = (np.diag(dots) - counts) / (counts * (counts - 1))
    out[np.diag_indices(len(labels))] = np.where(counts > 1, diag, np.nan)
    out[counts == 0, :] = np.nan
    out[:, counts == 0] = np.nan
    return out


def typical_neighbour_distance(xy: np.ndarray) -> float:
    """Median distance from a map point to its nearest other point."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def jittered_tracks(tracks, src: np.ndarray, copy: np.ndarray, probs: np.ndarray, labels):
    """tracks.csv rows of the copies: unique ids, titles saying which copy, prediction from ``probs``."""
    out = tracks.iloc[src].reset_index(drop=True).copy()
    ids = out["track_id"].astype(str).to_numpy()
    out["track_id"] = [t if c == 0 else f"{t}.c{c}" for t, c in zip(ids, copy)]
    titles = out["title"].astype("string")
    out["title"] = [t if c == 0 else f"{'' if t is None or t is np.nan or str(t) == '<NA>' else t} (copy {c})".strip()
                    for t, c in zip(titles.to_numpy(dtype=object), copy)]
    top = probs.argmax(axis=1)
    out["predicted"] = [labels[i] for i in top]
    out["confidence"] = np.round(probs[np.arange(len(probs)), top].astype(float), 4)
    return out


def jitter_rows(X: np.ndarray, src: np.ndarray, copy: np.ndarray, scale: float, rng) -> np.ndarray:
    """Rows of ``X`` picked by ``src``; copies > 0 get noise of ``scale`` × each column's spread."""
    rows = X[src].astype(np.float32)
    spread = X.std(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)  # float16 layers: sums overflow
    noise = rng.standard_normal(rows.shape, dtype=np.float32) * (scale * spread)
    rows += noise * (copy > 0)[:, None]
    return rows


def synthetic_arrays(bundle, src, copy, *, jitter: float, spread: float, windows: int, rng) -> dict:
    """Every array of the synthetic bundle (see the module docstring)."""
    n_source, n = len(bundle.tracks), len(src)
    arrays = {}
    for e in bundle.embeddings:
        vectors = bundle.vectors(e)
        arrays[f"track_{e}"] = jitter_rows(vectors, src, copy, jitter, rng).astype(vectors.dtype)  # as built
        xy = bundle.coords(e)
        step = spread * typical_neighbour_distance(xy)
        arrays[f"map_{e}"] = (xy[src] + rng.normal(0, step, (n, 2)) * (copy > 0)[:, None]).astype(np.float32)
    for key, value in bundle.arrays.items():
        if key in arrays or key.startswith(("segment_", "similarity_", "preview_")):
            continue
        if key.startswith("probabilities"):  # the prediction, and any per-network probabilities
            p = np.clip(value[src] * np.exp(rng.normal(0, jitter, value[src].shape) * (copy > 0)[:, None]), 1e-6, None)
            arrays[key] = (p / p.sum(axis=1, keepdims=True)).astype(value.dtype)
        elif value.ndim >= 1 and value.shape[0] == n_source:  # thumbnails and other per-track arrays
            arrays[key] = value[src]
        else:
            arrays[key] = value
    owner = np.repeat(np.arange(n, dtype=np.int32), windows)
    hop = float(bundle.meta["config"]["spectrogram"]["segment_hop_seconds"])
    arrays["segment_track"] = owner
    arrays["segment_start_s"] = np.tile(np.arange(windows, dtype=np.float32) * hop, n)
    if "preview_offsets" in bundle.arrays:
        arrays.update(first_copy_previews(bundle.arrays["preview_bytes"], bundle.arrays["preview_offsets"], src, copy))
    return arrays


def first_copy_previews(data: np.ndarray, offsets: np.ndarray, src: np.ndarray, copy: np.ndarray) -> dict:
    """Packed previews (``pipeline.previews`` layout) where only each track's first copy has one."""
    sizes = np.where(copy == 0, offsets[src + 1] - offsets[src], 0)
    new_offsets = np.zeros(len(src) + 1, dtype=np.int64)
    new_offsets[1:] = np.cumsum(sizes)
    parts = [data[offsets[i]:offsets[i + 1]] for i, c in zip(src, copy) if c == 0]
    return {"preview_bytes": np.concatenate(parts) if parts else np.zeros(0, np.uint8), "preview_offsets": new_offsets}


def predictor_tensors(bundle) -> dict | None:
    """The source bundle's predictor.safetensors arrays (None when it has none)."""
    if PREDICTOR_FILE not in bundle.meta.get("files", {}):
        return None
    from safetensors.numpy import load_file

    return load_file(bundle.path / PREDICTOR_FILE)


def make_large_bundle(source: Path, out: Path, n_tracks: int, *, seed: int = 0, jitter: float = 0.15,
                      spread: float = 0.6, windows: int = 1) -> Path:
    """Write the synthetic bundle of ``n_tracks`` to ``out``; returns ``out``."""
    bundle = load_bundle(source)
    labels = bundle.labels
    rng = np.random.default_rng(seed)
    src, copy = copy_index(len(bundle.tracks), n_tracks)
    arrays = synthetic_arrays(bundle, src, copy, jitter=jitter, spread=spread, windows=windows, rng=rng)
    tracks = jittered_tracks(bundle.tracks, src, copy, arrays["probabilities"], labels)
    tracks["n_segments"] = windows
    genres = tracks["genre"].astype(str).to_numpy()
    for e in bundle.embeddings:
        arrays[f"similarity_{e}"] = genre_similarity_by_sums(arrays[f"track_{e}"], genres, labels)
    meta = {k: v for k, v in bundle.meta.items() if k not in ("files", "meta_sha256", "format", "format_version")}
    per_genre = tracks["genre"].value_counts()
    meta["dataset"] = {**meta["dataset"], "name": f"{meta['dataset'].get('name', 'bundle')} ×{n_tracks} (synthetic)",
                       "n_tracks": int(n_tracks), "synthetic": {"source": str(source), "seed": seed,
                                                                "jitter": jitter, "spread": spread},
                       "tracks_per_genre": {g: int(per_genre.get(g, 0)) for g in labels}}
    graphs = bundle.graphs() if bundle.meta.get("onnx") else None  # the networks, so songs can be placed on it
    tensors = predictor_tensors(bundle)  # the genre predictor's probe, so songs get the same genre
    return write_bundle(out, meta, tracks, arrays, bundle.state_dict(), graphs=graphs, tensors=tensors)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, required=True, help="how many tracks the bundle gets")
    ap.add_argument("--out", type=Path, required=True, help="the bundle directory to write")
    ap.add_argument("--source", type=Path, default=REPO / "assets" / "gtzan", help="the real bundle to copy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", type=float, default=0.15, help="vector noise, × each dimension's spread")
    ap.add_argument("--spread", type=float, default=0.6, help="map noise, × the typical nearest-neighbour distance")
    ap.add_argument("--windows", type=int, default=1, help="per-window (segment_*) rows per track")
    args = ap.parse_args(argv)
    if args.tracks < 1 or args.windows < 1:
        ap.error("--tracks and --windows must be at least 1")
    t0 = time.perf_counter()
    out = make_large_bundle(args.source, args.out, args.tracks, seed=args.seed, jitter=args.jitter,
                            spread=args.spread, windows=args.windows)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"wrote {out}: {args.tracks} tracks, {size:.0f} MB, in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

