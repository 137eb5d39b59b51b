"""The shipped pretrained weights (assets/weights): hashes, loading, ``--weights`` and a fresh clone.

The fresh-clone test copies the git-tracked project to a temporary folder with
no ``../shared`` beside it and an empty torch cache, builds a bundle without
``--weights`` and places a song in it: what a new user does.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import pipeline.networks.weights as weights
from explorer.state import find_bundles
from pipeline.build import BuildConfig, _cache_key
from pipeline.cli import main as cli_main
from pipeline.networks.mobilenet_v2_net import Backbone, WeightsError, load_imagenet_backbone
from pipeline.networks.weights import (
    SHIPPED,
    WeightsChoice,
    file_sha256,
    read_state_dict,
    resolve_weights,
    shipped_weights_file,
)
from pipeline.place import Placer
from tests.conftest import REPO, SHARED_WEIGHTS
from tests.synth import genre_clip, write_audio, write_tone_corpus

SHARED_MUSICNN = REPO.parent / "shared" / "weights" / "musicnn" / "msd_musicnn.safetensors"


# --- what --weights means --------------------------------------------------------------------


def test_resolve_weights():
    shipped = WeightsChoice("shipped", SHIPPED["mobilenet_v2"].path)
    assert resolve_weights(None) == shipped and resolve_weights("") == shipped
    assert resolve_weights("torchvision") == WeightsChoice("torchvision")
    assert resolve_weights("./torchvision") == WeightsChoice("file", Path("torchvision"))  # a file of that name
    assert resolve_weights("w/my.pth") == WeightsChoice("file", Path("w/my.pth"))
    assert resolve_weights(Path("w/my.safetensors")) == WeightsChoice("file", Path("w/my.safetensors"))


def test_weights_file_as_pth_or_safetensors(tmp_path, random_weights):
    state = torch.load(random_weights, weights_only=True)
    as_safetensors = tmp_path / "random.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, as_safetensors)
    misnamed = tmp_path / "random_really_safetensors.pth"  # read by content, not by name
    shutil.copy(as_safetensors, misnamed)
    for path in (random_weights, as_safetensors, misnamed):
        b = Backbone()
        assert load_imagenet_backbone(b, path) == str(path)
        assert b.features[0][0].weight.dtype == torch.float32
        torch.testing.assert_close(b.features[0][0].weight, state["features.0.0.weight"], atol=1e-3, rtol=1e-3)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(as_safetensors.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="cannot read weights broken.safetensors"):
        load_imagenet_backbone(Backbone(), broken)


# --- the shipped files -----------------------------------------------------------------------


def test_shipped_files_match_their_recorded_hashes():
    for network, w in SHIPPED.items():
        assert shipped_weights_file(network) == w.path
        assert w.path.stat().st_size < 5_000_000, f"{w.path.name}: keep assets/ small"
        assert (w.path.parent / "LICENSE").is_file(), f"{network}: its licence must ship beside it"
    assert "Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019" in \
        (SHIPPED["musicnn"].path.parent / "LICENSE").read_text()


def _damaged_copy(tmp_path, network, monkeypatch, damage):
    """Point the registry at a copy of a shipped file, damaged by ``damage(bytearray)``."""
    w = SHIPPED[network]
    data = bytearray(w.path.read_bytes())
    damage(data)
    copy = tmp_path / w.path.name
    copy.write_bytes(bytes(data))
    monkeypatch.setitem(SHIPPED, network, weights.ShippedWeights(network, copy, w.sha256, w.what))
    return copy


def test_damaged_shipped_weights_stop_the_build_in_one_line(tmp_path, monkeypatch, capsys):
    def flip_a_byte(data):
        data[len(data) // 2] ^= 0xFF

    _damaged_copy(tmp_path, "mobilenet_v2", monkeypatch, flip_a_byte)
    data = write_tone_corpus(tmp_path / "data", genres=("a", "b"), tracks_per_genre=3, seconds=2.0)
    rc = cli_main(["build", "--data", str(data), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"),
                   "--repeats", "0", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "shipped mobilenet_v2 weights are damaged" in err and "--weights FILE" in err
    assert "../shared" not in err
    assert not (tmp_path / "out").exists()


def test_missing_or_truncated_shipped_weights_are_named(tmp_path, monkeypatch):
    copy = _damaged_copy(tmp_path, "musicnn", monkeypatch, lambda data: data.__delitem__(slice(1000, None)))
    with pytest.raises(WeightsError, match="shipped musicnn weights are damaged") as info:
        shipped_weights_file("musicnn")
    assert len(str(info.value).splitlines()) == 1
    copy.unlink()
    with pytest.raises(WeightsError, match="shipped musicnn weights are missing.*git checkout -- assets/weights"):
        shipped_weights_file("musicnn")


def test_cache_key_changes_with_the_weights(tmp_path, monkeypatch, random_weights):
    root = write_tone_corpus(tmp_path / "d", genres=("a", "b"), tracks_per_genre=1, seconds=1.0)
    cfg = BuildConfig(data=str(root))
    copy = _damaged_copy(tmp_path, "mobilenet_v2", monkeypatch, lambda data: None)
    shipped = _cache_key(cfg, load_imagenet_backbone(Backbone(), None))
    assert shipped != _cache_key(cfg, load_imagenet_backbone(Backbone(), random_weights))
    copy.write_bytes(copy.read_bytes())  # new shipped weights: same size, rewritten
    os.utime(copy, ns=(1, 1))
    assert shipped != _cache_key(cfg, str(copy))


def test_shipped_musicnn_keeps_the_tensorflow_names(tmp_path):
    state = read_state_dict(SHIPPED["musicnn"].path)
    assert len(state) == 64 and "conv2d_5/kernel" in state and "batch_normalization_9/moving_variance" in state
    assert tuple(state["conv2d/kernel"].shape) == (7, 38, 1, 204) and state["conv2d/kernel"].dtype == torch.float32
    if SHARED_MUSICNN.is_file():  # the float32 original: float16 rounding only
        original = read_state_dict(SHARED_MUSICNN)
        assert original.keys() == state.keys()
        for k, v in original.items():
            torch.testing.assert_close(state[k], v, rtol=1e-3, atol=1e-4, msg=k)


def test_shipped_backbone_matches_the_float32_original(tmp_path):
    if not SHARED_WEIGHTS.is_file():
        pytest.skip(f"float32 original not found at {SHARED_WEIGHTS}")
    torch.manual_seed(0)
    images = torch.rand(2, 128, 96)
    shipped, original = Backbone(), Backbone()
    load_imagenet_backbone(shipped, None)
    load_imagenet_backbone(original, SHARED_WEIGHTS)
    with torch.no_grad():
        a, b = shipped(images), original(images)
    cosine = torch.nn.functional.cosine_similarity(a, b)
    assert cosine.min() > 0.9999, cosine
    assert (a - b).abs().max() < 0.02 * b.abs().max()


# --- --weights torchvision -------------------------------------------------------------------


def test_torchvision_weights_offline_say_what_to_do(offline_torch_home):
    with pytest.raises(WeightsError) as info:
        load_imagenet_backbone(Backbone(), "torchvision")
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and "name resolution" in msg
    assert str(offline_torch_home / "hub" / "checkpoints") in msg and "leave out --weights" in msg


def test_torchvision_weights_from_a_filled_cache(offline_torch_home, random_weights):
    ckpt = offline_torch_home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    shutil.copy(random_weights, ckpt / "mobilenet_v2-b0353104.pth")
    b = Backbone()
    assert load_imagenet_backbone(b, "torchvision") == str(ckpt / "mobilenet_v2-b0353104.pth")
    torch.testing.assert_close(b.features[3].conv[0][0].weight,
                               torch.load(random_weights, weights_only=True)["features.3.conv.0.0.weight"])


# --- a fresh clone ---------------------------------------------------------------------------


def _copy_tracked_files(dest: Path) -> Path:
    """The project as a clone holds it: every git-tracked file, nothing else."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"not a git checkout ({e})")
    for name in filter(None, listed.decode().split("\0")):
        src = REPO / name
        if src.is_file():  # deleted in the working tree: not in a clone either
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_fresh_clone_builds_and_places_without_shared_or_torch_cache(tmp_path):
    project = _copy_tracked_files(tmp_path / "clone" / "project")
    assert not (project.parent / "shared").exists()
    torch_home = tmp_path / "torch_home"
    torch_home.mkdir()
    data = write_tone_corpus(tmp_path / "my_music", genres=("ambient", "folk", "techno"), tracks_per_genre=4,
                             seconds=10.5, seed=3)
    song = write_audio(tmp_path / "new song.wav", genre_clip(1, 10.5, 22050, np.random.default_rng(7)), 22050)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GENRE_MAP_BUNDLE")}
    env.update(TORCH_HOME=str(torch_home), XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONWARNINGS="ignore",
               OMP_NUM_THREADS="1")

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=project, env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout

    out = run("build", "--data", data, "--out", "assets/my_music", "--repeats", "0", "--quiet")
    assert "wrote assets/my_music" in out and "3 genres" in out
    meta = json.loads((project / "assets" / "my_music" / "bundle.json").read_text())
    assert meta["config"]["weights"] == SHIPPED["mobilenet_v2"].path.name
    # the app's collection selector lists every bundle in assets/ (and only bundles: not assets/weights)
    listed = [p.name for p in find_bundles(project / "assets")]
    assert "my_music" in listed and "weights" not in listed
    # placing needs only the bundle (no weights file): in-process saves a second torch start-up
    placed = Placer.from_path(project / "assets" / "my_music").place_file(song)
    assert placed.genre in ("ambient", "folk", "techno") and set(placed.maps) >= {"immediate", "deep", "shallow"}
    assert not any(torch_home.rglob("*")), "the build must not use or fill the torch cache"
    assert file_sha256(project / SHIPPED["mobilenet_v2"].path.relative_to(REPO)) == SHIPPED["mobilenet_v2"].sha256
