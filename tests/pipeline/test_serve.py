"""Serving without torch: model.onnx in the bundle, onnxruntime in the Placer, no torch in place/info/explorer.

Runs on the tiny synthetic bundle (``tiny`` in conftest.py); torch is used here only as the reference.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pipeline import export
from pipeline.audio import load_audio
from pipeline.bundle import FORMAT_VERSION, BundleError, load_bundle, meta_hash, write_bundle
from pipeline.cli import main as cli_main
from pipeline.embed import segment_images
from pipeline.networks import LAYERS
from pipeline.networks.contract import serving_graph
from pipeline.networks.mobilenet_v2_net import GenreNet
from pipeline.onnx_link import safetensors_offsets
from pipeline.paths import DEFAULT_BUNDLE
from pipeline.place import Placer
from pipeline.serve import OUTPUTS, OnnxNetwork, default_threads
from pipeline.spectrogram import SpectrogramConfig
from tests.conftest import REPO
from tests.serve_only import blocker, serve_lacks
from tests.synth import genre_clip, write_audio

SR = 22050
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def song(tiny):
    return write_audio(tiny.base / "serving" / "song.wav", genre_clip(1, 21.0, SR, np.random.default_rng(7)), SR)


def torch_net(bundle):
    """The bundle's network in torch as served, from model.safetensors (the reference the graph is checked against)."""
    head = bundle.meta["config"]["train"]
    blocks = bundle.meta["networks"]["mobilenet_v2"]["settings"].get("pool_blocks", [18])  # older bundles: last block
    net = GenreNet(len(bundle.labels), None, head["deep"], head["shallow"], blocks)
    net.load_state_dict(bundle.state_dict(), strict=True)
    return serving_graph(net.backbone, net.head, ("backbone", "head"), time_axis=2)


def test_bundle_records_its_graph_checked_against_torch(tiny):
    b = load_bundle(tiny.bundle)
    assert b.meta["format_version"] == FORMAT_VERSION == 3
    record = b.meta["onnx"]["mobilenet_v2"]
    assert record["file"] == "model.onnx" and record["outputs"] == list(OUTPUTS)
    check = record["check"]
    assert check["inputs"] >= 2 and set(check["max_abs_diff"]) == set(OUTPUTS)
    assert all(0 <= d <= check["tolerance"] == 1e-4 for d in check["max_abs_diff"].values())
    assert "model.onnx" in b.meta["files"]  # hashed like the other files


def test_graph_holds_no_copy_of_the_weights(tiny):
    # Every weight is ONNX external data pointing into model.safetensors: the bundle holds them once.
    import onnx

    graph = onnx.load(str(tiny.bundle / "model.onnx"), load_external_data=False)
    tensors = safetensors_offsets(tiny.bundle / "model.safetensors")
    external = {i.name: {e.key: e.value for e in i.external_data} for i in graph.graph.initializer}
    assert external and all(e.get("location") == "model.safetensors" for e in external.values())
    for name, e in external.items():
        name = name.removesuffix(".float16")  # weights stored as float16 (exactly) are read through a Cast
        assert int(e["offset"]) == tensors[name][2] and int(e["length"]) == tensors[name][3] - tensors[name][2]
    assert (tiny.bundle / "model.onnx").stat().st_size < 200_000 < (tiny.bundle / "model.safetensors").stat().st_size


@pytest.mark.parametrize("batch, frames", [(1, 431), (3, 431), (2, 173)])
def test_graph_reproduces_torch_at_any_batch_and_width(tiny, batch, frames):
    b = load_bundle(tiny.bundle)
    images = np.random.default_rng(batch).random((batch, 128, frames), dtype=np.float32)
    got = OnnxNetwork(b.graph_path(), threads=1).run(images)
    want = export.torch_outputs(torch_net(b), images)
    for k in OUTPUTS:
        assert got[k].shape == want[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-4, err_msg=k)


def test_placer_vectors_are_the_torch_models(tiny, song):
    # The same windows through the Placer (onnxruntime) and through torch agree on every layer.
    b = load_bundle(tiny.bundle)
    placer = Placer(b, network=b.predictor)  # its head's probabilities, as torch computes them
    y = load_audio(song, sr=SR)
    seg, starts = placer.segment_vectors(y)
    images, starts2 = segment_images(y, placer.spec)
    np.testing.assert_array_equal(starts, starts2)
    want = export.torch_outputs(torch_net(b), images)
    for k in OUTPUTS:
        np.testing.assert_allclose(seg[k], want[k], rtol=0, atol=1e-4, err_msg=k)
    assert set(seg) == set(LAYERS) | {"probabilities"}


