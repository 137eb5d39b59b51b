"""``build``: a dataset folder → trained networks, four embeddings each, maps → one bundle.

Stages (each timed, each long one with a progress bar): discover, decode,
split, then per network (``networks``: the paper's ImageNet CNN, one trained
on music, any other registered) features (cached on disk, keyed on data + config), cross-validation
and training of its new head; then previews, maps and the write (with each
network exported to ONNX and checked against torch). The network whose head
scores best under artist-grouped CV gives the bundle's predictions.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .bundle import write_bundle
from .dataset import check_enough_tracks, load_corpus
from .embed import head_taps, track_means
from .evaluate import cross_validate
from .export import export_networks
from .feature_cache import cached_features
from .maps import map_arrays, stored_vectors
from .networks import (
    BUILD_DEFAULT,
    DEFAULT_NETWORK,
    NAMES,
    embedding_key,
    network,
    network_title,
    split_key,
)
from .predictor import META_KEY
from .previews import PREVIEW_SECONDS, encode_preview, pack_previews
from .runtime import package_versions
from .spectrogram import FRONT_END_VERSION, SpectrogramConfig, thumbnail_image
from .splits import audit_leakage, grouping_line, split_groups, split_tracks, track_groups
from .train import SegmentFeatures, TrainConfig, classification_metrics, fit_head, track_probabilities


@dataclass
class BuildConfig:
    """Everything a build depends on; plain data, saved in the bundle."""

    data: str
    out: str = "assets/gtzan"
    weights: str | None = None
    metadata: str | None = None  # tracks.csv with artist/title; found beside the data when None
    cache: str = ".cache/pipeline"
    seed: int = 0
    max_track_seconds: float = 30.0  # GTZAN clips are 30 s; longer user files are cut
    test_fraction: float = 0.2
    val_fraction: float = 0.15
    min_artists: int = 3  # genres with fewer known artists are split by track only (the fixed split)
    cv_min_artists: int = 2  # the same for cross-validation folds (two artists are enough to hold one out)
    cv_folds: int = 5
    cv_repeats: int = 3  # of the artist-grouped CV, the headline (0 skips both CVs)
    track_cv_repeats: int = 1  # of the track-level CV beside it: a label for how much it flatters, not a headline
    jobs: int = 0  # CV folds side by side in this many processes (0: a core each, up to 4); never changes results
    networks: tuple = BUILD_DEFAULT  # the default network (the paper's) and any others of ``networks.NAMES``
    preview_seconds: float = PREVIEW_SECONDS  # audio preview per track inside the bundle; 0 = none
    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)
    # The build's head, as the artist-grouped CV chose (reports/README.md, "What generalizes"):
    # class-weighted loss (TrainConfig's default) and the paper's augmentation (one gain/pitch/noise copy of
    # every training window), which helped unheard artists although it did not help the track-level CV on 94 tracks.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(augment="paper"))
    # the default network's blocks whose global-average pools, concatenated, are its "immediate" features: all
    # 19 blocks (2816-d; earlier blocks keep more of the spectrogram's texture), again the artist-grouped CV's choice.
    pool_blocks: tuple = tuple(range(19))


class Stages:
    """Times named stages; ``report`` feeds the summary and the bundle."""

    def __init__(self, log):
        self.seconds, self.log = {}, log

    def __call__(self, name):
        stages = self

        class _Stage:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                stages.seconds[name] = round(time.perf_counter() - self.t, 2)
                if exc[0] is None:
                    stages.log(f"  {name}: {stages.seconds[name]:.1f} s")

        return _Stage()


def _cache_key(tracks, cfg: BuildConfig, weights_path: str, extra=()) -> str:
    h = hashlib.sha256()
    for t in tracks:
        st = t.path.stat()
        h.update(f"{t.track_id}|{t.path.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(json.dumps([cfg.spectrogram.to_dict(), cfg.seed, cfg.max_track_seconds, cfg.train.augment,
                         list(cfg.pool_blocks)]).encode())
    h.update(f"front end {FRONT_END_VERSION}".encode())  # features of an older front end's images are not reused
    h.update(b"onnxruntime")  # extracted in onnxruntime (~1e-5 from eager torch): torch-era caches are not reused
    h.update(b"per-track augmentation seeds")  # each track's own generator: caches of one shared generator are not
    st = Path(weights_path).stat()
    h.update(f"{weights_path}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(json.dumps(list(extra)).encode())  # another network's features never answer for this one's
    return h.hexdigest()[:20]


def run_cross_validation(cfg: BuildConfig, seg: SegmentFeatures, y, genres, ids, artists, titles, n_classes: int,
                         progress: bool = True) -> dict:
    """Artist-grouped CV (the headline, first) and track-level CV beside it, on the same protocol.

    A genre with fewer than ``cfg.cv_min_artists`` known artists is grouped by
    track in the artist CV (listed in ``genres_grouped_by_track``); without any
    artist metadata only the track CV is run, and it is the headline. The
    headline runs ``cv_repeats`` times, the track CV beside it
    ``track_cv_repeats`` times. ``cv_repeats == 0`` skips both.
    """
    if cfg.cv_repeats <= 0:
        return {}
    kinds = cv_groupings(cfg, genres, ids, artists, titles)
    cv = {}
    for kind, (groups, fell_back, line) in kinds.items():
        headline = kind == "artist" or "artist" not in kinds  # without artists the track CV is the headline
        repeats = cfg.cv_repeats if headline else max(1, cfg.track_cv_repeats)
        res = cross_validate(seg, y, genres, groups, n_classes, cfg.train, cfg.seed, cfg.cv_folds, repeats, progress,
                             jobs=cfg.jobs or min(4, os.cpu_count() or 1))
        cv[kind] = {"folds": res["folds"], "repeats": res["repeats"], "seed": res["seed"], "grouping": line,
                    "genres_grouped_by_track": fell_back, "head": res["head"],
                    "logistic_baseline": res["logistic_baseline"], "oof_head": res["oof_head"]}
    return cv


def cv_groupings(cfg: BuildConfig, genres, ids, artists, titles) -> dict:
    """kind ("artist" when any artist is known, "track") → (groups, genres that fell back to tracks, a line)."""
    kinds = {}
    artist_groups, fallback = split_groups(ids, genres, artists, cfg.cv_min_artists, titles)
    if any(g.startswith("artist:") for g in artist_groups):
        kinds["artist"] = (artist_groups, fallback, grouping_line("artist", fallback, cfg.cv_min_artists))
    kinds["track"] = (track_groups(ids, genres, artists, titles), [], grouping_line("track", [], cfg.cv_min_artists))
    return kinds


def stage_name(network: str, stage: str) -> str:
    """The default network's stages keep their plain names (``features``); another network's carry its name."""
    return stage if network == DEFAULT_NETWORK else f"{network} {stage}"


@dataclass
class NetworkResult:
    """One network trained and read out: what the bundle stores of it."""

    name: str
    per_track: dict  # embedding key → (n_tracks, dim)
    probabilities: np.ndarray  # (n_tracks, n_genres)
    metrics: dict  # test, training, cross_validation
    served: torch.nn.Module  # what is exported to ONNX (``contract.BuildNetwork.serving``)
    state: dict  # the weights the bundle keeps for it
    check_inputs: np.ndarray  # a batch of the build's own inputs for the ONNX check
    config: dict  # its settings in bundle.json
    oof_head: dict = field(default_factory=dict)  # CV kind → the head's out-of-fold probabilities


def network_features(net, audios, seed: int, progress: bool) -> dict[str, np.ndarray]:
    """``net.track_features`` of every track, concatenated, with ``track`` (row → track index)."""
    from tqdm.auto import tqdm

    parts = []
    for i, y in enumerate(tqdm(audios, desc=f"{net.name} features", unit="track", disable=not progress)):
        rows = net.track_features(y, i, seed)
        parts.append({**rows, "track": np.full(len(rows["clean"]), i, dtype=np.int64)})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def extract_network(name: str, cfg: BuildConfig, tracks, audios, n_classes: int, progress: bool):
    """A registered network's build side and its features of every window (cached on disk)."""
    net = network(name).for_build(cfg, n_classes)
    key = _cache_key(tracks, cfg, net.weights_path, extra=net.cache_parts)
    return net, cached_features(key, Path(cfg.cache), lambda: network_features(net, audios, cfg.seed, progress))


