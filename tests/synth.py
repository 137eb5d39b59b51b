"""Synthetic audio written by the tests themselves: no shared files, no network.

``write_tone_corpus`` makes a tiny genre dataset whose classes are easy to
learn; ``write_bad_files`` makes the awkward inputs a real upload can be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

# soundfile format names for the extensions the pipeline accepts.
FORMAT_BY_EXTENSION = {"wav": "WAV", "flac": "FLAC", "au": "AU", "ogg": "OGG", "mp3": "MP3"}
_WRITE_BLOCK_FRAMES = 1 << 18


def tone(seconds: float, sr: int = 22050, freq: float = 440.0, amplitude: float = 0.5,
         phase: float = 0.0) -> np.ndarray:
    """A sine tone.

    Returns
    -------
    y : np.ndarray, shape (round(seconds * sr),), float32
    """
    t = np.arange(int(round(seconds * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def write_audio(path: str | Path, samples: np.ndarray, sr: int, subtype: str | None = None,
                format: str | None = None) -> Path:
    """Write ``samples`` (n,) or (n, channels) with soundfile.

    The format comes from the extension unless given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format is None:
        format = FORMAT_BY_EXTENSION.get(path.suffix.lower().lstrip("."))
    samples = np.asarray(samples)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(str(path), "w", sr, channels, subtype=subtype, format=format) as sound_file:
        # Blocks, because libsndfile 1.2.2 segfaults writing >= 2**21 Vorbis frames in one call.
        for start in range(0, len(samples), _WRITE_BLOCK_FRAMES):
            sound_file.write(samples[start : start + _WRITE_BLOCK_FRAMES])
    return path


