"""Placement, side by side: this code against a reference checkout of the previous code, in one run.

    git worktree add --detach /tmp/base a0593ab      # the code before serving through onnxruntime (format 2)
    (cd /tmp/base && python -m pipeline build --data DATA --weights MOBILENET_V2.pth --out /tmp/base_bundle \\
        --repeats 0)                                   # a bundle each code reads, from the same tracks
    python -m pipeline build --data ../shared/data/gtzan --out /tmp/onnx_bundle --repeats 0 --networks mobilenet_v2
    python benchmarks/bench_pipeline.py --base /tmp/base --base-bundle /tmp/base_bundle --bundle /tmp/onnx_bundle

Every number is measured in fresh processes of each code (the two cannot share one: the same package
name), alternating base / new so that a load spike on a shared machine hits both. Placements are warm
(after ``warm_up``), one thread each (torch ``set_num_threads(1)`` as the explorer sets it; onnxruntime's
default here), median of ``--repeats``. Cold commands (``place one.flac``, ``info``) are whole CLI
processes with their default threads. ``--tracks N`` also writes an N-track bundle from each bundle
(jittered copies, each code's own writer) and times the placer's start and a 30 s placement on it;
this code's placements there are compared with openTSNE's full transform (faithfulness).
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

REPO = Path(__file__).resolve().parents[1]


# --- the worker: runs inside one checkout (its ``pipeline`` package) --------------------------------


def rss_mb() -> dict:
    """This process's resident memory now and at its peak, from /proc (MB)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return {"rss_mb": out.get("VmRSS"), "peak_mb": out.get("VmHWM")}


def median_time(fn, repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its threads) over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def one_thread() -> None:
    """torch on one thread, as the explorer sets it, if the code under test runs its network in torch."""
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(1)


def worker_warm(args) -> dict:
    """Start a placer (timed from a fresh process) and time warm placements."""
    t0 = time.perf_counter()
    from pipeline.audio import load_audio
    from pipeline.bundle import load_bundle
    from pipeline.place import Placer

    one_thread()
    t_import = time.perf_counter() - t0
    bundle = load_bundle(args.bundle)
    t_load = time.perf_counter() - t0 - t_import
    placer = Placer(bundle)
    t_placer = time.perf_counter() - t0 - t_import - t_load
    placer.warm_up()
    ready = time.perf_counter() - t0
    rss_ready = rss_mb()["rss_mb"]
    clip = load_audio(args.clip, sr=placer.spec.sample_rate, max_seconds=30.0)
    t = time.perf_counter()
    placer.place_audio(clip, "first")
    first = time.perf_counter() - t
    out = {"import_s": t_import, "load_s": t_load, "placer_s": t_placer, "ready_s": ready, "first_30s_s": first,
           "rss_ready_mb": rss_ready}
    out["clip_s"], out["clip_cpu_s"] = median_time(lambda: placer.place_audio(clip, "clip"), args.repeats)
    out["clip_traj_s"], out["clip_traj_cpu_s"] = median_time(lambda: placer.place_audio(clip, "clip", trajectory=True),
                                                             args.repeats)
    if args.long:
        long = load_audio(args.long, sr=placer.spec.sample_rate, max_seconds=600.0)
        out["long_traj_s"], out["long_traj_cpu_s"] = median_time(
            lambda: placer.place_audio(long, "long", trajectory=True), args.long_repeats)
        out["long_minutes"] = len(long) / placer.spec.sample_rate / 60
    return {**out, **rss_mb()}


def worker_growth(args) -> dict:
    """A 30 s clip placed on the small and the large bundle in one process, alternately (same load for both)."""
    one_thread()
    from pipeline.audio import load_audio
    from pipeline.place import Placer

    placers = {"small": Placer.from_path(args.bundle), "large": Placer.from_path(args.out)}
    clip = load_audio(args.clip, sr=placers["small"].spec.sample_rate, max_seconds=30.0)
    for p in placers.values():
        p.warm_up()
        p.place_audio(clip, "first")
    runs = {k: [] for k in placers}
    for _ in range(args.repeats):
        for k, p in placers.items():
            runs[k].append(median_time(lambda: p.place_audio(clip, "clip", trajectory=True), 1))
    return {f"{k}_{m}": statistics.median(r[i] for r in v)
            for k, v in runs.items() for i, m in enumerate(("s", "cpu_s"))}


