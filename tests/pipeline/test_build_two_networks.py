"""A bundle with two networks: ImageNet MobileNetV2 (the paper's) and MusiCNN (pretrained on music).

Built from the tiny synthetic corpus (``tiny_two``): MobileNetV2 with random
weights, MusiCNN with the weights shipped in assets/weights.
"""
import json

import numpy as np
import pytest

from pipeline.audio import load_audio
from pipeline.bundle import load_bundle
from pipeline.cli import main as cli_main
from pipeline.info import markdown_numbers
from pipeline.networks import LAYERS, embedding_key
from pipeline.place import Placer
from pipeline.predictor import describe_predictor, load_predictor
from pipeline.serve import OUTPUTS
from tests.synth import genre_clip, write_audio

SR = 22050
KEYS = [embedding_key(n, layer) for n in ("mobilenet_v2", "musicnn") for layer in LAYERS]


@pytest.fixture(scope="module")
def song(tiny_two):
    return write_audio(tiny_two.base / "two" / "song.wav", genre_clip(2, 23.0, SR, np.random.default_rng(3)), SR)


def test_bundle_holds_both_networks_with_their_graphs(tiny_two):
    b = load_bundle(tiny_two.bundle)
    assert b.networks == {"mobilenet_v2": list(LAYERS), "musicnn": [f"musicnn.{layer}" for layer in LAYERS]}
    assert b.embeddings == KEYS and b.predictor in b.networks and b.meta["predictor_reason"]
    assert b.meta["embeddings"]["musicnn.immediate"]["dim"] == 1506
    for name, r in b.meta["onnx"].items():
        assert all(0 <= d <= r["check"]["tolerance"] == 1e-4 for d in r["check"]["max_abs_diff"].values()), name
    assert {r["file"] for r in b.meta["onnx"].values()} == {"model.onnx", "musicnn.onnx"}
    for name in b.networks:  # every network: its own probabilities, test metrics and CV
        p = b.arrays[f"probabilities_{name}"]
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
        m = b.meta["metrics"]["networks"][name]
        assert 0 <= m["test"]["balanced_accuracy"] <= 1 and m["cross_validation"]["track"]["head"]
    # the bundle's probabilities are its genre predictor's out-of-fold ones (mean over the CV's repeats)
    spec = b.meta["genre_predictor"]
    oof = b.arrays[spec["candidates"][spec["chosen"]["candidate"]]["oof"]].mean(0)
    np.testing.assert_allclose(b.arrays["probabilities"], oof / oof.sum(1, keepdims=True), atol=1e-6)
    for e in KEYS:
        assert np.isfinite(b.coords(e)).all() and b.similarity(e).shape == (3, 3), e
    assert any(k.startswith("musicnn train") for k in b.meta["timings_s"]) and "features" in b.meta["timings_s"]


def test_song_lands_on_all_eight_maps_and_its_path_too(tiny_two, song):
    p = Placer.from_path(tiny_two.bundle).place_file(song, trajectory=True)
    assert list(p.maps) == KEYS
    assert all(np.isfinite([m["x"], m["y"]]).all() and len(m["neighbours"]) == 5 for m in p.maps.values())
    assert len(p.trajectory) == p.n_segments >= 3
    assert all(set(w["maps"]) == set(KEYS) for w in p.trajectory)


def test_a_tracks_own_audio_lands_on_its_own_vector_in_both_networks(tiny_two):
    # The build (torch, per patch) and the placement (onnxruntime, pooled to windows) read a track the same way.
    b = load_bundle(tiny_two.bundle)
    placer = Placer(b)
    i = 4
    y = load_audio(tiny_two.root / b.tracks["path"][i], sr=SR, max_seconds=30.0)
    p = placer.place_audio(y, "again")
    # The heads standardise features with a small spread here, which magnifies the runtimes' float32
    # rounding: deep layers agree to 1 %, the network's own features to 0.1 %.
    for e, tol in (("immediate", 1e-3), ("musicnn.immediate", 1e-3), ("musicnn.none", 1e-3), ("deep", 1e-2),
                   ("musicnn.deep", 1e-2)):
        want = b.vectors(e)[i]
        np.testing.assert_allclose(p.vectors[e], want, rtol=tol, atol=tol * np.abs(want).max(), err_msg=e)


def test_without_artists_the_predictor_is_still_chosen_on_track_folds_and_says_so(tiny_two):
    b = load_bundle(tiny_two.bundle)  # the synthetic corpus has no tracks.csv: no artists
    spec = b.meta["genre_predictor"]
    assert spec["grouping"] == "track" and "cross_validation" in b.meta["metrics"]
    names = {f"{n} {k}" for n in b.networks for k in ("head", "probe", "neighbours")}
    assert set(spec["candidates"]) == names | {"mobilenet_v2+musicnn probes", "mobilenet_v2+musicnn neighbours"}
    for r in spec["candidates"].values():  # every candidate's out-of-fold probabilities are kept
        assert b.arrays[r["oof"]].shape == (1, len(b.tracks), len(b.labels))
    model = load_predictor(b)
    assert model.name == spec["chosen"]["name"] and model.score["grouping"] == "track"
    assert "track-grouped CV" in describe_predictor(model)
    assert "track" in markdown_numbers(b.meta)[0]


def test_place_on_a_tracks_own_audio_gives_the_stored_predictor_on_its_stored_vectors(tiny_two):
    b = load_bundle(tiny_two.bundle)
    placer = Placer(b)
    i = 4
    p = placer.place_file(tiny_two.root / b.tracks["path"][i])
    model = load_predictor(b)
    expect = model.predict({e: b.vectors(e)[i:i + 1] for e in b.embeddings},
                           {n: b.arrays[f"probabilities_{n}"][i:i + 1] for n in b.networks})[0]
    np.testing.assert_allclose(list(p.probabilities.values()), expect, atol=1e-3)  # the vectors are float16


@pytest.mark.parametrize("network", ["mobilenet_v2", "musicnn"])
def test_place_network_picks_whose_genre_is_reported(tiny_two, song, network, capsys):
    assert cli_main(["place", str(song), "--bundle", str(tiny_two.bundle), "--json", "--network", network]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(record["maps"]) == KEYS  # the keys do not depend on the choice
    placer = Placer.from_path(tiny_two.bundle, network=network)
    seg, _ = placer.segment_vectors(load_audio(song, sr=SR))
    probs = seg["probabilities"].mean(0)
    assert record["genre"] == placer.labels[int(np.argmax(probs))]
    assert set(OUTPUTS) - {"probabilities"} <= {k.split(".")[-1] for k in record["maps"]}


def test_unknown_network_is_a_one_line_error(tiny_two, song, capsys):
    from pipeline.bundle import BundleError

    with pytest.raises(BundleError, match="has no musicnn network"):
        Placer.from_path(tiny_two.bundle.parent / "bundle", network="musicnn")
