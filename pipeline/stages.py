"""Named stages of a long run, each timed: ``with stages("maps"): …``; what ``build`` reports and stores."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

STATUS = Path("/proc/self/status")  # Linux; elsewhere no memory is reported


def memory_mb() -> dict:
    """This process's resident memory now and its peak so far (``VmRSS``, ``VmHWM``) in MB; {} off Linux."""
    try:
        fields = dict(line.split(":", 1) for line in STATUS.read_text().splitlines() if ":" in line)
        return {"rss": int(fields["VmRSS"].split()[0]) // 1024, "peak": int(fields["VmHWM"].split()[0]) // 1024}
    except (OSError, KeyError, ValueError):
        return {}


class Stages:
    """Times named stages; ``seconds`` (name → seconds) feeds the summary and the bundle.

    ``memory`` (name → ``memory_mb()`` at the stage's end) tells which stage set a
    run's peak memory: the first whose ``peak`` reaches the run's.
    """

    def __init__(self, log):
        self.seconds, self.memory, self.log = {}, {}, log

    @contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - t, 2)
            self.memory[name] = memory_mb()
        mem = self.memory[name]
        rss = f", memory {mem['rss']} MB (peak so far {mem['peak']} MB)" if mem else ""
        self.log(f"  {name}: {self.seconds[name]:.1f} s{rss}")  # only a stage that finished
