"""Find and decode a dataset laid out as ``<root>/<genre>/<file>``.

This is GTZAN's own layout, and the layout a user can give any folder of
music sorted into genre sub-folders.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.audio import SUPPORTED_EXTENSIONS, AudioError, load_audio


class DatasetError(ValueError):
    """The dataset root cannot be used at all (missing, or no genre folders)."""


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
            y = load_audio(track.path, sr=sr, max_seconds=max_seconds, min_seconds=min_seconds)
        except AudioError as error:
            failed.append((track.track_id, str(error)))
            continue
        if not np.any(y):  # pure silence has no direction in the cosine maps (t-SNE would fail on it)
            failed.append((track.track_id, "silent: no sound in the decoded audio"))
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
