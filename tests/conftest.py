from pathlib import Path

import pytest

SHARED_GTZAN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gtzan"


@pytest.fixture(scope="session")
def shared_gtzan() -> Path:
    """The partial GTZAN copy shared next to the repo; skips the test when absent."""
    if not SHARED_GTZAN.is_dir():
        pytest.skip(f"shared GTZAN not found at {SHARED_GTZAN}")
    return SHARED_GTZAN
