"""What the browser tests share: Chromium, the app's server, and the Map page's chart in its iframe.

``serve`` starts ``streamlit run app.py`` on a free port (the ``server`` fixture in
``tests/app/conftest.py``); ``map_chart`` finds the Map page's Plotly chart inside
the map component's iframe (``explorer/map_chart.py``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import wait_until_healthy

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SERVER_PYTHON = "GENRE_MAP_SERVER_PYTHON"  # the Python that runs the app under test (default: this one)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# The Map page's map is a component (explorer/map_chart.py): its Plotly chart is in an iframe of the same origin.
MAP_FRAME = ".st-key-map_chart iframe"
MAP_JS = f"document.querySelector('{MAP_FRAME}')?.contentDocument?.querySelector('.js-plotly-plot')"

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                    reason=f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")


def map_chart(page):
    """The Map page's Plotly chart (in the map component's iframe)."""
    return page.frame_locator(MAP_FRAME).locator(".js-plotly-plot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path, bundle: Path | None = None, flags=()):
    """``streamlit run app.py`` (on ``bundle``, else the shipped one; more ``flags``): yields its URL, always stops
    it."""
    port = free_port()
    log = open(tmp_path / "streamlit.log", "w")
    env = {k: v for k, v in os.environ.items() if k != "GENRE_MAP_BUNDLE"}
    if bundle is not None:
        env["GENRE_MAP_BUNDLE"] = str(bundle)
    python = os.environ.get(SERVER_PYTHON) or sys.executable  # .ci/run: a venv with requirements-serve.txt only
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", *flags],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_until_healthy(url, proc, 60)
        if problem:
            pytest.fail(f"{problem}:\n{(tmp_path / 'streamlit.log').read_text()}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_idle(page) -> None:
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=60_000)


def shots_dir(tmp_path) -> Path:
    """Where screenshots go: $GENRE_MAP_SCREENSHOTS if set (to look at them), else pytest's tmp dir."""
    out = Path(os.environ.get("GENRE_MAP_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out
