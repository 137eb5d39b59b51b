"""Named stages of a long run, each timed: ``with stages("maps"): …``; what ``build`` reports and stores."""
from __future__ import annotations

import time
from contextlib import contextmanager


class Stages:
    """Times named stages; ``seconds`` (name → seconds) feeds the summary and the bundle."""

    def __init__(self, log):
        self.seconds, self.log = {}, log

    @contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - t, 2)
        self.log(f"  {name}: {self.seconds[name]:.1f} s")  # only a stage that finished
