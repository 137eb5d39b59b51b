"""``python -m pipeline experiment backbones|augmentation|leakage``: the paper's tables, re-checkable.

- **backbones** (Table 1): the same head, windows, folds and seeds on every
  backbone whose ImageNet weights are on this machine, plus MobileNetV2 trained
  from scratch (``pipeline.experiments.scratch``). Backbones without weights are listed as
  "not run" with the reason.
- **augmentation** (Table 2): MobileNetV2 on 30 s clean, 10 s + augmentation,
  5 s + augmentation, and 10 s / 5 s clean (to separate the two effects);
  accuracy per track (window probabilities averaged) and per window.
- **leakage**: the same training with a random split over windows (windows of
  one track in train and test), over non-overlapping windows only, by track,
  and by artist where the metadata names one.
- **generalization**: class weights, SpecAugment masks, mixup,
  image size, window length, pooled blocks, partial fine-tuning and a seed
  ensemble, each a row on the same artist-grouped folds
  (``pipeline.experiments.generalize``).
- **inputs**: other inputs (PCEN, time derivatives, harmonic and
  percussive parts) and poolings of the frozen network, by logistic probe on
  the same folds (``pipeline.experiments.inputs``).

Tables 1 and 2 are cross-validated by artist (``ExperimentConfig.split``):
genres with fewer than two known artists fall back to track groups, and
repeated recordings are always grouped together.

Protocol: K-fold stratified cross-validation grouped by the split's unit
(``splits.cv_folds``), repeated for seeds 0..S-1 (the seed shuffles the folds
and initialises the head); the validation part for early stopping is carved
out of each fold's training units exactly as in ``evaluate.cross_validate``.
Backbone features are cached per backbone/windows/augmentation; fold results
are cached one JSON each (``cv.FoldCache``); the summary of an
experiment goes to ``<cache>/<experiment>.json``, which ``report`` reads.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

from ..errors import WeightsError
from ..runtime import torch_threads
from . import cv as xcv
from . import generalize, inputs
from .backbones import TORCHVISION
from .runner import AUGMENTATION_ROWS, ExperimentConfig, Runner, windows

__all__ = ["AUGMENTATION_ROWS", "EXPERIMENTS", "ExperimentConfig", "run_experiment", "summary_lines"]

EXPERIMENTS = ("backbones", "augmentation", "leakage", "generalization", "inputs")
NAMES = {"mobilenet_v2": "MobileNetV2", "efficientnet_lite0": "EfficientNet-Lite0", "vgg16": "VGG16",
         "inception_v3": "Inception v3", "resnet18": "ResNet-18", "resnet50": "ResNet-50", "xception": "Xception"}


def run_backbones(cfg: ExperimentConfig, progress: bool = True, log=print) -> dict:
    r, spec = Runner(cfg, progress, log), cfg.spectrogram
    names = ["mobilenet_v2", "efficientnet_lite0", "vgg16", "inception_v3"]
    names += [n for n in TORCHVISION if n in cfg.weights and n not in names] + ["xception"]
    rows = []
    for name in names:
        label = f"{NAMES[name]} (ImageNet, frozen)"
        try:
            wfile = r.weights_file(name)
            feats, clean_id, _ = r.features(name, spec, augmented=False)
        except WeightsError as e:
            log(f"  {NAMES[name]}: not run: {e}")
            rows.append({"name": label, "backbone": name, "status": "not run", "reason": str(e)})
            continue
        rows.append(r.head_cv(label, feats, clean_id, cfg.split, baseline=True, backbone=name, weights=wfile.name,
                              windows=windows(spec), dim=int(feats["clean"].shape[1])))
    rows.append(r.scratch_cv(spec, cfg.split))
    return r.finish("backbones", rows, split=cfg.split)


def run_augmentation(cfg: ExperimentConfig, progress: bool = True, log=print) -> dict:
    r, rows = Runner(cfg, progress, log), []
    need_aug = {s for s, a in cfg.augmentation_windows if a}
    for seconds, aug in cfg.augmentation_windows:
        spec = replace(cfg.spectrogram, segment_seconds=seconds, segment_hop_seconds=seconds / 2)
        feats, clean_id, aug_id = r.features("mobilenet_v2", spec, augmented=seconds in need_aug)
        name = f"{seconds:g} s windows, {'augmented' if aug else 'clean'}"
        rows.append(r.head_cv(name, feats, aug_id if aug else clean_id, cfg.split, augment=aug,
                              backbone="mobilenet_v2", weights=r.weights_file("mobilenet_v2").name,
                              windows=windows(spec)))
    return r.finish("augmentation", rows, split=cfg.split,
                    augmentation="each training window also gets one copy with none/gain/pitch/noise drawn "
                                 f"uniformly (feature seed {cfg.feature_seed}); test windows are always clean")


def run_leakage(cfg: ExperimentConfig, progress: bool = True, log=print) -> dict:
    r, spec = Runner(cfg, progress, log), cfg.spectrogram
    feats, clean_id, _ = r.features("mobilenet_v2", spec, augmented=False)
    base = {"backbone": "mobilenet_v2", "weights": r.weights_file("mobilenet_v2").name, "windows": windows(spec)}
    disjoint = xcv.non_overlapping(feats["track"], feats["start_s"], spec.segment_seconds)
    rows = [
        r.head_cv("random split over windows (overlapping windows)", feats, clean_id, "segment", **base),
        r.head_cv("random split over windows (non-overlapping windows only)", feats, clean_id, "segment",
                  subset=disjoint, **base),
        r.head_cv("split by track", feats, clean_id, "track", **base),
        r.head_cv("split by artist (track where a genre has too few artists)", feats, clean_id, "artist", **base),
    ]
    return r.finish("leakage", rows, split="per row")


RUNNERS = {"backbones": run_backbones, "augmentation": run_augmentation, "leakage": run_leakage,
           "generalization": generalize.run_generalization, "inputs": inputs.run_inputs}


def run_experiment(name: str, cfg: ExperimentConfig, progress: bool = True, log=print) -> dict:
    """Run one of ``EXPERIMENTS`` (cached, resumable); returns its summary, also in ``<cache>/<name>.json``."""
    with torch_threads(cfg.threads), warnings.catch_warnings():
        # float32 softmax averages: sklearn warns, harmlessly
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return RUNNERS[name](cfg, progress, log)


def summary_lines(summary: dict) -> list[str]:
    """A few human lines per row (printed at the end of an experiment)."""
    d, p = summary["data"], summary["protocol"]
    out = [f"{summary['experiment']}: {d['name']} ({d['n_tracks']} tracks), {p['folds']}-fold CV x seeds "
           f"{p['seeds']}, {summary['seconds']:.0f} s"]
    for row in summary["rows"]:
        if row["status"] != "ok":
            out.append(f"  {row['name']:58} not run: {row['reason']}")
            continue
        m = row["metrics"]
        window = f"  window acc {m['segment_accuracy']['mean']:.3f}" if "segment_accuracy" in m else ""
        out.append(f"  {row['name']:58} balanced acc {m['track_balanced_accuracy']['mean']:.3f} ± "
                   f"{m['track_balanced_accuracy']['std']:.3f}  acc {m['track_accuracy']['mean']:.3f}  macro-F1 "
                   f"{m['track_macro_f1']['mean']:.3f}{window}  ({row['split']}, {row['n_results']} folds, "
                   f"seeds {row['seeds']})")
    return out
