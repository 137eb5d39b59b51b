"""What maps that follow each other cost: each layer's map fitted on its own vs aligned with the previous layer's.

    OMP_NUM_THREADS=1 python benchmarks/map_alignment.py [--bundle assets/gtzan] [--seeds 0 1 2] [--json FILE]

For every network of the bundle and every layer, on the bundle's own track vectors: the map's trustworthiness
(5 neighbours, cosine, as ``maps.embedding_quality``) and its k-NN genre accuracy on the 2-D map (leave-one-out,
5 neighbours, ``maps.knn_genre_accuracy``), for independent maps (``MapProjector.fit``, as builds did before) and
for aligned ones (``maps.layer_maps``: each layer's map turned onto the previous layer's, orthogonal Procrustes).
Also how far a track moves between consecutive layers (its mean distance, each map scaled to unit RMS radius).
With several seeds, the spread of the independent maps' numbers across seeds says how much of a difference
is the layout's own noise.

Target: aligned within 0.01 of independent, every layer, both numbers (mean over the seeds).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import maps  # noqa: E402
from pipeline.bundle import load_bundle  # noqa: E402

TOLERANCE = 0.01


def displacement(a: np.ndarray, b: np.ndarray) -> float:
    """A track's mean distance between two maps of the same tracks, each at unit RMS radius."""
    return float(np.linalg.norm(maps.unit_spread(a) - maps.unit_spread(b), axis=1).mean())


def scores(vectors: np.ndarray, coords: np.ndarray, genres) -> tuple[float, float]:
    return (maps.embedding_quality(vectors, coords, genres)["trustworthiness"],
            maps.knn_genre_accuracy(coords, genres, metric="euclidean"))


def one_seed(bundle, network: str, seed: int) -> dict:
    keys = bundle.networks[network]
    vectors = {k: bundle.vectors(k).astype(np.float64) for k in keys}
    genres = bundle.tracks["genre"].astype(str).to_numpy()
    params = maps.MapConfig().params(seed)
    independent = {k: maps.MapProjector(**params).fit(v).coords_ for k, v in vectors.items()}
    aligned = {k: p.coords_ for k, p in maps.layer_maps(vectors, [keys], params).items()}
    rows = {}
    for i, k in enumerate(keys):
        rows[k] = {"independent": scores(vectors[k], independent[k], genres),
                   "aligned": scores(vectors[k], aligned[k], genres)}
        if i:
            rows[k]["moved"] = (displacement(independent[keys[i - 1]], independent[k]),
                                displacement(aligned[keys[i - 1]], aligned[k]))
    return rows


def table(runs: list[dict]) -> tuple[list[str], bool]:
    """Markdown rows (means over seeds; independent's spread across seeds) and whether every layer is within."""
    lines = ["| layer | trustworthiness: independent (± seeds) | aligned | Δ | map kNN accuracy: independent "
             "(± seeds) | aligned | Δ | track moved from previous layer: independent | aligned |",
             "|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for k in runs[0]:
        ind = np.array([r[k]["independent"] for r in runs])
        ali = np.array([r[k]["aligned"] for r in runs])
        d = ali.mean(0) - ind.mean(0)
        ok &= bool(np.all(d >= -TOLERANCE))
        moved = np.array([r[k]["moved"] for r in runs]).mean(0) if "moved" in runs[0][k] else None
        moved_cells = f"{moved[0]:.2f} | {moved[1]:.2f}" if moved is not None else "– | –"
        lines.append(f"| {k} | {ind[:, 0].mean():.4f} ± {ind[:, 0].std():.4f} | {ali[:, 0].mean():.4f} | "
                     f"{d[0]:+.4f} | {ind[:, 1].mean():.4f} ± {ind[:, 1].std():.4f} | {ali[:, 1].mean():.4f} | "
                     f"{d[1]:+.4f} | {moved_cells} |")
    return lines, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(REPO / "assets" / "gtzan"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--json", help="also write every number to this file")
    args = ap.parse_args(argv)
    bundle = load_bundle(args.bundle)
    print(f"{len(bundle.tracks)} tracks, seeds {args.seeds}; target: aligned ≥ independent − {TOLERANCE}")
    everything, all_ok = {}, True
    for network in bundle.networks:
        runs = [one_seed(bundle, network, s) for s in args.seeds]
        everything[network] = runs
        lines, ok = table(runs)
        all_ok &= ok
        print(f"\n{network}\n" + "\n".join(lines))
    print("\nwithin target on every layer" if all_ok else "\nNOT within target on some layer")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
