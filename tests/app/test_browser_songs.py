"""Whole songs in headless Chromium: a 3-minute mp3 answers from its first windows, then draws its whole path;
a song recorded from the room (a fake microphone that plays a file) is placed like a dropped-in file.

Uses the server and chart helpers of ``test_browser.py``. No timings are asserted (they are in
``benchmarks/bench_app.py``): only the order of what the page shows.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from pipeline.readout import FIRST_WINDOWS
from pipeline.spectrogram import SpectrogramConfig, nominal_starts_s
from tests.app.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MAP_JS,
    PATH_LENGTH,
    SIDEBAR,
    UPLOAD_NAMES,
    map_chart,
    no_exception,
    pytestmark,
    serve,
    shots_dir,
    wait_idle,
)
from tests.synth import genre_clip

assert pytestmark  # the same skip without Chromium
SR = 22050


@pytest.fixture
def server(tmp_path):
    yield from serve(tmp_path)


def windows_of(seconds: float) -> int:
    cfg = SpectrogramConfig()
    return len(nominal_starts_s(int(seconds * SR), cfg))


def on_map(js: str) -> str:
    return f"() => {{ const el = {MAP_JS}; return !!(el && el._fullData && ({js})); }}"


def test_a_three_minute_mp3_answers_first_then_draws_its_whole_path(server, tmp_path):
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(21)  # 3 min 10 s in three styles, stereo 44.1 kHz, as an mp3 from a shop
    y = np.concatenate([genre_clip(g, 63.4, SR, rng) for g in (0, 1, 2)])
    stereo = np.repeat(np.repeat(y, 2)[:, None], 2, axis=1) * np.array([1.0, 0.8], dtype=np.float32)
    song = tmp_path / "three minutes.mp3"
    sf.write(song, stereo, 2 * SR, format="MP3")
    total = windows_of(len(y) / SR)
    shots = shots_dir(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(server)
            map_chart(page).wait_for(timeout=60_000)
            wait_idle(page)
            page.locator('input[type="file"]').set_input_files(str(song))
            page.wait_for_function(on_map(f"({UPLOAD_NAMES})(el).length > 0"), timeout=120_000)
            # the first answer: the star, and the path of the windows heard so far
            assert map_chart(page).evaluate(PATH_LENGTH) == [FIRST_WINDOWS] and FIRST_WINDOWS < total
            page.wait_for_selector(f"{SIDEBAR} >> text=/of {FIRST_WINDOWS} windows.*so far/", timeout=60_000)
            page.screenshot(path=str(shots / "long-song-first-answer.png"))
            # …then the whole song: every window on the path, the readout over all of them
            page.wait_for_function(on_map(f"({PATH_LENGTH})(el)[0] === {total}"), timeout=180_000)
            page.wait_for_selector(f"{SIDEBAR} >> text=/of {total} windows/", timeout=60_000)
            wait_idle(page)
            assert "so far" not in page.locator(SIDEBAR).inner_text()
            no_exception(page)
            page.screenshot(path=str(shots / "long-song-whole-path.png"))
        finally:
            browser.close()
    print(f"\nscreenshots: {shots}")


def record(page, seconds: float) -> None:
    """Press the recorder's microphone, let the fake device play for ``seconds``, stop."""
    box = page.locator(".st-key-recorder_0")
    box.get_by_role("button", name="Record", exact=True).click()
    page.wait_for_timeout(int(seconds * 1000))
    box.get_by_role("button", name="Stop recording", exact=True).click()


def test_a_song_recorded_from_the_room_is_placed_like_a_file(server, tmp_path):
    from playwright.sync_api import sync_playwright

    played = tmp_path / "phone.wav"  # what the phone in the room plays (Chromium loops the file)
    sf.write(played, genre_clip(1, 20.0, 48_000, np.random.default_rng(3)), 48_000, subtype="PCM_16")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={played}"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 720}, permissions=["microphone"])
            page = context.new_page()
            page.goto(server)
            map_chart(page).wait_for(timeout=60_000)
            wait_idle(page)
            record(page, 2.0)  # too short: the same message as a too-short file
            page.wait_for_selector(f"{SIDEBAR} >> text=/room recording.wav.*too short/", timeout=90_000)
            wait_idle(page)
            record(page, 8.0)
            page.wait_for_function(on_map(f"({UPLOAD_NAMES})(el).includes('★ room recording.wav')"),
                                   timeout=120_000)
            page.wait_for_selector("h3:has-text('★ room recording.wav')", timeout=60_000)
            wait_idle(page)
            # its samples went up each second: MusiCNN's first two 3 s patches were computed before "Stop"
            assert re.search(r"[2-9] network inputs computed while you recorded", page.locator("body").inner_text())
            assert "too short" not in page.locator(SIDEBAR).inner_text()  # the new recording replaced the old
            assert page.locator(SIDEBAR).inner_text().count("room recording.wav: the model says") == 1
            page.wait_for_selector("audio[src*='/static/songs/']", state="attached", timeout=30_000)  # it plays
            no_exception(page)
            page.screenshot(path=str(shots_dir(tmp_path) / "recorded.png"))
        finally:
            browser.close()


def test_a_denied_microphone_is_said_in_one_line(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)  # no permission given
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(server)
            map_chart(page).wait_for(timeout=60_000)
            wait_idle(page)
            box = page.locator(".st-key-recorder_0")
            box.get_by_role("button", name="Record", exact=True).click()
            note = box.get_by_role("alert")
            note.filter(has_text="microphone").wait_for(timeout=30_000)
            assert "press Record again" in note.inner_text() or "https" in note.inner_text()
            assert box.get_by_role("button", name="Record", exact=True).is_visible()  # not left recording
            no_exception(page)
        finally:
            browser.close()