def _band_noise(n: int, sr: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """White noise band-limited to [low, high] Hz by zeroing FFT bins."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.abs(noise).max() + 1e-9)


def _low_chords(t: np.ndarray, sr: int, rng: np.random.Generator, shift: float) -> np.ndarray:
    """Low sine chords (root 110-220 Hz, major triad) under slow amplitude modulation."""
    root = rng.uniform(110.0, 220.0) * shift
    chord = sum(np.sin(2 * np.pi * root * ratio * t + rng.uniform(0, 2 * np.pi)) for ratio in (1.0, 1.25, 1.5))
    modulation = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t)
    return chord / 3 * modulation


def _bright_pulses(t: np.ndarray, sr: int, rng: np.random.Generator, shift: float) -> np.ndarray:
    """High tones (2-4 kHz) gated by a fast pulse train (6-10 Hz)."""
    freq = rng.uniform(2000.0, 4000.0) * shift
    carrier = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 1.5 * freq * t)
    pulse_rate = rng.uniform(6.0, 10.0)
    gate = (np.mod(t * pulse_rate, 1.0) < 0.4).astype(float)
    return carrier / 1.3 * gate


def _noise_beat(t: np.ndarray, sr: int, rng: np.random.Generator, shift: float) -> np.ndarray:
    """Band-passed noise bursts (about 400-1600 Hz) on a steady 100-140 BPM beat."""
    centre = rng.uniform(700.0, 900.0) * shift
    noise = _band_noise(len(t), sr, centre / 2, centre * 2, rng)
    beat_period = 60.0 / rng.uniform(100.0, 140.0)
    phase_in_beat = np.mod(t, beat_period)
    envelope = np.exp(-phase_in_beat / 0.06)  # sharp attack, ~60 ms decay
    return noise * envelope


_RECIPES = (_low_chords, _bright_pulses, _noise_beat)


def genre_clip(genre_index: int, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of the ``genre_index``-th synthetic genre, varied by ``rng``.

    Genres beyond the third reuse the three recipes an octave-ish higher per cycle
    so any number of genres stays distinguishable.
    """
    t = np.arange(int(round(seconds * sr))) / sr
    recipe = _RECIPES[genre_index % len(_RECIPES)]
    shift = 1.6 ** (genre_index // len(_RECIPES))
    y = recipe(t, sr, rng, shift)
    y = y + 0.01 * rng.standard_normal(len(t))  # a little noise so no two tracks are identical
    level = rng.uniform(0.3, 0.7)
    return (level * y / (np.abs(y).max() + 1e-9)).astype(np.float32)


def write_tone_corpus(
    root: str | Path,
    genres: tuple[str, ...] = ("alpha", "beta", "gamma"),
    tracks_per_genre: int = 6,
    seconds: float = 12.0,
    sr: int = 22050,
    seed: int = 0,
    fmt: str = "wav",
) -> Path:
    """Write ``<root>/<genre>/<genre>.<5-digit>.<fmt>`` with a distinct sound per genre.

    Returns
    -------
    root : Path
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for genre_index, genre in enumerate(genres):
        for number in range(tracks_per_genre):
            y = genre_clip(genre_index, seconds, sr, rng)
            write_audio(root / genre / f"{genre}.{number:05d}.{fmt}", y, sr)
    return root


def write_bad_files(directory: str | Path) -> dict[str, Path]:
    """Write awkward but realistic inputs; return file name -> path.

    Every clip is at most 6 s so tests stay fast.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    files: dict[str, Path] = {}

    def add(name: str) -> Path:
        files[name] = directory / name
        return files[name]

    add("empty.wav").write_bytes(b"")
    add("text.wav").write_text("This is a text file renamed to .wav, not audio.\n" * 40)
    add("random.mp3").write_bytes(rng.bytes(8192))
    # An ftyp box as MP4/M4A files start with; the extension is unsupported anyway.
    add("song.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom" + bytes(64))

    # Stereo 16-bit so a cut at an odd byte lands mid-frame; the header keeps the full size.
    full = directory / "_full_for_truncation.wav"
    write_audio(full, np.stack([tone(4.0), tone(4.0, freq=660.0)], axis=1), 22050, subtype="PCM_16")
    data = full.read_bytes()
    full.unlink()
    add("truncated.wav").write_bytes(data[: 44 + (len(data) - 44) // 2 + 3])

    write_audio(add("short.wav"), tone(0.1), 22050)
    write_audio(add("silence.wav"), np.zeros(5 * 22050, dtype=np.float32), 22050)
    # Float samples beyond full scale, as a clipped master exported as float would hold.
    write_audio(add("clipping.wav"), rng.uniform(-2.0, 2.0, 5 * 22050).astype(np.float32), 22050, subtype="FLOAT")

    with_nan = tone(3.0)
    with_nan[::1000] = np.nan
    with_nan[500::1000] = np.inf
    with_nan[700::1000] = -np.inf
    write_audio(add("nan.wav"), with_nan, 22050, subtype="FLOAT")
    write_audio(add("all_nan.wav"), np.full(22050 * 2, np.nan, dtype=np.float32), 22050, subtype="FLOAT")

    for name, rate in (("sr8k.wav", 8000), ("sr44k.wav", 44100), ("sr48k.wav", 48000), ("sr96k.wav", 96000)):
        write_audio(add(name), tone(3.0, sr=rate), rate)

    write_audio(add("stereo.wav"), np.stack([tone(3.0), np.zeros(3 * 22050, np.float32)], axis=1), 22050)
    six = np.stack([tone(3.0, freq=220.0 * (k + 1), amplitude=0.15) for k in range(6)], axis=1)
    write_audio(add("six_channels.wav"), six, 22050)

    for name, subtype in (("pcm8.wav", "PCM_U8"), ("pcm16.wav", "PCM_16"), ("pcm24.wav", "PCM_24"),
                          ("float32.wav", "FLOAT")):
        write_audio(add(name), tone(3.0), 22050, subtype=subtype)

    write_audio(add("spaces ünïcode name.wav"), tone(3.0), 22050)
    return files
