import time

import numpy as np
import pytest

from pipeline.audio import (
    SAMPLE_RATE,
    SUPPORTED_EXTENSIONS,
    AudioError,
    audio_duration,
    header_samples,
    load_audio,
    load_spans,
)
from tests.synth import tone, write_audio, write_bad_files

MUST_RAISE = {
    "empty.wav": "empty file (0 bytes)",
    "text.wav": "not a decodable audio file",
    "random.mp3": "not a decodable audio file",
    "short.wav": "too short: 0.10 s, need at least 1.00 s",
    "song.m4a": "unsupported format '.m4a'; supported: wav, flac, au, mp3, ogg",
    "all_nan.wav": "no finite samples",
}
MUST_DECODE = {  # name -> expected seconds at 22 050 Hz
    "silence.wav": 5.0,
    "clipping.wav": 5.0,
    "nan.wav": 3.0,
    "truncated.wav": 2.0,
    "sr8k.wav": 3.0,
    "sr44k.wav": 3.0,
    "sr48k.wav": 3.0,
    "sr96k.wav": 3.0,
    "stereo.wav": 3.0,
    "six_channels.wav": 3.0,
    "pcm8.wav": 3.0,
    "pcm16.wav": 3.0,
    "pcm24.wav": 3.0,
    "float32.wav": 3.0,
    "spaces ünïcode name.wav": 3.0,
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return write_bad_files(tmp_path_factory.mktemp("bad"))


def peak_frequency(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1.0 / sr)[np.argmax(spectrum)]


def assert_clip(y, seconds, sr=SAMPLE_RATE):
    assert y.dtype == np.float32 and y.ndim == 1 and y.flags.c_contiguous
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
    assert abs(len(y) - seconds * sr) <= 0.01 * seconds * sr


@pytest.mark.parametrize("ext", [e.lstrip(".") for e in SUPPORTED_EXTENSIONS])
def test_every_format_round_trips_at_44k(tmp_path, ext):
    path = write_audio(tmp_path / f"tone.{ext}", tone(3.0, sr=44100, freq=440.0), 44100)
    y = load_audio(path)
    assert_clip(y, 3.0)
    assert abs(peak_frequency(y, SAMPLE_RATE) - 440.0) < 2.0
    assert 0.3 < np.abs(y).max() < 0.7  # level survives (lossy codecs wiggle it a little)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "au"])
def test_bytes_input_matches_path_input(tmp_path, ext):
    path = write_audio(tmp_path / f"tone.{ext}", tone(2.0, sr=22050, freq=330.0), 22050)
    from_path = load_audio(path)
    from_bytes = load_audio(path.read_bytes(), filename=f"upload.{ext.upper()}")
    np.testing.assert_array_equal(from_path, from_bytes)
    # Without a name the header alone decides.
    np.testing.assert_array_equal(from_path, load_audio(path.read_bytes()))


def test_bytes_with_unsupported_name_is_rejected(tmp_path):
    data = write_audio(tmp_path / "a.wav", tone(2.0), 22050).read_bytes()
    with pytest.raises(AudioError, match=r"unsupported format '\.m4a'"):
        load_audio(data, filename="song.m4a")
    with pytest.raises(AudioError, match="empty file"):
        load_audio(b"", filename="x.wav")


@pytest.mark.parametrize("name", sorted(MUST_RAISE))
def test_bad_files_raise_one_line_error(bad_files, name):
    with pytest.raises(AudioError) as info:
        load_audio(bad_files[name])
    message = str(info.value)
    assert "\n" not in message and message.startswith(MUST_RAISE[name])
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", sorted(MUST_DECODE))
def test_awkward_files_decode(bad_files, name):
    assert_clip(load_audio(bad_files[name]), MUST_DECODE[name])


def test_every_bad_file_is_clip_or_one_line_error(bad_files):
    for name, path in bad_files.items():
        try:
            y = load_audio(path)
        except AudioError as error:
            assert "\n" not in str(error) and str(error), name
        else:
            assert y.dtype == np.float32 and np.isfinite(y).all(), name


def test_sample_values_are_cleaned(bad_files):
    assert not load_audio(bad_files["silence.wav"]).any()  # silence is valid, not rejected
    clipped = load_audio(bad_files["clipping.wav"])
    assert clipped.max() == 1.0 and clipped.min() == -1.0
    with_nan = load_audio(bad_files["nan.wav"])
    assert with_nan[0] == 0.0 and with_nan[500] == 0.0  # NaN and inf became 0
    # Stereo with one silent channel mixes to half level; six channels average.
    assert np.abs(load_audio(bad_files["stereo.wav"])).max() == pytest.approx(0.25, abs=0.01)
    assert np.abs(load_audio(bad_files["pcm8.wav"])).max() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("name", ["sr8k.wav", "sr44k.wav", "sr48k.wav", "sr96k.wav"])
def test_resampled_tone_keeps_its_pitch(bad_files, name):
    assert abs(peak_frequency(load_audio(bad_files[name]), SAMPLE_RATE) - 440.0) < 2.0


def test_other_target_rate(bad_files):
    y = load_audio(bad_files["sr44k.wav"], sr=16000)
    assert_clip(y, 3.0, sr=16000)
    assert abs(peak_frequency(y, 16000) - 440.0) < 2.0


def test_max_seconds_and_offset_read_only_what_is_needed(tmp_path):
    # A 120 s ramp: each sample's value tells where in the file it came from.
    n = 120 * SAMPLE_RATE
    ramp = (np.arange(n) / n).astype(np.float32)
    path = write_audio(tmp_path / "long.wav", ramp, SAMPLE_RATE, subtype="FLOAT")
    start = time.perf_counter()
    y = load_audio(path, max_seconds=10.0, offset_seconds=60.0)
    assert time.perf_counter() - start < 0.5
    assert len(y) == 10 * SAMPLE_RATE
    assert y[0] == pytest.approx(0.5, abs=1e-6) and y[-1] == pytest.approx(70 / 120, abs=1e-6)
    assert len(load_audio(path, max_seconds=10.0, sr=44100)) == 10 * 44100
    assert audio_duration(path) == pytest.approx(120.0)
    with pytest.raises(AudioError, match="past the end"):
        load_audio(path, offset_seconds=500.0)
    with pytest.raises(AudioError, match="too short"):
        load_audio(path, offset_seconds=119.5)


@pytest.mark.parametrize("ext", [e.lstrip(".") for e in SUPPORTED_EXTENSIONS])
def test_offset_is_sample_accurate_in_every_format(tmp_path, ext):
    # libsndfile's MP3 seek is imprecise (and soundfile seeks after every read),
    # so a windowed read must match the same window of a full decode.
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(6 * 22050)).astype(np.float32)
    path = write_audio(tmp_path / f"noise.{ext}", noise, 22050)
    full = load_audio(path)
    for offset in (0.5, 1.0, 4.0):
        start = int(offset * 22050)
        part = load_audio(path, offset_seconds=offset, max_seconds=1.0)
        np.testing.assert_allclose(part, full[start : start + 22050], atol=1e-6)


