"""The Map page's map as a chart that stays on the page (Streamlit component; the page is in ``map_chart.html``).

``st.plotly_chart`` names a chart by a hash of its figure, so every new figure (a layer switch, a star, a
colouring) is a new chart in the browser: Plotly draws it from scratch and, for a WebGL map, opens a new
WebGL context (0.4-0.6 s of a 10 000-track switch in Chromium). This component keeps one chart per key and
hands it each new figure; the page redraws it with ``Plotly.react`` (``uirevision`` keeps the zoom and the
hidden legend groups while it stays the same, as before).

Clicks, lasso and box selections come back in ``st.plotly_chart``'s shape (``{"selection": {"points":
[{"customdata": …, "curve_number": …}, …]}}``), so ``map_view.selection_keys`` and
``trajectory_view.window_clicks`` read them unchanged. Plotly.js is the installed plotly package's own
``plotly.min.js``, copied with the page into a cache folder when the app starts (nothing is downloaded).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import plotly
import streamlit.components.v1 as components

from .state import CACHE_DIR
from .views.plotting import figure_json

NAME = "genre_map_chart"
PAGE = Path(__file__).with_name("map_chart.html")


def plotly_js() -> Path:
    """The plotly.js bundle of the installed plotly package."""
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def component_dir(root: Path = CACHE_DIR) -> Path:
    """A folder with the component's page and plotly.min.js, named by their versions (written once)."""
    stamp = hashlib.sha256(PAGE.read_bytes() + plotly.__version__.encode()).hexdigest()[:12]
    out = Path(root) / "map_chart" / stamp
    if not (out / "plotly.min.js").exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PAGE, out / "index.html")
        part = out / f"plotly.min.js.{os.getpid()}.part"  # another server may copy at the same time: never half a file
        shutil.copyfile(plotly_js(), part)
        part.replace(out / "plotly.min.js")
    return out


def serving_dir() -> Path:
    """``component_dir`` in the explorer's cache folder, or in the system's temporary folder when that one
    cannot be written."""
    try:
        return component_dir()
    except OSError:  # a read-only cache folder (a deployed app): the system's temporary folder
        return component_dir(Path(tempfile.gettempdir()) / "genre_map")


_component = components.declare_component(NAME, path=str(serving_dir()))


def map_chart(fig, key: str, on_select=None, config: dict | None = None, frames: str | None = None,
              present: bool = False):
    """Draw ``fig`` (a figure, or its JSON from ``plotting.figure_json``) in the persistent chart ``key``;
    returns the last selection (st.plotly_chart's shape) or None.

    ``on_select``: a callback run when the user clicks, lassos or clears a selection (its value is in
    ``st.session_state[key]``), or when the chart stops on a layer (value ``{"layer": key, …}``).
    ``frames``: every layer's positions (``views.layer_frames.frames_json``): the chart gets a "play the layers"
    control and moves the dots itself. ``present``: presentation mode (large type; ← / → step the layers).
    """
    spec = fig if isinstance(fig, str) else figure_json(fig)
    return _component(spec=spec, config=json.dumps(config or {}), frames=frames or "", present=present, key=key,
                      default=None, on_change=on_select)
