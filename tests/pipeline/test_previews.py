"""Audio previews packed into a bundle: centred excerpt, fades, Ogg round trip, packing."""
import io

import numpy as np
import pytest
import soundfile as sf

from pipeline.previews import PREVIEW_SECONDS, encode_preview, ogg_crc, pack_previews, preview_span, unpack_preview

SR = 22050


@pytest.mark.parametrize("n, span", [(30 * SR, (12 * SR, 18 * SR)), (4 * SR, (0, 4 * SR)), (6 * SR, (0, 6 * SR))])
def test_preview_span_is_centred_and_never_longer_than_the_signal(n, span):
    assert preview_span(n, SR, 6.0) == span


def test_encoded_preview_is_the_centre_of_the_song_faded_at_both_ends():
    t = np.arange(30 * SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 440 * t) * (t > 12)).astype(np.float32)  # silent before 12 s: the centre sounds
    z, sr = sf.read(io.BytesIO(encode_preview(y, SR)))
    assert sr == SR and len(z) == int(PREVIEW_SECONDS * SR)
    assert abs(z[:20]).max() < 0.05 and abs(z[-20:]).max() < 0.05  # faded in and out: no click
    assert 0.3 < np.abs(z[SR:2 * SR]).max() < 0.7  # the tone, not the silence before it


def test_previews_pack_and_unpack_including_missing_ones():
    previews = [b"abc", b"", b"defgh"]
    packed = pack_previews(previews)
    assert packed["preview_bytes"].dtype == np.uint8 and packed["preview_offsets"].tolist() == [0, 3, 3, 8]
    assert [unpack_preview(packed["preview_bytes"], packed["preview_offsets"], i) for i in range(4)] == \
        [b"abc", None, b"defgh", None]
    empty = pack_previews([])
    assert unpack_preview(empty["preview_bytes"], empty["preview_offsets"], 0) is None


def test_previews_are_byte_identical_across_builds_and_still_decode():
    y = (np.random.default_rng(0).standard_normal(8 * SR) * 0.1).astype(np.float32)
    a, b = encode_preview(y, SR), encode_preview(y, SR)
    assert a == b  # libsndfile alone picks a random stream serial per file
    z, sr = sf.read(io.BytesIO(a))
    assert sr == SR and len(z) == int(PREVIEW_SECONDS * SR)


def test_ogg_crc_matches_the_checksum_libvorbis_wrote():
    import struct

    buf = io.BytesIO()
    sf.write(buf, np.zeros(SR, np.float32), SR, format="OGG", subtype="VORBIS")
    page = bytearray(buf.getvalue()[:58])  # the first page: 27 header bytes + 1 lacing value + a 30-byte packet
    assert page[26] == 1 and page[27] == 30
    stored = struct.unpack("<I", page[22:26])[0]
    page[22:26] = bytes(4)
    assert ogg_crc(bytes(page)) == stored
