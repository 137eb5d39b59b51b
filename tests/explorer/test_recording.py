"""What the room recorder sends (a WAV in base64, ``explorer/recorder.js``): read back exactly, refused in one line
when it is not a WAV, and placed like a dropped-in file (the same "too short" message)."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import soundfile as sf

from explorer import upload
from tests.synth import genre_clip

SR = 22050


def clip_state(y: np.ndarray, clip_id: str = "a-1", sr: int = SR) -> dict:
    """The recorder's component result in the run after a recording: its trigger value ``clip``, a 16-bit mono
    WAV (a 44-byte header, as the script writes it) in base64."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return {"clip": {"id": clip_id, "rate": sr, "seconds": len(y) / sr,
                     "wav": base64.b64encode(buf.getvalue()).decode()}}


def recording(y: np.ndarray, clip_id: str = "a-1") -> upload.Recording:
    """The recording the recorder keeps from that clip (``explorer.recorder``)."""
    return upload.Recording(upload.RecordedClip.from_clip(upload.recorder_clip(clip_state(y, clip_id))))


def test_a_recording_reads_back_as_the_samples_recorded():
    y = genre_clip(1, 6.0, SR, np.random.default_rng(0))
    rec = recording(y)
    back, sr = sf.read(io.BytesIO(rec.getvalue()), dtype="float32")
    assert sr == SR and np.abs(back - y).max() < 1e-4  # 16-bit
    assert rec.name == upload.RECORDING_NAME and rec.file_id == "recording-a-1"
    assert recording(y, "a-2").file_id != rec.file_id  # a new recording is a new song


def test_a_recorder_without_a_recording_matches_no_song():
    for state in ({}, {"clip": None}, None, "text"):
        assert upload.recorder_clip(state) is None


@pytest.mark.parametrize("clip, says", [
    ({"id": "x"}, "no audio"),
    ({"id": "x", "wav": 12}, "no audio"),
    ({"id": "x", "wav": "not base64!"}, "not base64"),
    ({"id": "x", "wav": base64.b64encode(b"OggS" + bytes(100)).decode()}, "not a WAV"),
    ({"id": "x", "wav": base64.b64encode(b"RIFF").decode()}, "not a WAV"),
    ({"id": "x", "wav": "A" * (5 * upload.RECORDING_MAX_BYTES)}, "longer than 30 s"),
    ({"id": None, "wav": base64.b64encode(b"RIFF" + bytes(4) + b"WAVE" + bytes(40)).decode()}, "without an id"),
])
def test_what_is_not_a_recording_is_refused_in_one_line(clip, says):
    with pytest.raises(upload.RecordingError) as e:
        upload.RecordedClip.from_clip(clip)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_a_recording_is_placed_like_a_file_and_a_short_one_is_too_short(placer):
    from explorer.placing import Placing

    rng = np.random.default_rng(4)
    short = recording(genre_clip(2, 2.0, SR, rng), "s")
    long = recording(genre_clip(2, 8.0, SR, rng), "l")
    results, new = upload.sync_uploads([short, long], {}, lambda: placer, placing=Placing(workers=1))
    assert [r.name for r in results] == [upload.RECORDING_NAME, f"{upload.RECORDING_NAME} (2)"]
    assert not results[0].ok and "too short" in results[0].error
    assert results[1].ok, results[1].error
    upload.forget(results[1])


def part_state(y: np.ndarray, offset: int = 0, part_id: str = "a-1", sr: int = SR) -> dict:
    """A part the recorder sends while recording: its 16-bit samples in base64, where they start."""
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype("<i2")
    return {"id": part_id, "offset": offset, "rate": sr, "pcm": base64.b64encode(pcm.tobytes()).decode()}


def test_a_part_reads_back_as_the_samples_the_wav_will_decode_to():
    y = genre_clip(1, 1.0, SR, np.random.default_rng(2))
    part = upload.RecordedPart.from_part(part_state(y, offset=22050))
    buf = io.BytesIO()  # the recorder's WAV of the same 16-bit samples
    sf.write(buf, np.round(np.clip(y, -1, 1) * 32767).astype(np.int16), SR, format="WAV", subtype="PCM_16")
    wav, _ = sf.read(io.BytesIO(buf.getvalue()), dtype="float32")
    assert part.offset == 22050 and part.rate == SR and part.id == "a-1"
    assert part.samples.dtype == np.float32 and np.array_equal(part.samples, wav)  # bit for bit: the same inputs


@pytest.mark.parametrize("part, says", [
    (None, "not one"),
    ({"id": "x", "offset": 0, "rate": SR}, "not one"),
    ({"id": "x", "offset": -1, "rate": SR, "pcm": ""}, "not one"),
    ({"id": "x", "offset": 0, "rate": 0, "pcm": ""}, "not one"),
    ({"id": "x", "offset": 0, "rate": SR, "pcm": "not base64!"}, "not base64"),
    ({"id": "x", "offset": 0, "rate": SR, "pcm": "A" * (5 * upload.RECORDING_MAX_BYTES)}, "longer than 30 s"),
])
def test_what_is_not_a_part_is_refused_in_one_line(part, says):
    with pytest.raises(upload.RecordingError) as e:
        upload.RecordedPart.from_part(part)
    assert says in str(e.value) and "\n" not in str(e.value)