def worker_large(args) -> dict:
    """Write an N-track copy of the bundle with this checkout's writer (no timing of that)."""
    make_large_bundle(Path(args.bundle), Path(args.out), args.tracks)
    return {"written": args.out}


def make_large_bundle(source: Path, out: Path, n: int, seed: int = 0) -> None:
    """A valid N-track bundle: every source track copied, vectors and map positions jittered.

    A private stand-in for ``benchmarks/large_bundle.py`` (the explorer's generator), written with the
    running checkout's ``write_bundle`` (and its graphs where the format has them).
    """
    import numpy as np

    from pipeline.bundle import load_bundle, write_bundle

    b = load_bundle(source)
    rng = np.random.default_rng(seed)
    src = np.arange(n) % len(b.tracks)
    copy = (np.arange(n) // len(b.tracks) > 0)[:, None]
    arrays = {}
    for e in b.embeddings:
        v = b.vectors(e)
        arrays[f"track_{e}"] = (v[src] + copy * rng.standard_normal((n, v.shape[1])).astype(np.float32)
                                * 0.15 * v.std(axis=0)).astype(np.float32)
        xy = b.coords(e)
        gap = np.median(np.sort(np.linalg.norm(xy[:, None] - xy[None], axis=-1), axis=1)[:, 1])
        arrays[f"map_{e}"] = (xy[src] + copy * rng.normal(0, 0.6 * gap, (n, 2))).astype(np.float32)
        arrays[f"similarity_{e}"] = b.similarity(e)
    arrays["probabilities"] = b.arrays["probabilities"][src]
    arrays["thumbnails"] = b.arrays["thumbnails"][src]
    tracks = b.tracks.iloc[src].reset_index(drop=True)
    tracks["track_id"] = [f"{t}.c{i}" for i, t in enumerate(tracks["track_id"])]
    tracks["n_segments"] = 1
    meta = {k: v for k, v in b.meta.items() if k not in ("files", "meta_sha256", "format", "format_version")}
    meta["dataset"] = {**meta["dataset"], "n_tracks": n}
    extra = {"graphs": b.graphs()} if hasattr(b, "graphs") else {}
    write_bundle(out, meta, tracks, arrays, b.state_dict(), **extra)


def worker_faithful(args) -> dict:
    """This code's map placements against openTSNE's full transform, on the same queries and maps."""
    import numpy as np

    from pipeline.audio import load_audio
    from pipeline.bundle import load_bundle
    from pipeline.place import Placer
    from pipeline.project import unit_rows
    from tests.tsne_oracle import OracleProjector

    b = load_bundle(args.bundle)
    placer = Placer(b)
    queries = {}
    for f in args.queries:  # every window of a few real songs, not in the (copied) reference
        seg, _ = placer.segment_vectors(load_audio(f, sr=placer.spec.sample_rate, max_seconds=30.0))
        for e in b.embeddings:
            queries.setdefault(e, []).append(seg[e])
    out = {}
    for e in b.embeddings:
        Q = np.concatenate(queries[e])
        ours = placer.project({e: Q})[0][e]
        proj = OracleProjector(**b.meta["maps"]["params"]).set_state(b.vectors(e), b.coords(e))
        t = time.perf_counter()
        theirs = proj.transform(Q)
        out[e] = {"n": len(Q), "opentsne_s": time.perf_counter() - t,
                  **faithfulness(unit_rows(b.vectors(e)), b.coords(e).astype(np.float64), unit_rows(Q), ours, theirs)}
    return out


def faithfulness(ref_unit, coords, q_unit, ours, theirs, k: int = 10) -> dict:
    """How alike two placements of the same points are, and how well each keeps the points' neighbourhoods.

    ``moved``: median distance between the two placements over the map's median nearest-neighbour gap;
    ``agreement``: mean overlap of the k nearest map points of the two placements; ``trust_*``:
    trustworthiness of the placed points (sklearn's formula, for new points against the reference):
    1 when a point's k nearest map points are among its k most similar tracks.
    """
    import numpy as np

    n = len(coords)
    ranks = np.argsort(np.argsort(-(q_unit @ ref_unit.T), axis=1), axis=1)  # 0 = most similar track

    def trust(points):
        near = np.argsort(np.linalg.norm(points[:, None] - coords[None], axis=-1), axis=1)[:, :k]
        penalty = np.maximum(np.take_along_axis(ranks, near, axis=1) - k + 1, 0).sum()
        return 1 - 2.0 / (len(points) * k * (2 * n - 3 * k - 1)) * penalty, near

    t_ours, near_ours = trust(ours)
    t_theirs, near_theirs = trust(theirs)
    gap = np.median(np.sort(np.linalg.norm(coords[:2000, None] - coords[None], axis=-1), axis=1)[:, 1])
    return {"moved": float(np.median(np.linalg.norm(ours - theirs, axis=1)) / gap),
            "agreement": float(np.mean([len(set(a) & set(b)) / k for a, b in zip(near_ours, near_theirs)])),
            "trust_ours": float(t_ours), "trust_opentsne": float(t_theirs)}


class _NoTorch:
    """An import hook that makes torch and torchvision unimportable (a machine with requirements-serve.txt)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is blocked: the serving set-up has no torch")


def worker_serve(args) -> dict:
    """RSS of the explorer's set-up without torch: streamlit, the explorer's modules, a warm placer, one song."""
    import importlib
    import pkgutil

    sys.meta_path.insert(0, _NoTorch())
    import streamlit  # noqa: F401

    import explorer

    for m in pkgutil.iter_modules(explorer.__path__):
        importlib.import_module(f"explorer.{m.name}")
    from pipeline.place import Placer

    placer = Placer.from_path(args.bundle)
    placer.warm_up()
    placer.place_file(args.clip, trajectory=True)
    return {**rss_mb(), "modules": len(sys.modules)}


WORKERS = {"warm": worker_warm, "large": worker_large, "faithful": worker_faithful, "serve": worker_serve,
           "growth": worker_growth}


def install_size_mb(requirements: Path) -> tuple[float, list]:
    """Installed size of a requirements file's packages and everything they need (from their RECORD files)."""
    import importlib.metadata as md
    import re

    todo = [re.split(r"[=<>!~;\[ ]", line.strip())[0] for line in requirements.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    seen, total = set(), 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        total += sum((f.size or 0) for f in dist.files or [])
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.split(r"[=<>!~;\[ (]", req.strip())[0])
    return total / 1e6, sorted(seen)


# --- the driver ----------------------------------------------------------------------------------


def run_worker(repo: Path, task: str, script: str | Path = __file__, **kw) -> dict:
    """One fresh process of ``repo``'s code running ``script --worker task``; returns its JSON result.

    ``kw`` become options: a list gives several values, True a bare flag, None or False nothing.
    """
    argv = [sys.executable, str(Path(script).resolve()), "--worker", task]
    for k, v in kw.items():
        flag = f"--{k.replace('_', '-')}"
        if v is True:
            argv.append(flag)
        elif isinstance(v, list):
            argv += [flag, *map(str, v)]
        elif v not in (None, False):
            argv += [flag, str(v)]
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"{task} in {repo} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def cli_seconds(repo: Path, args: list, repeats: int) -> float:
    """Median wall time of ``python -m pipeline ARGS`` in ``repo`` (a whole cold process each)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=repo, capture_output=True,
                           text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=600)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise RuntimeError(f"{args} in {repo}: {r.stderr[-2000:]}")
    return statistics.median(times)


def audio_inputs(data: Path, tmp: Path) -> tuple[Path, Path, list]:
    """A real 30 s clip, a 5-minute file (ten clips of different genres) and a few query songs."""
    import numpy as np
    import soundfile as sf

    files = sorted(p for p in data.glob("*/*") if p.suffix in (".au", ".wav", ".flac"))
    by_genre = {}
    for p in files:
        by_genre.setdefault(p.parent.name, p)
    picks = list(by_genre.values())[:10]
    parts = []
    for p in picks:
        y, sr = sf.read(p, dtype="float32", always_2d=True)
        parts.append(y.mean(axis=1)[: 30 * sr])
    long = tmp / "five_minutes.wav"
    sf.write(long, np.concatenate(parts), sr)
    return picks[0], long, [p for p in files if p not in picks][::max(1, len(files) // 6)][:6]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, default=Path("/tmp/base"), help="checkout of the previous code")
    ap.add_argument("--base-bundle", type=Path, help="a bundle the previous code reads (default: its assets/gtzan)")
    ap.add_argument("--bundle", type=Path, default=Path("/tmp/onnx_bundle"), help="a bundle this code reads")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "gtzan")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--long-repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="alternating fresh-process rounds per code")
    ap.add_argument("--tracks", type=int, default=10000, help="size of the large bundle (0: skip)")
    # worker mode (internal)
    ap.add_argument("--worker", choices=sorted(WORKERS))
    ap.add_argument("--clip"), ap.add_argument("--long"), ap.add_argument("--out")
    ap.add_argument("--queries", nargs="*")
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    base_bundle = args.base_bundle or args.base / "assets" / "gtzan"
    sides = {"base": (args.base, base_bundle), "new": (REPO, args.bundle)}
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start; base {args.base} on {base_bundle}; "
          f"new {REPO} on {args.bundle}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        clip, long, queries = audio_inputs(args.data, Path(d))
        rows = compare(sides, clip, long, args)
        serve_set_up(args, clip)
        if args.tracks:
            rows += compare_large(sides, clip, queries, Path(d), args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def compare(sides: dict, clip: Path, long: Path, args) -> list:
    results = {k: [] for k in sides}
    for _ in range(args.rounds):
        for name, (repo, bundle) in sides.items():
            results[name].append(run_worker(repo, "warm", bundle=bundle, clip=clip, long=long, repeats=args.repeats,
                                            long_repeats=args.long_repeats))
    warm = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    cold = {name: {"place": cli_seconds(repo, ["place", clip, "--bundle", bundle], 3),
                   "info": cli_seconds(repo, ["info", "--bundle", bundle], 3)}
            for name, (repo, bundle) in sides.items()}
    table = [
        ("place a 30 s clip, warm", warm["base"]["clip_s"], warm["new"]["clip_s"], "≤ 0.5×"),
        ("  CPU time of that", warm["base"]["clip_cpu_s"], warm["new"]["clip_cpu_s"], ""),
        ("  … with its trajectory (the app)", warm["base"]["clip_traj_s"], warm["new"]["clip_traj_s"], ""),
        (f"place a {warm['new']['long_minutes']:.0f}-min song + trajectory, warm", warm["base"]["long_traj_s"],
         warm["new"]["long_traj_s"], "≤ 1 s"),
        ("  CPU time of that", warm["base"]["long_traj_cpu_s"], warm["new"]["long_traj_cpu_s"], ""),
        ("cold `place one.flac` (whole process)", cold["base"]["place"], cold["new"]["place"], "≤ 0.5×"),
        ("`pipeline info` (whole process)", cold["base"]["info"], cold["new"]["info"], "≤ 1 s"),
        ("fresh process → placer ready (import+load+warm_up)", warm["base"]["ready_s"], warm["new"]["ready_s"], ""),
        ("  of which imports", warm["base"]["import_s"], warm["new"]["import_s"], ""),
        ("  of which load_bundle", warm["base"]["load_s"], warm["new"]["load_s"], ""),
        ("first 30 s placement after ready", warm["base"]["first_30s_s"], warm["new"]["first_30s_s"], ""),
        ("RSS, placer loaded and warmed up, MB", warm["base"]["rss_ready_mb"], warm["new"]["rss_ready_mb"],
         "≤ 600 MB (app)"),
        ("  after the placements above, MB", warm["base"]["rss_mb"], warm["new"]["rss_mb"], ""),
        ("  peak (5-min song placed), MB", warm["base"]["peak_mb"], warm["new"]["peak_mb"], ""),
    ]
    print_table(table)
    return table


def serve_set_up(args, clip: Path) -> None:
    """The explorer without torch: what requirements-serve.txt installs, and the RSS of that set-up."""
    serve_mb, serve_pkgs = install_size_mb(REPO / "requirements-serve.txt")
    full_mb, _ = install_size_mb(REPO / "requirements.txt")
    rss = run_worker(REPO, "serve", bundle=args.bundle, clip=clip)
    print(f"\nrequirements-serve.txt: {len(serve_pkgs)} distributions, {serve_mb:.0f} MB installed "
          f"(requirements.txt: {full_mb:.0f} MB); streamlit + explorer modules + warm placer + one song placed, "
          f"torch blocked: RSS {rss['rss_mb']:.0f} MB (peak {rss['peak_mb']:.0f} MB)", flush=True)


def compare_large(sides: dict, clip: Path, queries: list, tmp: Path, args) -> list:
    out, growth = {}, {}
    for name, (repo, bundle) in sides.items():
        large = tmp / f"{name}_{args.tracks}"
        run_worker(repo, "large", bundle=bundle, out=large, tracks=args.tracks)
        out[name] = run_worker(repo, "warm", bundle=large, clip=clip, repeats=3)
        growth[name] = run_worker(repo, "growth", bundle=bundle, out=large, clip=clip,
                                  repeats=3 if name == "base" else 9)
    n_small = len_tracks(sides)
    table = [
        (f"placer ready on {args.tracks} tracks (load+warm_up)", out["base"]["ready_s"] - out["base"]["import_s"],
         out["new"]["ready_s"] - out["new"]["import_s"], "≤ 10 s"),
        ("  of which load_bundle (every array, eager)", out["base"]["load_s"], out["new"]["load_s"], ""),
        ("  Placer(bundle) + warm_up", out["base"]["ready_s"] - out["base"]["import_s"] - out["base"]["load_s"],
         out["new"]["ready_s"] - out["new"]["import_s"] - out["new"]["load_s"], ""),
        (f"place a 30 s clip + trajectory on {args.tracks} tracks", growth["base"]["large_s"],
         growth["new"]["large_s"], ""),
        (f"  ÷ the same on {n_small} tracks, same process (growth)",
         growth["base"]["large_s"] / growth["base"]["small_s"], growth["new"]["large_s"] / growth["new"]["small_s"],
         "≤ 1.5×"),
        ("  CPU-time growth", growth["base"]["large_cpu_s"] / growth["base"]["small_cpu_s"],
         growth["new"]["large_cpu_s"] / growth["new"]["small_cpu_s"], ""),
        (f"RSS with the placer loaded on {args.tracks} tracks, MB", out["base"]["rss_mb"], out["new"]["rss_mb"], ""),
    ]
    print_table(table, header=False)
    faithful = run_worker(REPO, "faithful", bundle=tmp / f"new_{args.tracks}", queries=queries)
    print(f"\nfaithfulness on {args.tracks} tracks: this code's placements vs openTSNE's full transform "
          f"(every window of {len(queries)} songs)")
    print(f"{'map':10} {'n':>4} {'moved/gap':>9} {'top-10 agree':>12} {'trust ours':>10} {'trust openTSNE':>14} "
          f"{'openTSNE s':>10}")
    for e, f in faithful.items():
        print(f"{e:10} {f['n']:4d} {f['moved']:9.3f} {f['agreement']:12.3f} {f['trust_ours']:10.4f} "
              f"{f['trust_opentsne']:14.4f} {f['opentsne_s']:10.1f}")
    return table


def len_tracks(sides) -> int:
    import csv

    with open(Path(sides["new"][1]) / "tracks.csv") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def print_table(rows, header: bool = True) -> None:
    if header:
        print(f"\n{'':52} {'base':>9} {'new':>9} {'new/base':>9}  target")
    for name, base, new, target in rows:
        ratio = new / base if base else float("nan")
        print(f"{name:52} {base:9.3f} {new:9.3f} {ratio:8.2f}×  {target}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
