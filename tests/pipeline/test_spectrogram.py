import json

import numpy as np
import pytest

from pipeline.embed import none_vectors, segment_images
from pipeline.spectrogram import (
    AUGMENTATIONS,
    SpectrogramConfig,
    augment,
    clip_windows,
    downsample_image,
    mel_filterbank,
    mel_image,
    mel_images,
    segment_audio,
    segment_starts,
    thumbnail_from_power,
    thumbnail_image,
    window_starts,
)
from tests.synth import tone

SR = 22050
CFG = SpectrogramConfig()


def _covered(starts, segment, n):
    mask = np.zeros(n, dtype=bool)
    for s in starts:
        mask[s : s + segment] = True
    return mask


@pytest.mark.parametrize("n", [1, 50, 99, 100])
def test_segment_starts_short_signal_is_one_window(n):
    assert segment_starts(n, 100, 50).tolist() == [0]


@pytest.mark.parametrize("n", list(range(101, 400, 7)) + [150, 200, 250, 300, 324, 325, 326])
def test_segment_starts_cover_the_signal_up_to_half_a_hop(n):
    segment, hop = 100, 50
    starts = segment_starts(n, segment, hop)
    assert starts[0] == 0
    assert np.all(np.diff(starts) > 0), "starts must increase"
    assert np.all(np.diff(starts) <= hop), "no gap between windows may exceed the hop"
    assert starts[-1] + segment <= n, "windows stay inside the signal"
    covered = _covered(starts, segment, n)
    # The tail may be left out only if it is shorter than half a hop.
    assert covered[: n - hop // 2].all(), f"n={n}: samples before the last half hop are not covered"
    if not covered.all():
        assert (~covered).sum() <= hop // 2


def test_segment_starts_end_aligns_a_long_tail():
    # 30 s of 10 s windows with a 5 s hop: 0, 5, ..., 20 cover it exactly.
    assert segment_starts(30 * SR, 10 * SR, 5 * SR).tolist() == [i * SR for i in (0, 5, 10, 15, 20)]
    # 34 s: a 4 s tail (more than half a hop) gets a window ending exactly at the end.
    starts = segment_starts(34 * SR, 10 * SR, 5 * SR)
    assert starts[-1] == 24 * SR and starts[-1] + 10 * SR == 34 * SR


def test_segment_audio_pads_short_signal_to_one_window():
    y = tone(3.0)
    segments, starts_s = segment_audio(y, CFG)
    assert segments.shape == (1, 10 * SR) and segments.dtype == np.float32
    np.testing.assert_array_equal(segments[0, : len(y)], y)
    assert not segments[0, len(y) :].any(), "padding must be zeros"
    np.testing.assert_array_equal(starts_s, [0.0])


def test_segment_audio_windows_hold_the_signal_and_reach_the_tail():
    rng = np.random.default_rng(0)
    y = rng.uniform(-0.5, 0.5, int(29.0 * SR)).astype(np.float32)
    segments, starts_s = segment_audio(y, CFG)
    seg = 10 * SR
    assert segments.shape[1] == seg
    # each window is analysed on the STFT frame grid, near its nominal start; the last one stays inside the signal
    analysed = window_starts(len(y), CFG)
    for row, a in zip(segments, analysed):
        np.testing.assert_array_equal(row, y[a : a + seg])
    assert np.all(np.abs(analysed[:-1] - starts_s[:-1] * SR) <= CFG.hop_length // 2)
    assert len(y) - CFG.hop_length < analysed[-1] + seg <= len(y)  # the tail is the last window
    np.testing.assert_allclose(starts_s, [0, 5, 10, 15, 19])  # 4 s tail > half a hop: end-aligned window
    # hop override
    segments2, starts2 = segment_audio(y, CFG, hop_seconds=10.0)
    np.testing.assert_allclose(starts2, [0.0, 10.0, 19.0], atol=1e-4)
    assert len(segments2) == 3


def test_mel_image_shape_and_range():
    noise = 0.01 * np.random.default_rng(0).standard_normal(10 * SR).astype(np.float32)
    img = mel_image(tone(10.0, freq=440.0) + noise, CFG)
    assert img.shape == (128, 431)
    assert img.dtype == np.float32
    assert np.isfinite(img).all()
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert img.max() == pytest.approx(1.0), "the loudest bin is the 0 dB reference"
    # A 440 Hz tone: the brightest mel rows are where 440 Hz sits, not elsewhere.
    import librosa

    mel_freqs = librosa.mel_frequencies(n_mels=128, fmax=SR / 2)
    peak_row = int(np.argmax(img.mean(axis=1)))
    assert abs(mel_freqs[peak_row] - 440.0) < 60.0


def test_mel_image_is_loudness_invariant():
    y = tone(10.0, freq=300.0) + 0.05 * tone(10.0, freq=2500.0)
    np.testing.assert_allclose(mel_image(y, CFG), mel_image(0.05 * y, CFG), atol=1e-4)


def test_mel_image_of_silence_is_zeros_not_nan():
    for y in (np.zeros(10 * SR, dtype=np.float32), np.zeros(SR // 2, dtype=np.float32)):
        img = mel_image(y, CFG)
        assert np.isfinite(img).all(), "silence must not give NaN/-inf"
        assert not img.any()
    assert mel_image(np.zeros(10 * SR, dtype=np.float32), CFG).shape == (128, 431)


def test_mel_images_stack_rows():
    rows = np.stack([tone(10.0, freq=f) for f in (220.0, 880.0)])
    imgs = mel_images(rows, CFG)
    assert imgs.shape == (2, 128, 431)
    np.testing.assert_array_equal(imgs[1], mel_image(rows[1], CFG))


def test_downsample_image_shape_and_mean():
    rng = np.random.default_rng(0)
    img = rng.random((128, 431)).astype(np.float32)
    small = downsample_image(img, CFG.none_shape)
    assert small.shape == (32, 64)
    assert small.mean() == pytest.approx(img.mean(), abs=0.01)
    np.testing.assert_allclose(downsample_image(np.full((128, 431), 0.25, np.float32), (32, 64)), 0.25, atol=1e-6)


def _librosa_mel_image(y, cfg=CFG):
    """What ``mel_image`` computed with librosa before the numpy front end (the reference)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                         n_mels=cfg.n_mels)
    if not np.any(mel > 0):
        return np.zeros_like(mel, dtype=np.float32)
    db = librosa.power_to_db(mel, ref=np.max, top_db=cfg.top_db)
    return ((db + cfg.top_db) / cfg.top_db).astype(np.float32)


def _music_like(seconds, seed=0):
    """Tones, noise bursts and a quiet passage: loud and soft windows, edges that differ from their neighbours."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.3 * t))
    y += 0.05 * rng.standard_normal(n) * (rng.random(n // 2205 + 1).repeat(2205)[:n] > 0.7)
    y[int(0.4 * n) : int(0.5 * n)] *= 1e-3
    return y.astype(np.float32)


def test_mel_filterbank_is_librosas():
    import librosa

    ref = librosa.filters.mel(sr=SR, n_fft=CFG.n_fft, n_mels=CFG.n_mels)
    np.testing.assert_allclose(mel_filterbank(SR, CFG.n_fft, CFG.n_mels), ref, rtol=0, atol=1e-7)


@pytest.mark.parametrize("seconds", [0.5, 10.0, 12.3])
def test_mel_image_is_librosas(seconds):
    y = _music_like(seconds)
    np.testing.assert_allclose(mel_image(y, CFG), _librosa_mel_image(y), rtol=0, atol=1e-5)


def test_window_starts_are_on_the_frame_grid_near_the_nominal_starts():
    for n in (SR, 10 * SR, int(29.3 * SR), int(34.7 * SR), 300 * SR + 123):
        nominal = segment_starts(n, 10 * SR, 5 * SR)
        starts = window_starts(n, CFG)
        assert len(starts) == len(nominal) and np.all(starts % CFG.hop_length == 0)
        assert np.all(np.abs(starts[:-1] - nominal[:-1]) <= CFG.hop_length // 2)
        assert abs(starts[-1] - nominal[-1]) < CFG.hop_length  # the end-aligned window: never past the end
        assert np.all(starts + 10 * SR <= max(n, 10 * SR)), "windows stay inside the signal"


@pytest.mark.parametrize("seconds", [3.0, 10.0, 30.0, 61.7])
def test_one_stft_per_song_gives_each_windows_own_image(seconds):
    # The whole clip is transformed once and the windows sliced from it; the few frames at a window's
    # edges (where the window's own STFT sees zero padding) are recomputed: every image equals mel_image
    # of the window's samples, as the build computed it before, to float rounding.
    y = _music_like(seconds, seed=int(seconds))
    windows = clip_windows(y, CFG)
    segments, starts_s = segment_audio(y, CFG)
    np.testing.assert_array_equal(windows.starts_s, starts_s)
    assert windows.images.shape == (len(segments), 128, 431)
    for image, segment in zip(windows.images, segments):
        np.testing.assert_allclose(image, _librosa_mel_image(segment), rtol=0, atol=1e-5)
    images, starts = segment_images(y, CFG)
    np.testing.assert_array_equal(images, windows.images)
    np.testing.assert_array_equal(thumbnail_from_power(windows.power, CFG), thumbnail_image(y, CFG))


def test_downsample_image_is_torchs_adaptive_average_pool():
    import torch
    import torch.nn.functional as F

    img = np.random.default_rng(0).random((128, 431)).astype(np.float32)
    for shape in ((32, 64), (64, 320), (7, 5)):
        ref = F.adaptive_avg_pool2d(torch.from_numpy(img)[None, None], shape)[0, 0].numpy()
        np.testing.assert_allclose(downsample_image(img, shape), ref, rtol=0, atol=1e-6)


def test_none_vectors_of_a_stack_are_each_images_downsampled():
    images = np.random.default_rng(1).random((3, 128, 431)).astype(np.float32)
    expected = np.stack([downsample_image(im, CFG.none_shape).ravel() for im in images])
    np.testing.assert_allclose(none_vectors(images, CFG), expected, rtol=0, atol=1e-6)


def test_config_round_trips_through_json():
    cfg = SpectrogramConfig(segment_seconds=5.0, segment_hop_seconds=2.5)
    again = SpectrogramConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and isinstance(again.none_shape, tuple)


# --- augmentation ----------------------------------------------------------------------------


def test_augment_none_is_identity():
    y = tone(2.0)
    np.testing.assert_array_equal(augment(y, "none", np.random.default_rng(0), SR), y)


@pytest.mark.parametrize("seed", range(5))
def test_augment_gain_only_scales_within_6_db(seed):
    y = tone(2.0, amplitude=0.1)
    out = augment(y, "gain", np.random.default_rng(seed), SR)
    assert out.shape == y.shape and out.dtype == np.float32
    nz = np.abs(y) > 1e-3
    ratio = out[nz] / y[nz]
    assert np.ptp(ratio) < 1e-4, "gain must be one constant factor"
    assert 10 ** (-6 / 20) - 1e-4 <= ratio[0] <= 10 ** (6 / 20) + 1e-4


def test_augment_gain_clips_to_full_scale():
    y = tone(1.0, amplitude=0.99)
    for seed in range(20):
        out = augment(y, "gain", np.random.default_rng(seed), SR)
        assert np.abs(out).max() <= 1.0


@pytest.mark.parametrize("seed", range(3))
def test_augment_noise_adds_noise_at_20_to_35_db_snr(seed):
    y = tone(2.0, amplitude=0.2)
    out = augment(y, "noise", np.random.default_rng(seed), SR)
    assert out.shape == y.shape and out.dtype == np.float32
    noise = out - y
    assert np.abs(noise).max() > 0, "noise must change the signal"
    snr = 10 * np.log10(np.mean(y**2) / np.mean(noise**2))
    assert 19.5 <= snr <= 35.5
    # white: not correlated with the signal
    assert abs(np.corrcoef(noise, y)[0, 1]) < 0.05


def test_augment_noise_on_silence_is_finite():
    out = augment(np.zeros(SR, dtype=np.float32), "noise", np.random.default_rng(0), SR)
    assert np.isfinite(out).all() and np.abs(out).max() < 1e-2


def _peak_hz(y):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / SR)[np.argmax(spectrum)]


@pytest.mark.parametrize("seed", [0, 1])  # seed 0 draws +2 semitones, seed 1 draws -1
def test_augment_pitch_moves_a_tone_by_the_drawn_semitones(seed):
    y = tone(2.0, freq=440.0)
    expected_steps = np.random.default_rng(seed).choice([-2, -1, 1, 2])  # the draw augment() makes
    out = augment(y, "pitch", np.random.default_rng(seed), SR)
    assert out.shape == y.shape and out.dtype == np.float32
    moved = 12 * np.log2(_peak_hz(out) / 440.0)
    assert moved == pytest.approx(expected_steps, abs=0.15)
    assert abs(moved) >= 0.85, "pitch must actually shift"


def test_augment_pitch_shift_is_at_most_2_semitones():
    y = tone(1.0, freq=440.0)
    moved = {round(12 * np.log2(_peak_hz(augment(y, "pitch", np.random.default_rng(s), SR)) / 440.0))
             for s in range(12)}
    assert moved <= {-2, -1, 1, 2} and len(moved) >= 2


def test_augment_is_deterministic_given_rng():
    y = np.random.default_rng(0).uniform(-0.3, 0.3, SR).astype(np.float32)
    for kind in AUGMENTATIONS:
        np.testing.assert_array_equal(augment(y, kind, np.random.default_rng(7), SR),
                                      augment(y, kind, np.random.default_rng(7), SR))


def test_augment_unknown_kind_raises():
    with pytest.raises(ValueError, match="unknown augmentation 'reverb'"):
        augment(tone(1.0), "reverb", np.random.default_rng(0), SR)
