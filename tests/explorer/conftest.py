"""Fixtures the explorer's plain-function tests share: the shipped bundle and a Placer on it."""
import pytest

from explorer.state import DEFAULT_BUNDLE
from pipeline.bundle import load_bundle


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


@pytest.fixture(scope="module")
def placer(bundle):
    from pipeline.place import Placer
    return Placer(bundle)  # no warm-up: only its neighbours are used here
