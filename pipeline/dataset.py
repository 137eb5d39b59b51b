"""Find and decode a dataset laid out as ``<root>/<genre>/<file>``.

This is GTZAN's own layout, and the layout a user can give any folder of
music sorted into genre sub-folders. :func:`load_corpus` is the first steps
that ``build`` and the paper's experiments share: discover, decode, read the
artist/title metadata, check there is enough left to split.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.audio import SUPPORTED_EXTENSIONS, AudioError, load_audio
from pipeline.errors import DatasetError  # noqa: F401 (raised here; defined there with the others)

MIN_TRACKS_PER_GENRE = 3  # one each for train, val and test


@dataclass(frozen=True)
class Track:
    """One audio file and the genre folder it sits in."""

    track_id: str
    genre: str
    path: Path


def _is_hidden(path: Path) -> bool:
    # Covers .DS_Store, .git and macOS AppleDouble files such as ._blues.00000.wav.
    return path.name.startswith(".")


def _unique_ids(candidates: list[tuple[str, str, Path]]) -> list[str]:
    """Turn (genre, stem, path) candidates into unique, deterministic track ids.

    A stem found in several genres becomes ``genre/stem``; repeats left after
    that get ``-2``, ``-3``... in file-name order.
    """
    genres_per_stem = Counter(stem for _, stem in {(genre, stem) for genre, stem, _ in candidates})
    ids = [f"{genre}/{stem}" if genres_per_stem[stem] > 1 else stem for genre, stem, _ in candidates]
    # Same stem twice inside one genre (blues.00000.wav and blues.00000.flac).
    used: set[str] = set()
    unique = []
    for track_id in ids:
        candidate, n = track_id, 1
        while candidate in used:
            n += 1
            candidate = f"{track_id}-{n}"
        used.add(candidate)
        unique.append(candidate)
    return unique


def discover_tracks(root: str | Path) -> tuple[list[Track], list[tuple[str, str]]]:
    """List the audio files under ``root/<genre>/``.

    Parameters
    ----------
    root : str or Path
        Folder whose sub-folders are genres. Files directly in ``root``
        (README.md, MANIFEST.csv, ...) and hidden entries are ignored.

    Returns
    -------
    tracks : list of Track
        Sorted by (genre, track_id); ids are unique and deterministic.
    skipped : list of (str, str)
        (path relative to ``root``, reason) for files that are not usable, and
        (``"<genre>/"``, reason) for genre folders without any audio file.

    Raises
    ------
    DatasetError
        If ``root`` does not exist, is not a folder, or has no genre folders.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"dataset path is not a folder: {root}")
    genre_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p))
    if not genre_dirs:
        raise DatasetError(f"no genre folders in {root}; expected <root>/<genre>/<audio files>")

    candidates: list[tuple[str, str, Path]] = []
    skipped: list[tuple[str, str]] = []
    for genre_dir in genre_dirs:
        found = len(candidates)
        # Sorting by name keeps ids (and any -2 suffixes) stable across machines.
        for path in sorted(genre_dir.iterdir(), key=lambda p: p.name):
            if _is_hidden(path) or not path.is_file():
                continue
            relative = path.relative_to(root).as_posix()
            extension = path.suffix.lower()
            if extension not in SUPPORTED_EXTENSIONS:
                skipped.append((relative, f"not a supported audio format ({extension or 'no extension'})"))
            elif path.stat().st_size == 0:
                skipped.append((relative, "empty file"))
            else:
                candidates.append((genre_dir.name, path.stem, path))
        if len(candidates) == found:  # say why a folder the user made is not among the genres
            skipped.append((f"{genre_dir.name}/", "no audio files in this genre folder"))

    ids = _unique_ids(candidates)
    tracks = [Track(track_id, genre, path) for track_id, (genre, _, path) in zip(ids, candidates)]
    tracks.sort(key=lambda t: (t.genre, t.track_id))
    return tracks, skipped


