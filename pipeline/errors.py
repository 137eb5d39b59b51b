"""The pipeline's errors, one family: what the CLI prints and the app shows in one line, never a traceback.

``GenreMapError`` is the base (a ``ValueError``: bad input or state the user
can fix); ``cli.main`` catches it once. Its kinds::

    GenreMapError
      DatasetError    the dataset root cannot be used at all
      AudioError      one file cannot be turned into a usable clip (others are still read)
      WeightsError    pretrained weights are missing or do not fit their network
      BundleError     a bundle is missing, incomplete, damaged or from an incompatible version
        ExportError   a network's ONNX graph does not reproduce torch: the bundle is not written
      LeakageError    a track, artist or repeated recording in more than one split

They live here, not beside the code that raises them, so the CLI and the app
catch them without importing what only ``build`` needs (torch, tqdm).
"""
from __future__ import annotations


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` (library messages can run to several lines; sklearn's do)."""
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"


class GenreMapError(ValueError):
    """Something the user can fix, said in one line (``str()`` of every subclass)."""


class DatasetError(GenreMapError):
    """The dataset root cannot be used at all (missing, no genre folders, too few usable tracks)."""


class AudioError(GenreMapError):
    """A file that cannot be turned into a usable clip; ``str()`` is one line."""

    def __init__(self, message: str):
        # Keep the promise of a one-line message even if a caller passes more.
        super().__init__(" ".join(str(message).split()))


class WeightsError(GenreMapError):
    """Pretrained weights are missing or do not fit their network."""


class BundleError(GenreMapError):
    """A bundle is missing, incomplete, damaged or from an incompatible version."""


class ExportError(BundleError):
    """The ONNX graph does not reproduce the torch model: the bundle is not written."""


class LeakageError(GenreMapError):
    """A track, an artist or a repeated recording appears in more than one split."""
