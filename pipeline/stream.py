"""The build's per-track pass: decode a track, run every network on it, make its preview, cache it, forget it.

No stage holds every track's audio: each track is decoded, turned into rows
(one dict per network, plus its thumbnail and preview) and written to its own
cache entry (``feature_cache.TrackCache``) before the next is touched. A
resumed build computes only the entries that are missing. The per-track work
(``TrackWork``) is plain, picklable data, so an executor may run it in this
process or on a Ray cluster (``pipeline.executors``); results are written by
this process in any order and read back in track order, so every executor
gives the same features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .audio import AudioError
from .dataset import Corpus, Track, decode_track
from .embed import track_rng
from .feature_cache import TrackCache
from .onnx_features import OnnxFeatures
from .previews import encode_preview
from .spectrogram import FRONT_END_VERSION, SpectrogramConfig, thumbnail_image

LISTENING = "listening"  # the cache part holding a track's thumbnail and preview (or why it did not decode)


@dataclass
class TrackPart:
    """One network's per-track work, as the build describes it.

    ``rows(features_of, y[, rng=...])`` gives one decoded track's rows and
    ``graph()`` exports the frozen network once, only when a track misses its
    entry (the network's build side: ``networks.contract.BuildNetwork``);
    ``seed`` is given when the rows draw an augmentation (``embed.track_rng``).
    """

    name: str
    key: str  # cache key of the config, the network and its weights
    rows: Callable
    graph: Callable[[], bytes]
    seed: int | None = None


@dataclass
class ReadyPart:
    """A ``TrackPart`` with its graph exported: what travels to a worker (no torch needed there)."""

    rows: Callable
    graph: bytes
    seed: int | None
    threads: int | None = None
    _run: OnnxFeatures | None = field(default=None, repr=False)

    def __getstate__(self):
        return {**self.__dict__, "_run": None}  # a session never travels; each process opens its own

    def __call__(self, y: np.ndarray, track_id: str) -> dict:
        if self._run is None:
            self._run = OnnxFeatures.from_graph(self.graph, self.threads)
        if self.seed is None:
            return self.rows(self._run, y)
        return self.rows(self._run, y, rng=track_rng(self.seed, track_id))


@dataclass
class TrackWork:
    """Everything one worker needs to turn a track into its cache entries (picklable)."""

    sr: int
    max_seconds: float | None
    spectrogram: SpectrogramConfig
    preview_seconds: float
    parts: dict[str, ReadyPart]

    def __call__(self, track: Track, names: list[str]) -> dict[str, dict]:
        """Part name → rows for the parts in ``names``; ``{LISTENING: {"failed": reason}}`` if it does not decode."""
        try:
            y = decode_track(track, sr=self.sr, max_seconds=self.max_seconds)
        except AudioError as error:
            return {LISTENING: {"failed": np.array(str(error))}}
        out = {name: self.parts[name](y, track.track_id) for name in names if name != LISTENING}
        if LISTENING in names:
            out[LISTENING] = self.listening(y)
        return out

    def listening(self, y: np.ndarray) -> dict:
        """A track's thumbnail and (when on) its Ogg preview as bytes."""
        rows = {"thumbnail": thumbnail_image(y, self.spectrogram)}
        if self.preview_seconds > 0:
            ogg = encode_preview(y, self.spectrogram.sample_rate, self.preview_seconds)
            rows["preview"] = np.frombuffer(ogg, dtype=np.uint8)
        return rows


def listening_key(corpus: Corpus, spectrogram: SpectrogramConfig, preview_seconds: float) -> str:
    """The listening part's cache key: how tracks are decoded, the thumbnails' settings, the previews' length."""
    import hashlib
    import json

    text = json.dumps([corpus.sr, corpus.max_seconds, spectrogram.to_dict(), FRONT_END_VERSION, preview_seconds])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class Streamed:
    """What the pass leaves for the rest of the build: rows per part per kept track, and the tracks that failed."""

    rows: dict[str, list[dict]]  # part name → one rows dict per kept track, in track order
    failed: dict[str, str]  # track_id → why it did not decode
    computed: int  # tracks worked on in this run (the others came from the cache)


def missing_parts(corpus: Corpus, caches: dict[str, TrackCache]) -> list[tuple[int, Track, list[str]]]:
    """(index, track, parts without a cache entry) of every track that misses any."""
    todo = []
    for i, track in enumerate(corpus.tracks):
        if "failed" in (caches[LISTENING].names(track) or ()):
            continue  # it did not decode last time either: the file is unchanged (the key says so)
        names = [name for name, cache in caches.items() if cache.names(track) is None]
        if names:
            todo.append((i, track, names))
    return todo


def stream_tracks(corpus: Corpus, parts: list[TrackPart], cache_dir, preview_seconds: float,
                  spectrogram: SpectrogramConfig, run_map, progress: bool = True) -> Streamed:
    """Every track's entries, computed where missing (through ``run_map``) and read back in track order.

    Parameters
    ----------
    run_map : ``executors.run_map``-like: (work, [(index, track, names)], progress) → iterator of
        (index, result) in any order.
    """
    caches = {LISTENING: TrackCache(cache_dir, listening_key(corpus, spectrogram, preview_seconds)),
              **{p.name: TrackCache(cache_dir, p.key) for p in parts}}
    todo = missing_parts(corpus, caches)
    if todo:
        compute_missing(corpus, parts, caches, todo, (spectrogram, preview_seconds), run_map, progress)
    return read_back(corpus, caches, len(todo))


def compute_missing(corpus: Corpus, parts: list[TrackPart], caches: dict[str, TrackCache], todo: list,
                    settings: tuple[SpectrogramConfig, float], run_map, progress: bool) -> None:
    """Every track of ``todo`` through its missing parts (``TrackWork`` with ``settings``: the spectrogram's,
    the previews' seconds); each result saved as it comes.

    Its own function so that the networks' sessions are gone before every track's rows are read back
    (the 2 000-track build held both: +360 MB at its peak).
    """
    needed = {name for _, _, names in todo for name in names}
    ready = {p.name: ReadyPart(p.rows, p.graph(), p.seed) for p in parts if p.name in needed}
    work = TrackWork(corpus.sr, corpus.max_seconds, *settings, ready)
    for index, result in run_map(work, todo, progress):
        for name, rows in result.items():
            caches[name].save(corpus.tracks[index], rows)


def read_back(corpus: Corpus, caches: dict[str, TrackCache], computed: int) -> Streamed:
    """Every track's cached rows in track order; tracks whose decode failed are set aside with the reason."""
    rows: dict[str, list[dict]] = {name: [] for name in caches}
    failed = {}
    for track in corpus.tracks:
        listening = caches[LISTENING].load(track)
        if listening is not None and "failed" in listening:
            failed[track.track_id] = str(listening["failed"])
            continue
        entries = {name: cache.load(track) for name, cache in caches.items()}
        if any(e is None for e in entries.values()):
            raise RuntimeError(f"the feature cache entry of {track.track_id} could not be read back; run the build "
                               "again (damaged entries are computed again)")
        for name, entry in entries.items():
            rows[name].append(entry)
    return Streamed(rows, failed, computed)