def train_network(name: str, net, feats: dict, cfg: BuildConfig, corpus: dict, stage, progress: bool,
                  log) -> NetworkResult:
    """Cross-validate, train and read out one network's new head on its frozen features."""
    labels, y, split = corpus["labels"], corpus["y"], corpus["split"]
    n = len(y)
    seg = SegmentFeatures(feats["clean"], feats["track"], feats.get("augmented"))
    with stage(stage_name(name, "cross-validation")):
        cv = run_cross_validation(cfg, seg, y, corpus["genres"], corpus["ids"], corpus["artists"], corpus["titles"],
                                  len(labels), progress)
        oof_head = {kind: c.pop("oof_head") for kind, c in cv.items()}
    with stage(stage_name(name, "train")):
        train_idx, val_idx, test_idx = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
        head, history = fit_head(seg, y, train_idx, val_idx, len(labels), cfg.train, cfg.seed)
        test = classification_metrics(y[test_idx], track_probabilities(head, *seg.select(test_idx, False), test_idx),
                                      labels)
        log(f"  {name}: test accuracy {test['accuracy']:.3f}, balanced {test['balanced_accuracy']:.3f}, macro-F1 "
            f"{test['macro_f1']:.3f} on {len(test_idx)} held-out tracks (seed {cfg.seed})")
    with stage(stage_name(name, "embed")):
        taps = head_taps(head, seg.clean)
        rows = {"none": feats["none"], "immediate": seg.clean, "deep": taps["deep"], "shallow": taps["shallow"]}
        weight = feats.get("weight")
        per_track = {embedding_key(name, layer): track_means(v, seg.track, n, weight) for layer, v in rows.items()}
        probs = track_means(taps["probabilities"], seg.track, n, weight).astype(np.float64)
        probs /= probs.sum(1, keepdims=True)
    served, state = net.serving(head)
    check = net.check_inputs(corpus["audios"])
    metrics = {"test": {**test, "split": "test", "seed": cfg.seed}, "training": history, "cross_validation": cv}
    return NetworkResult(name, per_track, probs, metrics, served, state, check, net.settings, oof_head)


