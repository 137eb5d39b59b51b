"""The genre palette lives in ``explorer.views.palette``; this name stays for ``pipeline/report_figures.py``,
which imports it when it can (the palette is to move into the pipeline: issue 15)."""
from .views.palette import CORRECT_COLOUR, GTZAN_COLOURS, UPLOAD_OUTLINE, WRONG_COLOUR, genre_colours  # noqa: F401
