"""A recording's network work done while it is recorded (pipeline.early): taken only where it is the same work,
so the placement equals the one without it."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from explorer.placing import Placing
from pipeline.early import EDGE_S, EarlyInputs
from pipeline.place import Placer
from tests.synth import genre_clip

SR = 22050


@pytest.fixture(scope="module")
def placer(tiny_two):
    return Placer.from_path(tiny_two.bundle, threads=1)


def recorded(seconds: float, seed: int = 3, genre: int = 1) -> tuple[np.ndarray, bytes]:
    """A recording as the recorder keeps it: 16-bit samples (as float32, /32 768) and their WAV."""
    y = genre_clip(genre, seconds, SR, np.random.default_rng(seed))
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, SR, format="WAV", subtype="PCM_16")
    return pcm.astype(np.float32) / np.float32(32768), buf.getvalue()


def heard_in_parts(placer, y: np.ndarray, part_s: float = 1.0) -> EarlyInputs:
    early = EarlyInputs(placer)
    step = int(part_s * SR)
    for a in range(0, len(y), step):
        early.extend(y[a : a + step])
    return early


def test_every_input_heard_whole_is_computed_as_the_parts_arrive(placer):
    y, _ = recorded(12.0)
    early = heard_in_parts(placer, y)
    for network, known in zip(placer.networks, early.known):
        inputs = network.song_inputs(y)
        whole = set(np.flatnonzero(inputs.ends_s <= len(y) / SR - EDGE_S).tolist())
        assert set(known) == whole and whole, network.name  # 12 s: MusiCNN's first 3 patches, the first window
        x, _ = inputs.at(np.array(sorted(known)))
        assert all(np.array_equal(x[r], known[i][0]) for r, i in enumerate(sorted(known)))
    assert early.computed() == sum(len(k) for k in early.known)


def test_a_recording_placed_with_its_early_work_is_placed_the_same(placer):
    y, wav = recorded(12.0)
    early = heard_in_parts(placer, y)
    placing = Placing(workers=1)
    with_early = placing.start(placer, wav, "room.wav", early=early)
    without = placing.start(placer, wav, "room.wav")
    assert with_early.early_inputs == early.computed() > 0 and without.early_inputs == 0
    a, b = with_early.first, without.first
    assert a.genre == b.genre and a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    for e in b.maps:
        assert (a.maps[e]["x"], a.maps[e]["y"]) == pytest.approx((b.maps[e]["x"], b.maps[e]["y"]), abs=1e-5)


def test_work_on_other_samples_is_not_taken(placer):
    other, _ = recorded(12.0, seed=9, genre=3)
    _, wav = recorded(12.0)
    placing = Placing(workers=1)
    job = placing.start(placer, wav, "room.wav", early=heard_in_parts(placer, other))
    plain = placing.start(placer, wav, "room.wav")
    assert job.early_inputs == 0
    assert job.first.probabilities == pytest.approx(plain.first.probabilities, abs=1e-6)


def test_a_stopped_recording_keeps_its_outputs_not_its_samples(placer):
    early = heard_in_parts(placer, recorded(8.0)[0])
    n = early.computed()
    early.stop()
    assert early.n_samples == 0 and early.computed() == n > 0
