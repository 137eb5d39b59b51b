"""Networks are a contract, not special cases: no code outside ``pipeline/networks/`` names a particular one.

Each network is a module of ``pipeline.networks`` (front end, build features,
served graph, what the app says about it), listed in the registry; the build,
the placer and the explorer ask the registry. Only the registry's default
(``DEFAULT_NETWORK``, whose layer keys are the bare layer names in every
bundle) is written out, once. The paper's experiments (``pipeline/experiments``)
compare named backbones by design and are left out.
"""
import re

import pytest

from pipeline.networks import DEFAULT_NETWORK, NAMES, network
from tests.project.test_import_rules import REPO

# The registry's names, and the way prose spells them (MobileNetV2, MusiCNN, EfficientNet-Lite0).
SPELLINGS = re.compile(r"mobilenet|musicnn|efficientnet", re.IGNORECASE)
EXEMPT = ("pipeline/networks/", "pipeline/experiments/")


def product_files():
    for package in ("pipeline", "explorer"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if not rel.startswith(EXEMPT):
                yield rel, path
    yield "app.py", REPO / "app.py"


def test_every_registered_name_is_caught_by_the_search():
    assert all(SPELLINGS.search(name) for name in NAMES), "a new network: add its spelling to SPELLINGS"


def test_no_code_outside_the_networks_package_names_a_network():
    hits = [f"{rel}:{i}: {line.strip()}" for rel, path in product_files()
            for i, line in enumerate(path.read_text().splitlines(), 1) if SPELLINGS.search(line)]
    assert not hits, "a network named outside pipeline/networks/:\n" + "\n".join(hits)


def test_the_default_is_named_once_in_the_registry():
    registry = (REPO / "pipeline" / "networks" / "__init__.py").read_text()
    assert registry.count(f'DEFAULT_NETWORK = "{DEFAULT_NETWORK}"') == 1


@pytest.mark.parametrize("name", NAMES)
def test_every_network_module_provides_the_contract(name):
    module = network(name)
    assert module.NAME == name
    assert isinstance(module.TITLE, str) and isinstance(module.SHORT, str)
    assert module.NOTE is None or isinstance(module.NOTE, str)
    assert callable(module.front_end) and callable(module.song_inputs) and callable(module.for_build)
