"""Bookkeeping for the experiments: folds, per-fold metrics, one cached JSON per fold, summaries.

Every fold result is stored under a hash of everything it depends on (data
fingerprint, features, split, seed, fold, training settings), written
atomically, so an interrupted experiment resumes where it stopped and a re-run
with the same settings only reads.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss

from ..splits import cv_folds
from ..train import scores

CACHE_VERSION = 2  # 2: balanced accuracy and macro-F1 per fold; repeated recordings grouped
METRICS = ("track_balanced_accuracy", "track_accuracy", "track_macro_f1", "track_loss", "segment_accuracy",
           "segment_loss")
PROBE_METRICS = ("track_balanced_accuracy", "track_accuracy", "track_macro_f1")


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=False))
    os.replace(tmp, path)


def read_json(path: Path):
    """Parsed JSON, or None when the file is missing or damaged (then it is recomputed)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def config_key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def code_version(*modules) -> str:
    """Hash of the code a result depends on, so results of edited code are never served from cache.

    What is hashed is each module's syntax tree without docstrings, its imports taken as a set: comments,
    docstrings, line wrapping and the order of imports leave the key alone; a change to what runs does not.
    """
    h = hashlib.sha256()
    for m in modules:
        h.update(_code_without_docs(Path(m.__file__).read_text()).encode())
    return h.hexdigest()[:12]


def _code_without_docs(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                node.body = node.body[1:] or [ast.Pass()]
        if isinstance(node, ast.ImportFrom):
            node.names.sort(key=lambda a: (a.name, a.asname or ""))
    imports = sorted(ast.dump(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    return "\n".join(imports + [ast.dump(n) for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))])


def git_state(root: Path) -> dict:
    """Commit of the code that produced a result, and whether pipeline/ had uncommitted edits."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD") or None,
                "pipeline_uncommitted": bool(git("status", "--porcelain", "pipeline"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def array_key(a) -> str:
    return hashlib.sha256("\n".join(map(str, np.asarray(a).tolist())).encode()).hexdigest()[:16]


class FoldCache:
    """One JSON file per fold result, keyed on its full specification."""

    def __init__(self, root: str | Path):
        self.root = Path(root) / "folds"
        self.hits = self.misses = 0

    def run(self, spec: dict, compute) -> dict:
        path = self.root / f"{config_key(spec)}.json"
        spec = json.loads(json.dumps(spec, default=str))
        stored = read_json(path)
        if stored is not None and stored.get("spec") == spec:
            self.hits += 1
            return stored["result"]
        result = compute()
        write_json(path, {"spec": spec, "result": result})
        self.misses += 1
        return result


def cv_jobs(genres, groups, n_folds: int, seeds) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(seed, fold, train units, test units) for every fold of every seed: grouped, stratified."""
    return [(s, k, tr, te) for s in seeds for k, (tr, te) in enumerate(cv_folds(genres, groups, n_folds, s))]


def inner_split(genres, groups, train: np.ndarray, n_folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation part carved out of a fold's training units, as ``evaluate.cross_validate`` does."""
    genres, groups = np.asarray(genres), np.asarray(groups)
    inner_tr, inner_val = cv_folds(genres[train], groups[train], n_folds, seed + 100)[0]
    return train[inner_tr], train[inner_val]


def track_scores(track_probs: np.ndarray, y: np.ndarray) -> dict:
    """``track_accuracy``, ``track_balanced_accuracy``, ``track_macro_f1`` of per-track probabilities."""
    return {f"track_{k}": v for k, v in scores(y, track_probs.argmax(1)).items()}


def fold_metrics(seg_probs: np.ndarray, seg_track: np.ndarray, tracks: np.ndarray, labels: np.ndarray,
                 n_classes: int) -> dict:
    """Per track (mean of window probabilities): accuracy, balanced accuracy, macro-F1, log loss;
    per window: accuracy and log loss; on the test units."""
    seg_probs = np.clip(seg_probs, 1e-12, 1)
    track_p = np.stack([seg_probs[seg_track == t].mean(0) for t in tracks])
    track_p /= track_p.sum(1, keepdims=True)
    seg_y, y = labels[seg_track], labels[tracks]
    cls = np.arange(n_classes)
    return {
        **track_scores(track_p, y),
        "track_loss": float(log_loss(y, track_p, labels=cls)),
        "segment_accuracy": float(np.mean(seg_probs.argmax(1) == seg_y)),
        "segment_loss": float(log_loss(seg_y, seg_probs / seg_probs.sum(1, keepdims=True), labels=cls)),
        "n_test_tracks": int(len(tracks)),
        "n_test_segments": int(len(seg_track)),
        "test_units": [int(t) for t in tracks],
        "predicted": [int(p) for p in track_p.argmax(1)],
    }


def summarize(folds: list[dict], keys=METRICS) -> dict:
    """mean, std (over all fold results) and the values, per metric present in the folds."""
    out = {}
    for k in keys:
        v = [f[k] for f in folds if f.get(k) is not None]
        if v:
            out[k] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v), "values": v}
    return out


def pooled_confusion(folds: list[dict], labels: np.ndarray, n_classes: int) -> list[list[int]]:
    """Confusion matrix (rows = true) summed over every fold of every seed: each track once per seed."""
    true = [int(labels[t]) for f in folds for t in f["test_units"]]
    pred = [p for f in folds for p in f["predicted"]]
    return confusion_matrix(true, pred, labels=np.arange(n_classes)).tolist()


def non_overlapping(track: np.ndarray, start_s: np.ndarray, seconds: float) -> np.ndarray:
    """Indices of windows that share no audio: per track, greedily from the first window."""
    keep, last = [], {}
    for i in np.lexsort((start_s, track)):
        t = int(track[i])
        if t not in last or start_s[i] >= last[t] + seconds - 1e-6:
            keep.append(i)
            last[t] = start_s[i]
    return np.sort(np.asarray(keep, dtype=np.int64))
