"""Teaching with the map in real Chromium: how smoothly the layers play, how fast presentation mode steps.

    python benchmarks/bench_teach.py           # the shipped bundle, then 10 000 tracks (benchmarks/large_bundle.py)
    python benchmarks/bench_teach.py --sizes   # the shipped bundle only (--sizes 10000: that size only)
    python benchmarks/bench_teach.py --record  # a 10 s recording from the room → star, vs the same clip uploaded

For each collection, on a fresh server at 1280 × 720 (helpers of benchmarks/bench_app.py):
**play**: "play the layers" on the Map page (none → immediate → deep → shallow, 1.2 s a move); frames per
second from the browser's own frame times (``requestAnimationFrame`` timestamps the chart records while the
dots move; the pauses between moves left out): the mean rate and the 10th-percentile rate (one frame in ten is
slower than that). **step**: in presentation mode, ← / → (the key pressed → the dots settled on the next
layer: a 0.1 s move), median of 6; against the one-chart reference page's rerun (a radio click → its new chart
drawn and the script finished; bench_app.py's reference page, measured in the same run just before).

**record**: the Map page's recorder with Chromium's fake microphone playing a 10 s clip of a shared song: "Stop
recording" → the star on the map, against the same clip uploaded as a file (choose → star), after one untimed
upload (a page's first song draws its panels for the first time); medians of 3 (``--runs``), on the
page's own clock (the click or the file input's change → the star drawn); with each placement's own time (the
detail panel's "first answer in") and the recorder's browser time from the stop to the WAV sent.

Targets: record 10 s → star ≤ the same clip's upload → star + 10 s; play ≥ 30 frames per second with the
shipped bundle, ≥ 15 with 10 000 tracks; a step ≤ the reference's rerun. The machine is shared: the frame
rates are absolute (the browser's own clock) but depend on its load; say the load with them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_app import (  # noqa: E402
    APP,
    APP_CHART,
    CHROMIUM,
    CHROMIUM_ARGS,
    STARS,
    VIEWPORT,
    Server,
    large_bundle,
    measure_reference,
)

MAP_FRAME = ".st-key-map_chart iframe"
PRESENT_FRAME = ".st-key-present_chart iframe"
IDLE = '[data-test-script-state="notRunning"]'
RECORD_S = 10.0  # a recording from the room
SHARED_SONG = REPO.parent / "shared" / "data" / "songs" / "kevin_macleod-vibe_ace.ogg"
GAP_MS = 200  # longer than any frame: a pause between two moves, not a frame
TARGET_FPS = {"small": 30.0, "large": 15.0}


def play_state(page, frame: str, what: str):
    return page.evaluate(f"() => document.querySelector('{frame}').contentWindow.layerPlay.{what}")


def wait_settled(page, frame: str, layer: str | None = None) -> None:
    page.wait_for_function(f"""l => {{ const w = document.querySelector('{frame}')?.contentWindow;
        return w && w.layerPlay && !w.layerPlay.busy() && (l === null || w.layerPlay.shown() === l); }}""",
                           arg=layer, timeout=300_000)


def frame_rates(times: list[float]) -> tuple[float, float, int]:
    """(mean frames per second, 10th-percentile rate, frames) of rAF timestamps, pauses left out."""
    dt = np.diff(np.asarray(times, dtype=float))
    dt = dt[(dt > 0) & (dt < GAP_MS)]
    return 1000.0 / float(dt.mean()), 1000.0 / float(np.percentile(dt, 90)), len(dt)


def open_on_none(browser, address: str, frame: str):
    """A new 1280 × 720 page at ``address``, its map drawn on the first layer and the script finished."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(address)
    page.wait_for_selector(frame, timeout=300_000)
    page.wait_for_selector(IDLE, timeout=300_000)
    wait_settled(page, frame, "none")
    return page