def load_track_audio(
    tracks: list[Track],
    *,
    sr: int,
    max_seconds: float | None = None,
    min_seconds: float = 1.0,
    progress: bool = True,
) -> tuple[list[Track], list[np.ndarray], list[tuple[str, str]]]:
    """Decode every track, skipping those that fail.

    Parameters
    ----------
    tracks : list of Track
    sr : int
        Target sample rate in Hz.
    max_seconds, min_seconds : float
        Passed to :func:`pipeline.audio.load_audio`.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    loaded : list of Track
        Tracks that decoded, in input order.
    signals : list of np.ndarray
        Mono float32 audio, aligned with ``loaded``.
    failed : list of (str, str)
        (track_id, one-line reason) for tracks that did not decode.
    """
    loaded: list[Track] = []
    signals: list[np.ndarray] = []
    failed: list[tuple[str, str]] = []
    for track in tqdm(tracks, desc="decoding audio", unit="track", disable=not progress):
        try:
            y = decode_track(track, sr=sr, max_seconds=max_seconds, min_seconds=min_seconds)
        except AudioError as error:
            failed.append((track.track_id, str(error)))
            continue
        loaded.append(track)
        signals.append(y)
    return loaded, signals, failed


def _clean_field(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def read_track_metadata(csv_path: str | Path) -> dict[str, dict]:
    """Read artist and title per track id from a CSV.

    Parameters
    ----------
    csv_path : str or Path
        CSV with at least a ``track_id`` column and optionally ``artist`` and
        ``title`` (e.g. ``gtzan_splits/metadata/tracks.csv``).

    Returns
    -------
    metadata : dict
        track_id -> {"artist": str or None, "title": str or None}; empty
        fields become None. A missing file gives ``{}``.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        return {}
    metadata: dict[str, dict] = {}
    # utf-8-sig: tolerate a byte-order mark written by spreadsheet programs.
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            track_id = _clean_field(row.get("track_id"))
            if track_id is None:
                continue
            metadata[track_id] = {"artist": _clean_field(row.get("artist")), "title": _clean_field(row.get("title"))}
    return metadata


def find_metadata_csv(data_root: str | Path) -> Path | None:
    """Locate a tracks.csv belonging to ``data_root``.

    Looks at ``data_root.parent / "gtzan_splits/metadata/tracks.csv"`` (the
    shared layout) and then ``data_root / "tracks.csv"``.

    Parameters
    ----------
    data_root : str or Path

    Returns
    -------
    path : Path or None
        The first candidate that exists.
    """
    data_root = Path(data_root)
    candidates = (data_root.parent / "gtzan_splits" / "metadata" / "tracks.csv", data_root / "tracks.csv")
    return next((path for path in candidates if path.is_file()), None)


def decode_track(track: Track, *, sr: int, max_seconds: float | None = None,
                 min_seconds: float = 1.0) -> np.ndarray:
    """One track's mono float32 audio at ``sr``; raises AudioError (with a one-line reason) if it is unusable.

    Pure silence is unusable too: it has no direction in the cosine maps (t-SNE would fail on it).
    """
    y = load_audio(track.path, sr=sr, max_seconds=max_seconds, min_seconds=min_seconds)
    if not np.any(y):
        raise AudioError("silent: no sound in the decoded audio")
    return y


@dataclass
class Corpus:
    """A dataset's tracks and their metadata, aligned by position; audio is decoded per track on demand.

    The build streams its tracks (``pipeline.stream``): no stage holds every
    track's audio. ``DecodedCorpus`` (the experiments') holds it all.
    """

    root: Path
    tracks: list[Track]
    skipped: list[dict]  # {"file", "reason"}: files not used (not audio, empty, undecodable, silent)
    labels: list[str]  # the genres, sorted; a track's label index is its position here
    artists: list[str | None]
    titles: list[str | None]
    metadata: Path | None  # the tracks.csv that artists and titles came from
    sr: int = 22050  # what ``decode`` gives
    max_seconds: float | None = None

    @cached_property
    def ids(self) -> list[str]:
        return [t.track_id for t in self.tracks]

    @cached_property
    def genres(self) -> np.ndarray:
        return np.array([t.genre for t in self.tracks])

    @cached_property
    def y(self) -> np.ndarray:
        """Each track's genre as an index into ``labels``."""
        return np.array([self.labels.index(t.genre) for t in self.tracks])

    @cached_property
    def counts(self) -> dict[str, int]:
        """Tracks per genre."""
        return {g: sum(t.genre == g for t in self.tracks) for g in self.labels}

    def decode(self, index: int) -> np.ndarray:
        """Track ``index``'s audio, decoded now (raises AudioError)."""
        return decode_track(self.tracks[index], sr=self.sr, max_seconds=self.max_seconds)

    def without(self, failed: dict[str, str]) -> Corpus:
        """This corpus less the tracks in ``failed`` (track_id → reason), which join ``skipped``."""
        keep = [i for i, t in enumerate(self.tracks) if t.track_id not in failed]
        tracks = [self.tracks[i] for i in keep]
        return Corpus(root=self.root, tracks=tracks,
                      skipped=self.skipped + [{"file": k, "reason": r} for k, r in failed.items()],
                      labels=sorted({t.genre for t in tracks}), artists=[self.artists[i] for i in keep],
                      titles=[self.titles[i] for i in keep], metadata=self.metadata, sr=self.sr,
                      max_seconds=self.max_seconds)


