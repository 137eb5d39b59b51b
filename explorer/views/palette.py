"""The genre palette lives in the pipeline (``pipeline.palette``: the report's figures use it too); the
explorer's views import it from here."""
from pipeline.palette import CORRECT_COLOUR, GTZAN_COLOURS, UPLOAD_OUTLINE, WRONG_COLOUR, genre_colours  # noqa: F401
