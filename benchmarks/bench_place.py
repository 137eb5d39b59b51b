"""Placement speed with two networks: both against one, this code against a previous checkout, in one run.

    git archive 01bdac8 | tar -x -C /tmp/base          # the previous code (or: git worktree add --detach)
    python benchmarks/bench_place.py --base /tmp/base [--bundle assets/gtzan] [--tracks 10000] [--repeats 7]

What it measures (every timing a median of ``--repeats``, placements warm after ``warm_up``, one thread
unless a row says otherwise):

- in one process, interleaved round by round (``--rounds`` such processes): a 30 s clip placed on both
  networks by this code and by the previous one (its ``pipeline`` imported as ``pipeline_base``), and by
  this code on MobileNetV2 only and on MusiCNN only (``Placer(bundle, networks=[...])``); a 5-minute song
  with its trajectory (previous code, this code, MobileNetV2 only). Each round gives its own ratio, so
  the spread of the ratios says how noisy the machine was. Both networks side by side on two threads
  (``threads=2``) are timed in a process of their own (two threads change numpy's BLAS process-wide);
- fresh processes alternating previous / this code (``--rounds`` each): the placer's ready time and RSS
  after placing a clip (alone, and in the explorer's set-up without torch: streamlit and the explorer's
  modules imported); cold ``python -m pipeline place one.flac`` and ``python -m pipeline info``;
- where the time goes: each stage of a placement timed alone (decode, each network's front end and graph,
  kNN, the maps, the trajectory), on the 30 s clip and the 5-minute song;
- ``--tracks N``: an N-track copy of the bundle (``benchmarks/large_bundle.py``), or ``--large DIR`` one made
  before: the placer's ready time (fresh process: import, load, ``Placer``, ``warm_up``) and a 30 s placement,
  against the shipped bundle in the same process (``--only-large``: nothing else).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import rss_mb, worker_serve  # the same measurements, one home (a sibling script)
from bench_pipeline import run_worker as run_pipeline_worker

REPO = Path(__file__).resolve().parents[1]
SONGS = REPO.parent / "shared" / "data" / "songs"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(tasks: dict, repeats: int) -> dict:
    """Wall times of each task, ``repeats`` rounds, the tasks taking turns within a round."""
    runs = {k: [] for k in tasks}
    for _ in range(repeats):
        for k, fn in tasks.items():
            runs[k].append(timed(fn))
    return runs


# --- workers: each runs inside one checkout (its ``pipeline`` package), prints one JSON line -----------


def base_package(base: Path):
    """The previous checkout's ``pipeline`` package, imported as ``pipeline_base`` beside this one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pipeline_base", base / "pipeline" / "__init__.py",
                                                  submodule_search_locations=[str(base / "pipeline")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["pipeline_base"] = module
    spec.loader.exec_module(module)
    return module


def worker_versus(args) -> dict:
    """In one process, interleaved: the previous code and this one on both networks, this one on each alone.

    A 30 s clip (every placer) and a 5-minute song with its trajectory (previous code, this code, and
    this code on MobileNetV2 only). One thread each.
    """
    import importlib

    from pipeline.audio import load_audio
    from pipeline.bundle import load_bundle
    from pipeline.place import Placer

    bundle = load_bundle(args.bundle)
    ps = {"both": Placer(bundle, threads=1)}
    if args.base:
        base_package(Path(args.base))
        base_place = importlib.import_module("pipeline_base.place")
        ps["base_both"] = base_place.Placer(importlib.import_module("pipeline_base.bundle").load_bundle(args.bundle),
                                            threads=1)
    for name in bundle.networks:
        ps[name] = Placer(bundle, threads=1, networks=[name])
    for p in ps.values():
        p.warm_up()
    sr = ps["both"].spec.sample_rate
    clip = load_audio(args.clip, sr=sr, max_seconds=30.0)
    long = load_audio(args.long, sr=sr, max_seconds=600.0)
    runs = interleaved({k: (lambda p=p: p.place_audio(clip, "clip")) for k, p in ps.items()}, args.repeats)
    long_runs = interleaved({f"{k}_long": (lambda p=ps[k]: p.place_audio(long, "long", trajectory=True))
                             for k in ("base_both", "both", "mobilenet_v2") if k in ps}, args.long_repeats)
    return {"runs": {**runs, **long_runs}, "long_minutes": len(long) / sr / 60}


def worker_side(args) -> dict:
    """Both networks one after the other (one thread) and side by side (two threads), interleaved."""
    from pipeline.audio import load_audio
    from pipeline.bundle import load_bundle
    from pipeline.place import Placer

    bundle = load_bundle(args.bundle)
    ps = {"both": Placer(bundle, threads=1), "both_2_threads": Placer(bundle, threads=2)}
    for p in ps.values():
        p.warm_up()
    clip = load_audio(args.clip, sr=ps["both"].spec.sample_rate, max_seconds=30.0)
    return {"runs": interleaved({k: (lambda p=p: p.place_audio(clip, "clip")) for k, p in ps.items()}, args.repeats)}


def worker_ready(args) -> dict:
    """Seconds from a fresh process to a warm placer on ``args.bundle``; its RSS then and after placing a clip."""
    t0 = time.perf_counter()
    from pipeline.place import Placer

    placer = Placer.from_path(args.bundle, threads=1)
    placer.warm_up()
    out = {"ready_s": time.perf_counter() - t0, "ready_rss_mb": rss_mb()["rss_mb"]}
    if args.clip:
        placer.place_file(args.clip, trajectory=True)
    return {**out, **rss_mb()}


def worker_growth(args) -> dict:
    """A 30 s clip on the shipped and on the large bundle, in one process, interleaved."""
    from pipeline.audio import load_audio
    from pipeline.place import Placer

    ps = {"small": Placer.from_path(args.bundle, threads=1), "large": Placer.from_path(args.out, threads=1)}
    clip = load_audio(args.clip, sr=ps["small"].spec.sample_rate, max_seconds=30.0)
    for p in ps.values():
        p.warm_up()
    return {"runs": interleaved({k: (lambda p=p: p.place_audio(clip, "clip")) for k, p in ps.items()}, args.repeats)}


def stage_times(placer, path: Path, repeats: int) -> dict:
    """Median seconds of each stage of placing ``path`` (both networks, trajectory), stage by stage."""
    import numpy as np

    from pipeline.audio import load_audio, resample
    from pipeline.embed import none_vectors
    from pipeline.networks.musicnn_input import MusiCNNConfig, musicnn_mel, patch_none, slice_patches
    from pipeline.spectrogram import clip_windows, thumbnail_from_power

    nets = {n.name: n for n in placer.networks}
    cfg = MusiCNNConfig.from_dict(placer.bundle.meta["networks"]["musicnn"]["settings"]["input"])
    y = load_audio(path, sr=placer.spec.sample_rate, max_seconds=600.0)
    clip = clip_windows(y, placer.spec)
    y16 = resample(y, placer.spec.sample_rate, cfg.sample_rate)
    patches, _ = slice_patches(musicnn_mel(y16, cfg), cfg)
    seg, starts = placer.segment_vectors(y)
    keys = placer.embeddings
    mean = {e: seg[e].mean(axis=0)[None] for e in keys}
    path_rows = {e: np.vstack([mean[e], seg[e]]) for e in keys}
    stages = {
        "decode (load_audio)": lambda: load_audio(path, sr=placer.spec.sample_rate, max_seconds=600.0),
        "MobileNetV2 front end: one STFT, window images": lambda: clip_windows(y, placer.spec),
        "MobileNetV2 'none' layer": lambda: none_vectors(clip.images, placer.spec),
        f"MobileNetV2 ONNX ({len(clip.images)} windows)": lambda: nets["mobilenet_v2"].graph.run(clip.images),
        "MusiCNN front end: resample to 16 kHz": lambda: resample(y, placer.spec.sample_rate, cfg.sample_rate),
        "MusiCNN front end: 96-band mel + patches": lambda: slice_patches(musicnn_mel(y16, cfg), cfg),
        "MusiCNN 'none' layer": lambda: patch_none(patches, cfg),
        f"MusiCNN ONNX ({len(patches)} patches)": lambda: nets["musicnn"].graph.run(patches),
        "thumbnail": lambda: thumbnail_from_power(clip.power, placer.spec),
        "kNN, 8 embeddings (the song)": lambda: [placer._nearest(e, mean[e], 15) for e in keys],
        "8 maps: kNN + affinities + placement (the song)": lambda: placer.project(mean),
        f"8 maps with the trajectory ({len(starts)} windows + the song)": lambda: placer.project(path_rows),
        "first answer from the file (its windows decoded, their inputs, networks, placed), both networks":
            lambda: first_answer(placer, path),
        "place_audio, both networks": lambda: placer.place_audio(y, "x"),
        "place_audio, both networks, trajectory": lambda: placer.place_audio(y, "x", trajectory=True),
    }
    return {k: statistics.median(interleaved({k: fn}, repeats)[k]) for k, fn in stages.items()}


def first_answer(placer, path: Path):
    """What the app shows first for a dropped-in song, on one thread: its first windows decoded and placed."""
    try:
        song = placer.open_file(path, prepare=False, whole=False)  # as the app does: a long file's windows
    except TypeError:  # a checkout from before: the whole file decoded
        song = placer.open_file(path, prepare=False)
    try:
        song.prepare(whole=False)  # as the app does: only the first windows' inputs are computed
    except TypeError:  # a checkout from before inputs on demand: the whole song's front ends
        song.prepare()
    first = song.first_windows()
    song.compute(first)
    return song.placement(first)


def worker_profile(args) -> dict:
    """Stage times of a 30 s clip and a long song, this code, one thread."""
    from pipeline.place import Placer

    placer = Placer.from_path(args.bundle, threads=1)
    placer.warm_up()
    return {"clip": stage_times(placer, Path(args.clip), args.repeats),
            "long": stage_times(placer, Path(args.long), args.long_repeats)}


WORKERS = {"versus": worker_versus, "side": worker_side, "ready": worker_ready, "growth": worker_growth,
           "serve": worker_serve, "profile": worker_profile}


# --- the driver ----------------------------------------------------------------------------------------


def run_worker(repo: Path, task: str, **kw) -> dict:
    """``bench_pipeline.run_worker`` on this script's workers."""
    return run_pipeline_worker(repo, task, script=__file__, **kw)


def cli_seconds(repo: Path, args: list) -> float:
    """Wall time of one cold ``python -m pipeline ARGS`` in ``repo``."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=repo, capture_output=True,
                       text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{args} in {repo}: {r.stderr[-2000:]}")
    return time.perf_counter() - t


def five_minute_song(out: Path) -> Path:
    """Five minutes of real music: the shared songs end to end (at the bundle's 22 050 Hz)."""
    import numpy as np
    import soundfile as sf

    sys.path.insert(0, str(REPO))
    from pipeline.audio import load_audio

    parts = [load_audio(p, sr=22050) for p in sorted(SONGS.glob("*.ogg"))]
    sf.write(out, np.concatenate(parts)[: 300 * 22050], 22050)
    return out


def median_ratio(a: list, b: list) -> tuple[float, float, float]:
    """Median of the per-round ratios a/b, and their min and max (how noisy the rounds were)."""
    r = [x / y for x, y in zip(a, b)]
    return statistics.median(r), min(r), max(r)


def ratio_cell(runs: dict, k: str, ref: str) -> str:
    if ref not in runs:
        return "–"
    return "%.2f [%.2f–%.2f]" % median_ratio(runs[k], runs[ref])


def report_versus(rounds: list) -> None:
    """The interleaved in-process table; each process's rounds pooled."""
    runs = {k: [x for r in rounds for x in r["runs"][k]] for k in rounds[0]["runs"]}
    print(f"\n## In one process, interleaved ({len(rounds)} processes × their rounds; seconds: median; ratios: "
          "median of the per-round ratios [min–max])")
    print("| what | median s | ÷ MobileNetV2 only | ÷ MusiCNN only | ÷ previous code |\n|---|---|---|---|---|")
    for k in runs:
        long = k.endswith("_long")
        refs = ("mobilenet_v2_long", "-", "base_both_long") if long else ("mobilenet_v2", "musicnn", "base_both")
        what = (f"{rounds[0]['long_minutes']:.0f}-minute song + trajectory, {k[:-5]}" if long else f"30 s clip, {k}")
        cells = " | ".join(ratio_cell(runs, k, r) for r in refs)
        print(f"| {what} | {statistics.median(runs[k]):.3f} | {cells} |")


def compare_base(args, clip: Path, long: Path) -> None:
    """Previous code against this one: placements in one process; ready time, RSS and cold CLI in
    fresh processes alternating base / new."""
    versus = [run_worker(REPO, "versus", bundle=args.bundle, base=args.base, clip=clip, long=long,
                         repeats=args.repeats, long_repeats=args.long_repeats) for _ in range(args.rounds)]
    report_versus(versus)
    side = run_worker(REPO, "side", bundle=args.bundle, clip=clip, repeats=args.repeats)["runs"]
    print(f"| 30 s clip, both side by side on 2 threads (own process) | "
          f"{statistics.median(side['both_2_threads']):.3f} | – | – | {ratio_cell(side, 'both_2_threads', 'both')} "
          "of one thread |")
    sides = {"base": args.base, "new": REPO}
    ready = {k: [] for k in sides}
    cold = {(k, c): [] for k in sides for c in ("place", "info")}
    for _ in range(args.rounds):
        for k, repo in sides.items():
            serve = run_worker(repo, "serve", bundle=args.bundle, clip=clip)
            ready[k].append({**run_worker(repo, "ready", bundle=args.bundle, clip=clip),
                             **{f"serve_{m}": v for m, v in serve.items()}})
            cold[(k, "place")].append(cli_seconds(repo, ["place", clip, "--bundle", args.bundle]))
            cold[(k, "info")].append(cli_seconds(repo, ["info", "--bundle", args.bundle]))
    print("\n## Previous code (base) against this code (new): fresh processes, alternating, "
          f"{args.rounds} rounds, medians")
    print("| what | base | new | new ÷ base |\n|---|---|---|---|")
    for c in ("place", "info"):
        b, n = statistics.median(cold[("base", c)]), statistics.median(cold[("new", c)])
        what = f"cold `python -m pipeline {c}{' one.flac' if c == 'place' else ''}` (s)"
        print(f"| {what} | {b:.2f} | {n:.2f} | {n / b:.2f} |")
    for m, label in (("ready_s", "placer ready from a fresh process (s)"), ("ready_rss_mb", "RSS, placer ready (MB)"),
                     ("rss_mb", "RSS after placing a 30 s clip (MB)"), ("peak_mb", "peak RSS (MB)"),
                     ("serve_rss_mb", "explorer set-up without torch + a placed clip: RSS (MB)"),
                     ("serve_peak_mb", "the same, peak RSS (MB)")):
        b, n = (statistics.median(r[m] for r in ready[k]) for k in ("base", "new"))
        print(f"| {label} | {b:.2f} | {n:.2f} | {n / b:.2f} |")


def report_profile(args, clip: Path, long: Path) -> None:
    res = run_worker(REPO, "profile", bundle=args.bundle, clip=clip, long=long, repeats=args.repeats,
                     long_repeats=args.long_repeats)
    print("\n## Where the time goes: each stage alone, this code, one thread (ms, median)")
    print("| stage | 30 s clip | 5-minute song |\n|---|---|---|")
    for k in res["clip"]:
        other = next((v for j, v in res["long"].items() if j.split(" (")[0] == k.split(" (")[0]), None)
        print(f"| {k} | {1000 * res['clip'][k]:.1f} | {1000 * other:.1f} |")


def compare_large(args, clip: Path, tmp: Path) -> None:
    """Placer ready time and a 30 s placement on an N-track copy of the bundle, against the bundle itself."""
    large = args.large or tmp / "large"
    if not args.large:
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "large_bundle.py"), "--tracks", str(args.tracks),
                        "--out", str(large), "--source", str(args.bundle)], check=True, capture_output=True)
    ready = {"small": [], "large": []}
    for _ in range(args.rounds):
        for k, b in (("small", args.bundle), ("large", large)):
            ready[k].append(run_worker(REPO, "ready", bundle=b))
    growth = run_worker(REPO, "growth", bundle=args.bundle, out=large, clip=clip, repeats=args.repeats)["runs"]
    print(f"\n## {large} against the shipped bundle, this code")
    print("| what | shipped | large | large ÷ shipped |\n|---|---|---|---|")
    s, l_ = (statistics.median(r["ready_s"] for r in ready[k]) for k in ("small", "large"))
    print(f"| placer ready from a fresh process (s) | {s:.2f} | {l_:.2f} | {l_ / s:.2f} |")
    s, l_ = (statistics.median(r["rss_mb"] for r in ready[k]) for k in ("small", "large"))
    print(f"| RSS of the ready placer (MB) | {s:.0f} | {l_:.0f} | {l_ / s:.2f} |")
    r = median_ratio(growth["large"], growth["small"])
    print(f"| 30 s clip warm (s; ratio: per round [min–max]) | {statistics.median(growth['small']):.3f} | "
          f"{statistics.median(growth['large']):.3f} | {r[0]:.2f} [{r[1]:.2f}–{r[2]:.2f}] |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, default=Path("/tmp/base"), help="checkout of the previous code")
    ap.add_argument("--bundle", type=Path, default=REPO / "assets" / "gtzan", help="a bundle both codes read")
    ap.add_argument("--clip", type=Path, help="a 30 s clip",
                    default=REPO.parent / "shared" / "data" / "gtzan" / "blues" / "blues.00000.flac")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--long-repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="processes (in-process comparison) and alternating "
                    "fresh-process rounds per code")
    ap.add_argument("--tracks", type=int, default=10000, help="size of the large bundle (0: skip)")
    ap.add_argument("--large", type=Path, help="an existing large bundle (instead of making a --tracks one)")
    ap.add_argument("--only-large", action="store_true", help="only the large-bundle comparison")
    ap.add_argument("--worker", choices=sorted(WORKERS))  # worker mode (internal)
    ap.add_argument("--long"), ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    args.bundle = args.bundle.resolve()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; base {args.base}, new {REPO}; "
          f"bundle {args.bundle}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        long = five_minute_song(Path(d) / "five_minutes.flac")
        if not args.only_large:
            report_profile(args, args.clip.resolve(), long)
            compare_base(args, args.clip.resolve(), long)
        if args.tracks or args.large:
            compare_large(args, args.clip.resolve(), Path(d))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
