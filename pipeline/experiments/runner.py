"""Features, folds and summaries behind ``pipeline.experiments.tables``.

``Runner`` loads a corpus once, caches backbone features per backbone/windows/
augmentation (``feature_cache.cached_features``), cross-validates the head (or the
from-scratch network) fold by fold through ``cv.FoldCache``, and
writes an experiment's summary atomically.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import dataset, embed, evaluate, spectrogram, train
from ..dataset import Corpus, check_enough_tracks
from ..embed import extract_features, head_taps
from ..errors import WeightsError
from ..evaluate import logistic_probabilities
from ..feature_cache import cached_features
from ..networks import mobilenet_v2_net as model
from ..networks.weights import shipped_weights_file
from ..onnx_features import OnnxFeatures
from ..runtime import package_versions
from ..spectrogram import SpectrogramConfig
from ..splits import grouping_line, split_groups, track_groups
from ..train import SegmentFeatures, TrainConfig, fit_head
from . import backbones, scratch
from . import cv as xcv
from .backbones import UNAVAILABLE, efficientnet_lite0_weights, load_backbone
from .finetune import FinetuneConfig
from .scratch import ScratchConfig, fit_scratch, segment_image_stack, segment_probabilities

# Source hashes taken at import: features, head folds and from-scratch folds are recomputed when their code
# changes. Decoding is covered by hashing the decoded audio itself, folds by hashing their members.
FEATURE_CODE = xcv.code_version(spectrogram, embed, model, backbones)
HEAD_CODE = xcv.code_version(model, train, evaluate, xcv)
SCRATCH_CODE = xcv.code_version(spectrogram, embed, model, scratch, xcv)

# (window seconds, augmented): the paper's three columns of Table 2, then the clean controls.
AUGMENTATION_ROWS = ((30.0, False), (10.0, True), (5.0, True), (10.0, False), (5.0, False))


@dataclass
class ExperimentConfig:
    """Everything an experiment depends on; recorded in its summary."""

    data: str
    cache: str = ".cache/experiments"
    metadata: str | None = None
    seeds: int = 3
    folds: int = 5
    weights: dict = field(default_factory=dict)  # backbone name → state-dict file
    feature_seed: int = 0  # which augmentation each window gets
    max_track_seconds: float = 30.0
    min_artists: int = 2  # a genre is split by artist if it has this many known artists
    # Tables 1 and 2 are cross-validated by artist (the honest headline; "track" for the optimistic view).
    split: str = "artist"
    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    scratch: ScratchConfig = field(default_factory=ScratchConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # generalization: the fine-tuned rows
    rows: tuple | None = None  # generalization: run only these rows (indices; e.g. to split the work)
    scratch_seeds: int = 1
    scratch_folds: int | None = None  # None: every fold
    augmentation_windows: tuple = AUGMENTATION_ROWS
    # One torch thread: on 2 shared cores, 2 threads made the head 8x and the CNNs ~2x slower (measured).
    threads: int = 1
    command: str | None = None  # how it was invoked, for the report


def load_corpus(cfg: ExperimentConfig, progress: bool = True) -> Corpus:
    """The experiment's tracks, decoded as ``build`` decodes them (``dataset.load_corpus``)."""
    corpus = dataset.load_corpus(cfg.data, sr=cfg.spectrogram.sample_rate, max_seconds=cfg.max_track_seconds,
                                 metadata=cfg.metadata, progress=progress)
    check_enough_tracks(corpus)
    return corpus


def describe(c: Corpus) -> dict:
    """The data line of an experiment's summary."""
    return {"name": c.root.name, "root": str(c.root.resolve()), "n_tracks": len(c.ids),
            "tracks_per_genre": c.counts, "skipped": c.skipped, "metadata": str(c.metadata) if c.metadata else None,
            "tracks_with_artist": int(sum(bool(a) for a in c.artists))}


def windows(spec: SpectrogramConfig) -> dict:
    return {"seconds": spec.segment_seconds, "hop_seconds": spec.segment_hop_seconds,
            "image_size": spec.image_size or "native"}


