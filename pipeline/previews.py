"""Short audio previews that travel inside a bundle, so every dot can be heard on a fresh clone.

A preview is a few seconds from the middle of a track, faded in and out,
encoded as Ogg Vorbis with soundfile (no extra dependency; every current
browser plays it). All previews of a bundle are packed into one ``uint8``
array plus offsets, so they live in ``arrays.npz``: hashed, and loaded without
unpickling anything.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import soundfile as sf

# 5 s: long enough to hear a genre's groove; 253 previews are then ~6 MB of the shipped bundle's 25 MB.
PREVIEW_SECONDS = 5.0
# Vorbis quality as libsndfile's compression level (0 = best, 1 = smallest): 0.8 is ~40 kbit/s at
# 22 050 Hz mono, clean enough for a classroom speaker and ~24 kB per 5 s preview.
COMPRESSION_LEVEL = 0.8
FADE_SECONDS = 0.05
OGG_SERIAL = 0x6D617073  # libsndfile picks a random stream serial; a fixed one keeps builds byte-identical
_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def preview_span(n_samples: int, sr: int, seconds: float = PREVIEW_SECONDS) -> tuple[int, int]:
    """Start and end sample of a ``seconds``-long excerpt centred in a signal (the whole signal if shorter)."""
    length = min(n_samples, int(round(seconds * sr)))
    start = (n_samples - length) // 2
    return start, start + length


def encode_preview(y: np.ndarray, sr: int, seconds: float = PREVIEW_SECONDS) -> bytes:
    """The centre ``seconds`` of a mono signal, faded at both ends, as Ogg Vorbis bytes.

    Parameters
    ----------
    y : np.ndarray, mono float signal in [-1, 1].
    sr : its sample rate.
    """
    start, end = preview_span(len(y), sr, seconds)
    clip = np.array(y[start:end], dtype=np.float32)
    fade = min(len(clip) // 2, int(FADE_SECONDS * sr))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        clip[:fade] *= ramp
        clip[-fade:] *= ramp[::-1]
    buf = io.BytesIO()
    sf.write(buf, clip, sr, format="OGG", subtype="VORBIS", compression_level=COMPRESSION_LEVEL)
    return with_fixed_serial(buf.getvalue())


def ogg_crc(page: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, init 0) via zlib.

    zlib's CRC-32 is the reflected form of the same polynomial: on bit-reversed
    bytes, with its initial/final inversion cancelled by the CRC of as many
    zero bytes, and bit-reversed back, it is Ogg's (and runs at C speed).
    """
    r = page.translate(_BIT_REVERSED)
    c = zlib.crc32(r) ^ zlib.crc32(bytes(len(r)))
    return int(f"{c:032b}"[::-1], 2)


def with_fixed_serial(ogg: bytes, serial: int = OGG_SERIAL) -> bytes:
    """The same Ogg stream with every page's serial number set to ``serial`` (checksums redone)."""
    out, pos = bytearray(ogg), 0
    while pos + 27 <= len(out) and out[pos : pos + 4] == b"OggS":
        n_segments = out[pos + 26]
        size = 27 + n_segments + sum(out[pos + 27 : pos + 27 + n_segments])
        out[pos + 14 : pos + 18] = struct.pack("<I", serial)
        out[pos + 22 : pos + 26] = bytes(4)
        out[pos + 22 : pos + 26] = struct.pack("<I", ogg_crc(bytes(out[pos : pos + size])))
        pos += size
    return bytes(out)


def pack_previews(previews: list[bytes]) -> dict[str, np.ndarray]:
    """Many encoded previews → ``{"preview_bytes": uint8 (total,), "preview_offsets": int64 (n + 1,)}``."""
    offsets = np.zeros(len(previews) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in previews])
    data = np.frombuffer(b"".join(previews), dtype=np.uint8) if previews else np.zeros(0, np.uint8)
    return {"preview_bytes": data.copy(), "preview_offsets": offsets}


def unpack_preview(data: np.ndarray, offsets: np.ndarray, index: int) -> bytes | None:
    """The encoded preview of track ``index``, or None when the bundle holds none for it."""
    if not 0 <= index < len(offsets) - 1:
        return None
    start, end = int(offsets[index]), int(offsets[index + 1])
    return data[start:end].tobytes() if end > start else None
