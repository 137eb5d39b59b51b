"""A page that is closed leaves nothing behind under static/ (explorer/sessions_sweep.py), and a download is
a file served from there (explorer/exports.py): saved by the browser, no HTTP error."""
from __future__ import annotations

import time

import numpy as np

from explorer.media import STATIC_DIR
from tests.app.test_browser import MAP_JS, UPLOAD_NAMES
from tests.browser import CHROMIUM, CHROMIUM_ARGS, map_chart, needs_chromium, serve, wait_idle
from tests.synth import genre_clip, write_audio

pytestmark = needs_chromium
STAR = f"() => {{ const el = {MAP_JS}; return !!(el && el._fullData && ({UPLOAD_NAMES})(el).length > 0); }}"


def exported(name: str) -> set:
    return set(STATIC_DIR.glob(f"songs/*/*/exports/*/{name}"))


def test_a_closed_page_loses_its_song_and_export_files(tmp_path):
    from playwright.sync_api import sync_playwright

    song = write_audio(tmp_path / "closing song.wav", genre_clip(1, 8.0, 22050, np.random.default_rng(3)), 22050)
    name = "genre-map_gtzan_coordinates.csv"
    before = exported(name)
    errors = []
    for url in serve(tmp_path, flags=["--server.disconnectedSessionTTL", "1"]):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(accept_downloads=True)
                page = context.new_page()
                page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
                page.goto(url)
                map_chart(page).wait_for(timeout=60_000)
                wait_idle(page)
                page.locator('input[type="file"]').set_input_files(str(song))
                page.wait_for_function(STAR, timeout=120_000)
                wait_idle(page)
                page.get_by_text("Share or download this map").click()
                with page.expect_download(timeout=60_000) as info:
                    page.get_by_role("button", name="Coordinates (CSV)").click()
                download = info.value
                assert download.failure() is None and download.suggested_filename == name
                assert "blues" in open(download.path()).read()  # the clips' coordinates
                mine = exported(name) - before
                assert len(mine) == 1, mine
                folder = next(iter(mine)).parents[2]  # static/songs/<server>/<session>
                assert any(f.suffix == ".wav" for f in folder.iterdir())  # the song's player reads this file
                context.close()  # the page is closed: its session ends after the TTL, then the sweep runs
                deadline = time.monotonic() + 90
                while folder.exists() and time.monotonic() < deadline:
                    time.sleep(0.5)
                assert not folder.exists(), list(folder.rglob("*"))
            finally:
                browser.close()
    assert errors == []
