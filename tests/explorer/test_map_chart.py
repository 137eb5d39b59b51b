"""The Map page's persistent map (explorer/map_chart.py): its files and the protocol its page speaks.

What it does in a browser (drawn in place on a layer switch, a click selects, a click on a path plays) is
checked by tests/app/test_browser.py.
"""
from __future__ import annotations

import json

import plotly

from explorer import map_chart
from explorer.views import map_view, trajectory_view


def test_the_component_folder_holds_the_page_and_the_installed_plotly_js(tmp_path):
    out = map_chart.component_dir(tmp_path)
    assert (out / "index.html").read_bytes() == map_chart.PAGE.read_bytes()
    assert (out / "plotly.min.js").read_bytes() == map_chart.plotly_js().read_bytes()  # nothing downloaded
    assert not list(out.glob("*.part"))
    stamp = (out / "plotly.min.js").stat().st_mtime_ns
    assert map_chart.component_dir(tmp_path) == out and (out / "plotly.min.js").stat().st_mtime_ns == stamp
    assert plotly.__version__ and out.parent == tmp_path / "map_chart"  # one folder per page and plotly version


def test_a_read_only_cache_folder_falls_back_to_the_temporary_folder(tmp_path, monkeypatch):
    written = map_chart.component_dir

    def read_only(root=None):
        if root is None:
            raise PermissionError("read-only file system")
        return written(root)

    monkeypatch.setattr(map_chart, "component_dir", read_only)
    monkeypatch.setattr(map_chart.tempfile, "gettempdir", lambda: str(tmp_path))
    out = map_chart.serving_dir()
    assert out.is_relative_to(tmp_path) and (out / "plotly.min.js").exists()


def test_the_page_redraws_in_place_and_speaks_streamlits_component_protocol():
    page = map_chart.PAGE.read_text()
    assert '<script src="plotly.min.js">' in page
    assert "Plotly.react(" in page and "Plotly.newPlot(" not in page  # one chart, redrawn in place
    for message in ("streamlit:componentReady", "streamlit:render", "streamlit:setFrameHeight",
                    "streamlit:setComponentValue"):
        assert message in page
    for event in ("plotly_selected", "plotly_deselect"):  # a click, a lasso or a box; and clearing
        assert event in page
    assert '"sendChartToCloud"' in page  # as st.plotly_chart: no button that uploads the figure to Plotly's cloud


def test_a_selection_in_the_shape_the_page_sends_gives_item_keys_and_window_clicks():
    # what the page posts for a click on a track and on a song's path point (customdata passed through)
    value = json.loads(json.dumps({"selection": {"points": [
        {"curve_number": 0, "point_number": 3, "point_index": 3, "x": 1.0, "y": 2.0,
         "customdata": ["blues.00003", "A – B"]},
        {"curve_number": 11, "point_number": 2, "point_index": 2, "x": 0.5, "y": 0.1,
         "customdata": ["upload:k", "song.wav", "0:10–0:20", "jazz", "50%", trajectory_view.WINDOW_TAG, 10.0]},
    ], "point_indices": [3, 2]}, "how": "select", "n": 1}))
    assert map_view.selection_keys(value) == ["blues.00003", "upload:k"]
    assert trajectory_view.window_clicks(value) == [("upload:k", 10.0)]
