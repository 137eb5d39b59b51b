"""Teaching with the map, in headless Chromium: play the layers (the dots move, in the same chart, and the page
follows the layer the map stops on) and presentation mode (← / → step the layers; a song's star and genre).

Servers and helpers are tests/browser.py's (the server fixture: tests/app/conftest.py).
Screenshots (present-1280x720.png, present-1920x1080.png, and a
map while playing) go to $GENRE_MAP_SCREENSHOTS or pytest's tmp dir.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from tests.app.test_browser import CHECKED_LAYER, UPLOAD_NAMES, no_exception
from tests.browser import CHROMIUM, CHROMIUM_ARGS, MAP_FRAME, map_chart, needs_chromium, shots_dir, wait_idle
from tests.synth import genre_clip, write_audio

pytestmark = needs_chromium
PRESENT_FRAME = ".st-key-present_chart iframe"
# the on-screen centres of the first tracks trace's first 20 dots (SVG), in the chart's iframe
DOT_CENTRES = """el => Array.from(el.querySelectorAll('.scatterlayer .trace')[0].querySelectorAll('path.point'))
    .slice(0, 20).map(p => {
        const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })
    .flat().map(v => v.toFixed(1)).join(',')"""


def address_has(page, part: str) -> None:
    """Wait until the address bar holds ``part`` (Streamlit rewrites it without a navigation)."""
    page.wait_for_function("p => window.location.href.includes(p)", arg=part, timeout=30_000)


def play_state(page, frame: str, what: str):
    """``window.layerPlay.<what>`` of the chart in ``frame`` (explorer/map_chart.html)."""
    return page.evaluate(f"() => document.querySelector('{frame}').contentWindow.layerPlay.{what}")


@contextmanager
def projector_page():
    """A page of a headless Chromium at 1280 × 720 (a classroom projector); the browser closes after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 720})
        finally:
            browser.close()


def test_play_the_layers_moves_the_dots_in_the_same_chart(server, tmp_path):
    shots = shots_dir(tmp_path)
    with projector_page() as page:
        page.goto(server + "/?embedding=none")
        chart = map_chart(page)
        chart.wait_for(timeout=60_000)
        wait_idle(page)
        assert play_state(page, MAP_FRAME, "shown()") == "none"
        chart.evaluate("el => { el.__before_play = true; }")  # a new chart would lose this mark
        start = chart.evaluate(DOT_CENTRES)
        page.frame_locator(MAP_FRAME).locator("#play").click()
        seen = [start]
        for _ in range(12):  # sample the dots while they move: they are somewhere new each time
            page.wait_for_timeout(150)
            seen.append(chart.evaluate(DOT_CENTRES))
            if len(seen) == 5:
                page.screenshot(path=str(shots / "play-moving.png"))
        page.wait_for_function(f"""() => !document.querySelector('{MAP_FRAME}').contentWindow.layerPlay.busy()""",
                               timeout=60_000)
        assert len(set(seen)) >= 6, "the dots did not move between frames"
        assert chart.evaluate("el => el.__before_play === true")  # the same chart all along
        assert play_state(page, MAP_FRAME, "shown()") == "shallow"
        assert play_state(page, MAP_FRAME, "moves") == 3  # none → immediate → deep → shallow
        assert len(play_state(page, MAP_FRAME, "frameTimes")) > 10
        # the page follows the layer the map stopped on: its layer control and its address
        address_has(page, "embedding=shallow")
        wait_idle(page)
        assert page.locator(CHECKED_LAYER).evaluate("el => el.closest('label').innerText").strip() == "shallow"
        # a layer's own button stops there: back to deep
        page.frame_locator(MAP_FRAME).get_by_role("button", name="deep", exact=True).click()
        address_has(page, "embedding=deep")
        wait_idle(page)
        assert play_state(page, MAP_FRAME, "shown()") == "deep"
        no_exception(page)


def test_presentation_mode_keys_step_the_layers_and_show_the_song(server, tmp_path):
    rng = np.random.default_rng(3)
    song = write_audio(tmp_path / "room song.wav", genre_clip(2, 12.0, 22050, rng), 22050)
    shots = shots_dir(tmp_path)
    with projector_page() as page:
        # a prepared link (?present=1) opens presentation mode, on the layer it names
        page.goto(server + "/?present=1&embedding=none")
        address_has(page, "/present")
        present = page.frame_locator(PRESENT_FRAME).locator(".js-plotly-plot")
        present.wait_for(timeout=60_000)
        wait_idle(page)
        assert page.locator('[data-testid="stSidebar"]').is_hidden()  # the controls are folded away
        assert play_state(page, PRESENT_FRAME, "shown()") == "none"
        caption = page.frame_locator(PRESENT_FRAME).locator("#caption")
        first_caption = caption.inner_text()
        for key, layer in (("ArrowRight", "immediate"), ("ArrowRight", "deep"), ("ArrowLeft", "immediate"),
                           ("ArrowRight", "deep"), ("ArrowRight", "shallow"), ("ArrowRight", "shallow")):
            page.keyboard.press(key)
            page.wait_for_function(f"""l => document.querySelector('{PRESENT_FRAME}').contentWindow
                .layerPlay.shown() === l && !document.querySelector('{PRESENT_FRAME}').contentWindow
                .layerPlay.busy()""", arg=layer, timeout=30_000)
        assert caption.inner_text() != first_caption
        address_has(page, "embedding=shallow")
        wait_idle(page)
        # back to the Map, a song dropped in, and to presentation mode again: its star and its genre
        page.get_by_role("link", name="Leave").click()
        map_chart(page).wait_for(timeout=60_000)
        wait_idle(page)
        page.locator('input[type="file"]').set_input_files(str(song))
        page.wait_for_function(f"""() => {{
            const el = document.querySelector('{MAP_FRAME}')?.contentDocument?.querySelector('.js-plotly-plot');
            return el && el._fullData && ({UPLOAD_NAMES})(el).length > 0; }}""", timeout=120_000)
        wait_idle(page)
        page.get_by_role("link", name="Present to a class").click()
        address_has(page, "/present")
        present.wait_for(timeout=60_000)
        wait_idle(page)
        page.wait_for_timeout(1000)
        assert present.evaluate(UPLOAD_NAMES) == ["★ room song.wav"]
        assert page.locator(".present-genre").inner_text().strip()  # the song's genre, in large type
        page.screenshot(path=str(shots / "present-1280x720.png"))
        box = present.bounding_box()  # the map fills the projector's width
        assert box["width"] >= 1100, box
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.wait_for_timeout(1500)
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(f"""() => document.querySelector('{PRESENT_FRAME}').contentWindow
            .layerPlay.shown() === 'deep'""", timeout=30_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(shots / "present-1920x1080.png"))
        no_exception(page)
    print(f"\nscreenshots: {shots}")
