"""``python -m pipeline experiment generalization``: what makes the head hold up on unheard artists.

Every row is cross-validated on the *same* folds: 5-fold, stratified by genre,
grouped by artist (repeated recordings together; ``splits``), repeated with
seeds 0..S-1. A row changes one thing against the row it names (or combines
the changes that helped), so the table says what each change is worth in
balanced accuracy (mean per-genre recall: the genres are imbalanced).

Backbone features are cached per window setting (``feature_sets``: the pools of
every MobileNetV2 block from one pass, SpecAugment-masked copies, and for
fine-tuning the activation entering the first tuned block), fold results one
JSON each (``cv.FoldCache``), so a re-run only reads and an
interrupted run resumes.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss
from tqdm.auto import tqdm

from .. import evaluate, splits
from .. import train as training
from ..embed import head_taps, track_rng
from ..evaluate import logistic_probabilities
from ..feature_cache import cached_features
from ..networks.mobilenet_v2_net import Backbone, load_imagenet_backbone
from ..spectrogram import AUGMENTATIONS, FRONT_END_VERSION, SpectrogramConfig, augment, mel_images, segment_audio
from ..train import SegmentFeatures, TrainConfig, fit_head
from . import cv as xcv
from . import feature_sets, finetune
from .feature_sets import all_block_runner, block_columns, extract_block_features
from .finetune import fit_tail, tail_probabilities
from .runner import Runner

# What a row's results depend on (hashed, so edited code never serves stale folds): training, probe, folds.
FEATURE_SET_CODE = xcv.code_version(feature_sets)
ROW_CODE = xcv.code_version(training, evaluate, splits)
FINETUNE_CODE = xcv.code_version(finetune)


@dataclass(frozen=True)
class Variant:
    """One row: windows, image size, pooled blocks, model, training changes."""

    name: str
    seconds: float = 10.0
    hop: float = 5.0
    image_size: int | None = None
    blocks: tuple = (18,)
    model: str = "head"  # head | logistic | finetune
    train: tuple = ()  # TrainConfig overrides, ((field, value), ...)
    masked: int = 0  # SpecAugment-masked copies of every training window
    members: int = 1  # heads (seeds) averaged: a seed ensemble when > 1
    finetune_first: int | None = None  # first fine-tuned block (model "finetune")
    paper_augmented: bool = False  # one gain/pitch/noise copy per training window, as the build's --augment paper

    def spec(self, base: SpectrogramConfig) -> SpectrogramConfig:
        return replace(base, segment_seconds=self.seconds, segment_hop_seconds=self.hop, image_size=self.image_size)

    def train_config(self, base: TrainConfig) -> TrainConfig:
        augment = "specaugment" if self.masked else "paper" if self.paper_augmented else "none"
        return replace(base, **dict(self.train), augment=augment)

    def describe(self) -> dict:
        d = asdict(self)
        d["train"] = dict(self.train)
        if not self.paper_augmented:  # added later: rows without it keep the description their folds are cached under
            del d["paper_augmented"]
        return d


UNWEIGHTED = (("class_weight", "none"),)
MIXUP = (("mixup_alpha", 0.4),)
TAPS = (14, 17, 18)
ALL_BLOCKS = tuple(range(19))
# The rows, cheapest first. "current" is the build's configuration before the generalisation study (no class weights).
VARIANTS = (
    Variant("current: 10 s / 5 s windows, native 128 x 431, last block, head", train=UNWEIGHTED),
    Variant("+ class-weighted loss"),
    Variant("logistic probe (class-weighted), same features", model="logistic"),
    Variant("+ class weights, blocks 14+17+18 pooled", blocks=TAPS),
    Variant("logistic probe (class-weighted), blocks 14+17+18", blocks=TAPS, model="logistic"),
    Variant("+ class weights, all 19 blocks pooled", blocks=ALL_BLOCKS),
    Variant("logistic probe (class-weighted), all 19 blocks", blocks=ALL_BLOCKS, model="logistic"),
    Variant("+ class weights + mixup (alpha 0.4, on the head's input)", train=MIXUP),
    Variant("+ class weights + SpecAugment masks (2 masked copies per window)", masked=2),
    Variant("+ class weights, 224 x 224 images", image_size=224),
    Variant("+ class weights, 5 s / 2.5 s windows", seconds=5.0, hop=2.5),
    Variant("+ class weights, all 19 blocks, seed ensemble (3 heads)", blocks=ALL_BLOCKS, members=3),
    Variant("+ class weights, 3 s / 1.5 s windows", seconds=3.0, hop=1.5),
    Variant("+ class weights, all 19 blocks, fine-tuned blocks 16-18", blocks=ALL_BLOCKS, model="finetune",
            finetune_first=16),
    Variant("all 19 blocks pooled, no class weights", blocks=ALL_BLOCKS, train=UNWEIGHTED),
    Variant("+ class weights + the paper's augmentation (a gain/pitch/noise copy per window)", paper_augmented=True),
    Variant("+ class weights, all 19 blocks + the paper's augmentation", blocks=ALL_BLOCKS, paper_augmented=True),
)

# Rows also scored on Sturm's fault-filtered split (those of its tracks that are here).
FAULT_FILTERED_ROWS = tuple(v.name for v in VARIANTS[:7] + VARIANTS[15:17])


def paper_augmented_pools(backbone: Backbone, audios, cfg: SpectrogramConfig, seed: int = 0,
                          progress: bool = True, track_ids: list[str] | None = None) -> dict[str, np.ndarray]:
    """All-block pools of the paper's augmentation: one copy per window, kind and parameters drawn exactly as
    ``embed.track_features`` draws them (each track's own generator, ``embed.track_rng``), so a row with it is
    the build's ``--augment paper``."""
    out = {"augmented": [], "augmented_track": [], "augmentation": []}
    pools = None
    ids = track_ids or [str(i) for i in range(len(audios))]
    for i, y in enumerate(tqdm(audios, desc="paper-augmented copies", unit="track", disable=not progress)):
        rng = track_rng(seed, ids[i])
        segments, _ = segment_audio(y, cfg)
        kinds = rng.integers(len(AUGMENTATIONS), size=len(segments))
        copies = [augment(s, AUGMENTATIONS[k], rng, cfg.sample_rate) for s, k in zip(segments, kinds)]
        aug = mel_images(np.stack(copies), cfg)
        pools = pools or all_block_runner(backbone, aug)
        out["augmented"].append(pools(aug))
        out["augmented_track"].append(np.full(len(segments), i))
        out["augmentation"].append(kinds)
    return {k: np.concatenate(v) for k, v in out.items()}


PAPER_AUG_CODE = xcv.config_key([FEATURE_SET_CODE, inspect.getsource(paper_augmented_pools)])


def feature_needs(variants) -> dict:
    """Per window setting (seconds, hop, image size): how many masked copies and from which block a tail input."""
    need: dict[tuple, dict] = {}
    for v in variants:
        n = need.setdefault((v.seconds, v.hop, v.image_size), {"masked": 0, "tail_from": None})
        n["masked"] = max(n["masked"], v.masked)
        if v.finetune_first is not None:
            n["tail_from"] = min(v.finetune_first, n["tail_from"] or v.finetune_first)
    return need


class GeneralizationRunner(Runner):
    """``Runner`` with all-block feature sets and the row kinds of this experiment."""

    def block_features(self, spec: SpectrogramConfig, masked: int, tail_from: int | None) -> tuple[dict, str]:
        path = self.weights_file("mobilenet_v2")
        st = path.stat()
        key = xcv.config_key({"v": xcv.CACHE_VERSION, "code": FEATURE_SET_CODE, "front_end": FRONT_END_VERSION,
                              "data": self.corpus.fingerprint,
                              "weights": [path.name, st.st_size, st.st_mtime_ns], "spectrogram": spec.to_dict(),
                              "max_seconds": self.cfg.max_track_seconds, "masked": masked, "tail_from": tail_from,
                              "feature_seed": self.cfg.feature_seed})

        def compute():
            self.log(f"  extracting all-block features, {spec.segment_seconds:g} s windows, "
                     f"{spec.image_size or 'native'}, {masked} masked copies, tail input from {tail_from}")
            self.features_computed += 1
            bb = Backbone(spec.image_size)
            load_imagenet_backbone(bb, path)
            return extract_block_features(bb, self.corpus.audios, spec, masked, self.cfg.feature_seed, tail_from,
                                          self.progress)

        return cached_features(f"blocks-{key}", self.root / "features", compute), key

    def paper_augmented_features(self, spec: SpectrogramConfig) -> dict:
        """All-block pools of one augmented copy per window (none/gain/pitch/noise), drawn as the build draws them."""
        path = self.weights_file("mobilenet_v2")
        st = path.stat()
        key = xcv.config_key({"v": xcv.CACHE_VERSION, "code": PAPER_AUG_CODE, "front_end": FRONT_END_VERSION,
                              "data": self.corpus.fingerprint, "weights": [path.name, st.st_size, st.st_mtime_ns],
                              "spectrogram": spec.to_dict(), "max_seconds": self.cfg.max_track_seconds,
                              "feature_seed": self.cfg.feature_seed})

        def compute():
            self.log(f"  extracting all-block features of paper-augmented copies, {spec.segment_seconds:g} s windows")
            self.features_computed += 1
            return paper_augmented_pools(self.backbone(spec), self.corpus.audios, spec, self.cfg.feature_seed,
                                         self.progress, self.corpus.ids)

        return cached_features(f"paperaug-{key}", self.root / "features", compute)

    def row_features(self, v: Variant, feats: dict, spec: SpectrogramConfig) -> SegmentFeatures:
        """The row's blocks of the clean windows, and its augmented copies (masked or the paper's) if any."""
        cols, n = block_columns(v.blocks), len(feats["track"])
        if v.paper_augmented:
            aug = self.paper_augmented_features(spec)
            return SegmentFeatures(feats["clean"][:, cols], feats["track"], aug["augmented"][:, cols],
                                   aug["augmented_track"])
        return SegmentFeatures(feats["clean"][:, cols], feats["track"],
                               feats["masked"][: n * v.masked, cols] if v.masked else None,
                               feats["masked_track"][: n * v.masked] if v.masked else None)

    def backbone(self, spec: SpectrogramConfig) -> Backbone:
        bb = Backbone(spec.image_size)
        load_imagenet_backbone(bb, self.weights_file("mobilenet_v2"))
        return bb

    def variant_cv(self, v: Variant, feats: dict, features_id: str, groups: np.ndarray, notes: dict) -> dict:
        """Cross-validate one row on the artist-grouped folds."""
        t0, hits = time.perf_counter(), self.folds.hits
        c, folds, n_classes = self.corpus, self.cfg.folds, len(self.corpus.labels)
        spec = v.spec(self.cfg.spectrogram)
        cols = block_columns(v.blocks)
        seg = self.row_features(v, feats, spec)
        train_cfg = v.train_config(self.cfg.train)
        ft = replace(self.cfg.finetune, first=v.finetune_first) if v.model == "finetune" else None
        code = {"rows": ROW_CODE, "finetune": FINETUNE_CODE if ft else None}
        results = []
        for seed, k, tr, te in tqdm(xcv.cv_jobs(c.genres, groups, folds, self.seeds), desc=v.name[:40], unit="fold",
                                    disable=not self.progress):
            train, val = xcv.inner_split(c.genres, groups, tr, folds, seed)
            spec_ = {"v": xcv.CACHE_VERSION, "code": code, "features": features_id, "variant": v.describe(),
                     "train": train_cfg.to_dict(), "finetune": ft.to_dict() if ft else None, "seed": seed,
                     "fold": k, "members": [xcv.array_key(a) for a in (train, val, te)]}

            def fit(seed=seed, tr=tr, train=train, val=val, te=te):
                return self._fit_fold(v, seg, feats, spec, train_cfg, ft, seed, tr, train, val, te)

            results.append({"seed": seed, "fold": k, **self.folds.run(spec_, fit)})
        keys = xcv.METRICS if v.model != "logistic" else xcv.PROBE_METRICS + ("track_loss",)
        return {"name": v.name, "status": "ok", "split": "artist", **notes, "variant": v.describe(),
                "windows": {"seconds": v.seconds, "hop_seconds": v.hop, "image_size": v.image_size or "native"},
                "folds": folds, "seeds": self.seeds, "n_results": len(results),
                "metrics": xcv.summarize(results, keys), "confusion": xcv.pooled_confusion(results, c.y, n_classes),
                "fold_results": results, "train": train_cfg.to_dict(), "finetune": ft.to_dict() if ft else None,
                "dim": int(len(cols)), "seconds": round(time.perf_counter() - t0, 1),
                "cached_folds": self.folds.hits - hits}

    def _fit_fold(self, v, seg, feats, spec, train_cfg, ft, seed, tr, train, val, te) -> dict:
        c, n_classes, t1 = self.corpus, len(self.corpus.labels), time.perf_counter()
        y = c.y
        if v.model == "logistic":
            p = logistic_probabilities(seg, y, tr, te, n_classes, seed)
            p = np.clip(p, 1e-12, 1)
            p /= p.sum(1, keepdims=True)
            return {**xcv.track_scores(p, y[te]), "track_loss": float(log_loss(y[te], p, labels=np.arange(n_classes))),
                    "test_units": [int(t) for t in te], "predicted": [int(i) for i in p.argmax(1)]}
        mask = np.isin(seg.track, te)
        if v.model == "finetune":
            fixed_cols = block_columns([b for b in v.blocks if b < ft.first]) if min(v.blocks) < ft.first else None
            fixed = None if fixed_cols is None else feats["clean"][:, fixed_cols]
            net, hist = fit_tail(self.backbone(spec), feats["tail_input"], fixed, seg.track, y, train, val,
                                 n_classes, train_cfg, ft, seed, v.blocks)
            probs = tail_probabilities(net, feats["tail_input"][mask], None if fixed is None else fixed[mask])
            extra = {"best_epoch": hist["best_epoch"], "epochs_run": hist["epochs_run"]}
        else:
            probs, extra = 0.0, {"best_epoch": []}
            for m in range(v.members):  # a seed ensemble averages the members' window probabilities
                head, hist = fit_head(seg, y, train, val, n_classes, train_cfg, seed + 1000 * m)
                probs = probs + head_taps(head, seg.clean[mask])["probabilities"].astype(np.float64) / v.members
                extra["best_epoch"].append(hist["best_epoch"])
        m = xcv.fold_metrics(np.asarray(probs, dtype=np.float64), seg.track[mask], te, y, n_classes)
        return {**m, **extra, "seconds": round(time.perf_counter() - t1, 1)}


def fault_filtered_lists(data) -> dict[str, list[str]] | None:
    """Sturm/Kereliuk's fault-filtered split (``gtzan_splits/fault_filtered/{train,valid,test}.txt`` beside the
    data)."""
    d = Path(data).resolve().parent / "gtzan_splits" / "fault_filtered"
    files = {s: d / f"{s}.txt" for s in ("train", "valid", "test")}
    if not all(f.is_file() for f in files.values()):
        return None
    return {s: [line.strip() for line in f.read_text().splitlines() if line.strip()] for s, f in files.items()}


def fault_filtered_row(r: GeneralizationRunner, v: Variant, feats: dict, features_id: str, lists: dict) -> dict:
    """Train on the split's train tracks here (early stopping on its valid tracks), score its test tracks here.

    Seeds 0..S-1 re-initialise the head (the split itself is fixed). Reports how
    many of the split's tracks are in this data, and how many test tracks share
    an artist with a training track (the published split predates some artist
    identifications).
    """
    c = r.corpus
    where = {t: i for i, t in enumerate(c.ids)}
    idx = {s: np.array([where[t] for t in ids if t in where], dtype=np.int64) for s, ids in lists.items()}
    trained = {c.artists[i] for i in np.concatenate([idx["train"], idx["valid"]]) if c.artists[i]}
    shared = int(sum(1 for i in idx["test"] if c.artists[i] in trained))
    info = {"name": v.name, "variant": v.describe(), "split": "fault_filtered",
            "n_tracks": {s: int(len(i)) for s, i in idx.items()}, "n_listed": {s: len(x) for s, x in lists.items()},
            "test_tracks_with_a_trained_artist": shared,
            "test_genres": sorted({c.genres[i] for i in idx["test"]})}
    if min(len(i) for i in idx.values()) == 0:
        return {**info, "status": "not run", "reason": "a split has none of its tracks in this data"}
    seg = r.row_features(v, feats, v.spec(r.cfg.spectrogram))
    train_cfg = v.train_config(r.cfg.train)
    results = []
    for seed in r.seeds:
        spec_ = {"v": xcv.CACHE_VERSION, "code": {"rows": ROW_CODE}, "features": features_id,
                 "variant": v.describe(), "train": train_cfg.to_dict(), "seed": seed, "split": "fault_filtered",
                 "members": [xcv.array_key(idx[s]) for s in ("train", "valid", "test")]}

        def fit(seed=seed):
            return r._fit_fold(v, seg, feats, v.spec(r.cfg.spectrogram), train_cfg, None, seed,
                               np.concatenate([idx["train"], idx["valid"]]), idx["train"], idx["valid"], idx["test"])

        results.append({"seed": seed, **r.folds.run(spec_, fit)})
    keys = xcv.METRICS if v.model != "logistic" else xcv.PROBE_METRICS + ("track_loss",)
    return {**info, "status": "ok", "seeds": r.seeds, "n_results": len(results),
            "metrics": xcv.summarize(results, keys), "fold_results": results}


def run_generalization(cfg, progress: bool = True, log=print, variants=VARIANTS,
                       fault_filtered_rows=FAULT_FILTERED_ROWS) -> dict:
    """All rows on the same artist-grouped folds; the summary goes to ``<cache>/generalization.json``."""
    r = GeneralizationRunner(cfg, progress, log)
    found = r.groups("artist")
    if found is None:
        raise ValueError("the generalization experiment needs artist metadata (tracks.csv beside the data, or "
                         "--metadata)")
    groups, notes = found
    if cfg.rows is not None:  # a part of the table (the others may be run by another process on the same cache)
        variants = tuple(variants[i] for i in cfg.rows)
    need, rows = feature_needs(variants), []
    sets = {}
    for v in variants:
        key = (v.seconds, v.hop, v.image_size)
        if key not in sets:
            sets[key] = r.block_features(v.spec(cfg.spectrogram), **need[key])
        feats, fid = sets[key]
        rows.append(r.variant_cv(v, feats, fid, groups, notes))
        m = rows[-1]["metrics"]
        log(f"  {v.name[:70]:70} balanced acc {m['track_balanced_accuracy']['mean']:.3f} ± "
            f"{m['track_balanced_accuracy']['std']:.3f}  acc {m['track_accuracy']['mean']:.3f}  "
            f"macro-F1 {m['track_macro_f1']['mean']:.3f}")
    lists = fault_filtered_lists(cfg.data)
    fault = []
    if lists is not None:
        for v in (v for v in variants if v.name in fault_filtered_rows and v.model in ("head", "logistic")):
            feats, fid = sets[(v.seconds, v.hop, v.image_size)]
            fault.append(fault_filtered_row(r, v, feats, fid, lists))
    return r.finish("generalization", rows, split="artist", grouping=notes["grouping"],
                    folds_identical_across_rows=True, fault_filtered=fault,
                    largest_artist=largest_artist(r.corpus.genres, r.corpus.artists, r.corpus.labels))


def largest_artist(genres, artists, labels) -> dict:
    """Per genre: its most frequent known artist, that artist's tracks, the genre's tracks and known artists.

    When one artist holds most of a genre, an artist-grouped fold either trains
    on almost none of the genre or tests on almost none of its sound: the
    ceiling of the artist-grouped figure for that genre.
    """
    out = {}
    for g in labels:
        names = [a for a, gg in zip(artists, genres) if gg == g and a]
        top = max(set(names), key=names.count) if names else None
        out[g] = {"artist": top, "tracks": names.count(top) if top else 0,
                  "genre_tracks": int(sum(1 for gg in genres if gg == g)), "artists": len(set(names))}
    return out
