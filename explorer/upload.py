"""Uploaded songs → the pipeline's one placement path (their stars and paths: ``views.song_marks``).

No Streamlit here: ``sync_uploads`` takes the uploader's current files and a
per-session cache and places only files it has not seen, so a rerun (switching
embedding, clicking a dot) never decodes a song twice, and removing a file
from the uploader removes its star.
"""
from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.audio import SUPPORTED_EXTENSIONS, AudioError
from pipeline.errors import one_line

log = logging.getLogger(__name__)
_FORMATS = [e.lstrip(".") for e in SUPPORTED_EXTENSIONS]
FORMATS_LABEL = ", ".join(_FORMATS[:-1]) + " or " + _FORMATS[-1]  # "wav, flac, au, mp3 or ogg"
DEFAULT_MAX_MB = 50
RECORDING_MIN_S = 5.0  # a recording from the room: shorter ones are refused ("too short")
RECORDING_MAX_S = 30.0  # the recorder stops by itself after this long
RECORDING_NAME = "room recording.wav"
# the longest WAV the recorder can send: 30 s (and a second's margin) of 16-bit mono at a device's 96 kHz
RECORDING_MAX_BYTES = 44 + 2 * 96_000 * int(RECORDING_MAX_S + 1)


class RecordingError(ValueError):
    """What the recorder sent is not a recording (its one-line reason)."""


def recorder_clip(state) -> dict | None:
    """The recorder's last clip (``{"id", "wav", …}``) in its component state (``explorer.recorder``), or None."""
    clip = state.get("clip") if isinstance(state, Mapping) else None
    return clip if isinstance(clip, dict) else None


def recorded_wav(clip: dict) -> bytes:
    """The WAV bytes of a recorder clip (``wav``: base64); ``RecordingError`` when they are not a short WAV."""
    text = clip.get("wav") if isinstance(clip, dict) else None
    if not isinstance(text, str) or not text:
        raise RecordingError("the recorder sent no audio")
    data = _recorded_bytes(text)
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RecordingError("the recorder sent audio that is not a WAV file")
    return data


