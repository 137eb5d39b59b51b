"""Drop in a new song: probabilities, embeddings, map positions, neighbours, trajectory.

This is the one placement path: ``python -m pipeline place`` and the explorer's
upload both call ``Placer``. The reference maps never move (openTSNE
``transform`` against the saved map).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import AudioError, audio_duration, load_audio
from .bundle import Bundle, BundleError, load_bundle
from .embed import backbone_features, head_taps, none_vectors, segment_images, track_means
from .errors import one_line
from .maps import MapProjector, nearest_tracks, unit_rows
from .model import EMBEDDINGS, GenreNet
from .spectrogram import SpectrogramConfig, thumbnail_image

MAX_SECONDS = 600.0  # longer files are placed on their first 10 minutes (bounded time and memory)
MIN_SECONDS = 1.0
N_NEIGHBOURS = 5


@dataclass
class Placement:
    """Where one song lands. ``to_json`` gives the CLI's JSON record."""

    file: str
    genre: str
    probabilities: dict
    maps: dict  # embedding → {"x", "y", "neighbours": [{"track_id", "genre", "similarity", ...}]}
    duration_s: float
    n_segments: int
    vectors: dict = field(repr=False, default_factory=dict)  # embedding → mean vector
    thumbnail: np.ndarray | None = field(repr=False, default=None)  # (64, 320) uint8 log-mel of the whole clip
    trajectory: list | None = None  # per sounding window: {"start_s", "end_s", "genre", "confidence", "maps": {e: {x, y}}}
    file_duration_s: float | None = None  # set when the file is longer than MAX_SECONDS: only its start was placed

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("file", "genre", "probabilities", "maps", "duration_s", "n_segments")}
        for k in ("file_duration_s", "trajectory"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


class Placer:
    """Holds one bundle's model and maps, ready to place songs (share it; it is read-only)."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.labels = bundle.labels
        weights = bundle.state_dict()  # BundleError if unreadable
        try:  # bundle.json is not hashed: an edited config or map setting must fail here, in one clear line
            self.spec = SpectrogramConfig.from_dict(bundle.meta["config"]["spectrogram"])
            head_cfg = bundle.meta["config"]["train"]
            self.model = GenreNet(len(self.labels), self.spec.image_size, head_cfg["deep"], head_cfg["shallow"])
            self.model.load_state_dict(weights, strict=True)
            self.projectors = {e: MapProjector(**bundle.meta["maps"]["params"]).set_state(bundle.vectors(e),
                                                                                        bundle.coords(e))
                               for e in bundle.embeddings}
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise BundleError(f"bundle {bundle.path} cannot place songs ({one_line(e)}); rebuild it") from None
        self.model.eval()
        self._unit = {e: unit_rows(bundle.vectors(e)) for e in bundle.embeddings}
        t = bundle.tracks
        self._track_info = list(zip(t["track_id"], t["genre"], t["artist"], t["title"]))

    @classmethod
    def from_path(cls, path: str | Path) -> "Placer":
        return cls(load_bundle(path))

    def warm_up(self) -> None:
        """Run once on a short noise clip: numba JIT, torch kernels, kNN indices."""
        rng = np.random.default_rng(0)
        self.place_audio((0.1 * rng.standard_normal(int(2 * self.spec.sample_rate))).astype(np.float32), "warm-up")

    def neighbours(self, embedding: str, vector: np.ndarray, k: int = N_NEIGHBOURS, exclude: str | None = None) -> list:
        """The k bundle tracks most similar (cosine) to ``vector`` in one embedding."""
        idx, sims = nearest_tracks(vector, self._unit[embedding], k + (exclude is not None))
        out = []
        for i, s in zip(idx, sims):
            tid, genre, artist, title = self._track_info[i]
            if tid == exclude:
                continue
            out.append({"track_id": tid, "genre": genre, "similarity": round(float(s), 4),
                        "artist": None if artist is None or artist is np.nan or str(artist) == "<NA>" else str(artist),
                        "title": None if title is None or title is np.nan or str(title) == "<NA>" else str(title)})
        return out[:k]

    def segment_vectors(self, y: np.ndarray) -> tuple[dict, np.ndarray]:
        """Every embedding and the probabilities for each window of a signal."""
        images, starts = segment_images(y, self.spec)
        immediate = backbone_features(self.model.backbone, images)
        taps = head_taps(self.model.head, immediate)
        return {"none": none_vectors(images, self.spec), "immediate": immediate, **taps}, starts

    def place_audio(self, y: np.ndarray, name: str, trajectory: bool = False) -> Placement:
        """Place a decoded 22 050 Hz mono signal; raises AudioError for pure silence."""
        seg, starts = self.segment_vectors(y)
        n = len(starts)
        one = np.zeros(n, dtype=np.int64)
        mean = {k: track_means(v, one, 1)[0] for k, v in seg.items()}
        if not np.any(mean["none"]):
            # every window's log-mel image is empty: cosine maps have no direction to place it in
            raise AudioError("silent: the clip has no sound to place")
        probs = mean["probabilities"] / mean["probabilities"].sum()
        # Windows of digital silence have no direction in a cosine map: they stay off the path.
        sounding = np.flatnonzero(np.all([np.any(seg[e], axis=1) for e in self.bundle.embeddings], axis=0))
        maps = {}
        points = {}
        for e in self.bundle.embeddings:
            # the song's point and (if asked) every sounding window's, in one transform call
            query = np.vstack([mean[e][None], seg[e][sounding]]) if trajectory else mean[e][None]
            points[e] = self.projectors[e].transform(query)
            x, yy = points[e][0]
            maps[e] = {"x": float(x), "y": float(yy), "neighbours": self.neighbours(e, mean[e])}
        place = Placement(
            file=name, genre=self.labels[int(np.argmax(probs))],
            probabilities={g: float(p) for g, p in zip(self.labels, probs)}, maps=maps,
            duration_s=round(len(y) / self.spec.sample_rate, 3), n_segments=n, vectors=mean,
            thumbnail=thumbnail_image(y, self.spec),
        )
        if trajectory:
            seg_len = self.spec.segment_seconds
            place.trajectory = [
                {"start_s": round(float(s), 3), "end_s": round(float(min(s + seg_len, place.duration_s)), 3),
                 "genre": self.labels[int(np.argmax(seg["probabilities"][i]))],
                 "confidence": float(np.max(seg["probabilities"][i])),
                 "maps": {e: {"x": float(points[e][j + 1, 0]), "y": float(points[e][j + 1, 1])}
                          for e in self.bundle.embeddings}}
                for j, (i, s) in enumerate(zip(sounding, starts[sounding]))
            ]
        return place

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


__all__ = ["AudioError", "Placement", "Placer", "EMBEDDINGS", "MAX_SECONDS"]
