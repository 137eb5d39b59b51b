"""The real pages in headless Chromium on a 1280 × 720 projector: the whole map on the first screen, a layer
switch, a network switch (and back), a click, an upload → star and path.

Then the song's path through time (a click on the timeline and on the path moves the player), every other
page (linked selection in the Compare grid, the similarity heatmaps, the model), back to the Map with the
layer, selection and song kept, and at 1920 × 1080 a shared link (/?embedding=shallow&track=…) opening
that page and view.

Starts ``streamlit run app.py`` on a free port, drives Debian's /usr/bin/chromium
with Playwright and always stops the server. Screenshots (map-1280x720.png,
map-1920x1080.png and one per step) go to $GENRE_MAP_SCREENSHOTS or pytest's tmp dir
(printed at the end; run with ``-s`` to see the path).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer import keys
from pipeline.networks import network_title
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MAP_FRAME,
    MAP_JS,
    map_chart,
    needs_chromium,
    serve,
    shots_dir,
    wait_idle,
)
from tests.synth import genre_clip, write_audio

pytestmark = needs_chromium
SIDEBAR = "[data-testid=\"stSidebar\"]"
COUNT_TRACKS = """el => el._fullData.filter(t => t.meta && t.meta.kind === 'tracks')
                              .reduce((n, t) => n + t._length, 0)"""
FIRST_X = "el => Array.from(el._fullData.find(t => t.meta && t.meta.kind === 'tracks').x).slice(0, 5).join(',')"
DOTS = """el => Array.from(el.querySelectorAll('.scatterlayer .trace path.point')).map(p => {
    const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })"""
SELECTED = """el => el && el.data ? el.data.flatMap(t => (t.selectedpoints || []).map(i => t.customdata[i][0])) : []"""
X_RANGE = "el => el._fullLayout.xaxis.range.map(v => v.toFixed(3)).join(',')"
UPLOAD_NAMES = "el => el._fullData.filter(t => t.meta && t.meta.kind === 'upload').map(t => t.name)"
PATH_LENGTH = "el => el._fullData.filter(t => t.meta && t.meta.kind === 'trajectory').map(t => t._length)"
TIMELINE = ".st-key-detail_timeline .js-plotly-plot"
BARS = """el => Array.from(el.querySelectorAll('.barlayer .point')).map(p => {
    const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height * 0.7]; })"""
# the path point farthest (on screen) from every other point: a click there can only hit the path
LONELY_PATH_POINT = """el => {
    const groups = Array.from(el.querySelectorAll('.scatterlayer .trace'));
    const centre = p => { const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
    const k = el._fullData.findIndex(t => t.meta && t.meta.kind === 'trajectory');
    const mine = Array.from(groups[k].querySelectorAll('path.point')).map(centre);
    const others = groups.filter((g, i) => i !== k)
        .flatMap(g => Array.from(g.querySelectorAll('path.point')).map(centre));
    let best = null, bestD = -1;
    mine.forEach((a, i) => {
        const near = Math.min(...others.map(b => Math.hypot(a[0] - b[0], a[1] - b[1])),
                              ...mine.filter((b, j) => j !== i).map(b => Math.hypot(a[0] - b[0], a[1] - b[1])));
        if (near > bestD) { bestD = near; best = [a[0], a[1], i, near]; }
    });
    return best; }"""
ZOOM_ON_PATH_POINT = """(el, i) => {
    const t = el._fullData.find(t => t.meta && t.meta.kind === 'trajectory');
    const [x, y] = [t.x[i], t.y[i]], xr = el._fullLayout.xaxis.range, yr = el._fullLayout.yaxis.range;
    const dx = (xr[1] - xr[0]) / 8, dy = (yr[1] - yr[0]) / 8;
    return Plotly.relayout(el, {'xaxis.range': [x - dx, x + dx], 'yaxis.range': [y - dy, y + dy]}); }"""
SONG_PLAYER_TIME = """() => { const a = Array.from(document.querySelectorAll('audio'))
    .find(a => Math.abs(a.duration - 45) < 1.5); return a ? a.currentTime : -1; }"""

def in_page(page, x: float, y: float) -> tuple[float, float]:
    """A point of the map's iframe (its own client coordinates) in the page's, for page.mouse."""
    box = page.locator(MAP_FRAME).bounding_box()
    return box["x"] + x, box["y"] + y


LAYER = ".st-key-embedding"
CHECKED_LAYER = LAYER + ' input[type="radio"]:checked'
NAV = '[data-testid="stTopNavLinkContainer"], [data-testid="stSidebarNav"]'


def go_to_page(page, title: str, url_path: str) -> None:
    """Click a page in the navigation bar and wait until it is drawn and named in the address bar.

    ``url_path`` "" is the Map (the default page: "/"). The page is left idle for a moment first: a click
    while an earlier rerun is still answering can be overtaken by that rerun's address.
    """
    from urllib.parse import urlparse

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def there(url: str) -> bool:
        return urlparse(url).path.rstrip("/") == f"/{url_path}".rstrip("/")

    for attempt in range(3):  # a click that lands while the page is busy is sometimes ignored: click again
        wait_idle(page)
        page.wait_for_timeout(500)
        wait_idle(page)
        page.get_by_role("link", name=title, exact=True).first.click()
        try:
            page.wait_for_url(there, timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    page.wait_for_timeout(300)
    wait_idle(page)


def switch_network(page, title: str, embedding: str) -> None:
    """Pick a network in the network selector; wait for its map (named in the address bar) to be drawn."""
    from urllib.parse import quote

    before = map_chart(page).evaluate(FIRST_X)
    wait_idle(page)
    page.locator(f".st-key-{keys.NETWORK}").click()
    page.get_by_role("option", name=title, exact=True).click()
    page.wait_for_function(f"""before => {{
        const el = {MAP_JS};
        return el && el._fullData && ({FIRST_X})(el) !== before; }}""", arg=before, timeout=30_000)
    wait_idle(page)
    assert f"embedding={quote(embedding)}" in page.url, page.url


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_map_switch_and_upload_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from explorer.state import DEFAULT_BUNDLE
    from pipeline.bundle import load_bundle

    n_tracks = len(load_bundle(DEFAULT_BUNDLE).tracks)
    rng = np.random.default_rng(7)  # 45 s that change style halfway: a path with somewhere to go
    medley = np.concatenate([genre_clip(0, 20.0, 22050, rng), genre_clip(2, 25.0, 22050, rng)])
    song = write_audio(tmp_path / "class song.wav", medley, 22050)
    shots = shots_dir(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})  # a classroom projector
            page.goto(server)
            map_chart(page).wait_for(timeout=60_000)
            wait_idle(page)
            chart = map_chart(page)
            assert chart.evaluate(COUNT_TRACKS) == n_tracks
            box = chart.bounding_box()  # the whole map on the first screen, without scrolling
            assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box
            page.screenshot(path=str(shots / "map-1280x720.png"))

            before = chart.evaluate(FIRST_X)
            chart.evaluate("el => { el.__drawn_before = true; }")  # marks this chart (a remount would lose it)
            page.locator(LAYER).get_by_text("shallow", exact=True).click()
            page.wait_for_function(f"""before => {{
                const el = {MAP_JS};
                return el && el._fullData && ({FIRST_X})(el) !== before; }}""", arg=before, timeout=30_000)
            wait_idle(page)
            assert chart.evaluate(COUNT_TRACKS) == n_tracks
            assert chart.evaluate("el => el.__drawn_before === true")  # redrawn in place, not a new chart
            assert "embedding=shallow" in page.url
            page.screenshot(path=str(shots / "2-shallow.png"))

            # the other network: the same layer of MusiCNN, then back (the walk below expects MobileNetV2's)
            for network, key in (("musicnn", "musicnn.shallow"), ("mobilenet_v2", "shallow")):
                switch_network(page, network_title(network), key)
                assert chart.evaluate(COUNT_TRACKS) == n_tracks
                assert page.locator(CHECKED_LAYER).evaluate("el => el.closest('label').innerText").strip() == "shallow"
                no_exception(page)
                if network == "musicnn":
                    page.screenshot(path=str(shots / "2b-musicnn.png"))

            # zoom in, then click a dot: its detail panel opens and the zoom is kept
            box = chart.bounding_box()
            full_range = chart.evaluate(X_RANGE)
            page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
            page.mouse.wheel(0, -200)
            page.wait_for_function(f"r => ({X_RANGE})({MAP_JS}) !== r", arg=full_range)
            page.wait_for_timeout(1500)  # plotly redraws a moment after a scroll zoom
            zoomed = chart.evaluate(X_RANGE)
            bottom = min(box["y"] + box["height"] - 40, page.viewport_size["height"] - 20)
            dots = [in_page(page, x, y) for x, y in chart.evaluate(DOTS)]
            inside = [(x, y) for x, y in dots  # dots well inside the zoomed view and the window
                      if box["x"] + 40 < x < box["x"] + box["width"] * 0.6 and box["y"] + 60 < y < bottom]
            assert inside, "no dot to click inside the zoomed map"
            x, y = inside[0]
            page.mouse.click(x, y)
            page.wait_for_function(f"() => ({SELECTED})({MAP_JS}).length === 1",
                                   timeout=30_000)
            (clicked,) = map_chart(page).evaluate(SELECTED)
            page.wait_for_selector(f"h3:has-text('{clicked}')", timeout=60_000)
            wait_idle(page)
            assert map_chart(page).evaluate(SELECTED) == [clicked]
            assert map_chart(page).evaluate(X_RANGE) == zoomed != full_range
            assert f"track={clicked}" in page.url  # the address follows the selection
            page.screenshot(path=str(shots / "3-clicked.png"))

            page.locator('input[type="file"]').set_input_files(str(song))
            page.wait_for_function(f"""() => {{
                const el = {MAP_JS};
                return el && el._fullData && ({UPLOAD_NAMES})(el).length > 0; }}""", timeout=90_000)
            page.wait_for_selector("h3:has-text('★ class song.wav')", timeout=60_000)  # the rest of the page follows
            wait_idle(page)
            assert map_chart(page).evaluate(UPLOAD_NAMES) == ["★ class song.wav"]
            assert map_chart(page).evaluate(COUNT_TRACKS) == n_tracks
            assert page.get_by_text("sounds like", exact=False).first.is_visible()
            no_exception(page)
            page.screenshot(path=str(shots / "4-upload.png"))

            # the song's path through time: 8 windows of 10 s (every 5 s; the first answer heard 4 of them, the
            # rest follow in the background), and a timeline to play from
            page.wait_for_function(f"() => {{ const el = {MAP_JS}; return el && el._fullData && "
                                   f"({PATH_LENGTH})(el)[0] === 8; }}", timeout=90_000)
            page.wait_for_selector("h3:has-text('★ class song.wav')", timeout=60_000)
            wait_idle(page)
            timeline = page.locator(TIMELINE)
            timeline.scroll_into_view_if_needed()
            bars = timeline.evaluate(BARS)
            assert len(bars) == 8
            page.mouse.click(*bars[4])  # 0:20–0:30
            page.wait_for_selector("text=0:20–0:30", timeout=60_000)
            wait_idle(page)
            page.wait_for_function(f"() => ({SONG_PLAYER_TIME})() >= 19.5", timeout=30_000)
            page.screenshot(path=str(shots / "5-timeline-jump.png"))
            # …and a click on the path itself does the same (zoomed in until no other dot is near that point)
            map_chart(page).scroll_into_view_if_needed()
            for _ in range(4):
                x, y, index, gap = map_chart(page).evaluate(LONELY_PATH_POINT)
                if gap > 12:
                    break
                map_chart(page).evaluate(ZOOM_ON_PATH_POINT, index)
                page.wait_for_timeout(800)
            assert gap > 12, f"path point {index} is always covered by another dot ({gap:.1f} px)"
            page.mouse.click(*in_page(page, x, y))
            page.wait_for_selector(f"text={index * 5 // 60}:{index * 5 % 60:02d}–", timeout=60_000)
            wait_idle(page)
            page.wait_for_function(f"() => ({SONG_PLAYER_TIME})() >= {index * 5 - 0.5}", timeout=30_000)
            song_key = map_chart(page).evaluate(SELECTED)
            try:
                walk_the_other_pages(page, shots, song_key)
            except Exception:
                page.screenshot(path=str(shots / "failed.png"))
                print("failed at", page.url)
                raise
        finally:
            browser.close()
    print(f"\nscreenshots: {shots}")


def walk_the_other_pages(page, shots: Path, selected: list) -> None:
    """Compare layers (linked grid, the song's star), Genre similarity, Model, and back to the Map: the layer,
    the selection and the song are kept; each page is named in the address bar."""
    go_to_page(page, "Compare layers", "compare")
    cell = page.locator(".st-key-grid_shallow .js-plotly-plot")
    cell.wait_for(timeout=60_000)
    assert "/compare" in page.url and "embedding=shallow" in page.url
    assert cell.evaluate(UPLOAD_NAMES) == ["★ class song.wav"]  # the song followed
    # side by side: a dot clicked on the shallow cell is highlighted on every cell
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    cbox = cell.bounding_box()
    dots = [(x, y) for x, y in cell.evaluate(DOTS)
            if cbox["x"] + 30 < x < cbox["x"] + cbox["width"] - 30
            and cbox["y"] + 50 < y < cbox["y"] + cbox["height"] - 20
            and 0 < y < page.viewport_size["height"]]
    assert dots
    page.mouse.click(*dots[len(dots) // 2])
    page.wait_for_function("() => (" + SELECTED + ")(document.querySelector('.st-key-grid_shallow .js-plotly-plot'))"
                           ".length === 1", timeout=30_000)
    (picked,) = cell.evaluate(SELECTED)
    for other in ("grid_none", "grid_immediate", "grid_deep"):
        page.wait_for_function(f"() => ({SELECTED})(document.querySelector('.st-key-{other} .js-plotly-plot'))"
                               f".includes('{picked}')", timeout=60_000)
    wait_idle(page)
    assert f"track={picked}" in page.url
    no_exception(page)
    page.screenshot(path=str(shots / "6-compare.png"))

    go_to_page(page, "Genre similarity", "similarity")
    page.wait_for_selector(".st-key-sim_relative .js-plotly-plot", timeout=60_000)
    assert "/similarity" in page.url
    assert page.locator(CHECKED_LAYER).evaluate("el => el.closest('label').innerText").strip() == "shallow"
    assert page.get_by_text("Last layer (shallow)").count() >= 1  # the heatmaps' caption: that layer's
    no_exception(page)
    page.screenshot(path=str(shots / "7-similarity.png"))

    go_to_page(page, "Model", "model")
    page.wait_for_selector(".st-key-confusion .js-plotly-plot", timeout=60_000)
    assert "/model" in page.url
    no_exception(page)
    page.screenshot(path=str(shots / "8-model.png"))

    go_to_page(page, "Map", "")
    map_chart(page).wait_for(timeout=60_000)
    wait_idle(page)
    assert map_chart(page).evaluate(UPLOAD_NAMES) == ["★ class song.wav"]
    assert map_chart(page).evaluate(SELECTED) == [picked]
    assert page.locator(CHECKED_LAYER).evaluate("el => el.closest('label').innerText").strip() == "shallow"
    no_exception(page)


def test_a_shared_link_opens_its_page_and_view_at_1920x1080(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = shots_dir(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            shared = browser.new_page(viewport={"width": 1920, "height": 1080})
            shared.goto(f"{server}/?embedding=shallow&track=blues.00003")  # as the page's share link writes it
            map_chart(shared).wait_for(timeout=60_000)
            wait_idle(shared)
            shared.wait_for_selector("h3:has-text('blues.00003')", timeout=60_000)
            assert shared.locator(CHECKED_LAYER).evaluate("el => el.closest('label').innerText").strip() == "shallow"
            assert map_chart(shared).evaluate(SELECTED) == ["blues.00003"]
            assert "embedding=shallow" in shared.url and "track=blues.00003" in shared.url
            box = map_chart(shared).bounding_box()
            assert box["y"] + box["height"] <= 1080
            no_exception(shared)
            assert shared.locator('[data-testid="stDialog"]').count() == 0  # e.g. Streamlit's "page not found"
            shared.screenshot(path=str(shots / "map-1920x1080.png"))
            # a box drawn on the map (the toolbar's box select) selects the clips inside it, as a lasso would
            chart = map_chart(shared)
            box = chart.bounding_box()
            shared.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)  # shows the toolbar
            shared.frame_locator(MAP_FRAME).locator('.modebar-btn[data-val="select"]').click()
            shared.mouse.move(box["x"] + 60, box["y"] + 80)
            shared.mouse.down()
            shared.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.8, steps=10)
            shared.mouse.up()
            shared.wait_for_selector("text=/[0-9]+ selected/", timeout=60_000)
            wait_idle(shared)
            boxed = chart.evaluate(SELECTED)
            assert len(boxed) > 1 and shared.get_by_text(f"{len(boxed)} selected").count() >= 1
            no_exception(shared)
            # a link names its page too
            shared.goto(f"{server}/similarity?embedding=none")
            shared.wait_for_selector(".st-key-sim_absolute .js-plotly-plot", timeout=60_000)
            wait_idle(shared)
            assert shared.locator(CHECKED_LAYER).evaluate("el => el.closest('label').innerText").strip() == "none"
            no_exception(shared)
        finally:
            browser.close()
    print(f"\nscreenshots: {shots}")


@pytest.fixture
def large_server(tmp_path):
    """The app on a collection of GL_FROM clips (jittered copies of the shipped ones): a WebGL map."""
    from explorer.state import DEFAULT_BUNDLE
    from explorer.views.map_view import GL_FROM
    from tests.conftest import large_bundle_module

    yield from serve(tmp_path, large_bundle_module().make_large_bundle(DEFAULT_BUNDLE, tmp_path / "large", GL_FROM))


# where plotly draws a track's dot (its k-th), in the map frame's client coordinates
DOT_AT = """(el, k) => { const t = el._fullData.find(t => t.meta && t.meta.kind === 'tracks');
    const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
    return [xa._offset + xa.l2p(t.x[k]), ya._offset + ya.l2p(t.y[k])]; }"""


def test_a_webgl_map_is_clicked_and_switched_in_place(large_server):
    from playwright.sync_api import sync_playwright

    from explorer.views.map_view import GL_FROM, SLIM_HINT

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(large_server)
            chart = map_chart(page)
            chart.wait_for(timeout=120_000)
            wait_idle(page)
            assert chart.evaluate(COUNT_TRACKS) == GL_FROM
            kinds = chart.evaluate("el => el._fullData.filter(t => t.meta.kind === 'tracks').map(t => t.type)")
            assert set(kinds) == {"scattergl"}
            assert SLIM_HINT in chart.evaluate("el => el._fullData[0].hovertemplate")  # the short hover
            # a click on a dot (the one drawn on top there) selects it and opens its detail panel
            x, y = in_page(page, *chart.evaluate(DOT_AT, 7))
            page.mouse.move(x, y)
            page.mouse.click(x, y)
            page.wait_for_function(f"() => ({SELECTED})({MAP_JS}).length === 1", timeout=60_000)
            (clicked,) = chart.evaluate(SELECTED)
            page.wait_for_selector(f"h3:has-text('{clicked}')", timeout=60_000)
            wait_idle(page)
            # a layer switch redraws the same chart (a remount would lose the mark)
            before = chart.evaluate(FIRST_X)
            chart.evaluate("el => { el.__drawn_before = true; }")
            page.locator(LAYER).get_by_text("shallow", exact=True).click()
            page.wait_for_function(f"""before => {{ const el = {MAP_JS};
                return el && el._fullData && ({FIRST_X})(el) !== before; }}""", arg=before, timeout=60_000)
            wait_idle(page)
            assert chart.evaluate("el => el.__drawn_before === true") and chart.evaluate(COUNT_TRACKS) == GL_FROM
            assert chart.evaluate(SELECTED) == [clicked]  # the selection is drawn on the new layer's map
            no_exception(page)
        finally:
            browser.close()