def _recorded_bytes(text: str) -> bytes:
    """The recorder's base64 text → bytes; ``RecordingError`` when it is not base64 or longer than a recording."""
    if len(text) > 4 * (RECORDING_MAX_BYTES // 3 + 1):
        raise RecordingError(f"the recording is longer than {RECORDING_MAX_S:.0f} s")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RecordingError("the recorder sent audio that is not base64") from None


@dataclass(frozen=True)
class RecordedPart:
    """Samples the recorder sent while recording (``explorer.recorder``): which recording, where they start."""

    id: str
    offset: int  # samples before these in the recording
    rate: int
    samples: np.ndarray  # float32, as the recording's WAV decodes them (16-bit / 32 768)

    @classmethod
    def from_part(cls, part: dict) -> RecordedPart:
        """The recorder's part (``{"id", "offset", "rate", "pcm": base64 16-bit}``); ``RecordingError`` if not one."""
        pcm, rid, offset, rate = (part.get(k) for k in ("pcm", "id", "offset", "rate")) if isinstance(
            part, dict) else (None,) * 4
        if not (isinstance(pcm, str) and isinstance(rid, str) and 0 < len(rid) <= 64
                and isinstance(offset, int) and offset >= 0 and isinstance(rate, int) and rate > 0):
            raise RecordingError("the recorder sent a part that is not one")
        data = _recorded_bytes(pcm)
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / np.float32(32768)
        return cls(rid, offset, rate, samples)


@dataclass(frozen=True)
class RecordedClip:
    """One recording the recorder sent: its id and WAV bytes (an uploaded file's ``file_id`` and ``getvalue``)."""

    id: str
    data: bytes

    @classmethod
    def from_clip(cls, clip: dict) -> RecordedClip:
        """The recorder's clip (``{"id", "wav": base64, …}``); ``RecordingError`` when it is not one."""
        data = recorded_wav(clip)
        if not isinstance(clip.get("id"), str) or not 0 < len(clip["id"]) <= 64:
            raise RecordingError("the recorder sent a recording without an id")
        return cls(clip["id"], data)

    @property
    def file_id(self) -> str:
        return f"recording-{self.id}"

    def getvalue(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Recording:
    """A recording from the microphone, dropped in like an uploaded file.

    ``file``: a ``RecordedClip`` (``explorer.recorder``) or an uploaded file (``file_id``, ``getvalue()``).
    """

    file: object
    name: str = RECORDING_NAME
    min_seconds: float = RECORDING_MIN_S
    early: object = None  # pipeline.early.EarlyInputs: what was computed while it was recorded

    @property
    def file_id(self) -> str:
        return self.file.file_id

    def getvalue(self) -> bytes:
        return self.file.getvalue()


@dataclass
class UploadResult:
    """One uploaded file: its placement, or the one-line reason it could not be placed."""

    key: str  # the uploader's file id: stable for one upload, different for a re-upload
    name: str  # shown on the map; unique among the session's uploads
    placement: object | None = None  # pipeline.place.Placement
    error: str | None = None
    seconds: float = 0.0  # time to decode and place
    note: str | None = None  # something the page should say about a placed song (e.g. why it has no path)
    job: object | None = None  # explorer.placing.SongJob while the whole song is computed in the background
    early_inputs: int = 0  # a recording's network inputs computed while it was recorded (``pipeline.early``)

    @property
    def ok(self) -> bool:
        return self.placement is not None


def place_upload(placer, key: str, name: str, data: bytes, max_bytes: int | None = None, placing=None,
                 progress=None, min_seconds: float | None = None, early=None) -> UploadResult:
    """Place one file's bytes; bad audio becomes ``error`` (never an exception).

    With ``placing`` (``explorer.placing.Placing``) the result is the first answer
    and ``job`` computes the whole song in the background (``refresh`` swaps it
    in); without, every window is placed here. ``progress(n)``: n songs wait ahead. ``min_seconds``:
    refuse shorter audio (a recording); else the pipeline's minimum. ``early``: a recording's network work done
    while it was recorded (``pipeline.early``), used where it is the same.
    """
    t0 = time.perf_counter()
    job = None
    try:
        if placing is None:
            placement = placer.place_file(bytes(data), filename=name, max_bytes=max_bytes, trajectory=True)
        else:
            job = placing.start(placer, bytes(data), name, max_bytes, progress, min_seconds, early)
            placement = job.first
    except AudioError as e:
        return UploadResult(key, name, error=str(e), seconds=time.perf_counter() - t0)
    except Exception as e:  # the app must keep working whatever one file does
        log.exception("placing %s failed", name)
        return UploadResult(key, name, error=f"could not be placed ({one_line(e)})",
                            seconds=time.perf_counter() - t0)
    return UploadResult(key, name, placement=placement, seconds=time.perf_counter() - t0,
                        note=cut_note(placement), job=job, early_inputs=getattr(job, "early_inputs", 0))


def refresh(results) -> bool:
    """Put each finished background placement in its result's place; True when any changed."""
    changed = False
    for r in results:
        job = r.job
        if job is None or not job.final.done():
            continue
        r.job = None
        changed = True
        if job.final.cancelled():
            continue
        try:
            whole = job.final.result()
        except Exception as e:  # the first answer stays; say why the path is missing
            log.exception("the whole of %s could not be placed", r.name)
            r.note = f"its path through time could not be computed ({one_line(e)})"
            continue
        if whole is not None:
            r.placement = whole
    return changed


def pending(results) -> list:
    """The results whose whole song is still being computed."""
    return [r for r in results if r.job is not None]


def cut_note(placement) -> str | None:
    """What to say when only the start of a long file was placed (``Placement.file_duration_s`` is set)."""
    full = getattr(placement, "file_duration_s", None)
    if not full:
        return None
    def minutes(seconds: float) -> str:
        return f"{seconds / 60:.1f}".removesuffix(".0")

    return (f"only its first {minutes(placement.duration_s)} minutes were placed: the whole file is "
            f"{minutes(full)} minutes long")


def unique_name(name: str, taken) -> str:
    """``name``, or ``name (2)``, ``name (3)``… if already on the map."""
    taken = set(taken)
    if name not in taken:
        return name
    i = 2
    while f"{name} ({i})" in taken:
        i += 1
    return f"{name} ({i})"


def sync_uploads(files, cache: dict, get_placer, max_bytes: int | None = None, placing=None,
                 progress=None) -> tuple[list[UploadResult], list[UploadResult]]:
    """Bring ``cache`` (file id → UploadResult) in line with the uploader's ``files``.

    ``files`` are objects with ``file_id``, ``name`` and ``getvalue()`` (Streamlit's
    UploadedFile). ``get_placer`` is only called when there is a new file.
    ``placing`` and ``progress``: see ``place_upload``. A removed file's background work stops.
    Returns (results in upload order, the ones placed in this call).
    """
    files = [f for f in (files or []) if f is not None]
    keep = {f.file_id for f in files}
    for key in [k for k in cache if k not in keep]:
        forget(cache.pop(key))
    new = []
    for f in files:
        if f.file_id not in cache:
            name = unique_name(f.name, (r.name for r in cache.values()))
            try:
                placer = get_placer()
            except Exception as e:  # no model: say so for this file, keep the page alive, retry next time
                log.exception("the placer could not be loaded")
                new.append(UploadResult(f.file_id, name, error=f"the model could not be loaded ({one_line(e)})"))
                continue
            # decode by the file's own name (its extension); show the unique one ("song.wav (2)")
            cache[f.file_id] = place_upload(placer, f.file_id, f.name, f.getvalue(), max_bytes, placing, progress,
                                            getattr(f, "min_seconds", None), getattr(f, "early", None))
            cache[f.file_id].name = name
            new.append(cache[f.file_id])
    by_key = {r.key: r for r in new}
    return [cache.get(f.file_id) or by_key[f.file_id] for f in files], new


def forget(result: UploadResult) -> None:
    """A song leaves the page: stop computing its path."""
    if result.job is not None:
        result.job.cancel()