def test_export_mismatch_fails_before_anything_is_written(tiny, monkeypatch, tmp_path):
    real = export.torch_outputs

    def off_by_a_little(net, images, batch_size=16):
        out = real(net, images, batch_size)
        out["deep"] = out["deep"] + 2e-4 * max(1.0, float(np.abs(out["deep"]).max()))  # 2e-4 of the output's scale
        return out

    monkeypatch.setattr(export, "torch_outputs", off_by_a_little)
    out = tmp_path / "never"
    cfg = type(tiny.cfg)(**{**vars(tiny.cfg), "out": str(out), "cv_repeats": 0})
    from pipeline.build import build

    with pytest.raises(export.ExportError, match=r"deep 2\.\d+e-04 > 0\.0001.*nothing was written"):
        build(cfg, progress=False, log=lambda *a: None)
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_tampered_graph_is_refused(tiny, tmp_path):
    out = tmp_path / "b"
    shutil.copytree(tiny.bundle, out)
    with open(out / "model.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00")
    with pytest.raises(BundleError, match="model.onnx does not match its recorded hash"):
        load_bundle(out)


def test_bundle_without_its_graph_cannot_place_but_says_why(tiny, tmp_path):
    out = tmp_path / "b"
    b = load_bundle(tiny.bundle)
    meta = {k: v for k, v in b.meta.items() if k not in ("onnx", "files", "meta_sha256")}
    write_bundle(out, meta, b.tracks, b.arrays, b.state_dict())  # as a tool that drops graphs would
    with pytest.raises(BundleError, match="has no ONNX graph for mobilenet_v2; rebuild it"):
        Placer.from_path(out)


def test_rewritten_bundle_keeps_its_graph(tiny, song, tmp_path):
    b = load_bundle(tiny.bundle)
    out = write_bundle(tmp_path / "copy", {k: v for k, v in b.meta.items() if k != "files"}, b.tracks, b.arrays,
                       b.state_dict(), graphs=b.graphs())
    assert (out / "model.onnx").read_bytes() == (tiny.bundle / "model.onnx").read_bytes()
    a, c = Placer(b).place_file(song), Placer.from_path(out).place_file(song)
    assert a.to_json() == c.to_json()


