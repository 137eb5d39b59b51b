"""The architecture, checked: data flows pipeline → bundle → explorer, and no module reaches into another's privates.

Parses every module of the tree (nothing is imported) and fails when:
- anything in ``pipeline`` imports ``explorer`` or ``streamlit``;
- the core pipeline imports the paper's experiments (``pipeline.experiments``);
- the explorer's pure view code (``explorer.views``) imports ``streamlit``;
- a module imports another module's ``_private`` name;
- the serving path (what ``place``, ``info`` and the explorer load) imports torch at module level.
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The paper's experiments, backbones, from-scratch run and report: everything under this package.
EXPERIMENTS = ("pipeline.experiments",)
CLI = "pipeline.cli"  # dispatches the experiment commands: it may import them, inside its command functions
# Modules that ``place``/``info``/the explorer import: torch may only be imported inside functions there.
# Every network's own module (``pipeline.networks.<name>``) is on it: the placer takes its front end from there.
SERVING = ("pipeline.audio", "pipeline.bundle", "pipeline.cli", "pipeline.embed", "pipeline.errors", "pipeline.maps",
           "pipeline.networks", "pipeline.networks.contract", "pipeline.networks.image_network",
           "pipeline.networks.musicnn_input", "pipeline.networks.weights", "pipeline.paths", "pipeline.place",
           "pipeline.previews", "pipeline.project", "pipeline.serve", "pipeline.spectrogram",
           *(f"pipeline.networks.{name}" for name in ("mobilenet_v2", "musicnn", "efficientnet_lite0")))


def modules() -> dict[str, Path]:
    out = {}
    for package in ("pipeline", "explorer"):
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    out["app"] = REPO / "app.py"
    return out


def imports(name: str, path: Path, top_level_only: bool = False):
    """(imported module, imported names) for every import statement; relative imports resolved."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, [a.name for a in node.names]


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


ALL = modules()


@pytest.mark.parametrize("name", [n for n in ALL if within(n, "pipeline")])
def test_the_pipeline_never_imports_the_explorer_or_streamlit(name):
    bad = [m for m, _ in imports(name, ALL[name]) if within(m, "explorer") or within(m, "streamlit")]
    assert not bad, f"{name} imports {bad}: data flows pipeline → bundle → explorer"


def experimental(module: str) -> bool:
    return any(within(module, e) for e in EXPERIMENTS)


@pytest.mark.parametrize("name", [n for n in ALL if within(n, "pipeline") and not experimental(n)])
def test_the_core_never_imports_the_experiments(name):
    bad = [m for m, _ in imports(name, ALL[name], top_level_only=name == CLI) if experimental(m)]
    assert not bad, f"{name} imports {bad}: the core must not depend on the paper's experiments"


@pytest.mark.parametrize("name", [n for n in ALL if within(n, "explorer.views")])
def test_the_explorers_views_do_not_import_streamlit(name):
    bad = [m for m, _ in imports(name, ALL[name]) if within(m, "streamlit")]
    assert not bad, f"{name} imports {bad}: view code builds figures and frames, tested without a browser"


@pytest.mark.parametrize("name", list(ALL))
def test_no_module_imports_another_modules_private_names(name):
    bad = [f"{m}.{n}" for m, names in imports(name, ALL[name]) for n in names
           if n.startswith("_") and not n.startswith("__") and m != name]
    assert not bad, f"{name} imports private names {bad}"


@pytest.mark.parametrize("name", [n for n in SERVING if n in ALL])
def test_the_serving_path_imports_no_torch_at_module_level(name):
    bad = [m for m, _ in imports(name, ALL[name], top_level_only=True)
           if within(m, "torch") or within(m, "torchvision")]
    assert not bad, f"{name} imports {bad} at module level: place, info and the app run without torch"
