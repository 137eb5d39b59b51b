import numpy as np
import pytest

from pipeline.dataset import (
    DatasetError,
    Track,
    discover_tracks,
    find_metadata_csv,
    load_track_audio,
    read_track_metadata,
)
from tests.synth import genre_clip, write_tone_corpus


@pytest.fixture()
def corpus_with_junk(tmp_path):
    root = write_tone_corpus(tmp_path / "data", tracks_per_genre=3, seconds=2.0)
    (root / "alpha" / "._alpha.00000.wav").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (root / "beta" / ".DS_Store").write_bytes(b"Bud1")
    (root / "beta" / "notes.txt").write_text("liner notes")
    (root / "gamma" / "gamma.00099.wav").write_bytes(b"")
    (root / "delta").mkdir()  # an empty genre folder
    (root / ".hidden_genre").mkdir()
    (root / ".hidden_genre" / "x.wav").write_bytes(b"RIFF")
    (root / "README.md").write_text("# root files are ignored")
    (root / "MANIFEST.csv").write_text("path,genre\n")
    return root


def test_discover_tracks_finds_audio_and_reports_junk(corpus_with_junk):
    tracks, skipped = discover_tracks(corpus_with_junk)
    assert [t.track_id for t in tracks] == [f"{g}.{i:05d}" for g in ("alpha", "beta", "gamma") for i in range(3)]
    assert [t.genre for t in tracks] == ["alpha"] * 3 + ["beta"] * 3 + ["gamma"] * 3
    assert all(isinstance(t, Track) and t.path.is_file() for t in tracks)
    assert tracks[0].path == corpus_with_junk / "alpha" / "alpha.00000.wav"
    assert sorted(skipped) == [
        ("beta/notes.txt", "not a supported audio format (.txt)"),
        ("delta/", "no audio files in this genre folder"),
        ("gamma/gamma.00099.wav", "empty file"),
    ]


def test_track_ids_stay_unique_when_stems_clash(tmp_path):
    root = write_tone_corpus(tmp_path, genres=("a", "b"), tracks_per_genre=1, seconds=1.5)
    # Same stem in another genre, and the same stem twice in one genre.
    (root / "b" / "a.00000.wav").write_bytes((root / "a" / "a.00000.wav").read_bytes())
    (root / "b" / "b.00000.flac").write_bytes((root / "b" / "b.00000.wav").read_bytes())
    tracks, skipped = discover_tracks(root)
    ids = [t.track_id for t in tracks]
    assert skipped == [] and len(set(ids)) == len(ids) == 4
    assert ids == ["a/a.00000", "b.00000", "b.00000-2", "b/a.00000"]
    assert [t.path.suffix for t in tracks][1:3] == [".flac", ".wav"]
    assert ids == [t.track_id for t in discover_tracks(root)[0]]  # deterministic


@pytest.mark.parametrize("make_root", ["missing", "file", "no_genres"])
def test_unusable_root_raises(tmp_path, make_root):
    root = tmp_path / "root"
    if make_root == "file":
        root.write_text("not a folder")
    elif make_root == "no_genres":
        root.mkdir()
        (root / "song.wav").write_bytes(b"RIFF")
        (root / ".git").mkdir()
    with pytest.raises(DatasetError) as info:
        discover_tracks(root)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_load_track_audio_skips_and_reports_corrupt_files(corpus_with_junk):
    (corpus_with_junk / "beta" / "beta.00001.wav").write_text("corrupt: not audio at all")
    tracks, _ = discover_tracks(corpus_with_junk)
    loaded, signals, failed = load_track_audio(tracks, sr=16000, max_seconds=1.0, progress=False)
    assert failed == [("beta.00001", "not a decodable audio file")]
    assert [t.track_id for t in loaded] == [t.track_id for t in tracks if t.track_id != "beta.00001"]
    assert all(y.dtype == np.float32 and y.shape == (16000,) for y in signals)


def test_synthetic_genres_are_separable():
    # Spectral centroid alone must split the three recipes, so a model can learn them.
    sr = 22050
    rng = np.random.default_rng(0)

    def centroid(y):
        power = np.abs(np.fft.rfft(y)) ** 2
        return float((np.fft.rfftfreq(len(y), 1 / sr) * power).sum() / power.sum())

    centroids = [[centroid(genre_clip(g, 2.0, sr, rng)) for _ in range(5)] for g in range(3)]
    assert max(centroids[0]) < min(centroids[2]) and max(centroids[2]) < min(centroids[1])
    clips = [genre_clip(0, 2.0, sr, rng) for _ in range(2)]
    assert not np.allclose(clips[0], clips[1])  # tracks vary


def test_shared_gtzan_discovers_and_decodes(shared_gtzan):
    tracks, skipped = discover_tracks(shared_gtzan)
    assert len(tracks) == 253 and skipped == []  # the shared partial GTZAN: 253 of 1 000 tracks
    assert len({t.genre for t in tracks}) == 10
    assert len({t.track_id for t in tracks}) == 253
    au_tracks = [t for t in tracks if t.path.suffix == ".au"]
    assert [t.track_id for t in au_tracks] == ["reggae.00014", "reggae.00015"]
    flac = next(t for t in tracks if t.track_id == "blues.00000")
    loaded, signals, failed = load_track_audio(au_tracks + [flac], sr=22050, progress=False)
    assert failed == [] and len(signals) == 3
    for y in signals:
        assert y.dtype == np.float32 and y.ndim == 1
        assert abs(len(y) / 22050 - 30.0) < 0.1 and 0.05 < np.abs(y).max() <= 1.0


def test_read_track_metadata_on_shared_csv(shared_gtzan):
    csv_path = find_metadata_csv(shared_gtzan)
    assert csv_path == shared_gtzan.parent / "gtzan_splits" / "metadata" / "tracks.csv"
    metadata = read_track_metadata(csv_path)
    assert len(metadata) == 1000
    assert metadata["blues.00000"] == {"artist": "John Lee Hooker", "title": "One Bourbon, One Scotch And One Beer"}
    assert metadata["classical.00061"] == {"artist": None, "title": None}
    assert metadata["country.00002"]["artist"] is None


def test_metadata_helpers_on_user_folder(tmp_path):
    assert read_track_metadata(tmp_path / "missing.csv") == {}
    data = tmp_path / "music"
    data.mkdir()
    assert find_metadata_csv(data) is None
    (data / "tracks.csv").write_text("\ufefftrack_id,artist,title\nsong.1,  Nina Simone ,Sinnerman\nsong.2,,\n",
                                     encoding="utf-8")
    assert find_metadata_csv(data) == data / "tracks.csv"
    assert read_track_metadata(data / "tracks.csv") == {
        "song.1": {"artist": "Nina Simone", "title": "Sinnerman"},
        "song.2": {"artist": None, "title": None},
    }
