"""One-line error messages: what the CLI prints and the app shows, never a traceback."""
from __future__ import annotations


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` (library messages can run to several lines; sklearn's do)."""
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"


class WeightsError(ValueError):
    """ImageNet weights are missing or do not fit the backbone (here, not in model.py: the CLI catches it
    without importing torch)."""


class DatasetError(ValueError):
    """The dataset root cannot be used at all (missing, no genre folders, too few usable tracks). Here, not in
    dataset.py: the CLI catches it on every command, and dataset.py imports what only ``build`` needs (tqdm)."""
