"""The real page in headless Chromium: map with every track, embedding switch, click, upload → star.

Starts ``streamlit run app.py`` on a free port, drives Debian's /usr/bin/chromium
with Playwright and always stops the server. Screenshots go to pytest's tmp dir
(printed at the end; run with ``-s`` to see the path).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.synth import genre_clip, write_audio

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MAP = ".st-key-map_chart .js-plotly-plot"
COUNT_TRACKS = """el => el._fullData.filter(t => t.meta && t.meta.kind === 'tracks')
                              .reduce((n, t) => n + t._length, 0)"""
FIRST_X = "el => Array.from(el._fullData.find(t => t.meta && t.meta.kind === 'tracks').x).slice(0, 5).join(',')"
DOTS = """el => Array.from(el.querySelectorAll('.scatterlayer .trace path.point')).map(p => {
    const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })"""
SELECTED = """el => el.data.flatMap(t => (t.selectedpoints || []).map(i => t.customdata[i][0]))"""
X_RANGE = "el => el._fullLayout.xaxis.range.map(v => v.toFixed(3)).join(',')"
UPLOAD_NAMES = "el => el._fullData.filter(t => t.meta && t.meta.kind === 'upload').map(t => t.name)"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                reason=f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """A running ``streamlit run app.py``; yields its URL and always stops it."""
    port = free_port()
    log = open(tmp_path / "streamlit.log", "w")
    env = {k: v for k, v in os.environ.items() if k != "GENRE_MAP_BUNDLE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{(tmp_path / 'streamlit.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("streamlit did not become healthy within 60 s")
            time.sleep(0.2)
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


def test_map_switch_and_upload_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from explorer.state import DEFAULT_BUNDLE
    from pipeline.bundle import load_bundle

    n_tracks = len(load_bundle(DEFAULT_BUNDLE).tracks)
    song = write_audio(tmp_path / "class song.wav", genre_clip(1, 20.0, 22050, np.random.default_rng(7)), 22050)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(server)
            page.wait_for_selector(MAP, timeout=60_000)
            wait_idle(page)
            chart = page.locator(MAP)
            assert chart.evaluate(COUNT_TRACKS) == n_tracks
            page.screenshot(path=str(shots / "1-start.png"))

            before = chart.evaluate(FIRST_X)
            page.get_by_text("Last layer (shallow)").click()
            page.wait_for_function(f"""before => {{
                const el = document.querySelector('{MAP}');
                return el && el._fullData && ({FIRST_X})(el) !== before; }}""", arg=before, timeout=30_000)
            wait_idle(page)
            assert chart.evaluate(COUNT_TRACKS) == n_tracks
            page.screenshot(path=str(shots / "2-shallow.png"))

            # zoom in, then click a dot: its detail panel opens and the zoom is kept
            box = chart.bounding_box()
            full_range = chart.evaluate(X_RANGE)
            page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
            page.mouse.wheel(0, -200)
            page.wait_for_function(f"r => ({X_RANGE})(document.querySelector('{MAP}')) !== r", arg=full_range)
            page.wait_for_timeout(1500)  # plotly redraws a moment after a scroll zoom
            zoomed = chart.evaluate(X_RANGE)
            bottom = min(box["y"] + box["height"] - 60, page.viewport_size["height"] - 20)
            inside = [(x, y) for x, y in chart.evaluate(DOTS)  # dots well inside the zoomed view and the window
                      if box["x"] + 60 < x < box["x"] + box["width"] * 0.55 and box["y"] + 80 < y < bottom]
            assert inside, "no dot to click inside the zoomed map"
            x, y = inside[0]
            page.mouse.click(x, y)
            page.wait_for_function(f"() => ({SELECTED})(document.querySelector('{MAP}')).length === 1",
                                   timeout=30_000)
            (clicked,) = page.locator(MAP).evaluate(SELECTED)
            page.wait_for_selector(f"h3:has-text('{clicked}')", timeout=60_000)
            wait_idle(page)
            assert page.locator(MAP).evaluate(SELECTED) == [clicked]
            assert page.locator(MAP).evaluate(X_RANGE) == zoomed != full_range
            page.screenshot(path=str(shots / "3-clicked.png"))

            page.locator('input[type="file"]').set_input_files(str(song))
            page.wait_for_function(f"""() => {{
                const el = document.querySelector('{MAP}');
                return el && el._fullData && ({UPLOAD_NAMES})(el).length > 0; }}""", timeout=90_000)
            wait_idle(page)
            assert page.locator(MAP).evaluate(UPLOAD_NAMES) == ["★ class song.wav"]
            assert page.locator(MAP).evaluate(COUNT_TRACKS) == n_tracks
            assert page.get_by_text("sounds like", exact=False).first.is_visible()
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(shots / "4-upload.png"))
        finally:
            browser.close()
    print(f"\nscreenshots: {shots}")
