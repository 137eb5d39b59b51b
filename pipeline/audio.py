"""Decode any supported audio file to 22 050 Hz mono float32.

Everything goes through ``soundfile`` (libsndfile 1.2: WAV, FLAC, AU, OGG and
MP3). Every failure is reported as an :class:`AudioError` whose message is a
single user-facing line; raw libsndfile exceptions never escape.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import threading
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError  # noqa: F401 (raised here; defined with the others)

SAMPLE_RATE = 22050
SUPPORTED_EXTENSIONS = (".wav", ".flac", ".au", ".mp3", ".ogg")

AudioSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

# Frames per read call (about 3 s at 22 050 Hz): small enough that a stream
# failing part-way loses little, large enough that call overhead is negligible.
_BLOCK_FRAMES = 1 << 16


def _supported_list() -> str:
    return ", ".join(ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS)


def check_extension(name: str | os.PathLike) -> str:
    """Return the lower-case extension of ``name`` or raise :class:`AudioError`.

    Parameters
    ----------
    name : str or path
        File name or path; only its suffix is looked at.

    Returns
    -------
    ext : str
        The extension with its dot, e.g. ``".flac"``.
    """
    ext = Path(name).suffix.lower()
    if not ext:
        raise AudioError(f"unsupported format (no file extension); supported: {_supported_list()}")
    if ext not in SUPPORTED_EXTENSIONS:
        raise AudioError(f"unsupported format '{ext}'; supported: {_supported_list()}")
    return ext


_STDERR_LOCK = threading.Lock()
_quiet = {"users": 0, "saved": None}  # threads decoding with fd 2 silenced, and the real fd 2 meanwhile


@contextlib.contextmanager
def _quiet_native_stderr(enabled: bool):
    """Silence C-level writes to fd 2 (mpg123 prints "Note: Illegal Audio-MPEG-Header"
    for junk MP3s, which would break our one-line error promise).

    fd 2 is process-wide: the first thread in silences it, the last one out
    restores it, so two decodes (one session's song, another's first answer)
    run side by side instead of one waiting for the other.
    """
    if not enabled:
        yield
        return
    with _STDERR_LOCK:
        if _quiet["users"] == 0:
            _quiet["saved"] = os.dup(2)
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
        _quiet["users"] += 1
    try:
        yield
    finally:
        with _STDERR_LOCK:
            _quiet["users"] -= 1
            if _quiet["users"] == 0:
                os.dup2(_quiet["saved"], 2)
                os.close(_quiet["saved"])


def _is_mp3(source, filename: str | None) -> bool:
    name = filename if filename is not None else (source if isinstance(source, (str, os.PathLike)) else "")
    return Path(name).suffix.lower() == ".mp3"


def _format_size(n_bytes: int) -> str:
    """Sizes in units of 1024 bytes, named kB/MB as Streamlit's upload limit (``maxUploadSize = 50``) is."""
    kb, mb = n_bytes / 1024, n_bytes / 1024**2
    if mb < 1:
        return f"{kb:.0f} kB"
    return (f"{mb:.1f}".removesuffix(".0") if mb < 10 else f"{mb:.0f}") + " MB"  # "1 MB", "2.7 MB", "55 MB"


def _open_sound_file(source: AudioSource, filename: str | None, max_bytes: int | None) -> sf.SoundFile:
    """Validate ``source`` and open it with soundfile, translating every failure."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if filename is not None:  # an upload without a name is judged by its header alone
            check_extension(filename)
        data = bytes(source)
        n_bytes = len(data)
        opener = io.BytesIO(data)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_extension(filename if filename is not None else path.name)
        if not path.is_file():
            raise AudioError(f"file not found: {path.name}" if not path.exists()
                             else f"not a regular file: {path.name}")
        n_bytes = path.stat().st_size
        opener = str(path)
    else:
        raise AudioError(f"cannot read audio from a {type(source).__name__}; pass a path or bytes")

    if n_bytes == 0:
        raise AudioError("empty file (0 bytes)")
    if max_bytes is not None and n_bytes > max_bytes:
        raise AudioError(f"file too large: {_format_size(n_bytes)}, limit {_format_size(max_bytes)}")
    try:
        # No format hint: libsndfile detects every supported container by its header.
        sound_file = sf.SoundFile(opener)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError, OSError):
        raise AudioError("not a decodable audio file") from None
    if sound_file.samplerate <= 0 or sound_file.channels <= 0:
        sound_file.close()
        raise AudioError("not a decodable audio file (invalid header)")
    return sound_file


def audio_duration(source: AudioSource, filename: str | None = None) -> float:
    """Duration in seconds read from the file header, without decoding samples.

    Parameters
    ----------
    source : str, Path or bytes
        Path to an audio file, or its raw bytes (then ``filename`` names it).
    filename : str, optional
        Name whose extension is checked instead of the path's.

    Returns
    -------
    seconds : float
    """
    frames, samplerate = _header(source, filename, max_bytes=None)
    return float(frames) / float(samplerate)


def _header(source: AudioSource, filename: str | None, max_bytes: int | None) -> tuple[int, int]:
    """(frames, sample rate) from the file's header, without decoding samples."""
    with _quiet_native_stderr(_is_mp3(source, filename)), _open_sound_file(source, filename, max_bytes) as f:
        return f.frames, f.samplerate


