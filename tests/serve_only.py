"""What a machine set up with ``pip install -r requirements-serve.txt`` alone lacks, and a Python that lacks it.

``serve_lacks()`` walks the installed distributions' dependencies from both requirements files and names the
top-level modules that only ``requirements.txt`` brings (torch, tqdm, librosa, scikit-learn, …).
``BLOCKER`` is Python source that, run first in a process, makes importing any of them fail as it would there.
"""
from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FULL, SERVE = REPO / "requirements.txt", REPO / "requirements-serve.txt"


def requirement_names(requirements: Path) -> list[str]:
    """The distribution names a requirements file lists (pins, comments and markers dropped)."""
    return [re.split(r"[=<>!~;\[ ]", line.strip())[0] for line in requirements.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _needs(dist: md.Distribution) -> list[str]:
    """The distributions ``dist`` needs on this machine (markers evaluated; extras not asked for are skipped)."""
    from packaging.requirements import Requirement

    out = []
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(req.name)
    return out


def closure(requirements: Path) -> dict[str, md.Distribution]:
    """Normalised name → installed distribution, for a requirements file's packages and all they need."""
    todo, seen = requirement_names(requirements), {}
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            seen[name] = md.distribution(name)
        except md.PackageNotFoundError:  # not installed here (another platform's dependency)
            continue
        todo += _needs(seen[name])
    return seen


def serve_lacks() -> list[str]:
    """Top-level modules installed by requirements.txt and not by requirements-serve.txt, sorted."""
    serve = set(closure(SERVE))
    extra = set(closure(FULL)) - serve
    owners = md.packages_distributions()
    return sorted(module for module, dists in owners.items()
                  if {re.sub(r"[-_.]+", "-", d).lower() for d in dists} <= extra and not module.startswith("_"))


BLOCKER = """
import sys

class ServeOnly:  # importing what requirements-serve.txt does not install fails, as in such a venv
    lacks = frozenset({lacks!r})

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.lacks:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in requirements-serve.txt)", name=name)

sys.meta_path.insert(0, ServeOnly())
"""


def blocker() -> str:
    """``BLOCKER`` filled in with this machine's ``serve_lacks()``."""
    return BLOCKER.format(lacks=serve_lacks())
