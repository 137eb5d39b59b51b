"""Uploads: a song whose path through time cannot be placed still gets its place."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from explorer import upload
from tests.explorer.fakes import fake_placement
from tests.synth import genre_clip


def test_a_song_whose_windows_cannot_all_be_placed_is_placed_without_its_path():
    class NoPathPlacer:
        calls = []

        def place_file(self, data, filename=None, max_bytes=None, trajectory=False):
            self.calls.append(trajectory)
            if trajectory:
                raise ValueError("Input X contains NaN.\nmore")
            return fake_placement(3)

    r = upload.place_upload(NoPathPlacer(), "k", "gap.wav", b"RIFF")
    assert r.ok and r.note == upload.NO_PATH and NoPathPlacer.calls == [True, False]


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # the silent window
def test_a_real_song_with_ten_silent_seconds_is_placed(placer):
    y = np.concatenate([np.zeros(12 * 22050, np.float32), genre_clip(1, 12.0, 22050, np.random.default_rng(0))])
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="WAV")
    r = upload.place_upload(placer, "k", "gap.wav", buf.getvalue())
    assert r.ok, r.error
    if r.placement.trajectory is None:  # the pipeline cannot place a silent window: no path, but a place
        assert r.note == upload.NO_PATH
    else:
        assert r.note is None and len(r.placement.trajectory) >= 2
