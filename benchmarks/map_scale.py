"""Fit one t-SNE map of a large collection with the build's own map code, and time it.

    python benchmarks/large_bundle.py --tracks 100000 --out /tmp/gtzan_100k
    OMP_NUM_THREADS=1 python benchmarks/map_scale.py --bundle /tmp/gtzan_100k [--embedding musicnn.shallow]

Reads the bundle's per-track vectors of one embedding and fits ``maps.MapProjector`` (openTSNE, cosine,
perplexity 30, FFT gradients, the build's settings from ``MapConfig``) on them, as ``build`` fits each
layer's map, in a fresh process. Prints the fit's seconds and that process's peak RSS, beside the same fit on
the shipped bundle's tracks (the reference, measured in the same run).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.bundle import load_bundle  # noqa: E402
from pipeline.paths import DEFAULT_BUNDLE  # noqa: E402

# The peak is VmHWM, this process's own high-water RSS: ru_maxrss would carry over the parent's (which holds the
# large bundle) through fork and exec.
FIT_AND_MEASURE = """
import json, re, sys, time
import numpy as np
from pipeline.maps import MapConfig, MapProjector
def peak_mb():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
X = np.load(sys.argv[1])
loaded = peak_mb()
t0 = time.perf_counter()
coords = MapProjector(**MapConfig().params(0)).fit(X).coords_
print(json.dumps({"seconds": time.perf_counter() - t0, "loaded_mb": loaded, "finite": bool(np.isfinite(coords).all()),
                  "peak_mb": peak_mb()}))
"""


def timed_fit(vectors: np.ndarray, work: Path) -> dict:
    """The fit of one map of ``vectors`` in a fresh process: seconds, its peak RSS before and after the fit."""
    path = work / "vectors.npy"
    np.save(path, vectors.astype(np.float32))
    out = subprocess.run([sys.executable, "-c", FIT_AND_MEASURE, str(path)], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True)
    p.add_argument("--embedding", default="musicnn.shallow")
    p.add_argument("--tracks", type=int, default=0, help="only the first N tracks (0: all)")
    args = p.parse_args(argv)
    reference = load_bundle(DEFAULT_BUNDLE).vectors(args.embedding)
    vectors = load_bundle(args.bundle).vectors(args.embedding)
    vectors = vectors[: args.tracks] if args.tracks else vectors
    with tempfile.TemporaryDirectory() as work:
        ref = timed_fit(reference, Path(work))
        print(f"reference: {len(reference)} tracks in {ref['seconds']:.1f} s", flush=True)
        big = timed_fit(vectors, Path(work))
    print(f"{len(vectors)} tracks × {vectors.shape[1]} ({args.embedding}): map fitted in {big['seconds']:.0f} s "
          f"({big['seconds'] / ref['seconds']:.0f}× the {len(reference)}-track reference); the fitting process's "
          f"peak RSS {big['peak_mb']:.0f} MB ({big['loaded_mb']:.0f} MB with the vectors loaded, before the fit; "
          f"reference {ref['peak_mb']:.0f} MB); finite: {big['finite']}")


if __name__ == "__main__":
    main()