def _read_blocks(sound_file: sf.SoundFile, n_frames: int) -> np.ndarray:
    """Read up to ``n_frames`` (all if negative) block by block, keeping what decodes.

    A truncated or damaged stream (e.g. a FLAC cut short) fails part-way; the
    blocks read before the failure are still returned.
    """
    blocks: list[np.ndarray] = []
    remaining = n_frames if n_frames >= 0 else np.inf
    while remaining > 0:
        try:
            block = sound_file.read(frames=int(min(remaining, _BLOCK_FRAMES)), dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError, OSError):
            if not blocks:
                raise AudioError("not a decodable audio file (corrupt audio data)") from None
            break
        if len(block) == 0:
            break
        blocks.append(block)
        remaining -= len(block)
    if not blocks:
        return np.zeros((0, sound_file.channels), dtype=np.float32)
    return np.concatenate(blocks)


def _read_frames(sound_file: sf.SoundFile, offset_seconds: float, max_seconds: float | None) -> np.ndarray:
    """Decode only the frames in ``[offset, offset + max_seconds)`` as (frames, channels)."""
    sr_in = sound_file.samplerate
    offset_frames = int(round(max(offset_seconds, 0.0) * sr_in))
    n_frames = -1 if max_seconds is None else int(round(max_seconds * sr_in))
    if sound_file.format == "MP3":
        # soundfile re-seeks after every read and libsndfile's MP3 seek lands
        # hundreds of samples off, so any seek or second read returns wrong
        # audio. One read from the start is exact and still bounded.
        n_from_start = -1 if n_frames < 0 else offset_frames + n_frames
        try:
            return sound_file.read(frames=n_from_start, dtype="float32", always_2d=True)[offset_frames:]
        except (sf.SoundFileError, RuntimeError, ValueError, OSError):
            raise AudioError("not a decodable audio file (corrupt audio data)") from None
    if offset_frames:
        try:
            sound_file.seek(offset_frames)
        except (sf.SoundFileError, RuntimeError, ValueError, OSError):
            raise AudioError("cannot seek in this file (corrupt or truncated)") from None
    return _read_blocks(sound_file, n_frames)


def to_mono(frames: np.ndarray) -> np.ndarray:
    """Average a (frames, channels) array down to one channel.

    Non-finite samples become 0 first so one bad channel does not poison the mix.

    Parameters
    ----------
    frames : np.ndarray, shape (n, channels)

    Returns
    -------
    mono : np.ndarray, shape (n,), float32, values in [-1, 1]
    """
    frames = np.asarray(frames, dtype=np.float32)
    # A sum of a few float32 channels loses nothing that matters at 16-24 bit; the float64 copy of a
    # 4-minute stereo song cost 0.25-1 s, most of an upload's decoding time.
    if frames.ndim == 2:  # channel by channel: numpy's sum over a short inner axis is ~15x slower
        mono = frames[:, 0].copy()
        for c in range(1, frames.shape[1]):
            mono += frames[:, c]
        mono /= np.float32(frames.shape[1])
    else:
        mono = frames.copy()
    if not np.isfinite(mono).all():  # rare: zero the bad samples before mixing, channel by channel
        clean = np.nan_to_num(frames, nan=0.0, posinf=0.0, neginf=0.0)
        mono = clean.mean(axis=1, dtype=np.float32) if clean.ndim == 2 else clean
    return np.clip(mono, -1.0, 1.0, out=mono)


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a mono signal with soxr's high-quality filter.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr_in, sr_out : int
        Source and target sample rates in Hz.

    Returns
    -------
    y_out : np.ndarray, shape (about n * sr_out / sr_in,), float32
    """
    if sr_in == sr_out or y.size == 0:
        return y.astype(np.float32, copy=False)
    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def header_samples(source: AudioSource, sr: int = SAMPLE_RATE, filename: str | None = None,
                   max_bytes: int | None = None) -> int:
    """How many samples at ``sr`` the file's header promises (``audio_duration`` without decoding)."""
    frames, samplerate = _header(source, filename, max_bytes)
    return int(round(frames * sr / samplerate))


