import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.runtime import torch_threads  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[1]
SHARED_GTZAN = REPO.parent / "shared" / "data" / "gtzan"
SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "mobilenet_v2_imagenet_float.pth"


@pytest.fixture(scope="session")
def shared_gtzan() -> Path:
    """The partial GTZAN copy shared next to the repo; skips the test when absent."""
    if not SHARED_GTZAN.is_dir():
        pytest.skip(f"shared GTZAN not found at {SHARED_GTZAN}")
    return SHARED_GTZAN


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """The shared float ImageNet MobileNetV2 state dict (BN folded); skips the test when absent."""
    if not SHARED_WEIGHTS.is_file():
        pytest.skip(f"shared ImageNet weights not found at {SHARED_WEIGHTS}")
    return SHARED_WEIGHTS


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A randomly initialised torchvision MobileNetV2 state dict: a valid --weights file needing no shared files."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_random.pth"
    torch.save(torchvision.models.mobilenet_v2().state_dict(), path)
    return path


# --- the tiny synthetic bundle shared by the end-to-end and hardening tests --------------------

GENRES = ("alpha", "beta", "gamma")
CORRUPT = "beta/beta.00099.wav"


def make_corpus(root: Path) -> Path:
    """18 synthetic 12 s tracks in three genres, plus a corrupt file and two hidden ones."""
    from tests.synth import write_tone_corpus

    write_tone_corpus(root, genres=GENRES, tracks_per_genre=6, seconds=12.0, seed=0)
    (root / CORRUPT).write_text("this is a text file with a .wav name\n" * 50)
    (root / "alpha" / "._alpha.00000.wav").write_bytes(b"\x00\x05\x16\x07AppleDouble" + bytes(200))
    (root / "gamma" / ".DS_Store").write_bytes(b"Bud1" + bytes(100))
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (opt in with ``pytestmark = pytest.mark.usefixtures(...)``):
    one- or few-image forward passes gain little from a second thread, and on a shared, loaded 2-core
    machine torch's spinning worker threads make them several times slower (measured 8 s vs 48 s)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, random_weights):
    """One small bundle built from a synthetic corpus with random backbone weights (shared by the session).

    Tests must not write into ``tiny.cfg.cache`` with another config or into ``tiny.root``: copy them first.
    """
    from pipeline.build import BuildConfig, build
    from pipeline.train import TrainConfig

    base = tmp_path_factory.mktemp("e2e")
    root = make_corpus(base / "data")
    # Random backbone features carry no genre: cap the epochs so the head does not train for nothing.
    # The paper's augmentation is on here so that its path through the build is exercised.
    # MobileNetV2 only: the second network has its own fixture (``tiny_two``), so most tests stay quick.
    cfg = BuildConfig(data=str(root), out=str(base / "bundle"), weights=str(random_weights), cache=str(base / "cache"),
                      cv_folds=3, cv_repeats=1, seed=0, train=TrainConfig(max_epochs=30, patience=8, augment="paper"),
                      networks=("mobilenet_v2",))
    logs = []
    t0 = time.perf_counter()
    with torch_threads(1):
        meta = build(cfg, progress=False, log=logs.append)
    return SimpleNamespace(base=base, root=root, cfg=cfg, meta=meta, logs=logs, seconds=time.perf_counter() - t0,
                           bundle=Path(cfg.out), weights=random_weights)



@pytest.fixture(scope="session")
def tiny_two(tiny):
    """The tiny corpus built with both networks: MobileNetV2 (random weights) and MusiCNN (the shipped weights)."""
    from pipeline.build import BuildConfig, build

    out, cache = tiny.base / "bundle_two", tiny.base / "cache_two"
    # its own copy of the feature cache: MusiCNN's features must not appear in ``tiny``'s, whose tests count files
    shutil.copytree(tiny.cfg.cache, cache, dirs_exist_ok=True)
    cfg = BuildConfig(**{**vars(tiny.cfg), "out": str(out), "cache": str(cache),
                         "networks": ("mobilenet_v2", "musicnn")})
    logs = []
    with torch_threads(1):
        meta = build(cfg, progress=False, log=logs.append)
    return SimpleNamespace(base=tiny.base, root=tiny.root, cfg=cfg, meta=meta, logs=logs, bundle=out)


def benchmark_module(name: str):
    """``benchmarks/<name>.py`` as a module (benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the module runs
    spec.loader.exec_module(module)
    return module


def large_bundle_module():
    return benchmark_module("large_bundle")


@pytest.fixture()
def offline_torch_home(tmp_path, monkeypatch):
    """An empty torch cache on a machine where every download fails (so a test that would download fails too)."""
    import torch

    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(home / "hub"))

    def offline(url, *a, **k):
        raise OSError(f"<urlopen error [Errno -3] Temporary failure in name resolution> ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return home