def _older_format(tiny, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(tiny.bundle, out)
    meta = json.loads((out / "bundle.json").read_text())
    meta["format_version"] = 2
    meta.pop("onnx")
    meta["files"].pop("model.onnx")
    (out / "model.onnx").unlink()
    meta["meta_sha256"] = meta_hash(meta)
    (out / "bundle.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("command", ["info", "place"])
def test_bundle_of_the_previous_format_is_out_of_date_for_info_and_place(tiny, song, tmp_path, capfd, command):
    old = _older_format(tiny, tmp_path)
    args = [command, "--bundle", str(old)] + ([str(song)] if command == "place" else [])
    assert cli_main(args) == 2
    out, err = capfd.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert "bundle format 2 is out of date (now 3); rebuild it" in err


def test_threads_default_to_one_and_follow_the_environment(tiny):
    assert default_threads({}) == 1 and default_threads({"GENRE_MAP_THREADS": "3"}) == 3
    assert default_threads({"GENRE_MAP_THREADS": "many"}) == 1


SERVE_ONLY = r"""
import importlib, json, pkgutil, sys
from pipeline.cli import main
codes = [main(["info", "--bundle", sys.argv[1]]), main(["place", sys.argv[2], "--bundle", sys.argv[1]]),
         main(["place", sys.argv[2], "--bundle", sys.argv[1], "--json", "--trajectory"])]
import explorer
failed = {}
for m in pkgutil.iter_modules(explorer.__path__):
    try:
        importlib.import_module(f"explorer.{m.name}")
    except Exception as e:
        failed[m.name] = f"{type(e).__name__}: {e}"
print(json.dumps({"codes": codes, "explorer_failed": failed}))
"""


def test_place_info_and_the_explorer_run_with_the_serve_requirements_alone(tiny, song):
    # every module that requirements-serve.txt does not install fails to import, as in a venv made from it
    lacks = serve_lacks()
    assert {"torch", "torchvision", "tqdm", "librosa", "sklearn", "openTSNE", "numba", "scipy"} <= set(lacks)
    r = subprocess.run([sys.executable, "-c", blocker() + SERVE_ONLY, str(tiny.bundle), str(song)], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["codes"] == [0, 0, 0], r.stderr[-2000:]
    assert any(line.startswith("song.wav: ") for line in lines)  # place's text
    placement = json.loads(lines[-2])
    assert placement["file"] == "song.wav" and set(placement["maps"]) == set(LAYERS) and placement["trajectory"]
    assert report["explorer_failed"] == {}
    # the shipped bundle's genre comes from a stored probe (predictor.safetensors): it must load there too
    r = subprocess.run([sys.executable, "-c", blocker() + SERVE_ONLY, str(DEFAULT_BUNDLE), str(song)], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["codes"] == [0, 0, 0], r.stderr[-3000:]


def test_front_end_settings_come_from_the_bundle(tiny):
    placer = Placer.from_path(tiny.bundle)
    assert placer.spec == SpectrogramConfig.from_dict(placer.bundle.meta["config"]["spectrogram"])
    assert [n.name for n in placer.networks] == ["mobilenet_v2"]
    assert placer.networks[0].graph.session.get_session_options().intra_op_num_threads == 1


def test_a_second_network_is_one_more_entry(tiny, song, tmp_path, monkeypatch):
    # The multi-network design: a network with its own front end (here: each window cut into two
    # patches, as MusiCNN cuts 3 s patches) and its own graph is what ``load_network`` returns; its layers
    # are placed under their own embedding keys, beside MobileNetV2's. (MobileNetV2's graph stands in.)
    from pipeline import place as place_mod
    from pipeline.embed import none_vectors
    from pipeline.networks import embedding_key
    from pipeline.spectrogram import clip_windows

    b = load_bundle(tiny.bundle)
    keys = [embedding_key("musicnn", layer) for layer in LAYERS]
    arrays = dict(b.arrays)
    for layer, key in zip(LAYERS, keys):
        for kind in ("track", "map", "similarity"):
            arrays[f"{kind}_{key}"] = b.arrays[f"{kind}_{layer}"]
    meta = {k: v for k, v in b.meta.items() if k not in ("files", "meta_sha256")}
    meta["embeddings"] = {**b.meta["embeddings"], **{k: b.meta["embeddings"][layer] for k, layer in zip(keys, LAYERS)}}
    meta["networks"] = {"mobilenet_v2": {"layers": list(LAYERS)}, "musicnn": {"layers": keys}}
    meta["onnx"] = {**b.meta["onnx"], "musicnn": b.meta["onnx"]["mobilenet_v2"]}
    out = write_bundle(tmp_path / "two", meta, b.tracks, arrays, b.state_dict(), graphs=b.graphs())

    def patches(y, spec):
        clip = clip_windows(y, spec)
        half = clip.images.shape[2] // 2
        inputs = np.concatenate([clip.images[:, :, :half], clip.images[:, :, half : 2 * half]])
        pool = np.hstack([np.eye(len(clip.images))] * 2) / 2  # each window: the mean of its two patches
        return place_mod.Windows(inputs=inputs, none=none_vectors(clip.images, spec), starts_s=clip.starts_s,
                                 pool=pool)

    real_load = place_mod.load_network

    def load_patches(bundle, name, spec, threads):
        if name != "musicnn":
            return real_load(bundle, name, spec, threads)
        return place_mod.Network("musicnn", lambda y: patches(y, spec),
                                 OnnxNetwork(bundle.graph_path("musicnn"), threads))

    monkeypatch.setattr(place_mod, "load_network", load_patches)
    placer = Placer.from_path(out)
    assert [n.name for n in placer.networks] == ["mobilenet_v2", "musicnn"]
    p = placer.place_file(song, trajectory=True)
    assert set(p.maps) == set(LAYERS) | set(keys) and set(p.vectors) == set(p.maps)
    np.testing.assert_allclose(p.vectors["musicnn.none"], p.vectors["none"])  # the same window images
    assert not np.allclose(p.vectors["musicnn.immediate"], p.vectors["immediate"], rtol=1e-3, atol=0)  # as patches
    assert all(set(w["maps"]) == set(p.maps) for w in p.trajectory)
    one = Placer.from_path(tiny.bundle).place_file(song, trajectory=True)
    assert p.genre == one.genre and p.probabilities == pytest.approx(one.probabilities)  # the predictor's
    for layer in LAYERS:
        assert (p.maps[layer]["x"], p.maps[layer]["y"]) == pytest.approx((one.maps[layer]["x"], one.maps[layer]["y"]))
        assert p.maps[layer]["neighbours"] == one.maps[layer]["neighbours"]
