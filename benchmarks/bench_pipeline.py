"""Time the pipeline's user-facing operations (a benchmark script, not a test).

    python benchmarks/bench_pipeline.py                      # load + place timings on assets/gtzan
    python benchmarks/bench_pipeline.py --build              # also a full build with a fresh feature cache

Prints a small table: time to load a bundle (``Placer.from_path``), to place a
30 s clip warm (median of --repeats), to place a 5-minute file, with and
without a trajectory, and with ``--build`` the stages of a build of --data
into a temporary directory. Audio comes from --data when it is there
(a real 30 s track; ten of them concatenated for the 5-minute file),
otherwise synthetic audio is used. Import time (Python, torch) is reported
separately and excluded from the other numbers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(fn, repeats: int = 1):
    """Run ``fn`` ``repeats`` times; return (seconds per run, last result)."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def row(name: str, times: list[float], note: str = "") -> str:
    med = statistics.median(times)
    spread = f"{min(times):7.3f} {max(times):7.3f}" if len(times) > 1 else f"{'':7} {'':7}"
    return f"{name:34} {med:8.3f} {spread} {len(times):3d}  {note}"


def audio_files(data: Path | None, tmp: Path, sr: int):
    """A 30 s clip and a 5-minute file: real audio from ``data`` if present, else synthetic."""
    import numpy as np

    from pipeline.audio import load_audio
    from tests.synth import genre_clip, write_audio

    real = sorted(data.glob("*/*.flac")) + sorted(data.glob("*/*.au")) if data and data.is_dir() else []
    if len(real) >= 10:
        # one track per genre folder first, so the long file is varied
        by_genre = {}
        for p in real:
            by_genre.setdefault(p.parent.name, p)
        picks = (list(by_genre.values()) + [p for p in real if p not in by_genre.values()])[:10]
        clip = picks[0]
        long = np.concatenate([load_audio(p, sr=sr, max_seconds=30.0) for p in picks])
        source = f"real ({data})"
    else:
        rng = np.random.default_rng(0)
        clip = write_audio(tmp / "clip30.wav", genre_clip(0, 30.0, sr, rng), sr)
        long = np.concatenate([genre_clip(i % 3, 30.0, sr, rng) for i in range(10)])
        source = "synthetic"
    long_path = write_audio(tmp / "five_minutes.wav", long, sr)
    return clip, long_path, len(long) / sr, source


def bench_place(bundle: Path, data: Path | None, repeats: int, long_repeats: int) -> list[str]:
    t = time.perf_counter()
    from pipeline.bundle import load_bundle
    from pipeline.place import Placer

    import_s = time.perf_counter() - t
    lines = [row("import pipeline (python, torch)", [import_s], "excluded below")]

    load_times, placer = timed(lambda: Placer.from_path(bundle), 1 + repeats)
    lines.append(row("load bundle, first (Placer)", load_times[:1], str(bundle)))
    lines.append(row("load bundle, again (Placer)", load_times[1:], "file cache warm"))
    lines.append(row("  of which load_bundle", timed(lambda: load_bundle(bundle), repeats)[0], "hash-checked"))
    lines.append(row("first placement (warm_up)", timed(placer.warm_up)[0], "JIT, kNN index"))

    with tempfile.TemporaryDirectory() as d:
        clip, long_path, long_s, source = audio_files(data, Path(d), placer.spec.sample_rate)
        times, p = timed(lambda: placer.place_file(clip), repeats)
        lines.append(row("place 30 s clip (warm)", times, f"{clip.name}, {p.n_segments} windows, {source}"))
        times, p = timed(lambda: placer.place_file(long_path), long_repeats)
        lines.append(row(f"place {long_s / 60:.0f}-minute file", times, f"{p.n_segments} windows"))
        times, p = timed(lambda: placer.place_file(long_path, trajectory=True), long_repeats)
        lines.append(row(f"place {long_s / 60:.0f}-minute file + trajectory", times, f"{len(p.trajectory)} windows"))
    return lines


def bench_build(data: Path, weights: Path | None, folds: int, repeats: int) -> list[str]:
    from pipeline.build import BuildConfig, build

    with tempfile.TemporaryDirectory() as d:
        cfg = BuildConfig(data=str(data), out=str(Path(d) / "bundle"), weights=str(weights) if weights else None,
                          cache=str(Path(d) / "cache"), cv_folds=folds, cv_repeats=repeats)
        meta = build(cfg, progress=False, log=lambda *a: None)
    lines = [row(f"build: {name}", [s]) for name, s in meta["timings_s"].items() if name != "total"]
    lines.append(row("build: total", [meta["timings_s"]["total"]],
                     f"{meta['dataset']['n_tracks']} tracks, fresh cache, CV {folds}-fold x{repeats}"))
    cv = meta["metrics"]["cross_validation"].get("track")
    if cv:
        lines.append(f"{'':34} CV head {cv['head']['mean']:.3f} ± {cv['head']['std']:.3f}, "
                     f"logistic baseline {cv['logistic_baseline']['mean']:.3f} ± {cv['logistic_baseline']['std']:.3f}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "assets" / "gtzan")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "gtzan")
    ap.add_argument("--weights", type=Path, default=REPO.parent / "shared" / "weights" / "mobilenet_v2_imagenet_float.pth")
    ap.add_argument("--repeats", type=int, default=5, help="runs of the 30 s placement and the reload (median)")
    ap.add_argument("--long-repeats", type=int, default=3, help="runs of each 5-minute placement (median)")
    ap.add_argument("--build", action="store_true", help="also time a full build of --data with a fresh cache")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cv-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = ap.parse_args(argv)

    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {load:.1f} at start")
    print(f"{'operation':34} {'median s':>8} {'min':>7} {'max':>7} {'n':>3}  note")
    print("-" * 100)
    for line in bench_place(args.bundle, args.data, args.repeats, args.long_repeats):
        print(line, flush=True)
    if args.build:
        if not args.data.is_dir():
            print(f"--build: no data at {args.data}", file=sys.stderr)
            return 2
        for line in bench_build(args.data, args.weights if args.weights.is_file() else None, args.folds, args.cv_repeats):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
