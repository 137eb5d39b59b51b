"""Drop in a new song: probabilities, embeddings, map positions, neighbours, trajectory.

This is the one placement path: ``python -m pipeline place`` and the explorer's
upload both call ``Placer``. It needs no torch: every network runs from its
ONNX graph in onnxruntime (``serve``), and new points go onto the saved maps
with openTSNE's transform reimplemented over a precomputed repulsion field
(``project``): the reference maps never move, and the cost does not grow with
the collection.

A bundle holds one or more networks (``Bundle.networks``). Each is a
``Network``: its registered front end (``networks.<name>.front_end``: the
22 050 Hz signal → its network inputs and the "none" layer, one row per
window of the bundle's window grid) and a graph with the outputs
``serve.OUTPUTS``. Its layers are stored under
``networks.embedding_key(network, layer)``, and ``Placement.maps`` is keyed
the same way.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import AudioError, audio_duration, header_samples, load_audio, load_spans
from .bundle import Bundle, BundleError, load_bundle
from .errors import one_line
from .networks import LAYERS, NAMES, embedding_key, network, split_key
from .networks.contract import Windows
from .placement import Placement
from .predictor import load_predictor
from .project import N_NEIGHBOURS as MAP_NEIGHBOURS
from .project import RepulsionField, affinities, inverse_norms, nearest, place_points
from .search import INDEX_MIN_ROWS, MIN_WIDTH, CosineIndex
from .serve import OnnxNetwork, default_threads, limit_blas_threads
from .song import PartSignal, Song, first_spans
from .spectrogram import SpectrogramConfig

MAX_SECONDS = 600.0  # longer files are placed on their first 10 minutes (bounded time and memory)
MIN_SECONDS = 1.0
# A first answer decodes a file this long or longer only where it listens (measured on a 4-minute mp3: 0.05 s
# instead of 0.24-0.39 s for the whole decode); a shorter one decodes whole, as fast as its seeks would be.
PART_MIN_S = 60.0
N_NEIGHBOURS = 5
EMBEDDINGS = LAYERS  # the default network's embedding keys (other networks' carry their name: "<network>.deep")
MAP_PARAMS = {"perplexity", "random_state", "metric"}  # what build records in bundle.json "maps"


@dataclass(frozen=True)
class Network:
    """One network a bundle places songs with: its front end, its graph and its embedding keys."""

    name: str
    front_end: Callable[[np.ndarray], Windows]  # 22 050 Hz signal → Windows
    graph: OnnxNetwork
    # 22 050 Hz signal → its inputs on demand (the module's ``song_inputs``): a first answer needs a few windows'
    song_inputs: Callable[[np.ndarray], object] | None = None

    def key(self, layer: str) -> str:
        return embedding_key(self.name, layer)


def load_network(bundle: Bundle, name: str, spec: SpectrogramConfig, threads: int | None) -> Network:
    """A bundle's network, ready to place: its registered front end (with the settings the build recorded) and
    its graph."""
    settings = bundle.meta.get("networks", {}).get(name, {}).get("settings", {})
    module = network(name)
    return Network(name, module.front_end(spec, settings), OnnxNetwork(bundle.graph_path(name), threads),
                   module.song_inputs(spec, settings))


class Placer:
    """Holds one bundle's networks and maps, ready to place songs (share it; it is read-only and thread-safe).

    Parameters
    ----------
    bundle : an opened bundle (``load_bundle``).
    threads : threads a placement uses (default: ``serve.default_threads()``, 1); numpy's BLAS
        is set to as many, process-wide (``serve.limit_blas_threads``). With 2 or more, a song's pieces
        of network work (``pipeline.song``) run side by side on a pool of that many threads, each graph
        on one.
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
            self.networks = [self._load_network(name, 1) for name in names]  # parallel by tasks: see _pool
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
        # a large collection's layers: the same nearest tracks from a few thousand rows (``pipeline.search``);
        # an index reads its layer once, for its projections and the rows' inverse norms together
        self._indexes = {e: CosineIndex(X) for e, X in ((e, bundle.vectors(e)) for e in self.embeddings)
                         if len(X) >= INDEX_MIN_ROWS and X.shape[1] >= MIN_WIDTH}
        self._inverse_norms = {e: self._indexes[e].inverse_norms if e in self._indexes
                               else inverse_norms(bundle.vectors(e)) for e in self.embeddings}
        self.field = RepulsionField({e: bundle.coords(e) for e in self.embeddings})
        t = bundle.tracks
        self._track_info = list(zip(t["track_id"], t["genre"], t["artist"], t["title"]))
        # threads >= 2: a song's pieces of network work (``Song.tasks``) run side by side on as many threads
        # (onnxruntime releases the GIL); each graph itself runs on one
        self._pool = ThreadPoolExecutor(threads, "placer") if threads >= 2 else None

    def _load_network(self, name: str, threads: int | None) -> Network:
        if name not in NAMES:
            raise BundleError(f"bundle {self.bundle.path} holds a network this code cannot place ({name}); "
                              "update the code")
        placed = load_network(self.bundle, name, self.spec, threads)
        _check_graph(placed, self.bundle)
        return placed

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
        return self.neighbour_records(idx[0], sims[0], k, exclude)

    def _nearest(self, embedding: str, queries: np.ndarray, k: int):
        if embedding in self._indexes:
            return self._indexes[embedding].query(queries, k)
        return nearest(self.bundle.vectors(embedding), queries, k, self._inverse_norms[embedding])

    def neighbour_records(self, idx, sims, k: int = N_NEIGHBOURS, exclude: str | None = None) -> list:
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
        song = self.song(y, "segments")
        windows = song.all_windows()
        song.compute(windows, self._pool)
        vectors, head = song.window_rows(windows)
        return {**vectors, "probabilities": self.predictor_model.predict(vectors, head)}, song.starts_s

    def probabilities(self, window_vectors: dict, head: dict, mean_vectors: dict) -> tuple[np.ndarray, np.ndarray]:
        """(the song's probabilities, each window's) from its windows' vectors, their mean and each network's head.

        The stored predictor (``pipeline.predictor``) reads the song's mean vectors and its windows' mean head
        probabilities (as it read a bundle track's), and each window's own.
        """
        head_mean = {k: np.asarray(v, dtype=np.float64).mean(axis=0)[None] for k, v in head.items()}
        song = self.predictor_model.predict({k: v[None] for k, v in mean_vectors.items()}, head_mean)[0]
        return song, self.predictor_model.predict(window_vectors, head)

    def song(self, y: np.ndarray, name: str, file_duration_s: float | None = None, prepare: bool = True,
             part: PartSignal | None = None) -> Song:
        """A decoded signal, ready to be placed window by window (``pipeline.song``).

        ``prepare``: run its front ends now (else the caller runs ``Song.prepare_tasks`` where it likes).
        ``part``: ``y`` holds only a first answer's stretches of a long file (``open_file(whole=False)``).
        """
        song = Song(self, y, name, file_duration_s, part)
        if prepare:
            song.prepare(self._pool)
        return song

    def place_audio(self, y: np.ndarray, name: str, trajectory: bool = False) -> Placement:
        """Place a decoded 22 050 Hz mono signal, every window; raises AudioError for pure silence."""
        return self._place_whole(self.song(y, name), trajectory)

    def _place_whole(self, song: Song, trajectory: bool) -> Placement:
        windows = song.all_windows()
        song.compute(windows, self._pool)
        placement = song.placement(windows)
        if not trajectory:
            placement.trajectory = None
        return placement

    def project(self, queries: dict[str, np.ndarray]) -> tuple[dict, dict]:
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

    def open_file(self, source, filename: str | None = None, max_bytes: int | None = None,
                  prepare: bool = True, min_seconds: float = MIN_SECONDS, whole: bool = True) -> Song:
        """Decode (a path, or bytes with their ``filename``) into a ``Song``; raises AudioError.

        ``whole=False``: a long file is decoded only where its first answer listens
        (``song.first_spans``); ``Song.complete_tasks`` decodes the rest.
        """
        name = filename or Path(source).name
        song = None if whole else self._open_part(source, name, filename, max_bytes, prepare)
        if song is None:
            y = load_audio(source, sr=self.spec.sample_rate, max_seconds=MAX_SECONDS, min_seconds=min_seconds,
                           filename=filename, max_bytes=max_bytes)
            song = self.song(y, name, self._file_duration(source, filename, len(y)), prepare)
        return song

    def _file_duration(self, source, filename: str | None, n_samples: int) -> float | None:
        """The whole file's length when only its first ``MAX_SECONDS`` are placed (the page says so)."""
        cut = n_samples >= int(MAX_SECONDS * self.spec.sample_rate)
        return round(audio_duration(source, filename), 2) if cut else None

    def _open_part(self, source, name: str, filename: str | None, max_bytes: int | None,
                   prepare: bool) -> Song | None:
        """A file of ``PART_MIN_S`` or more decoded only at its first answer's windows; None for any other
        (short, silent there, shorter than its header says, not audio: the whole decode decides and says why)."""
        sr = self.spec.sample_rate
        try:
            n = min(header_samples(source, sr, filename, max_bytes), int(MAX_SECONDS * sr))
            if n < PART_MIN_S * sr:
                return None
            windows, spans = first_spans(n, self.spec)
            y = load_spans(source, spans, n, sr=sr, filename=filename, max_bytes=max_bytes)
            rest = partial(load_audio, source, sr=sr, max_seconds=MAX_SECONDS, min_seconds=0.0, filename=filename,
                           max_bytes=max_bytes)
            return self.song(y, name, self._file_duration(source, filename, n), prepare,
                             PartSignal(windows, spans, rest))
        except AudioError:
            return None

    def place_file(self, source, filename: str | None = None, trajectory: bool = False,
                   max_bytes: int | None = None) -> Placement:
        """Decode (a path, or bytes with their ``filename``) and place every window; raises AudioError."""
        return self._place_whole(self.open_file(source, filename, max_bytes), trajectory)


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
    head = bundle.meta["config"]["train"]  # the head sizes the build recorded (every network's head has them)
    expect["deep"], expect["shallow"] = head["deep"], head["shallow"]
    wrong = [f"{k} {dims.get(k)} != {v}" for k, v in expect.items() if dims.get(k) != v]
    if wrong:
        raise ValueError(f"{network.name}'s graph disagrees with bundle.json ({', '.join(wrong)})")


def _check_map_settings(params: dict) -> None:
    """The map settings the build recorded; the placement assumes cosine maps."""
    unknown = set(params) - MAP_PARAMS
    if unknown or params.get("metric", "cosine") != "cosine":
        raise ValueError(f"unexpected map settings {sorted(unknown) or params.get('metric')}")


__all__ = ["AudioError", "EMBEDDINGS", "MAX_SECONDS", "load_network", "Network", "Placement", "Placer", "Windows"]
