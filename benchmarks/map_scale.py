"""Fit one t-SNE map of a large collection with the build's own map code, and time it.

    python benchmarks/large_bundle.py --tracks 100000 --out /tmp/gtzan_100k
    OMP_NUM_THREADS=1 python benchmarks/map_scale.py --bundle /tmp/gtzan_100k [--embedding musicnn.shallow]

Reads the bundle's per-track vectors of one embedding and fits ``maps.MapProjector`` (openTSNE, cosine,
perplexity 30, FFT gradients, the build's settings from ``MapConfig``) on them, as ``build`` fits each layer's
map. Prints the fit's seconds and the process's peak RSS growth, beside the same fit on the shipped bundle's
tracks (the reference, measured in the same run).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.bundle import load_bundle  # noqa: E402
from pipeline.maps import MapConfig, MapProjector  # noqa: E402
from pipeline.paths import DEFAULT_BUNDLE  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_fit(vectors: np.ndarray, seed: int = 0) -> tuple[float, float, np.ndarray]:
    """(seconds, peak RSS after the fit in MB, the map) of one map of ``vectors``."""
    t0 = time.perf_counter()
    coords = MapProjector(**MapConfig().params(seed)).fit(vectors.astype(np.float32)).coords_
    return time.perf_counter() - t0, peak_rss_mb(), coords


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True)
    p.add_argument("--embedding", default="musicnn.shallow")
    p.add_argument("--tracks", type=int, default=0, help="only the first N tracks (0: all)")
    args = p.parse_args(argv)
    reference = load_bundle(DEFAULT_BUNDLE).vectors(args.embedding)
    ref_s, _, _ = timed_fit(reference)
    print(f"reference: {len(reference)} tracks in {ref_s:.1f} s", flush=True)
    vectors = load_bundle(args.bundle).vectors(args.embedding)
    vectors = vectors[: args.tracks] if args.tracks else vectors
    before = peak_rss_mb()
    seconds, after, coords = timed_fit(vectors)
    print(f"{len(vectors)} tracks × {vectors.shape[1]} ({args.embedding}): map fitted in {seconds:.0f} s "
          f"({seconds / ref_s:.0f}× the {len(reference)}-track reference); peak RSS {after:.0f} MB "
          f"({after - before:+.0f} MB during the fit); finite: {bool(np.isfinite(coords).all())}")


if __name__ == "__main__":
    main()