def load_spans(source: AudioSource, spans: list[tuple[int, int]], n_samples: int, *, sr: int = SAMPLE_RATE,
               filename: str | None = None, max_bytes: int | None = None, margin_s: float = 0.25) -> np.ndarray:
    """Decode only some stretches of a file: ``n_samples`` at ``sr``, zero outside the ``spans``.

    Each span is ``(start, stop)`` in samples at ``sr``. It is read by seeking
    ``margin_s`` before it and resampled with that margin on either side, so
    it equals the same samples of ``load_audio``'s whole decode to float
    rounding (measured: ≤ 3e-7 for wav, flac, ogg and mp3 at 44.1 and 48 kHz;
    ≤ 1e-5 for mp3 at 22.05 kHz, whose decoder does not restart bit-exactly).
    The margin also absorbs an mp3 seek's first granule, which libmpg123
    decodes wrongly at some rates (its bit reservoir starts empty).

    Raises
    ------
    AudioError
        When a span cannot be read whole (a file shorter than its header says, a failed seek).
    """
    y = np.zeros(n_samples, dtype=np.float32)
    with _quiet_native_stderr(_is_mp3(source, filename)), _open_sound_file(source, filename, max_bytes) as f:
        sr_in = f.samplerate
        g = math.gcd(sr_in, sr)
        step_in, step_out = sr_in // g, sr // g  # input and output samples line up every step_in inputs
        margin = int(margin_s * sr)
        for start, stop in spans:
            first = max(0, start - margin) // step_out * step_out
            last = min(n_samples, stop + margin)
            want = -(-(last - first) * sr_in // sr)
            try:
                f.seek(first // step_out * step_in)
            except (sf.SoundFileError, RuntimeError, ValueError, OSError):
                raise AudioError("cannot seek in this file (corrupt or truncated)") from None
            part = resample(to_mono(_read_blocks(f, want)), sr_in, sr)
            start, stop = max(start, 0), min(stop, n_samples)
            if len(part) < stop - first:
                raise AudioError("the file is shorter than its header says")
            y[start:stop] = np.clip(part[start - first : stop - first], -1.0, 1.0)
    return y


def _check_decoded(frames: np.ndarray, sr_in: int, min_seconds: float) -> None:
    """Reject a decoded part shorter than ``min_seconds`` or without a single finite sample."""
    decoded_seconds = len(frames) / sr_in
    if decoded_seconds < min_seconds:
        # Round down so 0.9995 s is not reported as "1.00 s, need at least 1.00 s".
        shown_seconds = math.floor(decoded_seconds * 100 + 1e-9) / 100
        raise AudioError(f"too short: {shown_seconds:.2f} s, need at least {min_seconds:.2f} s")
    # Silence is a valid clip; only data with no finite value at all is rejected.
    if frames.size and not np.isfinite(frames).any():
        raise AudioError("no finite samples: every sample is NaN or inf")


def load_audio(
    source: AudioSource,
    *,
    sr: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    min_seconds: float = 1.0,
    offset_seconds: float = 0.0,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Load a clip as mono float32 at ``sr`` Hz.

    Parameters
    ----------
    source : str, Path or bytes
        Path to an audio file, or the raw bytes of an upload.
    sr : int
        Target sample rate in Hz.
    max_seconds : float, optional
        Decode at most this much audio after ``offset_seconds``; ``None`` reads to the end.
    min_seconds : float
        Reject clips whose decoded part is shorter than this.
    offset_seconds : float
        Start reading this far into the file.
    filename : str, optional
        Name used for the extension check (required to check bytes uploads).
    max_bytes : int, optional
        Reject files larger than this many bytes before decoding.

    Returns
    -------
    y : np.ndarray, shape (n,), float32, C-contiguous, values in [-1, 1]

    Raises
    ------
    AudioError
        With a one-line message when the source cannot give a usable clip.
    """
    if max_seconds is not None and max_seconds <= 0:
        raise AudioError(f"max_seconds must be positive, got {max_seconds}")
    with _quiet_native_stderr(_is_mp3(source, filename)), _open_sound_file(source, filename, max_bytes) as sound_file:
        sr_in = sound_file.samplerate
        total_seconds = sound_file.frames / sr_in
        if offset_seconds > 0 and sound_file.frames > 0 and offset_seconds >= total_seconds:
            raise AudioError(f"offset {offset_seconds:.2f} s is past the end of the audio ({total_seconds:.2f} s)")
        frames = _read_frames(sound_file, offset_seconds, max_seconds)

    _check_decoded(frames, sr_in, min_seconds)
    y = resample(to_mono(frames), sr_in, sr)
    if max_seconds is not None:
        # soxr may round up by a sample; keep the promised bound exact.
        y = y[: int(round(max_seconds * sr))]
    # The resampling filter can overshoot slightly past full scale.
    return np.ascontiguousarray(np.clip(y, -1.0, 1.0), dtype=np.float32)
