"""One-line error messages: what the CLI prints and the app shows, never a traceback."""
from __future__ import annotations


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` (library messages can run to several lines; sklearn's do)."""
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"


class WeightsError(ValueError):
    """ImageNet weights are missing or do not fit the backbone (here, not in model.py: the CLI catches it
    without importing torch)."""