def measure_play(browser, url: str, plays: int = 2) -> dict:
    page = open_on_none(browser, url + "/?embedding=none", MAP_FRAME)
    rates = []
    for _ in range(plays):
        page.evaluate(f"() => {{ document.querySelector('{MAP_FRAME}').contentWindow.layerPlay.frameTimes = []; }}")
        page.frame_locator(MAP_FRAME).locator("#play").click()
        page.wait_for_timeout(300)
        wait_settled(page, MAP_FRAME, None)
        rates.append(frame_rates(play_state(page, MAP_FRAME, "frameTimes")))
        page.wait_for_selector(IDLE, timeout=300_000)
        page.wait_for_timeout(1500)  # the page's rerun on the layer the map stopped on
    page.close()
    return {"fps": statistics.median(r[0] for r in rates), "fps_p10": statistics.median(r[1] for r in rates),
            "frames": sum(r[2] for r in rates)}


def measure_steps(browser, url: str) -> dict:
    page = open_on_none(browser, url + "/present?embedding=none", PRESENT_FRAME)
    times = []
    for key, layer in (("ArrowRight", "immediate"), ("ArrowRight", "deep"), ("ArrowRight", "shallow"),
                       ("ArrowLeft", "deep"), ("ArrowLeft", "immediate"), ("ArrowLeft", "none")):
        page.wait_for_timeout(600)
        t0 = time.perf_counter()
        page.keyboard.press(key)
        wait_settled(page, PRESENT_FRAME, layer)
        times.append(time.perf_counter() - t0)
    page.close()
    return {"step": statistics.median(times)}


def room_clip(seconds: float = RECORD_S) -> Path:
    """What a phone in the room plays: the start of a shared free-licence song, as a 48 kHz WAV."""
    import tempfile

    import soundfile as sf

    from pipeline.audio import load_audio

    y = load_audio(SHARED_SONG, sr=48_000, max_seconds=seconds)
    out = Path(tempfile.mkdtemp(prefix="bench_room_")) / "room clip.wav"
    sf.write(out, y, 48_000, subtype="PCM_16")
    return out


# The page's clock from an event (the click on "Stop recording", the file input's change) to the star on the map:
# a capture listener notes the event, a rAF-polled check the star, so Playwright's own round trips are left out.
MARK_EVENT = """e => { window.benchT0 = null;
    document.addEventListener(e, () => { window.benchT0 ??= performance.now(); }, {capture: true, once: true}); }"""
SINCE_EVENT = f"""n => window.benchT0 !== null && ({STARS})('{APP_CHART}') >= n && performance.now() - window.benchT0"""
FIRST_ANSWER = r"first answer in ([0-9.]+) s"


def star_after(page, event: str, act, stars: int = 1) -> dict:
    """Seconds (the page's clock) from ``event`` that ``act()`` causes to the ``stars``-th star; and the placement's
    own time (the pipeline's, as the detail panel says it)."""
    import re

    page.evaluate(MARK_EVENT, event)
    act()
    seconds = page.wait_for_function(SINCE_EVENT, arg=stars, timeout=300_000).json_value() / 1000
    page.wait_for_selector(IDLE, timeout=300_000)
    page.wait_for_timeout(500)
    said = re.search(FIRST_ANSWER, page.locator("body").inner_text())
    return {"star": seconds, "placing": float(said.group(1)) if said else float("nan")}


def remove_all(page) -> None:
    page.wait_for_selector(IDLE, timeout=300_000)
    page.locator(".st-key-remove_songs button").click()
    page.wait_for_function(f"() => ({STARS})('{APP_CHART}') === 0", timeout=120_000)
    page.wait_for_selector(IDLE, timeout=300_000)