@pytest.mark.parametrize("ext, sr, channels", [("mp3", 22050, 1), ("mp3", 44100, 2), ("mp3", 48000, 2),
                                               ("ogg", 44100, 2), ("flac", 32000, 1), ("wav", 22050, 1)])
def test_spans_are_the_whole_decodes_samples(tmp_path, ext, sr, channels):
    # mp3 at 22.05 kHz is the case where a bare seek decodes its first granule wrongly
    rng = np.random.default_rng(1)
    noise = (0.3 * rng.standard_normal((40 * sr, channels))).astype(np.float32)
    path = write_audio(tmp_path / f"noise.{ext}", noise.squeeze(), sr)
    data = path.read_bytes()
    full = load_audio(data, filename=path.name)
    n = header_samples(data, filename=path.name)
    assert abs(n - len(full)) <= 1
    spans = [(0, 3 * SAMPLE_RATE), (int(12.3 * SAMPLE_RATE), int(20.1 * SAMPLE_RATE)), (n - SAMPLE_RATE, n)]
    y = load_spans(data, spans, n, filename=path.name)
    heard = np.zeros(n, dtype=bool)
    for a, b in spans:
        np.testing.assert_allclose(y[a:b], full[a:b], atol=1e-4)  # mpg123 at 22.05 kHz: ≤ 1e-5 apart
        heard[a:b] = True
    assert len(y) == n and not y[~heard].any()  # nothing decoded outside the spans


def test_spans_past_the_real_end_are_an_error(tmp_path):
    path = write_audio(tmp_path / "long.flac", tone(60.0, freq=440.0), 22050)
    data = path.read_bytes()
    cut = data[: len(data) // 2]  # the header still says 60 s
    n = header_samples(cut, filename="cut.flac")
    with pytest.raises(AudioError):
        load_spans(cut, [(n - SAMPLE_RATE, n)], n, filename="cut.flac")


def test_truncated_flac_keeps_what_decodes(tmp_path):
    path = write_audio(tmp_path / "long.flac", tone(20.0, freq=440.0), 22050)
    data = path.read_bytes()
    y = load_audio(data[: len(data) // 2], filename="cut.flac")
    assert 5.0 < len(y) / 22050 < 10.5 and np.isfinite(y).all()
    with pytest.raises(AudioError, match="not a decodable audio file"):
        load_audio(data[:200], filename="cut.flac")


def test_size_limit(bad_files):
    with pytest.raises(AudioError, match=r"^file too large: 563 kB, limit 98 kB$"):
        load_audio(bad_files["sr96k.wav"], max_bytes=100_000)
    with pytest.raises(AudioError, match=r"^file too large: 1.1 MB, limit 1 kB$"):
        load_audio(bytes(1_200_000), filename="big.wav", max_bytes=1000)


def test_audio_duration_reads_header(bad_files, tmp_path):
    assert audio_duration(bad_files["sr48k.wav"]) == pytest.approx(3.0)
    assert audio_duration(bad_files["sr44k.wav"].read_bytes(), filename="x.wav") == pytest.approx(3.0)
    for name in ("empty.wav", "text.wav", "song.m4a"):
        with pytest.raises(AudioError):
            audio_duration(bad_files[name])
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav")
