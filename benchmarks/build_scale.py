"""Peak memory of the streamed build as the collection grows: 250, 1 000, 2 000 real-length tracks.

The tracks are made from the shared GTZAN clips (``../shared/data/gtzan``): copy k of a clip is the clip
circularly shifted by a random offset and scaled by a random gain (−9 … +3 dB), written as 16-bit WAV into a
temporary folder laid out as ``<genre>/<id>.wav``. Each size is built by ``python -m pipeline build`` in its own
process (its own cache, ``--previews`` as the shipped bundle, ``--repeats 0``: no cross-validation) and that
process's peak RSS (``ru_maxrss``) is printed, with the ratio to the smallest size measured so far in the same run
(the sizes run in the order given), and written beside its bundle (``bundle.measured``).

    OMP_NUM_THREADS=1 python benchmarks/build_scale.py --sizes 250 1000 2000 [--networks mobilenet_v2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "gtzan"
AUDIO = (".flac", ".wav", ".au", ".mp3", ".ogg")

BUILD_AND_MEASURE = """
import json, resource, sys, time
from pipeline.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
line = "MEASURED " + json.dumps({"code": code, "seconds": time.perf_counter() - t0,
                                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
open(sys.argv[sys.argv.index("--out") + 1] + ".measured", "w").write(line)  # kept if this script is killed meanwhile
print(line)
"""


def source_clips(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.suffix.lower() in AUDIO)


def make_collection(out: Path, n_tracks: int, sources: list[Path], seed: int = 0) -> Path:
    """``n_tracks`` shifted, gain-changed copies of the source clips, spread evenly over them."""
    rng = np.random.default_rng(seed)
    for i in range(n_tracks):
        src = sources[i % len(sources)]
        y, sr = sf.read(src, dtype="float32", always_2d=False)
        y = np.roll(y, int(rng.integers(len(y)))) * np.float32(10 ** (rng.uniform(-9, 3) / 20))
        dest = out / src.parent.name / f"{src.parent.name}.copy{i:06d}.wav"
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, np.clip(y, -1, 1), sr, subtype="PCM_16")
    return out


def measure_build(data: Path, work: Path, extra: list[str]) -> dict:
    """One build in its own process: its wall time and peak RSS."""
    args = ["build", "--data", str(data), "--out", str(work / "bundle"), "--cache", str(work / "cache"),
            "--repeats", "0", "--quiet", *extra]
    proc = subprocess.run([sys.executable, "-c", BUILD_AND_MEASURE, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MEASURED ")]
    if proc.returncode or not lines:
        raise SystemExit(f"build of {data} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("MEASURED "))


def stage_peaks(bundle: Path) -> str:
    """Each stage's peak-so-far memory from the bundle (``memory_mb``): where the build's peak was set."""
    memory = json.loads((bundle / "bundle.json").read_text()).get("memory_mb", {})
    return ", ".join(f"{name} {m['peak']}" for name, m in memory.items() if m)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 2000])
    p.add_argument("--source", default=str(SHARED))
    p.add_argument("--networks", nargs="+", default=None, help="passed to build (default: the build's)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = p.parse_args(argv)
    sources = source_clips(Path(args.source))
    extra = ["--networks", *args.networks] if args.networks else []
    rows = []
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix=f"build_scale_{n}_"))
        try:
            t0 = time.perf_counter()
            data = make_collection(work / "data", n, sources)
            made = time.perf_counter() - t0
            result = measure_build(data, work, extra)
            rows.append({"tracks": n, "make_s": round(made, 1), **{k: round(v, 1) for k, v in result.items()}})
            base = min(rows, key=lambda r: r["tracks"])
            print(f"{n:>6} tracks: build {result['seconds']:.0f} s, peak RSS {result['peak_rss_mb']:.0f} MB "
                  f"({result['peak_rss_mb'] / base['peak_rss_mb']:.2f}x the {base['tracks']}-track build), "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
            print(f"        peak so far at each stage's end (MB): {stage_peaks(work / 'bundle')}", flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    smallest = min(rows, key=lambda r: r["tracks"])["peak_rss_mb"] if rows else 1
    print(json.dumps([{**r, "rss_vs_smallest": round(r["peak_rss_mb"] / smallest, 2)} for r in rows]))


if __name__ == "__main__":
    main()
