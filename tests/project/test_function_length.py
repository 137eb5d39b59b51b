"""No function in the product code is longer than 60 lines: each does one thing that can be read at once.

Product code is what ships and runs for a user: ``pipeline/`` (the paper's experiments in
``pipeline/experiments/`` are research scripts and not held to it), ``explorer/`` and ``app.py``. A function's
length runs from its ``def`` line to its last line, docstring included. The source is parsed, not imported.
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 60
# Functions allowed over the limit, "path:function" → their length, each with the reason it cannot be split.
ALLOWED: dict[str, int] = {}


def product_files() -> list[Path]:
    files = [p for p in sorted((REPO / "pipeline").rglob("*.py")) if "experiments" not in p.relative_to(REPO).parts]
    return files + sorted((REPO / "explorer").rglob("*.py")) + [REPO / "app.py"]


def long_functions(path: Path):
    """(name, length in lines) of every function or method in ``path`` longer than ``MAX_LINES``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_LINES:
                yield node.name, length


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_function_is_longer_than_60_lines(path):
    rel = path.relative_to(REPO).as_posix()
    long = [f"{name} ({n} lines)" for name, n in long_functions(path) if f"{rel}:{name}" not in ALLOWED]
    assert not long, f"{rel}: split {', '.join(long)} into functions of at most {MAX_LINES} lines"


def test_the_allow_list_only_names_functions_that_are_still_long():
    still = {f"{p.relative_to(REPO).as_posix()}:{name}" for p in product_files() for name, _ in long_functions(p)}
    assert set(ALLOWED) <= still, f"no longer over the limit, remove from ALLOWED: {sorted(set(ALLOWED) - still)}"