def choose_predictor(results: dict[str, NetworkResult]) -> tuple[str, str]:
    """The network whose head scores the best balanced accuracy under the most honest CV run, and why."""
    def score(r: NetworkResult):
        cv = r.metrics["cross_validation"]
        kind = "artist" if "artist" in cv else "track" if "track" in cv else None
        if kind:
            return cv[kind]["head"]["balanced_accuracy"]["mean"], f"{kind}-grouped CV balanced accuracy"
        return r.metrics["test"]["balanced_accuracy"], "balanced accuracy on the test split"

    scored = {name: score(r) for name, r in results.items()}
    best = max(scored, key=lambda name: (scored[name][0], name == DEFAULT_NETWORK))
    reason = f"highest {scored[best][1]}: " + ", ".join(f"{n} {s:.3f}" for n, (s, _) in scored.items())
    return best, reason


def select_predictor(cfg: BuildConfig, corpus: dict, results: dict[str, NetworkResult]) -> dict:
    """Every candidate reader of the features, scored on the headline CV's folds; the one chosen, fitted.

    Returns ``candidates.evaluate_candidates``'s dict; without cross-validation
    (``cv_repeats`` 0) the head of ``choose_predictor``'s network, saying so.
    """
    from .candidates import Folds, evaluate_candidates
    from .predictor import Head

    if cfg.cv_repeats <= 0:
        network, why = choose_predictor(results)
        head = Head(network, f"{network} head", {})
        chosen = {"kind": "head", "network": network, "name": head.name, "candidate": head.name, "score": {}}
        reason = f"no cross-validation ran: the head of the network with the {why}"
        return {"meta": {"chosen": chosen, "reason": reason}, "predictor": head, "tensors": {}, "oof": {}}
    kinds = cv_groupings(cfg, corpus["genres"], corpus["ids"], corpus["artists"], corpus["titles"])
    kind = "artist" if "artist" in kinds else "track"
    keys = [embedding_key(n, "immediate") for n in results]
    vectors = {e: stored_vectors(e, r.per_track[e]).astype(np.float32) for e, r in zip(keys, results.values())}
    data = Folds(vectors, np.asarray(corpus["y"]), np.asarray(corpus["genres"]), np.asarray(kinds[kind][0]),
                 len(corpus["labels"]), cfg.cv_folds, cfg.seed, cfg.cv_repeats)
    return evaluate_candidates(data, list(results), {n: r.oof_head[kind] for n, r in results.items()}, kind)


