"""A long song dropped on the Map page in headless Chromium: the map keeps its shape.

At 1280 × 720 (a classroom projector) and 1920 × 1080, a song of more than
three minutes with a long file name full of HTML is uploaded; once its whole
path through time is drawn (``meta.kind == "trajectory"``, one point per window;
the star and a first part of the path may come before it), the plot area is as
wide as before the upload (the legends, the star's name and the time colour bar
do not squeeze it), neither the map's frame nor a legend scrolls, the star's
name stays on the map, and it reads as written (Plotly's pseudo-HTML is escaped).

The song is the shared free-licence songs one after the other when
``../shared/data/songs`` is there (a real song that changes genre), else
synthesised. Screenshots go to $GENRE_MAP_SCREENSHOTS or pytest's tmp dir.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, MAP_JS, map_chart, needs_chromium, shots_dir, wait_idle
from tests.synth import genre_clip, write_audio

pytestmark = needs_chromium
SONGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "songs"
MIN_SECONDS = 200.0
SECONDS = 240.0  # the song the test uploads
# a long name that Plotly would otherwise draw as bold text and a link (given to the uploader as the file's name)
NAME = "<b>bold</b><a href='javascript:alert(1)'>x</a> & a long name, live at the Royal Albert Hall.mp3"
PLOT_WIDTH = "el => el._fullLayout._size.w"
PATH_LENGTH = """el => Math.max(0, ...el._fullData.filter(t => t.meta && t.meta.kind === 'trajectory')
                                            .map(t => t._length))"""
# Plotly gives a legend taller than the plot its own scrollbar
LEGEND_SCROLLBARS = """el => Array.from(el.querySelectorAll('.legend .scrollbar'))
                             .map(s => s.getBoundingClientRect().height)"""
FRAME_OVERFLOW = """el => { const d = el.ownerDocument.documentElement;
    return [d.scrollHeight, d.clientHeight, d.scrollWidth, d.clientWidth]; }"""
STAR_LABEL = """el => { const i = el._fullData.findIndex(t => t.meta && t.meta.kind === 'upload');
    const text = el.querySelectorAll('.scatterlayer .trace')[i].querySelector('text');
    const r = text.getBoundingClientRect(), s = el._fullLayout._size;
    return {text: text.textContent, links: el.querySelectorAll('a').length,
            bold: text.querySelectorAll('tspan[style*="bold"]').length,
            left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            plot: [s.l, s.l + s.w, s.t, s.t + s.h]}; }"""


def long_song(folder: Path) -> Path:
    """A real song of more than three minutes that changes genre (the shared songs one after another), or a
    synthesised one that changes style every 40 s when the shared songs are not there."""
    from pipeline.audio import load_audio

    sr = 22050
    files = sorted(SONGS.glob("*.ogg")) if SONGS.is_dir() else []
    if files:
        y = np.concatenate([load_audio(f, sr=sr) for f in files[:3]])  # brahms, fats waller, karissa hobbs
    else:
        rng = np.random.default_rng(3)
        y = np.concatenate([genre_clip(g % 4, 40.0, sr, rng) for g in range(6)])
    assert len(y) >= MIN_SECONDS * sr
    return write_audio(folder / "long song.mp3", y[: int(SECONDS * sr)], sr)


def n_windows(seconds: float) -> int:
    """How many windows the shipped bundle places a song of ``seconds`` in (its path's points)."""
    from explorer.state import DEFAULT_BUNDLE
    from pipeline.bundle import load_bundle
    from pipeline.spectrogram import SpectrogramConfig, nominal_starts_s

    spec = SpectrogramConfig.from_dict(load_bundle(DEFAULT_BUNDLE).meta["config"]["spectrogram"])
    return len(nominal_starts_s(int(seconds * spec.sample_rate), spec))


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return long_song(tmp_path_factory.mktemp("long_song"))


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080)])
def test_a_long_song_leaves_the_map_its_shape(server, song, tmp_path, width, height):
    from playwright.sync_api import sync_playwright

    shots = shots_dir(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server)
            chart = map_chart(page)
            chart.wait_for(timeout=60_000)
            wait_idle(page)
            before = chart.evaluate(PLOT_WIDTH)
            page.screenshot(path=str(shots / f"long-song-{width}x{height}-before.png"))
            page.locator('input[type="file"]').set_input_files(
                {"name": NAME, "mimeType": "audio/mpeg", "buffer": song.read_bytes()})
            # the star may come first and the path later (placed in the background): wait for the whole path
            page.wait_for_function(f"""n => {{ const el = {MAP_JS};
                return el && el._fullData && ({PATH_LENGTH})(el) >= n; }}""", arg=n_windows(SECONDS), timeout=300_000)
            wait_idle(page)
            page.wait_for_timeout(500)  # the frame's height follows the drawn chart
            after = chart.evaluate(PLOT_WIDTH)
            page.screenshot(path=str(shots / f"long-song-{width}x{height}-after.png"))
            print(f"\n{width}x{height}: plot area {before:.0f} px wide before the song, {after:.0f} px after")
            assert after >= 0.9 * before, (before, after)
            scroll_h, client_h, scroll_w, client_w = chart.evaluate(FRAME_OVERFLOW)
            assert scroll_h <= client_h and scroll_w <= client_w, "the map's frame scrolls"
            assert not any(chart.evaluate(LEGEND_SCROLLBARS)), "a legend scrolls"
            label = chart.evaluate(STAR_LABEL)
            assert label["text"].startswith("<b>bold</b><a href=") and "…" in label["text"], label
            assert label["links"] == 0 and label["bold"] == 0, label  # drawn as text, not as markup
            left, right, top, bottom = label["plot"]
            assert left - 1 <= label["left"] and label["right"] <= right + 1, label  # the star's name is not cut
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
    print(f"screenshots: {shots}")
