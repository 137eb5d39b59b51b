from pathlib import Path

import pytest

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