def bundle_probabilities(choice: dict, vectors: dict, heads: dict) -> np.ndarray:
    """Each track's genre probabilities as the bundle shows them: the chosen predictor's out-of-fold ones (the
    mean over the CV's repeats: what it says of a track whose artist it never heard, so "right/wrong" means
    something), or, without CV, the predictor applied to the vectors as stored."""
    oof = choice["oof"].get(choice["meta"]["chosen"]["candidate"])
    if oof is None:
        return choice["predictor"].predict(vectors, heads)
    mean = oof.mean(axis=0)
    return mean / mean.sum(axis=1, keepdims=True)


def predictor_network(chosen: dict) -> str:
    """The network a predictor leans on most (a blend's heavier part): ``bundle.predictor``."""
    if chosen["kind"] == "blend":
        return predictor_network(chosen["parts"][int(np.argmax(chosen["weights"]))])
    return chosen.get("network") or split_key(chosen["embedding"])[0]


def oof_arrays(choice: dict) -> dict:
    """arrays.npz entries of every candidate's out-of-fold probabilities (named in ``genre_predictor``)."""
    out = {}
    for name, oof in choice["oof"].items():
        key = "oof_" + name.replace("+", "_").replace(" ", "_")
        choice["meta"]["candidates"][name]["oof"] = key
        out[key] = oof.astype(np.float32)
    return out


def read_corpus(cfg: BuildConfig, stage, progress: bool, log):
    """Discover, decode and describe the tracks (``dataset.Corpus``); refuse too few, report the skipped."""
    unknown = [n for n in cfg.networks if n not in NAMES]
    if unknown or DEFAULT_NETWORK not in cfg.networks:
        raise ValueError(f"networks {list(cfg.networks)}: need {DEFAULT_NETWORK!r}, may add {list(NAMES)}")
    found = load_corpus(Path(cfg.data), sr=cfg.spectrogram.sample_rate, max_seconds=cfg.max_track_seconds,
                        metadata=cfg.metadata, progress=progress, stage=stage)
    for s in found.skipped:
        log(f"  skipped {s['file']}: {s['reason']}")
    check_enough_tracks(found)
    return found


def fixed_split(cfg: BuildConfig, found) -> dict:
    """The train/val/test split by artist (repeated recordings together), audited; what training reads."""
    groups, fallback = split_groups(found.ids, found.genres, found.artists, cfg.min_artists, found.titles)
    split = split_tracks(found.genres, groups, cfg.seed, cfg.test_fraction, cfg.val_fraction)
    return {"labels": found.labels, "y": found.y, "split": split, "genres": found.genres, "ids": found.ids,
            "artists": found.artists, "titles": found.titles, "audios": found.audios,
            "audit": audit_leakage(split, found.ids, groups, found.artists), "fallback": fallback}


def listening_arrays(cfg: BuildConfig, audios) -> dict:
    """Every track's log-mel thumbnail and (when on) its packed Ogg preview."""
    previews = (pack_previews([encode_preview(a, cfg.spectrogram.sample_rate, cfg.preview_seconds) for a in audios])
                if cfg.preview_seconds > 0 else {})
    return {"thumbnails": np.stack([thumbnail_image(a, cfg.spectrogram) for a in audios]), **previews}


def track_table(cfg: BuildConfig, found, split, probs, window_track) -> pd.DataFrame:
    """tracks.csv: one row per track with its split, artist, file and predicted genre."""
    return pd.DataFrame({
        "track_id": found.ids, "genre": found.genres, "split": split, "artist": found.artists,
        "title": found.titles, "path": [os.path.relpath(t.path, Path(cfg.data)) for t in found.tracks],
        "predicted": [found.labels[i] for i in probs.argmax(1)], "confidence": probs.max(1).round(4),
        "n_segments": np.bincount(window_track, minlength=len(found.tracks)),
    })


