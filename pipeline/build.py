"""``build``: a dataset folder → trained networks, four embeddings each, maps → one bundle.

Stages (each timed, each long one with a progress bar): discover; features,
one streamed pass over the tracks (``stream``: each track decoded, run through
every network of the build — ``networks``: the paper's ImageNet CNN, one
trained on music, any other registered — and given its thumbnail and preview,
then cached on disk on its own, keyed on the file + config + network +
weights; here or on Ray, ``executors``); split; per network, cross-validation
and training of its new head; then maps and the write (with each network
exported to ONNX and checked against torch on a few tracks decoded again). The
network whose head scores best under artist-grouped CV gives the bundle's
predictions.
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
from .dataset import MIN_TRACKS_PER_GENRE, Corpus, check_enough_tracks, discover_corpus
from .embed import concat_track_rows, head_taps, track_means
from .evaluate import cross_validate
from .executors import executor_map
from .export import export_networks
from .heap import release_free_memory
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
from .networks.contract import spread_picks
from .predictor import META_KEY
from .previews import PREVIEW_SECONDS, pack_previews
from .runtime import package_versions
from .spectrogram import FRONT_END_VERSION, SpectrogramConfig
from .splits import audit_leakage, grouping_line, split_groups, split_tracks, track_groups
from .stages import Stages
from .stream import LISTENING, Streamed, TrackPart, stream_tracks
from .train import SegmentFeatures, TrainConfig, classification_metrics, fit_head, track_probabilities

CHECK_TRACKS = 12  # tracks decoded again (spread over the collection) to check each exported graph against torch


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


def _cache_key(cfg: BuildConfig, weights_path: str, extra=()) -> str:
    """A network's per-track cache key: the config, the weights file, the runtime (each file adds its own)."""
    h = hashlib.sha256(b"per-track v1: a generator per track")
    h.update(json.dumps([cfg.spectrogram.to_dict(), cfg.seed, cfg.max_track_seconds, cfg.train.augment,
                         list(cfg.pool_blocks)]).encode())
    h.update(f"front end {FRONT_END_VERSION}".encode())  # features of an older front end's images are not reused
    h.update(b"onnxruntime")  # extracted in onnxruntime (~1e-5 from eager torch): torch-era caches are not reused
    h.update(b"per-track augmentation seeds")  # each track's own generator: caches of one shared generator are not
    st = Path(weights_path).stat()
    h.update(f"{weights_path}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(json.dumps(list(extra)).encode())  # another network's features never answer for this one's
    return h.hexdigest()[:20]


def run_cross_validation(cfg: BuildConfig, seg: SegmentFeatures, corpus: Corpus, progress: bool = True) -> dict:
    """Artist-grouped CV (the headline, first) and track-level CV beside it, on the same protocol.

    A genre with fewer than ``cfg.cv_min_artists`` known artists is grouped by
    track in the artist CV (listed in ``genres_grouped_by_track``); without any
    artist metadata only the track CV is run, and it is the headline. The
    headline runs ``cv_repeats`` times, the track CV beside it
    ``track_cv_repeats`` times. ``cv_repeats == 0`` skips both.
    """
    if cfg.cv_repeats <= 0:
        return {}
    kinds = cv_groupings(cfg, corpus)
    cv = {}
    for kind, (groups, fell_back, line) in kinds.items():
        headline = kind == "artist" or "artist" not in kinds  # without artists the track CV is the headline
        repeats = cfg.cv_repeats if headline else max(1, cfg.track_cv_repeats)
        res = cross_validate(seg, corpus.y, corpus.genres, groups, len(corpus.labels), cfg.train, cfg.seed,
                             cfg.cv_folds, repeats, progress,
                             jobs=cfg.jobs or min(4, os.cpu_count() or 1))
        cv[kind] = {"folds": res["folds"], "repeats": res["repeats"], "seed": res["seed"], "grouping": line,
                    "genres_grouped_by_track": fell_back, "head": res["head"],
                    "logistic_baseline": res["logistic_baseline"], "oof_head": res["oof_head"]}
    return cv


def cv_groupings(cfg: BuildConfig, corpus: Corpus) -> dict:
    """kind ("artist" when any artist is known, "track") → (groups, genres that fell back to tracks, a line)."""
    kinds = {}
    genres, ids, artists, titles = corpus.genres, corpus.ids, corpus.artists, corpus.titles
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


def network_parts(cfg: BuildConfig, n_classes: int) -> dict:
    """Every network of the build: name → (its build side, ``networks.contract``; its per-track work)."""
    out = {}
    for name in cfg.networks:
        net = network(name).for_build(cfg, n_classes)
        key = _cache_key(cfg, net.weights_path, extra=net.cache_parts)
        out[name] = (net, TrackPart(name, key, net.rows, net.graph, cfg.seed if net.augments else None))
    return out


def train_network(name: str, net, feats: dict, cfg: BuildConfig, corpus: Corpus, plan: SplitPlan, stage,
                  progress: bool, log) -> NetworkResult:
    """Cross-validate, train and read out one network's new head on its frozen features."""
    labels, y, split = corpus.labels, corpus.y, plan.split
    n = len(y)
    seg = SegmentFeatures(feats["clean"], feats["track"], feats.get("augmented"))
    with stage(stage_name(name, "cross-validation")):
        cv = run_cross_validation(cfg, seg, corpus, progress)
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
    check = net.check_inputs([corpus.decode(i) for i in spread_picks(len(corpus.tracks), CHECK_TRACKS)])
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


def select_predictor(cfg: BuildConfig, corpus: Corpus, results: dict[str, NetworkResult]) -> dict:
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
    kinds = cv_groupings(cfg, corpus)
    kind = "artist" if "artist" in kinds else "track"
    keys = [embedding_key(n, "immediate") for n in results]
    vectors = {e: stored_vectors(e, r.per_track[e]).astype(np.float32) for e, r in zip(keys, results.values())}
    data = Folds(vectors, corpus.y, corpus.genres, np.asarray(kinds[kind][0]), len(corpus.labels), cfg.cv_folds,
                 cfg.seed, cfg.cv_repeats)
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


def read_corpus(cfg: BuildConfig) -> Corpus:
    """Discover and describe the tracks (``dataset.Corpus``; nothing decoded); refuse too few before any work."""
    unknown = [n for n in cfg.networks if n not in NAMES]
    if unknown or DEFAULT_NETWORK not in cfg.networks:
        raise ValueError(f"networks {list(cfg.networks)}: need {DEFAULT_NETWORK!r}, may add {list(NAMES)}")
    found = discover_corpus(Path(cfg.data), sr=cfg.spectrogram.sample_rate, max_seconds=cfg.max_track_seconds,
                            metadata=cfg.metadata)
    if sum(c >= MIN_TRACKS_PER_GENRE for c in found.counts.values()) < 2:  # hopeless even if every file decodes
        check_enough_tracks(found)
    return found


def kept_tracks(found: Corpus, streamed: Streamed, log) -> Corpus:
    """The tracks that decoded; the skipped ones reported; too few left refused."""
    found = found.without(streamed.failed)
    for s in found.skipped:
        log(f"  skipped {s['file']}: {s['reason']}")
    check_enough_tracks(found)
    return found


@dataclass
class SplitPlan:
    """The fixed train/val/test split, its leakage audit, and the genres split by track."""

    split: np.ndarray
    audit: dict
    fallback: list


def fixed_split(cfg: BuildConfig, found: Corpus) -> SplitPlan:
    """The train/val/test split by artist (repeated recordings together), audited; what training reads."""
    groups, fallback = split_groups(found.ids, found.genres, found.artists, cfg.min_artists, found.titles)
    split = split_tracks(found.genres, groups, cfg.seed, cfg.test_fraction, cfg.val_fraction)
    return SplitPlan(split, audit_leakage(split, found.ids, groups, found.artists), fallback)


def listening_arrays(cfg: BuildConfig, rows: list[dict]) -> dict:
    """Every track's log-mel thumbnail and (when on) its packed Ogg preview, from the streamed pass's entries."""
    previews = pack_previews([r["preview"].tobytes() for r in rows]) if cfg.preview_seconds > 0 else {}
    return {"thumbnails": np.stack([r["thumbnail"] for r in rows]), **previews}


def track_table(cfg: BuildConfig, found, split, probs, window_track) -> pd.DataFrame:
    """tracks.csv: one row per track with its split, artist, file and predicted genre."""
    return pd.DataFrame({
        "track_id": found.ids, "genre": found.genres, "split": split, "artist": found.artists,
        "title": found.titles, "path": [os.path.relpath(t.path, Path(cfg.data)) for t in found.tracks],
        "predicted": [found.labels[i] for i in probs.argmax(1)], "confidence": probs.max(1).round(4),
        "n_segments": np.bincount(window_track, minlength=len(found.tracks)),
    })


def bundle_meta(cfg: BuildConfig, found: Corpus, plan: SplitPlan, results: dict, predictor: tuple[str, str],
                quality: dict, map_params: dict) -> dict:
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
        "splits": {"seed": cfg.seed, **plan.audit, "genres_grouped_by_track": plan.fallback,
                   "grouping": grouping_line("artist", plan.fallback, cfg.min_artists)},
        "maps": {"params": map_params},
        "metrics": {**results[DEFAULT_NETWORK].metrics, "embedding_quality": quality,
                    "networks": {name: r.metrics for name, r in results.items()}},
    }


