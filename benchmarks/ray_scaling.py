"""The build's per-track pass on Ray: 1 worker vs 2, against this process's own pass, on the same tracks.

Makes ``--tracks`` real-length tracks from the shared GTZAN clips (``build_scale.make_collection``), then runs
the streamed pass (decode, both networks in onnxruntime, thumbnails, previews; each into an empty cache) three
ways: locally (onnxruntime on every core, one track at a time), on Ray with 1 actor and with 2 actors
(``ray.init(num_cpus=2)`` once, before any timing; each actor one onnxruntime thread). Prints the seconds of
each with the load average (1 min) just before and just after it, the speed-up of 2 workers over 1, and the
largest difference of any feature from the local pass. ``--rounds R`` runs 1 and 2 workers alternately R times
(each into its own empty cache) and takes each one's median, so load that drifts during the run hits both.
Needs ``pip install -r requirements-ray.txt``.

    python benchmarks/ray_scaling.py --tracks 40 [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from build_scale import SHARED, make_collection, source_clips  # noqa: E402

from pipeline.build import BuildConfig, network_parts  # noqa: E402
from pipeline.dataset import discover_corpus  # noqa: E402
from pipeline.embed import concat_track_rows  # noqa: E402
from pipeline.executors import executor_map  # noqa: E402
from pipeline.stream import stream_tracks  # noqa: E402


def timed_pass(cfg: BuildConfig, corpus, parts, cache: Path, executor: str, workers: int):
    """(seconds, the streamed pass, seconds per track once every worker has finished its first track)."""
    t0, arrivals = time.perf_counter(), []
    run_map = executor_map(executor, workers)

    def timed_map(work, todo, progress):
        for item in run_map(work, todo, progress):
            arrivals.append(time.perf_counter())
            yield item

    streamed = stream_tracks(corpus, parts, cache, cfg.preview_seconds, cfg.spectrogram, timed_map, progress=False)
    first = max(workers, 1)  # a worker's first track also pays its start (a process, the ONNX sessions)
    steady = (arrivals[-1] - arrivals[first - 1]) / max(len(arrivals) - first, 1)
    return time.perf_counter() - t0, streamed, steady


def max_difference(a, b) -> float:
    worst = 0.0
    for name in a.rows:
        if name == "listening":
            continue
        x, y = concat_track_rows(a.rows[name]), concat_track_rows(b.rows[name])
        worst = max(worst, *(float(np.max(np.abs(x[k].astype(np.float64) - y[k]))) for k in x))
    return worst


def main(argv=None) -> None:
    import ray

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", type=int, default=40)
    p.add_argument("--rounds", type=int, default=1, help="alternate 1 and 2 workers this many times")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ray_scaling_"))
    try:
        data = make_collection(work / "data", args.tracks, source_clips(SHARED))
        cfg = BuildConfig(data=str(data))
        corpus = discover_corpus(data, sr=cfg.spectrogram.sample_rate, max_seconds=cfg.max_track_seconds)
        parts = [part for _, part in network_parts(cfg, len(corpus.labels)).values()]
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"py_modules": [str(REPO / "pipeline")]})
        runs, seconds, steady = {}, {}, {}
        plan = [("local", "local", 0)] + [run for _ in range(args.rounds)
                                          for run in (("ray, 1 worker", "ray", 1), ("ray, 2 workers", "ray", 2))]
        for i, (label, executor, workers) in enumerate(plan):
            load = os.getloadavg()[0]
            runs[label] = timed_pass(cfg, corpus, parts, work / f"{i}_{label.replace(' ', '_')}", executor, workers)
            seconds.setdefault(label, []).append(runs[label][0])
            steady.setdefault(label, []).append(runs[label][2])
            print(f"{label:>15}: {runs[label][0]:.1f} s for {args.tracks} tracks, {runs[label][2]:.3f} s per track "
                  f"once started (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)", flush=True)
        one, two, local = (statistics.median(seconds[k]) for k in ("ray, 1 worker", "ray, 2 workers", "local"))
        started = statistics.median(steady["ray, 1 worker"]) / statistics.median(steady["ray, 2 workers"])
        print(f"2 workers vs 1: {one / two:.2f}x faster in all, {started:.2f}x once started (medians of "
              f"{args.rounds}); local vs 1 worker: {one / local:.2f}x")
        for label in ("ray, 1 worker", "ray, 2 workers"):
            print(f"max |{label} - local| over every feature: {max_difference(runs[label][1], runs['local'][1]):.2e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
