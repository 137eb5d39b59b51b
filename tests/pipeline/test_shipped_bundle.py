"""The shipped bundle (assets/gtzan) against the shared partial GTZAN (skipped when absent)."""

import numpy as np
import pytest

from pipeline.bundle import load_bundle
from pipeline.dataset import discover_tracks, find_metadata_csv, read_track_metadata
from pipeline.networks.mobilenet_v2_net import EMBEDDINGS
from pipeline.place import Placer
from pipeline.splits import audit_leakage, repeated_recordings, split_groups
from tests.conftest import REPO

BUNDLE = REPO / "assets" / "gtzan"
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bundle(shared_gtzan):
    assert BUNDLE.is_dir(), f"the shipped bundle is missing: {BUNDLE}"
    return load_bundle(BUNDLE)


@pytest.fixture(scope="module")
def placer(bundle):
    return Placer(bundle)


def test_shipped_bundle_covers_the_shared_tracks(bundle, shared_gtzan):
    assert bundle.labels == GENRES
    tracks, skipped = discover_tracks(shared_gtzan)
    n = len(tracks)  # 253 in the shared copy; any complete rebuild covers every track
    assert len(bundle.tracks) == n and bundle.meta["dataset"]["n_tracks"] == n
    assert sorted(bundle.tracks["track_id"]) == sorted(t.track_id for t in tracks)
    assert bundle.tracks.groupby("genre").size().to_dict() == {g: sum(t.genre == g for t in tracks) for g in GENRES}
    for rel in bundle.tracks["path"]:
        assert (shared_gtzan / rel).is_file(), rel
    assert {e: bundle.vectors(e).shape[0] for e in EMBEDDINGS} == {e: n for e in EMBEDDINGS}
    size = sum(p.stat().st_size for p in BUNDLE.iterdir())
    assert size < 25e6, f"bundle is {size / 1e6:.1f} MB; the shipped bundle is capped at 25 MB"


def test_leakage_audit_holds_from_tracks_csv(bundle, shared_gtzan):
    t = bundle.tracks
    ids, genres, split = list(t["track_id"]), t["genre"].to_numpy(), t["split"].to_numpy()
    # artists from Sturm's metadata, independently of what the bundle says
    info = read_track_metadata(find_metadata_csv(shared_gtzan))
    artists = [info.get(i, {}).get("artist") for i in ids]
    titles = [info.get(i, {}).get("title") for i in ids]
    assert sum(a is not None for a in artists) > 50, "artist metadata not found for the shared tracks"
    groups, fallback = split_groups(ids, genres, artists, bundle.meta["config"]["min_artists"], titles)
    assert fallback == bundle.meta["splits"]["genres_grouped_by_track"]
    report = audit_leakage(split, ids, groups, artists)  # raises LeakageError on a leak (repeated recordings too)
    where = dict(zip(ids, split))
    for a, b in repeated_recordings(ids, genres, artists, titles):
        assert where[a] == where[b], f"repeated recording {a} = {b} straddles splits"
    assert report["counts"] == bundle.meta["splits"]["counts"]
    assert len(set(ids)) == len(ids)
    for g in set(groups):
        if g.startswith("artist:"):
            assert len(set(split[groups == g])) == 1, f"{g} is in several splits"
    for genre in GENRES:
        assert "train" in set(split[genres == genre]), f"{genre} has no training track"
    # artists straddling splits are only those of genres that fell back to track grouping
    fallback_artists = {a for a, g in zip(artists, genres) if a and g in fallback}
    assert set(report["artists_across_splits"]) <= fallback_artists


def test_cross_validation_is_recorded_as_the_metrics_contract_says(bundle, record_property):
    cv = bundle.meta["metrics"]["cross_validation"]
    assert list(cv) == ["artist", "track"], "artist-grouped CV is the headline: listed first, track beside it"
    assert cv["artist"]["genres_grouped_by_track"] == []  # every shared genre has >= 2 known artists
    for kind in ("artist", "track"):
        c = cv[kind]
        assert "repeated recordings" in c["grouping"]
        for model in ("head", "logistic_baseline"):
            for score in ("accuracy", "balanced_accuracy", "macro_f1"):
                folds = c[model][score]["folds"]
                assert len(folds) == c["folds"] * c["repeats"] >= 5
                assert c[model][score]["mean"] == pytest.approx(np.mean(folds))
                assert c[model][score]["std"] == pytest.approx(np.std(folds))
            m = c[model]["balanced_accuracy"]
            record_property(f"cv_{kind}_{model}_balanced", f"{m['mean']:.3f} ± {m['std']:.3f}")
    assert cv["artist"]["head"]["balanced_accuracy"]["mean"] > 0.4, "far below what the experiments measured"
    test = bundle.meta["metrics"]["test"]
    assert {"balanced_accuracy", "macro_f1", "per_genre_f1", "per_genre_accuracy"} <= set(test)


def test_placing_a_real_track_finds_itself(placer, shared_gtzan):
    path = shared_gtzan / "jazz" / "jazz.00003.flac"
    if not path.is_file():
        path = sorted(shared_gtzan.glob("*/*.flac"))[0]
    track_id = path.stem
    p = placer.place_file(path)
    deep = {n["track_id"]: n["similarity"] for n in p.maps["deep"]["neighbours"]}
    assert track_id in deep, f"{track_id} not among its own 5 deep neighbours: {deep}"
    assert deep[track_id] > 0.95
    assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert p.duration_s == pytest.approx(30.0, abs=0.1)
    # its map position is close to where the build put it
    i = list(placer.bundle.tracks["track_id"]).index(track_id)
    coords = placer.bundle.coords("deep")
    d = np.linalg.norm(coords - [p.maps["deep"]["x"], p.maps["deep"]["y"]], axis=1)
    assert d[i] < 0.1 * np.ptp(coords, axis=0).max(), f"placed {d[i]:.2f} away from its own map point"
