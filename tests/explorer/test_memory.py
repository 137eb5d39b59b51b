"""The server's heap settings (explorer.memory): set once, and harmless where there is no glibc."""
from __future__ import annotations

import platform

import pytest

from explorer import memory
from pipeline import heap


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_malloc_is_tuned_once_on_glibc(monkeypatch):
    assert memory.tune_malloc() is True
    monkeypatch.setattr(memory, "glibc", lambda: pytest.fail("tuned twice"))
    assert memory.tune_malloc() is True  # once per process: every page run calls it


def test_without_glibc_nothing_is_tuned_or_trimmed(monkeypatch):
    monkeypatch.setattr(memory, "_tuned", {})
    monkeypatch.setattr(memory, "glibc", lambda: None)
    monkeypatch.setattr(heap, "glibc", lambda: None)
    assert memory.tune_malloc() is False and memory.release_free_memory() is False


def test_the_app_tunes_the_heap_before_its_pages_run():
    from pathlib import Path

    app = (Path(__file__).resolve().parents[2] / "app.py").read_text()
    assert app.index("memory.tune_malloc()") < app.index("def main()")