def extract(cfg: BuildConfig, found: Corpus, executor: str, workers: int, progress: bool):
    """Every network's (build side, per-track work), and the streamed pass over every track."""
    networks = network_parts(cfg, len(found.labels))
    streamed = stream_tracks(found, [part for _, part in networks.values()], Path(cfg.cache), cfg.preview_seconds,
                             cfg.spectrogram, executor_map(executor, workers), progress)
    return networks, streamed


def build(cfg: BuildConfig, progress: bool = True, log=print, executor: str = "local", workers: int = 0) -> dict:
    """Run every stage and write the bundle to ``cfg.out``; returns the summary.

    ``executor`` runs the per-track pass here ("local") or on Ray ("ray"; ``workers``
    actors, 0: one per CPU); neither changes the bundle.
    """
    torch.manual_seed(cfg.seed)
    stage, t0 = Stages(log), time.perf_counter()
    with stage("discover"):
        found = read_corpus(cfg)
    with stage("features"):
        networks, streamed = extract(cfg, found, executor, workers, progress)
    log(f"  {streamed.computed} of {len(found.tracks)} tracks computed, the others read from the cache")
    n_found = len(found.labels)
    found = kept_tracks(found, streamed, log)
    if len(found.labels) != n_found:  # a genre whose every file failed to decode: heads with one output fewer
        networks = network_parts(cfg, len(found.labels))
    features = {name: (net, concat_track_rows(streamed.rows.pop(name), consume=True))  # one copy in memory
                for name, (net, _) in networks.items()}
    release_free_memory()  # the per-track rows just joined (freed, but held by the heap: 470 MB at 2 000 tracks)
    with stage("split"):
        plan = fixed_split(cfg, found)
    results = {name: train_network(name, *features[name], cfg, found, plan, stage, progress, log)
               for name in cfg.networks}
    windows = {k: features[DEFAULT_NETWORK][1][k] for k in ("track", "start_s")}
    del features  # every window's features: training's alone, not the maps' or the bundle's
    release_free_memory()
    with stage("predictor"):
        choice = select_predictor(cfg, found, results)
    chosen = choice["meta"]["chosen"]
    predictor = (predictor_network(chosen), f"{chosen['name']}, {choice['meta']['reason']}")
    log(f"  predictor: {predictor[1]}")
    with stage("previews"):
        arrays = listening_arrays(cfg, streamed.rows[LISTENING])
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
        table = track_table(cfg, found, plan.split, probs, windows["track"])
        meta = bundle_meta(cfg, found, plan, results, predictor, quality, map_params)
        meta[META_KEY] = choice["meta"]
        # the last step: every network for onnxruntime (serving needs no torch), checked against torch
        graphs, meta["onnx"] = export_networks({name: (r.served, r.check_inputs) for name, r in results.items()})
        meta["timings_s"] = {**stage.seconds, "total": round(time.perf_counter() - t0, 2)}
        meta["memory_mb"] = stage.memory  # each stage's end: resident now and the peak so far
        state = {k: v for r in results.values() for k, v in r.state.items()}
        write_bundle(cfg.out, meta, table, arrays, state, graphs=graphs, tensors=choice["tensors"])
    meta["timings_s"] = {**stage.seconds, "total": round(time.perf_counter() - t0, 2)}
    return meta