def measure_record(p, url: str, clip: Path, seconds: float = RECORD_S, runs: int = 3) -> dict:
    """A recording of ``clip`` (Chromium's fake microphone plays it): seconds from "Stop recording" to its star;
    then the same clip uploaded as a file: seconds from choosing it to its star (medians of ``runs``); with the
    placement's own time and, for the recorder, the browser's time from the stop to the WAV sent."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={clip}"])
    page = browser.new_context(viewport=VIEWPORT, permissions=["microphone"]).new_page()
    page.goto(url)
    page.wait_for_selector(MAP_FRAME, timeout=300_000)
    # one song placed and removed first, untimed: the page's first song draws its detail panel and players for the
    # first time (seen: the first recording in a new browser 0.4-0.6 s, the ones after 0.2-0.4 s)
    choose = page.locator('input[type="file"]')
    star_after(page, "change", lambda: choose.set_input_files(str(clip)))
    remove_all(page)
    recorded, uploaded, sent = [], [], []
    for _ in range(runs):
        page.wait_for_selector(IDLE, timeout=300_000)
        page.wait_for_timeout(1000)
        box = page.locator("[class*='st-key-recorder_']")  # the round changes with "remove all"
        box.get_by_role("button", name="Record", exact=True).click()
        page.wait_for_timeout(int(seconds * 1000))
        recorded.append(star_after(page, "click", box.get_by_role("button", name="Stop recording", exact=True).click))
        t = page.evaluate("() => window.genreMapRecorder")  # not there with st.audio_input
        sent.append((t["sent"] - t["stopped"]) / 1000 if t else float("nan"))
        remove_all(page)  # the same clip comes back as a file
        page.wait_for_timeout(1000)
        uploaded.append(star_after(page, "change", lambda: choose.set_input_files(str(clip))))
        remove_all(page)
    browser.close()
    med = statistics.median
    return {"stop_to_star": med(r["star"] for r in recorded), "upload_to_star": med(r["star"] for r in uploaded),
            "record_placing": med(r["placing"] for r in recorded),
            "upload_placing": med(r["placing"] for r in uploaded),
            "stop_to_sent": med(sent), "all_recorded": [round(r["star"], 3) for r in recorded],
            "all_uploaded": [round(r["star"], 3) for r in uploaded]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=None,
                    help="collection sizes besides the shipped bundle's (default 10000; none: the shipped only)")
    ap.add_argument("--repeats", type=int, default=3, help="reference page switches (×2)")
    ap.add_argument("--record", action="store_true",
                    help="only: a 10 s recording from the (fake) microphone → star, against the same clip uploaded")
    ap.add_argument("--runs", type=int, default=3, help="with --record: recordings and uploads (alternating)")
    args = ap.parse_args()
    sizes = [10000] if args.sizes is None else args.sizes
    from playwright.sync_api import sync_playwright

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if args.record:
                with Server(APP, None) as server:
                    r = measure_record(p, server.url, room_clip(), runs=args.runs)
                verdict = "ok" if r["stop_to_star"] <= r["upload_to_star"] else "MISSED"
                print(f"record {RECORD_S:.0f} s → star: {RECORD_S + r['stop_to_star']:.2f} s "
                      f"({r['stop_to_star']:.3f} s after 'stop'; of which the browser {r['stop_to_sent']:.3f} s, "
                      f"placing {r['record_placing']:.2f} s) | the same clip uploaded → star "
                      f"{r['upload_to_star']:.3f} s (placing {r['upload_placing']:.2f} s) | ratio "
                      f"{r['stop_to_star'] / r['upload_to_star']:.2f} | target: record → star ≤ upload → star + "
                      f"{RECORD_S:.0f} s: {verdict} | runs {r['all_recorded']} vs {r['all_uploaded']} | "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                return
            for n in [None] + [s for s in sizes if s]:
                bundle = large_bundle(n) if n else None
                ref = measure_reference(browser, n or 253, args.repeats)
                with Server(APP, bundle) as server:
                    play = measure_play(browser, server.url)
                    steps = measure_steps(browser, server.url)
                target = TARGET_FPS["large" if n else "small"]
                name = f"{n} tracks" if n else "shipped bundle"
                print(f"{name}: play {play['fps']:.1f} fps (10th percentile {play['fps_p10']:.1f}; "
                      f"{play['frames']} frames; target ≥ {target:.0f}: {'ok' if play['fps'] >= target else 'MISSED'})"
                      f" | step {steps['step']:.3f} s vs reference rerun {ref['switch']:.3f} s = "
                      f"{steps['step'] / ref['switch']:.2f}× (target ≤ 1: "
                      f"{'ok' if steps['step'] <= ref['switch'] else 'MISSED'}) | load {os.getloadavg()[0]:.1f}",
                      flush=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