def bundle_meta(cfg: BuildConfig, found, corpus: dict, results: dict, predictor: tuple[str, str], quality: dict,
                map_params: dict) -> dict:
    """bundle.json (without the ONNX check and timings, added when written)."""
    data = Path(cfg.data)
    config = {k: v for k, v in asdict(cfg).items() if k not in ("spectrogram", "train")}
    config.update(spectrogram=cfg.spectrogram.to_dict(), train=cfg.train.to_dict(), **results[DEFAULT_NETWORK].config)
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config, "labels": found.labels, "versions": package_versions(),
        "embeddings": {e: {"dim": int(v.shape[1])} for r in results.values() for e, v in r.per_track.items()},
        "networks": {name: {"title": network_title(name), "layers": list(r.per_track), "settings": r.config}
                     for name, r in results.items()},
        "predictor": predictor[0], "predictor_reason": predictor[1],
        "dataset": {"root": str(data.resolve()), "name": data.name, "n_tracks": len(found.tracks),
                    "tracks_per_genre": found.counts, "skipped": found.skipped,
                    "metadata": str(found.metadata) if found.metadata else None},
        "splits": {"seed": cfg.seed, **corpus["audit"], "genres_grouped_by_track": corpus["fallback"],
                   "grouping": grouping_line("artist", corpus["fallback"], cfg.min_artists)},
        "maps": {"params": map_params},
        "metrics": {**results[DEFAULT_NETWORK].metrics, "embedding_quality": quality,
                    "networks": {name: r.metrics for name, r in results.items()}},
    }


def build(cfg: BuildConfig, progress: bool = True, log=print) -> dict:
    """Run every stage and write the bundle to ``cfg.out``; returns the summary."""
    torch.manual_seed(cfg.seed)
    stage, t0 = Stages(log), time.perf_counter()
    found = read_corpus(cfg, stage, progress, log)
    features = {}
    for name in cfg.networks:
        with stage(stage_name(name, "features")):
            features[name] = extract_network(name, cfg, found.tracks, found.audios, len(found.labels), progress)
    with stage("split"):
        corpus = fixed_split(cfg, found)
    results = {name: train_network(name, *features[name], cfg, corpus, stage, progress, log) for name in cfg.networks}
    with stage("predictor"):
        choice = select_predictor(cfg, corpus, results)
    chosen = choice["meta"]["chosen"]
    predictor = (predictor_network(chosen), f"{chosen['name']}, {choice['meta']['reason']}")
    log(f"  predictor: {predictor[1]}")
    windows = features[DEFAULT_NETWORK][1]
    with stage("previews"):
        arrays = listening_arrays(cfg, found.audios)
    with stage("maps"):
        per_track = {k: v for r in results.values() for k, v in r.per_track.items()}
        maps, quality, map_params = map_arrays(per_track, found.genres, found.labels, cfg.seed)
    probs = bundle_probabilities(choice, {e: maps[f"track_{e}"] for e in per_track},
                                 {name: r.probabilities for name, r in results.items()})
    with stage("write"):
        arrays.update(maps, **oof_arrays(choice), probabilities=probs.astype(np.float32),
                      segment_track=windows["track"].astype(np.int32),
                      segment_start_s=windows["start_s"].astype(np.float32),
                      **{f"probabilities_{name}": r.probabilities.astype(np.float32) for name, r in results.items()})
        table = track_table(cfg, found, corpus["split"], probs, windows["track"])
        meta = bundle_meta(cfg, found, corpus, results, predictor, quality, map_params)
        meta[META_KEY] = choice["meta"]
        # the last step: every network for onnxruntime (serving needs no torch), checked against torch
        graphs, meta["onnx"] = export_networks({name: (r.served, r.check_inputs) for name, r in results.items()})
        meta["timings_s"] = {**stage.seconds, "total": round(time.perf_counter() - t0, 2)}
        state = {k: v for r in results.values() for k, v in r.state.items()}
        write_bundle(cfg.out, meta, table, arrays, state, graphs=graphs, tensors=choice["tensors"])
    meta["timings_s"] = {**stage.seconds, "total": round(time.perf_counter() - t0, 2)}
    return meta
