"""Which MusiCNN output to embed: a linear probe under artist-grouped cross-validation (a script, not a test).

    python benchmarks/musicnn_probe.py                       # extract (one torch thread), save, probe
    python benchmarks/musicnn_probe.py --reuse               # probe the saved features again
    python benchmarks/musicnn_probe.py --reuse --json .cache/experiments/musicnn_outputs.json   # for the report

Decodes every track of --data at 22 050 Hz (at most 30 s), extracts MusiCNN's
per-patch outputs (3 s patches, hop 1.5 s), saves them to --out (npz, no
pickle) with track ids, genres and artists, and times the extraction. Then,
for each candidate embedding, a StandardScaler + class-weighted logistic
regression is trained on the patches of the training tracks; a test track's
patch probabilities are averaged. Folds: StratifiedGroupKFold (5 folds x 3
repeats, seeds 0-2) grouped by artist (genres with < 2 known artists and
tracks without an artist by track), repeated recordings always in one group.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.dataset import discover_tracks, load_track_audio, read_track_metadata  # noqa: E402
from pipeline.splits import cv_folds, split_groups  # noqa: E402

# Sturm (2013)'s exact repetitions present in the shared copy (../shared/data/gtzan/README.md).
REPEATED_RECORDINGS = (("disco.00098", "disco.00099"), ("reggae.00081", "reggae.00082"), ("pop.00015", "pop.00022"),
                       ("pop.00030", "pop.00031"), ("pop.00047", "pop.00080"), ("pop.00052", "pop.00057"))
CANDIDATES = {"mean_pool+max_pool": ("mean_pool", "max_pool"), "mean_pool": ("mean_pool",),
              "max_pool": ("max_pool",), "penultimate": ("penultimate",)}


def extract(data: Path, weights: Path, out: Path) -> None:
    """Decode, extract per-patch features with one torch thread, save them and print the timing."""
    from pipeline.networks.musicnn_net import MusiCNNConfig, load_musicnn, musicnn_features
    from pipeline.runtime import torch_threads

    tracks, _ = discover_tracks(data)
    tracks, audios, failed = load_track_audio(tracks, sr=22050, max_seconds=30.0)
    info = read_track_metadata(data.parent / "gtzan_splits" / "metadata" / "tracks.csv")
    model, cfg = load_musicnn(weights), MusiCNNConfig()
    with torch_threads(1):
        t0 = time.perf_counter()
        feats = musicnn_features(model, audios, 22050, cfg)
        seconds = time.perf_counter() - t0
    print(f"extraction: {seconds:.1f} s for {len(tracks)} tracks = {seconds / len(tracks):.3f} s/track "
          f"({len(feats['track'])} patches, 1 torch thread, failed: {failed})")
    ids = [t.track_id for t in tracks]
    np.savez(out, **feats, track_ids=np.array(ids), genres=np.array([t.genre for t in tracks]),
             artists=np.array([info.get(i, {}).get("artist") or "" for i in ids]),
             seconds_per_track=seconds / len(tracks), config=json.dumps(cfg.to_dict()))


def artist_groups(ids, genres, artists) -> np.ndarray:
    """Artist groups (track groups where unusable) with each repeated recording pair merged into one group."""
    groups, fallback = split_groups(ids, genres, artists, min_artists=2)
    print(f"genres grouped by track: {fallback or 'none'}; {len(set(groups))} groups")
    index = {t: i for i, t in enumerate(ids)}
    for a, b in REPEATED_RECORDINGS:
        if a in index and b in index:
            groups[groups == groups[index[b]]] = groups[index[a]]
    return groups


def probe(x, patch_track, y, folds) -> dict[str, list[float]]:
    """Accuracy and balanced accuracy per fold of a class-weighted logistic probe, patch probabilities averaged."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores: dict[str, list[float]] = {"accuracy": [], "balanced_accuracy": []}
    for train, test in folds:
        train_patches, test_patches = np.isin(patch_track, train), np.isin(patch_track, test)
        clf = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
        clf.fit(x[train_patches], y[patch_track[train_patches]])
        proba = clf.predict_proba(x[test_patches])
        per_track = np.stack([proba[patch_track[test_patches] == t].mean(0) for t in test])
        predicted = clf.classes_[per_track.argmax(1)]
        scores["accuracy"].append(accuracy_score(y[test], predicted))
        scores["balanced_accuracy"].append(balanced_accuracy_score(y[test], predicted))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "gtzan")
    parser.add_argument("--weights", type=Path,
                        default=REPO.parent / "shared" / "weights" / "musicnn" / "msd_musicnn.safetensors")
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "musicnn_features.npz")
    parser.add_argument("--reuse", action="store_true", help="probe the features saved in --out")
    parser.add_argument("--json", type=Path, help="also write the table here (read by `python -m pipeline report`)")
    args = parser.parse_args()
    if not args.reuse:
        extract(args.data, args.weights, args.out)
    saved = np.load(args.out)
    ids, genres, artists = list(saved["track_ids"]), saved["genres"], [a or None for a in saved["artists"]]
    labels = sorted(set(genres))
    y = np.array([labels.index(g) for g in genres])
    groups = artist_groups(ids, genres, artists)
    folds = [f for seed in range(3) for f in cv_folds(genres, groups, n_folds=5, seed=seed)]
    print(f"{len(ids)} tracks, {len(saved['track'])} patches; 5 folds x 3 repeats (seeds 0-2), artist-grouped")
    print(f"{'embedding':22} {'dim':>5} {'accuracy':>15} {'balanced acc.':>15} {'bal. acc. - first, paired':>26}")
    first, rows = None, []
    for name, parts in CANDIDATES.items():
        x = np.concatenate([saved[p] for p in parts], axis=1)
        s = probe(x, saved["track"], y, folds)
        first = s["balanced_accuracy"] if first is None else first
        paired = np.subtract(s["balanced_accuracy"], first)  # same folds: the fold-to-fold spread cancels
        print(f"{name:22} {x.shape[1]:5d} " + " ".join(
            f"{np.mean(s[m]):.3f} ± {np.std(s[m]):.3f}".rjust(15) for m in ("accuracy", "balanced_accuracy"))
            + f"{np.mean(paired):+.3f} ± {np.std(paired):.3f}".rjust(27))
        rows.append({"output": name, "dim": int(x.shape[1]), **{m: [float(v) for v in s[m]] for m in s},
                     "paired_balanced_vs_first": [float(v) for v in paired]})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "data": f"{len(ids)} tracks of {args.data.name}", "patches": int(len(saved["track"])),
            "patch": "3 s, hop 1.5 s", "folds": "5-fold x 3 repeats (seeds 0-2), grouped by artist",
            "probe": "StandardScaler + class-weighted logistic regression, patch probabilities averaged per track",
            "command": "python benchmarks/musicnn_probe.py --reuse --json ...", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
