"""Drop in a new song: probabilities, embeddings, map positions, neighbours, trajectory.

This is the one placement path: ``python -m pipeline place`` and the explorer's
upload both call ``Placer``. It needs no torch: every network runs from its
ONNX graph in onnxruntime (``serve``), and new points go onto the saved maps
with openTSNE's transform reimplemented over a precomputed repulsion field
(``project``): the reference maps never move, and the cost does not grow with
the collection.

A bundle holds one or more networks (``Bundle.networks``). Each is a
``Network``: a front end (the 22 050 Hz signal → its network inputs and the
"none" layer, one row per window of the bundle's window grid) and a graph
with the outputs ``serve.OUTPUTS``. Its layers are stored under
``networks.embedding_key(network, layer)``, and ``Placement.maps`` is keyed
the same way. MusiCNN (16 kHz, 96-band mel, 3 s patches) is the second entry
of ``NETWORK_LOADERS``: its patches are pooled onto the same window grid.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import AudioError, audio_duration, load_audio
from .bundle import Bundle, BundleError, load_bundle
from .embed import none_vectors, track_means
from .errors import one_line
from .musicnn_input import MusiCNNConfig, musicnn_patches, patch_none, window_pooling
from .networks import DEFAULT_NETWORK, LAYERS, embedding_key, split_key
from .predictor import load_predictor
from .project import N_NEIGHBOURS as MAP_NEIGHBOURS
from .project import RepulsionField, affinities, inverse_norms, nearest, place_points
from .serve import OUTPUTS, OnnxNetwork, default_threads, limit_blas_threads
from .spectrogram import SpectrogramConfig, clip_windows, nominal_starts_s, thumbnail_from_power

MAX_SECONDS = 600.0  # longer files are placed on their first 10 minutes (bounded time and memory)
MIN_SECONDS = 1.0
N_NEIGHBOURS = 5
EMBEDDINGS = LAYERS  # MobileNetV2's embedding keys (other networks' carry their name: "musicnn.deep")
MAP_PARAMS = {"perplexity", "random_state", "metric"}  # what build records in bundle.json "maps"


@dataclass
class Placement:
    """Where one song lands. ``to_json`` gives the CLI's JSON record."""

    file: str
    genre: str
    probabilities: dict
    maps: dict  # embedding key → {"x", "y", "neighbours": [{"track_id", "genre", "similarity", ...}]}
    duration_s: float
    n_segments: int
    vectors: dict = field(repr=False, default_factory=dict)  # embedding key → mean vector
    thumbnail: np.ndarray | None = field(repr=False, default=None)  # (64, 320) uint8 log-mel of the whole clip
    # per sounding window: {"start_s", "end_s", "genre", "confidence", "maps": {e: {x, y}}}
    trajectory: list | None = None
    file_duration_s: float | None = None  # set when the file is longer than MAX_SECONDS: only its start was placed

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("file", "genre", "probabilities", "maps", "duration_s", "n_segments")}
        for k in ("file_duration_s", "trajectory"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


@dataclass(frozen=True)
class Windows:
    """What a network's front end makes of a signal."""

    inputs: np.ndarray  # the graph's inputs, one per window (or several per window: see ``pool``)
    none: np.ndarray  # (n_windows, dim) the "none" layer: the input itself, downsampled
    starts_s: np.ndarray  # (n_windows,) window start times in s (the bundle's window grid)
    pool: np.ndarray | None = None  # (n_windows, n_inputs) averaging weights when inputs are not windows (patches)
    power: np.ndarray | None = None  # the clip's mel power, for the thumbnail (MobileNetV2's front end)


@dataclass(frozen=True)
class Network:
    """One network a bundle places songs with: its front end, its graph and its embedding keys."""

    name: str
    front_end: Callable[[np.ndarray], Windows]  # 22 050 Hz signal → Windows
    graph: OnnxNetwork

    def key(self, layer: str) -> str:
        return embedding_key(self.name, layer)

    def window_vectors(self, y: np.ndarray) -> tuple[dict, np.ndarray, Windows]:
        """Every layer per window ({embedding key: (n_windows, dim)}), probabilities per window, the Windows."""
        windows = self.front_end(y)
        out = self.graph.run(windows.inputs)
        if windows.pool is not None:  # inputs are patches: each window is the mean of its own
            out = {k: windows.pool @ v for k, v in out.items()}
        vectors = {self.key("none"): windows.none, **{self.key(t): out[t] for t in OUTPUTS if t != "probabilities"}}
        return vectors, out["probabilities"], windows


def mobilenet_windows(y: np.ndarray, spec: SpectrogramConfig) -> Windows:
    """MobileNetV2's front end: log-mel images of the windows, from one STFT of the song."""
    clip = clip_windows(y, spec)
    return Windows(inputs=clip.images, none=none_vectors(clip.images, spec), starts_s=clip.starts_s, power=clip.power)


def load_mobilenet(bundle: Bundle, spec: SpectrogramConfig, threads: int | None) -> Network:
    return Network(DEFAULT_NETWORK, partial(mobilenet_windows, spec=spec), OnnxNetwork(bundle.graph_path(), threads))


def musicnn_windows(y: np.ndarray, spec: SpectrogramConfig, cfg: MusiCNNConfig) -> Windows:
    """MusiCNN's front end: its 3 s mel patches, pooled onto the bundle's window grid."""
    patches, patch_starts = musicnn_patches(y, spec.sample_rate, cfg)
    starts_s = nominal_starts_s(len(y), spec)
    pool = window_pooling(patch_starts, cfg.patch_seconds, starts_s, spec.segment_seconds)
    return Windows(inputs=patches, none=pool @ patch_none(patches, cfg), starts_s=starts_s, pool=pool)


def load_musicnn(bundle: Bundle, spec: SpectrogramConfig, threads: int | None) -> Network:
    cfg = MusiCNNConfig.from_dict(bundle.meta["networks"]["musicnn"]["settings"]["input"])
    return Network("musicnn", partial(musicnn_windows, spec=spec, cfg=cfg),
                   OnnxNetwork(bundle.graph_path("musicnn"), threads))


# network name → loader(bundle, spectrogram config, threads) → Network
NETWORK_LOADERS: dict[str, Callable[[Bundle, SpectrogramConfig, int | None], Network]] = {
    DEFAULT_NETWORK: load_mobilenet,
    "musicnn": load_musicnn,
}


class Placer:
    """Holds one bundle's networks and maps, ready to place songs (share it; it is read-only and thread-safe).

    Parameters
    ----------
    bundle : an opened bundle (``load_bundle``).
    threads : onnxruntime threads per network (default: ``serve.default_threads()``, 1); numpy's BLAS
        is set to as many, process-wide (``serve.limit_blas_threads``). With 2 or more, a bundle's
        networks also run side by side, one Python thread each.
    network : whose probabilities are the prediction (default: the bundle's ``predictor``).
    networks : the networks to place on (default: all the bundle's); maps of the others are left out.
    """

    def __init__(self, bundle: Bundle, threads: int | None = None, network: str | None = None,
                 networks: list[str] | None = None):
        threads = threads or default_threads()
        limit_blas_threads(threads)
        self.bundle = bundle
        self.labels = bundle.labels
        names = list(bundle.networks) if networks is None else list(networks)
        missing = [n for n in [*names, *([network] if network else [])] if n not in bundle.networks]
        if missing or not names:
            raise BundleError(f"bundle {bundle.path} has no {', '.join(missing) or 'network to place on'} network "
                              f"(it has {', '.join(bundle.networks)})")
        try:  # bundle.json is not hashed: an edited config or map setting must fail here, in one clear line
            self.spec = SpectrogramConfig.from_dict(bundle.meta["config"]["spectrogram"])
            self.networks = [self._load_network(name, threads) for name in names]
            _check_map_settings(bundle.meta["maps"]["params"])
        except BundleError:
            raise
        except Exception as e:  # a graph onnxruntime cannot read, a missing setting, an edited one
            raise BundleError(f"bundle {bundle.path} cannot place songs ({one_line(e)}); rebuild it") from None
        wanted = network or (bundle.predictor if bundle.predictor in names else names[0])
        if wanted not in names:
            raise BundleError(f"{wanted} predicts but is not among the networks placed on ({', '.join(names)})")
        self.predictor = next(n for n in self.networks if n.name == wanted)
        # the genre predictor the build chose (a head, a probe, neighbours or a blend); row-wise, numpy only
        self.predictor_model = load_predictor(bundle, network, names)
        # the maps placed on: every embedding of the networks loaded, in the bundle's order
        self.embeddings = [e for e in bundle.embeddings if split_key(e)[0] in names]
        # the bundle's own track vectors and their inverse norms: no second, normalised copy (146 MB at 10 000 tracks)
        self._inverse_norms = {e: inverse_norms(bundle.vectors(e)) for e in self.embeddings}
        self.field = RepulsionField({e: bundle.coords(e) for e in self.embeddings})
        t = bundle.tracks
        self._track_info = list(zip(t["track_id"], t["genre"], t["artist"], t["title"]))
        # threads >= 2: the networks run side by side (onnxruntime releases the GIL), each on its own thread
        self._side_by_side = threads >= 2 and len(self.networks) > 1
        self._pool = ThreadPoolExecutor(len(self.networks) - 1, "placer-network") if self._side_by_side else None

    def _load_network(self, name: str, threads: int | None) -> Network:
        if name not in NETWORK_LOADERS:
            raise BundleError(f"bundle {self.bundle.path} holds a network this code cannot place ({name}); "
                              "update the code")
        network = NETWORK_LOADERS[name](self.bundle, self.spec, threads)
        _check_graph(network, self.bundle)
        return network

    @classmethod
    def from_path(cls, path: str | Path, threads: int | None = None, network: str | None = None,
                  networks: list[str] | None = None) -> "Placer":
        return cls(load_bundle(path), threads, network, networks)

    def warm_up(self) -> None:
        """Run once on a short noise clip (first-run allocations in onnxruntime)."""
        rng = np.random.default_rng(0)
        self.place_audio((0.1 * rng.standard_normal(int(2 * self.spec.sample_rate))).astype(np.float32), "warm-up")

    def neighbours(self, embedding: str, vector: np.ndarray, k: int = N_NEIGHBOURS, exclude: str | None = None) -> list:
        """The k bundle tracks most similar (cosine) to ``vector`` in one embedding."""
        idx, sims = self._nearest(embedding, np.atleast_2d(vector), k + (exclude is not None))
        return self._neighbour_records(idx[0], sims[0], k, exclude)

    def _nearest(self, embedding: str, queries: np.ndarray, k: int):
        return nearest(self.bundle.vectors(embedding), queries, k, self._inverse_norms[embedding])

    def _neighbour_records(self, idx, sims, k: int, exclude: str | None = None) -> list:
        out = []
        for i, s in zip(idx, sims):
            tid, genre, artist, title = self._track_info[i]
            if tid == exclude:
                continue
            out.append({"track_id": tid, "genre": genre, "similarity": round(float(s), 4),
                        "artist": _text_or_none(artist), "title": _text_or_none(title)})
        return out[:k]

    def segment_vectors(self, y: np.ndarray) -> tuple[dict, np.ndarray]:
        """Every embedding and the predictor's probabilities for each window of a signal, and the window starts."""
        vectors, heads, starts, _ = self._windows(y)
        return {**vectors, "probabilities": self.predictor_model.predict(vectors, heads)}, starts

    def _windows(self, y: np.ndarray):
        """(vectors per window by embedding key, each network's head probabilities per window, starts, thumbnail
        source)."""
        vectors, power, starts, heads = {}, None, None, {}
        for network, (v, p, windows) in zip(self.networks, self._run_networks(y)):
            if starts is not None and len(windows.starts_s) != len(starts):
                raise ValueError(f"{network.name}'s front end gives {len(windows.starts_s)} windows, not {len(starts)}")
            vectors.update(v)
            starts = windows.starts_s if starts is None else starts
            power = windows.power if power is None else power
            heads[network.name] = p
        return vectors, heads, starts, power

    def _run_networks(self, y: np.ndarray) -> list:
        """Each network's ``window_vectors(y)``, in ``self.networks`` order: side by side when threads allow."""
        if not self._side_by_side:
            return [network.window_vectors(y) for network in self.networks]
        later = [self._pool.submit(network.window_vectors, y) for network in self.networks[1:]]
        return [self.networks[0].window_vectors(y), *(f.result() for f in later)]

    def place_audio(self, y: np.ndarray, name: str, trajectory: bool = False) -> Placement:
        """Place a decoded 22 050 Hz mono signal; raises AudioError for pure silence."""
        seg, heads, starts, power = self._windows(y)
        n = len(starts)
        mean = {k: track_means(v, np.zeros(n, dtype=np.int64), 1)[0] for k, v in seg.items()}
        if not np.any(mean[self.predictor.key("none")]):
            # every window's log-mel image is empty: cosine maps have no direction to place it in
            raise AudioError("silent: the clip has no sound to place")
        # the song's genre: the predictor on its mean vectors and its windows' mean head probabilities
        head_mean = {k: track_means(v, np.zeros(n, dtype=np.int64), 1) for k, v in heads.items()}
        probs = self.predictor_model.predict({k: v[None] for k, v in mean.items()}, head_mean)[0]
        seg_probs = self.predictor_model.predict(seg, heads)
        keys = self.embeddings
        # Windows of digital silence have no direction in a cosine map: they stay off the path.
        sounding = np.flatnonzero(np.all([np.any(seg[e], axis=1) for e in keys], axis=0)) if trajectory else []
        points, near = self._project({e: np.vstack([mean[e][None], seg[e][sounding]]) for e in keys})
        maps = {e: {"x": float(points[e][0, 0]), "y": float(points[e][0, 1]),
                    "neighbours": self._neighbour_records(*near[e], N_NEIGHBOURS)} for e in keys}
        place = Placement(
            file=name, genre=self.labels[int(np.argmax(probs))],
            probabilities={g: float(p) for g, p in zip(self.labels, probs)}, maps=maps,
            duration_s=round(len(y) / self.spec.sample_rate, 3), n_segments=n, vectors=mean,
            thumbnail=thumbnail_from_power(power, self.spec) if power is not None else None,
        )
        if trajectory:
            place.trajectory = self._trajectory(starts, sounding, seg_probs, points, place.duration_s)
        return place

    def _project(self, queries: dict[str, np.ndarray]) -> tuple[dict, dict]:
        """Map positions of every query row, every map in one optimisation; and the first row's neighbours.

        One similarity search per embedding serves both the map's affinities
        (its 15 nearest tracks) and the song's "nearest tracks" list; the
        affinities of every map's rows are calibrated in one batch.
        """
        found = {e: self._nearest(e, q, max(MAP_NEIGHBOURS, N_NEIGHBOURS)) for e, q in queries.items()}
        distances = np.concatenate([1.0 - sims[:, :MAP_NEIGHBOURS] for _, sims in found.values()])
        P = np.split(affinities(distances), np.cumsum([len(q) for q in queries.values()])[:-1])
        neighbours = {e: idx[:, :MAP_NEIGHBOURS] for e, (idx, _) in found.items()}
        points = place_points(self.field, {e: (neighbours[e], p) for e, p in zip(found, P)})
        return points, {e: (idx[0], sims[0]) for e, (idx, sims) in found.items()}

    def _trajectory(self, starts, sounding, seg_probs, points, duration_s) -> list:
        seg_len = self.spec.segment_seconds
        return [
            {"start_s": round(float(s), 3), "end_s": round(float(min(s + seg_len, duration_s)), 3),
             "genre": self.labels[int(np.argmax(seg_probs[i]))], "confidence": float(np.max(seg_probs[i])),
             "maps": {e: {"x": float(points[e][j + 1, 0]), "y": float(points[e][j + 1, 1])} for e in points}}
            for j, (i, s) in enumerate(zip(sounding, starts[sounding]))
        ]

    def place_file(self, source, filename: str | None = None, trajectory: bool = False,
                   max_bytes: int | None = None) -> Placement:
        """Decode (a path, or bytes with their ``filename``) and place; raises AudioError."""
        name = filename or Path(source).name
        y = load_audio(source, sr=self.spec.sample_rate, max_seconds=MAX_SECONDS, min_seconds=MIN_SECONDS,
                       filename=filename, max_bytes=max_bytes)
        placement = self.place_audio(y, name, trajectory=trajectory)
        if len(y) >= int(MAX_SECONDS * self.spec.sample_rate):  # cut: say how long the whole file is
            placement.file_duration_s = round(audio_duration(source, filename), 2)
        return placement


def _text_or_none(value) -> str | None:
    return None if value is None or value is np.nan or str(value) == "<NA>" else str(value)


def _check_graph(network: Network, bundle: Bundle) -> None:
    """The graph's output sizes agree with the bundle (its embeddings, labels and recorded head sizes)."""
    dims = {o.name: o.shape[-1] for o in network.graph.session.get_outputs()}
    expect = {"probabilities": len(bundle.labels)}
    for layer in ("immediate", "deep", "shallow"):
        key = network.key(layer)
        if key in bundle.meta["embeddings"]:
            expect[layer] = bundle.meta["embeddings"][key]["dim"]
    if network.name == DEFAULT_NETWORK:  # the head sizes the build recorded
        head = bundle.meta["config"]["train"]
        expect["deep"], expect["shallow"] = head["deep"], head["shallow"]
    wrong = [f"{k} {dims.get(k)} != {v}" for k, v in expect.items() if dims.get(k) != v]
    if wrong:
        raise ValueError(f"{network.name}'s graph disagrees with bundle.json ({', '.join(wrong)})")


def _check_map_settings(params: dict) -> None:
    """The map settings the build recorded; the placement assumes cosine maps."""
    unknown = set(params) - MAP_PARAMS
    if unknown or params.get("metric", "cosine") != "cosine":
        raise ValueError(f"unexpected map settings {sorted(unknown) or params.get('metric')}")


__all__ = ["AudioError", "EMBEDDINGS", "MAX_SECONDS", "NETWORK_LOADERS", "Network", "Placement", "Placer", "Windows"]