class Runner:
    """Features, folds and summaries for one experiment configuration."""

    def __init__(self, cfg: ExperimentConfig, progress: bool = True, log=print):
        self.cfg, self.progress, self.log = cfg, progress, log
        self.root = Path(cfg.cache)
        self.folds = xcv.FoldCache(self.root)
        self._corpus = None
        self.t0 = time.perf_counter()
        self.load_start = _load_average()
        self.features_computed = 0

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            self._corpus = load_corpus(self.cfg, self.progress)
        return self._corpus

    @property
    def seeds(self) -> list[int]:
        return list(range(self.cfg.seeds))

    def weights_file(self, backbone: str) -> Path:
        """The ImageNet weights a backbone would use; WeightsError when there are none."""
        given = self.cfg.weights.get(backbone)
        if backbone in UNAVAILABLE:
            raise WeightsError(UNAVAILABLE[backbone])
        if backbone == "mobilenet_v2":
            return Path(given) if given else shipped_weights_file()
        if backbone == "efficientnet_lite0":
            return Path(given) if given else efficientnet_lite0_weights()
        if given:
            return Path(given)
        raise WeightsError(f"no ImageNet weights available offline (pass --weights {backbone}=FILE)")

    def features(self, backbone: str, spec: SpectrogramConfig, augmented: bool) -> tuple[dict, str, str]:
        """Cached backbone features; returns (features, id of the clean part, id of the augmented part)."""
        path = self.weights_file(backbone)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        st = path.stat()
        base = {"v": xcv.CACHE_VERSION, "code": FEATURE_CODE, "data": self.corpus.fingerprint, "backbone": backbone,
                "weights": [path.name, st.st_size, st.st_mtime_ns], "spectrogram": spec.to_dict(),
                "max_seconds": self.cfg.max_track_seconds}
        clean_id = xcv.config_key({**base, "augmented": False})
        aug_id = xcv.config_key({**base, "augmented": True, "feature_seed": self.cfg.feature_seed})
        fdir = self.root / "features"
        # Clean features are the same in both files: reuse an augmented extraction if there is one.
        key = aug_id if augmented or (fdir / f"features-{aug_id}.npz").is_file() else clean_id

        def compute():
            self.log(f"  extracting {backbone} features, {spec.segment_seconds:g} s windows"
                     f"{' + augmented copies' if augmented else ''}")
            self.features_computed += 1
            bb, _ = load_backbone(backbone, path, spec.image_size)
            if backbone == "mobilenet_v2":  # in onnxruntime: ~6x eager torch on these cores (see onnx_features)
                bb = OnnxFeatures(bb, embed.segment_images(self.corpus.audios[0], spec)[0], time_axis=2)
            return extract_features(bb, self.corpus.audios, spec, self.cfg.feature_seed, augmented, self.progress,
                                    self.corpus.ids)

        return cached_features(key, fdir, compute), clean_id, aug_id

    def units(self, split: str, feats: dict, subset: np.ndarray | None = None):
        """What the folds are made of: (features, labels, genres, groups, notes) per split unit."""
        c = self.corpus
        seg = SegmentFeatures(feats["clean"], feats["track"], feats.get("augmented"))
        if split == "segment":
            idx = np.arange(len(seg.track)) if subset is None else subset
            aug = seg.augmented[idx] if seg.augmented is not None else None
            unit = SegmentFeatures(seg.clean[idx], np.arange(len(idx)), aug)
            t = seg.track[idx]
            return unit, c.y[t], c.genres[t], np.arange(len(idx)).astype(str), {"n_units": len(idx)}
        found = self.groups(split)
        if found is None:
            return None
        groups, notes = found
        return seg, c.y, c.genres, groups, notes

    def groups(self, split: str):
        """Track groups for ``split`` ("track" or "artist"; repeated recordings always together) and notes on them;
        None when an artist split is asked for and no artist is known."""
        c = self.corpus
        if split == "track":
            groups = track_groups(c.ids, c.genres, c.artists, c.titles)
            return groups, {"n_units": len(c.ids), "n_groups": len(set(groups)),
                            "grouping": grouping_line("track", [], self.cfg.min_artists)}
        groups, fallback = split_groups(c.ids, c.genres, c.artists, self.cfg.min_artists, c.titles)
        if not any(g.startswith("artist:") for g in groups):
            return None
        return groups, {"n_units": len(c.ids), "n_groups": len(set(groups)), "genres_grouped_by_track": fallback,
                        "grouping": grouping_line("artist", fallback, self.cfg.min_artists)}

    def head_cv(self, name: str, feats: dict, features_id: str, split: str = "track", augment: bool = False,
                baseline: bool = False, subset=None, **extra) -> dict:
        """Cross-validate the head (and optionally the logistic probe) on cached features."""
        t0, hits = time.perf_counter(), self.folds.hits
        units = self.units(split, feats, subset)
        if units is None:
            return {"name": name, "split": split, "status": "not run", **extra,
                    "reason": "no artist metadata for these tracks (tracks.csv beside the data, or --metadata)"}
        seg, y, genres, groups, notes = units
        n_classes, folds = len(self.corpus.labels), self.cfg.folds
        train_cfg = replace(self.cfg.train, augment="paper" if augment else "none")
        spec0 = {"v": xcv.CACHE_VERSION, "code": HEAD_CODE, "features": features_id, "split": split,
                 "groups": xcv.array_key(groups), "folds": folds,
                 "subset": None if subset is None else xcv.array_key(subset)}
        head, logistic = [], []
        jobs = xcv.cv_jobs(genres, groups, folds, self.seeds)
        for seed, k, tr, te in tqdm(jobs, desc=name, unit="fold", disable=not self.progress):
            train, val = xcv.inner_split(genres, groups, tr, folds, seed)
            members = [xcv.array_key(a) for a in (train, val, te)]

            def fit(seed=seed, train=train, val=val, te=te):
                model, hist = fit_head(seg, y, train, val, n_classes, train_cfg, seed)
                X, t = seg.select(te, with_augmented=False)
                return {**xcv.fold_metrics(head_taps(model, X)["probabilities"].astype(np.float64), t, te, y,
                                           n_classes), "best_epoch": hist["best_epoch"]}

            spec = {**spec0, "model": "head", "seed": seed, "fold": k, "members": members, "train": train_cfg.to_dict()}
            head.append({"seed": seed, "fold": k, **self.folds.run(spec, fit)})
            if baseline:
                def probe(seed=seed, tr=tr, te=te):
                    return xcv.track_scores(logistic_probabilities(seg, y, tr, te, n_classes, seed), y[te])

                spec = {**spec0, "model": "logistic", "seed": seed, "fold": k, "members": members}
                logistic.append(self.folds.run(spec, probe))
        row = {"name": name, "split": split, "status": "ok", **extra, "augment": bool(augment), **notes,
               "folds": folds, "seeds": self.seeds, "n_results": len(head), "metrics": xcv.summarize(head),
               "confusion": xcv.pooled_confusion(head, y, n_classes), "fold_results": head,
               "seconds": round(time.perf_counter() - t0, 1), "cached_folds": self.folds.hits - hits}
        if baseline:
            row["logistic"] = xcv.summarize(logistic, xcv.PROBE_METRICS)
        return row

    def scratch_cv(self, spec: SpectrogramConfig, split: str = "track") -> dict:
        """MobileNetV2 trained from random init per fold (fewer folds/seeds if so configured)."""
        t0, hits = time.perf_counter(), self.folds.hits
        c, sc = self.corpus, self.cfg.scratch
        groups, notes = self.groups(split) or self.groups("track")
        split = "artist" if "genres_grouped_by_track" in notes else "track"
        key = xcv.config_key({"v": xcv.CACHE_VERSION, "code": SCRATCH_CODE, "data": c.fingerprint,
                              "spectrogram": spec.to_dict(), "downsample": sc.downsample,
                              "max_seconds": self.cfg.max_track_seconds})
        def images():
            self.features_computed += 1
            return segment_image_stack(c.audios, spec, sc.downsample, self.progress)

        stack = cached_features(f"scratch-{key}", self.root / "features", images)
        images, track, folds = stack["images"], stack["track"], self.cfg.folds
        seeds = self.seeds[: self.cfg.scratch_seeds]
        jobs = [j for j in xcv.cv_jobs(c.genres, groups, folds, seeds)
                if self.cfg.scratch_folds is None or j[1] < self.cfg.scratch_folds]
        results = []
        for seed, k, tr, te in tqdm(jobs, desc="MobileNetV2 from scratch", unit="fold", disable=not self.progress):
            train, val = xcv.inner_split(c.genres, groups, tr, folds, seed)

            def fit(seed=seed, train=train, val=val, te=te):
                t1 = time.perf_counter()
                model, hist = fit_scratch(images, track, c.y, train, val, len(c.labels), sc, self.cfg.train, seed,
                                          self.progress)
                mask = np.isin(track, te)
                m = xcv.fold_metrics(segment_probabilities(model, images[mask]), track[mask], te, c.y, len(c.labels))
                return {**m, "best_epoch": hist["best_epoch"], "epochs_run": hist["epochs_run"],
                        "seconds": round(time.perf_counter() - t1, 1)}

            t = self.cfg.train  # only the head's shape comes from TrainConfig; optimisation is ScratchConfig's
            spec_ = {"v": xcv.CACHE_VERSION, "code": SCRATCH_CODE, "model": "scratch", "images": key, "split": split,
                     "folds": folds, "seed": seed, "fold": k, "scratch": sc.to_dict(),
                     "members": [xcv.array_key(a) for a in (train, val, te)],
                     "head": [t.deep, t.shallow, t.dropout]}
            results.append({"seed": seed, "fold": k, **self.folds.run(spec_, fit)})
        return {"name": "MobileNetV2 from scratch", "backbone": "mobilenet_v2", "weights": "random init, trained",
                "status": "ok", "split": split, **notes, "windows": windows(spec), "augment": False,
                "folds": folds, "seeds": seeds, "folds_run": sorted({r["fold"] for r in results}),
                "n_results": len(results), "metrics": xcv.summarize(results),
                "confusion": xcv.pooled_confusion(results, c.y, len(c.labels)), "fold_results": results,
                "training": {**sc.to_dict(), "image_shape": list(images.shape[1:])},
                "seconds": round(time.perf_counter() - t0, 1), "cached_folds": self.folds.hits - hits}

    def finish(self, experiment: str, rows: list[dict], **protocol) -> dict:
        c, cfg = self.corpus, self.cfg
        summary = {
            "experiment": experiment, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data": describe(c), "labels": c.labels,
            "protocol": {"folds": cfg.folds, "seeds": self.seeds, "feature_seed": cfg.feature_seed,
                         "max_track_seconds": cfg.max_track_seconds,
                         "cv": "stratified by genre, grouped by the split unit; validation for early stopping "
                               "carved out of each fold's training units",
                         "train": cfg.train.to_dict(), "spectrogram": cfg.spectrogram.to_dict(), **protocol},
            "rows": rows, "versions": package_versions(), "command": cfg.command,
            "code": {"features": FEATURE_CODE, "head": HEAD_CODE, "scratch": SCRATCH_CODE,
                     **xcv.git_state(Path(__file__).resolve().parents[1])},
            "seconds": round(time.perf_counter() - self.t0, 1),
        }
        # Every run, cached or not, is logged: the report shows what a cold run costs on this machine.
        summary["run"] = {"experiment": experiment, "created": summary["created"], "seconds": summary["seconds"],
                          "folds_computed": self.folds.misses, "folds_cached": self.folds.hits,
                          "feature_sets_computed": self.features_computed, "threads": cfg.threads,
                          "load_average": [self.load_start, _load_average()], "commit": summary["code"]["commit"]}
        xcv.write_json(self.root / f"{experiment}.json", summary)
        with open(self.root / "history.jsonl", "a") as f:
            f.write(json.dumps(summary["run"]) + "\n")
        return summary


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