@dataclass
class DecodedCorpus(Corpus):
    """A corpus with every track's audio in memory (the paper's experiments; ``build`` never makes one)."""

    audios: list[np.ndarray] = field(default_factory=list)  # mono float32 at ``sr``

    @cached_property
    def fingerprint(self) -> str:
        """A hash of every track's id, genre and decoded audio: equal corpora give equal cache keys."""
        h = hashlib.sha256()
        for t, a in zip(self.tracks, self.audios):
            h.update(f"{t.track_id}|{t.genre}|{len(a)}\n".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:20]


def _untimed(name: str):
    return nullcontext()


def discover_corpus(root: str | Path, *, sr: int, max_seconds: float | None,
                    metadata: str | Path | None = None) -> Corpus:
    """Every track found under ``root/<genre>/`` with its artist/title, nothing decoded yet.

    Parameters are those of :func:`load_corpus`; tracks that will not decode are
    found when they are decoded (``Corpus.without`` drops them).
    """
    root = Path(root)
    tracks, skipped = discover_tracks(root)
    meta_csv = Path(metadata) if metadata else find_metadata_csv(root)
    info = read_track_metadata(meta_csv) if meta_csv else {}
    return Corpus(root=root, tracks=tracks, skipped=[{"file": f, "reason": r} for f, r in skipped],
                  labels=sorted({t.genre for t in tracks}),
                  artists=[info.get(t.track_id, {}).get("artist") for t in tracks],
                  titles=[info.get(t.track_id, {}).get("title") for t in tracks], metadata=meta_csv, sr=sr,
                  max_seconds=max_seconds)


def load_corpus(root: str | Path, *, sr: int, max_seconds: float | None, metadata: str | Path | None = None,
                progress: bool = True, stage=_untimed) -> DecodedCorpus:
    """Discover, decode and describe a ``<root>/<genre>/<file>`` dataset, every track's audio in memory.

    Parameters
    ----------
    root : str or Path
        The dataset folder.
    sr : int
        Sample rate to decode to.
    max_seconds : float or None
        Longer files are cut to their first ``max_seconds``.
    metadata : str or Path, optional
        A tracks.csv with artist/title per track id; by default the one
        :func:`find_metadata_csv` finds beside ``root``.
    progress : bool
        Show a progress bar while decoding.
    stage : callable
        ``stage(name)`` gives a context manager around the "discover" and
        "decode" steps; by default nothing.

    Raises
    ------
    DatasetError
        If ``root`` is not a dataset folder (:func:`discover_tracks`); whether
        enough decoded is :func:`check_enough_tracks`'s question.
    """
    with stage("discover"):
        found = discover_corpus(root, sr=sr, max_seconds=max_seconds, metadata=metadata)
    with stage("decode"):
        tracks, audios, failed = load_track_audio(found.tracks, sr=sr, max_seconds=max_seconds, progress=progress)
    kept = found.without(dict(failed))
    return DecodedCorpus(**{f.name: getattr(kept, f.name) for f in fields(Corpus)}, audios=audios)


def check_enough_tracks(corpus: Corpus) -> None:
    """Raise a one-line DatasetError unless 2+ genres have ``MIN_TRACKS_PER_GENRE`` decoded tracks each."""
    counts = corpus.counts
    small = [g for g, c in counts.items() if c < MIN_TRACKS_PER_GENRE]
    if len(counts) < 2 or small:
        raise DatasetError(f"too little usable data in {corpus.root}: {len(corpus.tracks)} tracks in {len(counts)} "
                           f"genres {counts}; need at least 2 genres with {MIN_TRACKS_PER_GENRE} tracks each")
