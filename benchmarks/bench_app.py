"""The explorer in real Chromium against a one-chart reference Streamlit page served in the same run: ratios.

    python benchmarks/bench_app.py                    # the shipped bundle, then 1 000 and 10 000 tracks
    python benchmarks/bench_app.py --sizes            # the shipped bundle only (--sizes 1000: one size)
    python benchmarks/bench_app.py --script           # also server-side (AppTest) and export timings of the Map page
    python benchmarks/bench_app.py --gl-sweep         # SVG vs WebGL drawing of the map by number of dots
    python benchmarks/bench_app.py --breakdown        # where a switch and an upload spend their time

For the reference page (one radio, one Plotly chart of as many dots as the shipped map; measured again just
before each collection, as the machine's load drifts) and each collection, on a fresh server at 1280 × 720:
**first map** (a first visit: address entered → chart drawn and the script finished), **switch** (a click on
the radio / a layer → the new chart drawn and the script finished; median of 4), and for the app
**upload → star** (a 30 s clip: file chosen → its star drawn; median of 2, after one
warm-up upload that may wait for the model: switches are measured after it, once the model has loaded in
the background). Large collections are written once by
benchmarks/large_bundle.py into .cache/bench/.

Targets (ratios within one run): first map ≤ 1.5 × the reference's first chart; switch ≤ 2 × the
reference's switch; upload → star ≤ the reference's switch + 1 s; with 10 000 tracks first map and switch
≤ 3 ×. A 4-minute mp3 (``long_song``: a song that changes genre; median of 2): upload → star ≤ the reference's
switch + 1 s, its whole path drawn (every window on the map), and a layer switch made while the path is being
computed ≤ 2 × the reference's switch. The machine is shared: read ratios of one run, not absolute seconds across runs.
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
APP = str(REPO / "app.py")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 720}
IDLE = '[data-test-script-state="notRunning"]'
APP_CHART = ".st-key-map_chart"  # the map: a Streamlit component, its Plotly chart inside an iframe
REF_CHART = ".st-key-chart"
# The Plotly chart in an element: drawn in it (st.plotly_chart) or in its iframe (a component of the same origin).
PLOT = """sel => { const box = document.querySelector(sel); if (!box) return null;
    const doc = box.querySelector('iframe') ? box.querySelector('iframe').contentDocument : document;
    return doc ? (box.querySelector('iframe') ? doc : box).querySelector('.js-plotly-plot') : null; }"""
FIRST_X = """sel => { const e = (""" + PLOT + """)(sel); if (!e || !e._fullData) return null;
    const t = e._fullData.find(t => t.meta && t.meta.kind === 'tracks');
    return t ? Array.from(t.x).slice(0, 3).join(',') : null; }"""
# points on the map's song paths (the first answer's windows, then every window once the whole song is heard)
PATH_POINTS = """sel => { const e = (""" + PLOT + """)(sel); return e && e._fullData
    ? e._fullData.filter(t => t.meta && t.meta.kind === 'trajectory').reduce((n, t) => n + t._length, 0) : 0; }"""
STARS = """sel => { const e = (""" + PLOT + """)(sel); return e && e._fullData
    ? e._fullData.filter(t => t.meta && t.meta.kind === 'upload').length : 0; }"""
TARGETS = {"first": 1.5, "switch": 2.0}
LARGE_TARGET = 3.0

REFERENCE_PAGE = '''
import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="reference", layout="wide")
st.title("A one-chart reference page")
which = st.radio("Which points?", ["a", "b"], horizontal=True, key="which")
x, y = np.random.default_rng(0 if which == "a" else 1).normal(size=(2, {n}))
st.plotly_chart(go.Figure(go.Scatter(x=x, y=y, mode="markers", meta=dict(kind="tracks"))), key="chart")
'''


def wav_30s() -> bytes:
    import numpy as np
    import soundfile as sf

    from tests.synth import genre_clip

    buf = io.BytesIO()
    sf.write(buf, genre_clip(1, 30.0, 22050, np.random.default_rng(0)), 22050, format="WAV")
    return buf.getvalue()


def song_files() -> Path:
    """A 30 s song under three names ("bench song.wav", "bench song 0.wav", "bench song 1.wav"): the first."""
    song = Path(tempfile.mkdtemp(prefix="bench_song_")) / "bench song.wav"
    data = wav_30s()
    for i in range(3):
        (song if i == 0 else song.with_name(f"{song.stem} {i - 1}.wav")).write_bytes(data)
    return song


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run SCRIPT`` on a free port (optionally on another bundle); stopped on exit."""

    def __init__(self, script: str, bundle: Path | None = None):
        from tests.server import wait_until_healthy

        env = {k: v for k, v in os.environ.items() if k != "GENRE_MAP_BUNDLE"}
        if bundle is not None:
            env["GENRE_MAP_BUNDLE"] = str(bundle)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(self.port), "--server.headless",
             "true", "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        problem = wait_until_healthy(self.url, self.proc, 120)
        if problem:
            self.stop()
            raise RuntimeError(problem)

    def rss_mb(self) -> float:
        """Resident memory of the server process (Linux), MB."""
        try:
            for row in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    return int(row.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def first_view(browser, url: str, chart: str):
    """(seconds from entering the address to the chart drawn and the script finished, the page)."""
    page = browser.new_page(viewport=VIEWPORT)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => ({FIRST_X})('{chart}') !== null", timeout=300_000)
    page.wait_for_selector(IDLE, timeout=300_000)
    return time.perf_counter() - t0, page


def switch(page, chart: str, scope: str, label: str) -> float:
    """Seconds from a click on ``label`` (inside ``scope``) to the new chart drawn and the script finished."""
    page.wait_for_selector(IDLE)
    page.wait_for_timeout(300)
    before = page.evaluate(FIRST_X, chart)
    t0 = time.perf_counter()
    page.locator(scope).get_by_text(label, exact=True).click()
    page.wait_for_function(f"b => ({FIRST_X})('{chart}') !== b", arg=before, timeout=300_000)
    page.wait_for_selector(IDLE, timeout=300_000)
    return time.perf_counter() - t0


def upload(page, song: Path, stars: int) -> tuple[float, float]:
    """(seconds from choosing a file to its star, the ``stars``-th, drawn on the map; of which placing it took
    — the pipeline's time, as the detail panel says it)."""
    import re

    page.wait_for_selector(IDLE)
    t0 = time.perf_counter()
    page.locator('input[type="file"]').set_input_files(str(song))
    page.wait_for_function(f"n => ({STARS})('{APP_CHART}') >= n", arg=stars, timeout=300_000)
    seconds = time.perf_counter() - t0
    # the star is drawn by the map alone; the song's detail panel follows in a whole-page run
    page.wait_for_selector(f"h3:has-text('★ {song.name}')", timeout=300_000)
    page.wait_for_selector(IDLE, timeout=300_000)
    said = re.search(r"first answer in ([0-9.]+) s", page.locator("body").inner_text())
    return seconds, float(said.group(1)) if said else float("nan")


def long_song() -> Path:
    """A 4-minute stereo 44.1 kHz mp3: three of the shared free-licence songs one after the other (a song that
    changes genre), or, without ../shared, four minutes of the test suite's synthetic music."""
    import numpy as np
    import soundfile as sf
    import soxr

    from pipeline.audio import load_audio
    from tests.synth import genre_clip

    songs = REPO.parent / "shared" / "data" / "songs"
    parts = ["karissa_hobbs-lets_go_fishin.ogg", "kevin_macleod-vibe_ace.ogg", "brahms-hungarian_dance_5.ogg"]
    if all((songs / p).is_file() for p in parts):
        y = np.concatenate([load_audio(songs / p, sr=22050) for p in parts])
    else:
        rng = np.random.default_rng(0)
        y = np.concatenate([genre_clip(g, 80.0, 22050, rng) for g in range(3)])
    y = soxr.resample(y, 22050, 44100)
    out = Path(tempfile.mkdtemp(prefix="bench_long_")) / "four minute song.mp3"
    sf.write(out, np.stack([y, 0.9 * y], axis=1), 44100, format="MP3")
    return out


def song_windows(song: Path) -> int:
    """How many 10 s windows the pipeline cuts the song into (its whole path's points)."""
    from pipeline.audio import audio_duration
    from pipeline.spectrogram import SpectrogramConfig, nominal_starts_s

    cfg = SpectrogramConfig()
    return len(nominal_starts_s(int(audio_duration(song) * cfg.sample_rate), cfg))


def upload_long(page, song: Path) -> dict:
    """A long song: seconds to its star, to its whole path drawn, and of a layer switch made meanwhile."""
    page.wait_for_selector(IDLE)
    t0 = time.perf_counter()
    page.locator('input[type="file"]').set_input_files(str(song))
    page.wait_for_function(f"() => ({STARS})('{APP_CHART}') >= 1", timeout=300_000)
    star = time.perf_counter() - t0
    page.wait_for_selector(IDLE, timeout=300_000)
    windows = song_windows(song)
    during = (switch(page, APP_CHART, ".st-key-embedding", "shallow")
              if page.evaluate(PATH_POINTS, APP_CHART) < windows else float("nan"))
    page.wait_for_function(f"n => ({PATH_POINTS})('{APP_CHART}') >= n", arg=windows, timeout=300_000)
    whole = time.perf_counter() - t0
    page.wait_for_selector(IDLE, timeout=300_000)
    page.locator(".st-key-remove_songs button").click()
    page.wait_for_function(f"() => ({STARS})('{APP_CHART}') === 0", timeout=120_000)
    page.wait_for_selector(IDLE)
    switch(page, APP_CHART, ".st-key-embedding", "deep")
    return {"star": star, "whole": whole, "switch": during}


def measure_reference(browser, n_dots: int, repeats: int) -> dict:
    script = Path(tempfile.mkdtemp(prefix="bench_ref_")) / "reference.py"
    script.write_text(REFERENCE_PAGE.format(n=n_dots))
    with Server(str(script)) as server:
        first, page = first_view(browser, server.url, REF_CHART)
        switches = [switch(page, REF_CHART, ".st-key-which", label) for label in ["b", "a"] * repeats]
        page.close()
    return {"first": first, "switch": statistics.median(switches)}


def switches(page, repeats: int) -> list[float]:
    return [switch(page, APP_CHART, ".st-key-embedding", label)
            for label in ["shallow", "deep", "none", "deep"] * repeats][: 2 * repeats]


def network_switches(page, repeats: int) -> list[float]:
    """Seconds from opening the network selector to the other network's map drawn and the script finished
    (a whole-page run: the layer control changes); [] for a collection of one network."""
    from pipeline.networks import network_title

    picker = page.locator(".st-key-network")
    if picker.count() == 0:
        return []
    out = []
    for name in ["musicnn", "mobilenet_v2"] * max(1, repeats // 2):
        page.wait_for_selector(IDLE)
        page.wait_for_timeout(300)
        before = page.evaluate(FIRST_X, APP_CHART)
        t0 = time.perf_counter()
        picker.click()
        page.get_by_role("option", name=network_title(name), exact=True).click()
        page.wait_for_function(f"b => ({FIRST_X})('{APP_CHART}') !== b", arg=before, timeout=300_000)
        page.wait_for_selector(IDLE, timeout=300_000)
        out.append(time.perf_counter() - t0)
    return out


def measure_app(browser, bundle: Path | None, song: Path, repeats: int, long: Path | None = None) -> dict:
    """First map, layer switches and uploads on a fresh server of the app (``bundle``: None = the shipped one).

    Layer switches are timed with nothing selected (as the reference: the map alone changes), once the model
    has loaded (a first upload, then "remove all my songs"), and again with a song selected (the map and
    "sounds like" change).
    """
    with Server(APP, bundle) as server:
        first, page = first_view(browser, server.url, APP_CHART)
        second, other = first_view(browser, server.url, APP_CHART)  # a second visitor: warm caches
        other.close()
        warm_up, _ = upload(page, song, 1)  # loads the model if it has not loaded yet (the steady state after it)
        page.locator(".st-key-remove_songs button").click()
        page.wait_for_function(f"() => ({STARS})('{APP_CHART}') === 0", timeout=120_000)
        page.wait_for_selector(IDLE)
        plain = switches(page, repeats)
        longs = [upload_long(page, long) for _ in range(2)] if long else []
        uploads = [upload(page, song.with_name(f"{song.stem} {i}.wav"), i + 1) for i in range(2)]
        with_song = switches(page, max(1, repeats // 2))
        networks = network_switches(page, repeats)
        rss = server.rss_mb()
        page.close()
    return {"first": first, "second": second, "switch": statistics.median(plain), "switch_max": max(plain),
            "switch_song": statistics.median(with_song), "warm_up_upload": warm_up,
            "network": statistics.median(networks) if networks else float("nan"),
            "upload": statistics.median(u for u, _ in uploads), "placing": statistics.median(p for _, p in uploads),
            "rss_mb": rss, **{f"long_{k}": statistics.median(m[k] for m in longs) if longs else float("nan")
                              for k in ("star", "whole", "switch")}}


def large_bundle(n: int) -> Path:
    """A synthetic bundle of ``n`` tracks under .cache/bench (written once)."""
    import json

    from benchmarks.large_bundle import make_large_bundle

    out = REPO / ".cache" / "bench" / f"gtzan_{n}"
    try:
        if json.loads((out / "bundle.json").read_text())["dataset"]["n_tracks"] == n:
            return out
    except (OSError, ValueError, KeyError):
        pass
    t0 = time.perf_counter()
    make_large_bundle(REPO / "assets" / "gtzan", out, n)
    print(f"wrote {out} ({n} tracks) in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


def report(refs: dict, rows: dict) -> None:
    """The table of seconds and ratios (targets in the module docstring); each collection against the reference
    page measured just before it (the machine's load drifts within a run)."""
    print(f"\n{'collection':>12} | {'reference':>11} | {'first map':>17} | {'2nd visit':>9} | {'layer switch':>19} | "
          f"{'+ song':>6} | {'upload → star':>22} | {'of it placing':>13} | {'network':>7} | server RSS")
    for name, m in rows.items():
        ref = refs[name]
        large = name not in ("shipped",) and int(name) >= 10_000
        first_t = LARGE_TARGET if large else TARGETS["first"]
        switch_t = LARGE_TARGET if large else TARGETS["switch"]
        r_first, r_switch = m["first"] / ref["first"], m["switch"] / ref["switch"]
        up_limit = ref["switch"] + 1.0
        print(f"{name:>12} | {ref['first']:4.2f} {ref['switch']:4.2f} s | {m['first']:5.2f} s {r_first:4.2f}× "
              f"{verdict(r_first <= first_t):>4} | {m['second']:7.2f} s | {m['switch']:5.2f} s {r_switch:4.2f}× "
              f"{verdict(r_switch <= switch_t):>4}   | {m['switch_song']:4.2f} s | "
              f"{m['upload']:5.2f} s (≤ {up_limit:.2f}) {verdict(m['upload'] <= up_limit):>4} | {m['placing']:11.2f} s"
              f" | {m['network']:5.2f} s | {m['rss_mb']:5.0f} MB")
    print(f"\n{'collection':>12} | {'4-min mp3 → star':>24} | {'whole path':>10} | {'switch during the path':>24}")
    for name, m in rows.items():
        ref = refs[name]
        star_limit, switch_limit = ref["switch"] + 1.0, 2 * ref["switch"]
        print(f"{name:>12} | {m['long_star']:5.2f} s (≤ {star_limit:.2f}) {verdict(m['long_star'] <= star_limit):>4}"
              f" | {m['long_whole']:8.2f} s | {m['long_switch']:5.2f} s (≤ {switch_limit:.2f}) "
              f"{verdict(m['long_switch'] <= switch_limit):>4}")
    print("(reference: the one-chart page's first chart and switch, measured just before that collection; first "
          "map: a first visit on a fresh server; 2nd visit: another session on the warm server; the first "
          "upload of a server, which may wait for the model, is not in the median; 'of it placing': the pipeline's "
          "decode + place time that the detail panel reports; '+ song': a layer switch with a song selected, when "
          "'sounds like' changes with the map; network: a switch of network in its selector (two clicks, a "
          "whole-page run), with a song selected)")


def bench_browser(sizes: list[int], repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    from pipeline.bundle import read_meta

    n_shipped = read_meta(REPO / "assets" / "gtzan")["dataset"]["n_tracks"]
    song, long = song_files(), long_song()
    bundles = {"shipped": None} | {str(n): large_bundle(n) for n in sizes}
    refs, rows = {}, {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, bundle in bundles.items():
                refs[name] = ref = measure_reference(browser, n_shipped, repeats)
                print(f"reference: first chart {ref['first']:.2f} s, switch {ref['switch']:.2f} s", flush=True)
                rows[name] = m = measure_app(browser, bundle, song, repeats, long)
                print(f"{name}: first map {m['first']:.2f} s, second visit {m['second']:.2f} s, switch "
                      f"{m['switch']:.2f} s (max {m['switch_max']:.2f}; with a song selected {m['switch_song']:.2f} s),"
                      f" upload {m['upload']:.2f} s (first {m['warm_up_upload']:.2f} s), network switch "
                      f"{m['network']:.2f} s, RSS {m['rss_mb']:.0f} MB, load average {os.getloadavg()[0]:.1f}; "
                      f"a 4-minute mp3: star {m['long_star']:.2f} s, whole path {m['long_whole']:.2f} s, a layer "
                      f"switch meanwhile {m['long_switch']:.2f} s", flush=True)
        finally:
            browser.close()
    report(refs, rows)


# Recorded in the page before Streamlit opens its websocket: when each message was handled, and its size
# (negative: sent by the browser). A busy page handles messages late, so "arrived" reads "handled".
WS_LOG = """window.__ws = []; const Socket = window.WebSocket;
window.WebSocket = function (...args) { const ws = new Socket(...args);
    ws.addEventListener('message', e => window.__ws.push([performance.now(), e.data.byteLength || e.data.size || 0]));
    const send = ws.send.bind(ws);
    ws.send = d => { window.__ws.push([performance.now(), -(d.byteLength || 0)]); return send(d); };
    return ws; };
window.WebSocket.prototype = Socket.prototype; Object.assign(window.WebSocket, Socket);"""
CHANGED = """([sel, before, fn]) => new Promise(done => { const tick = () => {
    if (eval(fn)(sel) !== before) done(performance.now()); else requestAnimationFrame(tick); }; tick(); })"""


def timeline(page, cdp, act, chart_fn: str, before) -> str:
    """One action (``act()``) on ``page``, taken apart: request sent, first reply, the largest message (its size),
    the chart changed, the script idle (ms from the action), and the browser's CPU over it (CDP metrics)."""
    def cpu() -> dict:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    page.evaluate("() => { window.__ws = []; }")
    c0, t0 = cpu(), page.evaluate("() => performance.now()")
    act()
    drawn = page.evaluate(CHANGED, [APP_CHART, before, chart_fn])
    page.wait_for_selector(IDLE, timeout=300_000)
    idle, c1 = page.evaluate("() => performance.now()"), cpu()
    log = [(t - t0, n) for t, n in page.evaluate("() => window.__ws")]
    sent = next((t for t, n in log if n < 0), float("nan"))
    first = next((t for t, n in log if n > 0), float("nan"))
    big_t, big_n = max(((t, n) for t, n in log if n > 0), key=lambda r: r[1], default=(float("nan"), 0))
    task, script = (1e3 * (c1[k] - c0[k]) for k in ("TaskDuration", "ScriptDuration"))
    return (f"sent {sent:4.0f} ms, first reply {first:5.0f}, largest message {big_n / 1e3:6.1f} kB at {big_t:5.0f}, "
            f"chart drawn {drawn - t0:5.0f}, idle {idle - t0:5.0f} | browser CPU {task:4.0f} ms (script {script:4.0f})")


def breakdown(sizes: list[int], song: Path) -> None:
    """Where a layer switch and an upload (a 30 s clip, a 4-minute mp3) spend their time, per collection."""
    from playwright.sync_api import sync_playwright

    bundles = {"shipped": None} | {str(n): large_bundle(n) for n in sizes}
    long = long_song()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, bundle in bundles.items():
            with Server(APP, bundle) as server:
                page = browser.new_page(viewport=VIEWPORT)
                page.add_init_script(WS_LOG)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.goto(server.url)
                page.wait_for_function(f"() => ({FIRST_X})('{APP_CHART}') !== null", timeout=300_000)
                page.wait_for_selector(IDLE)
                upload(page, song, 1)  # the model loaded; then a plain page again
                page.locator(".st-key-remove_songs button").click()
                page.wait_for_function(f"() => ({STARS})('{APP_CHART}') === 0", timeout=120_000)
                for label in ["shallow", "deep", "none", "deep"]:
                    page.wait_for_selector(IDLE)
                    page.wait_for_timeout(500)
                    act = partial(page.locator(".st-key-embedding").get_by_text(label, exact=True).click)
                    print(f"{name:>8} switch → {label:8}: "
                          + timeline(page, cdp, act, FIRST_X, page.evaluate(FIRST_X, APP_CHART)), flush=True)
                for i in range(2):
                    page.wait_for_selector(IDLE)
                    page.wait_for_timeout(1000)
                    act = partial(page.locator('input[type="file"]').set_input_files,
                                  str(song.with_name(f"{song.stem} {i}.wav")))
                    print(f"{name:>8} upload {i}          : " + timeline(page, cdp, act, STARS, i), flush=True)
                for label in ["shallow", "deep"]:  # the song is selected: "sounds like" follows the layer
                    page.wait_for_selector(IDLE)
                    page.wait_for_timeout(500)
                    act = partial(page.locator(".st-key-embedding").get_by_text(label, exact=True).click)
                    print(f"{name:>8} +song → {label:8}: "
                          + timeline(page, cdp, act, FIRST_X, page.evaluate(FIRST_X, APP_CHART)), flush=True)
                page.locator(".st-key-remove_songs button").click()
                page.wait_for_function(f"() => ({STARS})('{APP_CHART}') === 0", timeout=120_000)
                page.wait_for_selector(IDLE)
                page.wait_for_timeout(1000)
                act = partial(page.locator('input[type="file"]').set_input_files, str(long))
                print(f"{name:>8} upload 4-min mp3  : " + timeline(page, cdp, act, STARS, 0), flush=True)
                page.close()
        browser.close()


def bench_script(repeats: int) -> None:
    """Server-side time of the Map page in AppTest: a first run, a layer switch (fragments only)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    t0 = time.perf_counter()
    at.run()
    print(f"AppTest: Map page first run {time.perf_counter() - t0:.2f} s", flush=True)
    times = []
    for e in ["shallow", "none", "immediate", "deep"] * repeats:
        at.run()  # the controls are outside the fragments: AppTest needs the whole page to find them
        radio = at.radio(key="embedding")
        t0 = time.perf_counter()
        radio.set_value(e).run()
        times.append(time.perf_counter() - t0)
    print(f"AppTest: layer switch (map + sounds like fragments), median of {len(times)}: "
          f"{statistics.median(times):.3f} s", flush=True)


def bench_exports(repeats: int) -> None:
    """The downloads under the map, made when clicked (PNG, HTML) or with the page (CSV)."""
    from explorer.state import DEFAULT_BUNDLE
    from explorer.views import export, map_view
    from pipeline.bundle import load_bundle

    bundle = load_bundle(DEFAULT_BUNDLE)
    frame = map_view.map_frame(bundle, "deep")
    fig = map_view.map_figure(frame, bundle.labels, selected=["blues.00001"])
    jobs = {
        "PNG (matplotlib, 150 dpi)": lambda: export.map_png(frame, bundle.labels, "genre", selected=["blues.00001"],
                                                            title="deep"),
        "interactive HTML (plotly.js inlined)": lambda: export.map_html(fig),
        "coordinates CSV (every layer)": lambda: export.csv_bytes(export.coordinates_frame(bundle)),
    }
    for name, job in jobs.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = job()
            times.append(time.perf_counter() - t0)
        print(f"export: {name}, {len(out) / 1e6:.2f} MB, median of {repeats}: {statistics.median(times):.3f} s",
              flush=True)


def gl_sweep(counts=(500, 1000, 2000, 3000, 5000, 10000), repeats: int = 5) -> None:
    """Draw and select-redraw times of the map as SVG and as WebGL in Chromium, by number of dots."""
    import numpy as np
    import plotly
    from playwright.sync_api import sync_playwright

    from explorer.views import map_view
    from pipeline.bundle import load_bundle

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    bundle = load_bundle(REPO / "assets" / "gtzan")
    frame = map_view.map_frame(bundle, "deep")
    measure = """async spec => { const f = JSON.parse(spec), el = document.getElementById('g');
        const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        Plotly.purge(el); const t0 = performance.now(); await Plotly.newPlot(el, f.data, f.layout); await frame();
        const t1 = performance.now(); await Plotly.restyle(el, {selectedpoints: [[0, 1, 2]]}); await frame();
        return [t1 - t0, performance.now() - t1]; }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n in counts:
            dots = frame.sample(n, replace=True, random_state=0).reset_index(drop=True)
            rng = np.random.default_rng(0)
            dots["x"] += rng.normal(0, 1, n)
            dots["y"] += rng.normal(0, 1, n)
            out = []
            for gl in (False, True):
                spec = map_view.base_figure(dots, bundle.labels, style={**map_view.dot_style(n), "gl": gl}).to_json()
                page = browser.new_page(viewport=VIEWPORT)
                page.set_content("<div id='g' style='width:900px;height:470px'></div>")
                page.add_script_tag(path=str(plotly_js))
                out.append(np.median([page.evaluate(measure, spec) for _ in range(repeats)], axis=0))
                page.close()
            print(f"{n:6d} dots: SVG draw {out[0][0]:5.0f} ms, select {out[0][1]:5.0f} ms | "
                  f"WebGL draw {out[1][0]:5.0f} ms, select {out[1][1]:5.0f} ms", flush=True)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000],
                    help="synthetic collection sizes besides the shipped bundle (none: --sizes)")
    ap.add_argument("--repeats", type=int, default=4, help="switches are measured 2 × this many times")
    ap.add_argument("--script", action="store_true", help="also AppTest (server-side) timings")
    ap.add_argument("--gl-sweep", action="store_true", help="only the SVG vs WebGL sweep")
    ap.add_argument("--breakdown", action="store_true",
                    help="only where a layer switch and an upload spend their time (websocket timeline, browser CPU)")
    args = ap.parse_args()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (other processes slow every number)",
          flush=True)
    if args.gl_sweep:
        gl_sweep()
    elif args.breakdown:
        breakdown(args.sizes, song_files())
    else:
        if args.script:
            bench_script(args.repeats)
            bench_exports(3)
        if not Path(CHROMIUM).exists():
            sys.exit(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
        bench_browser(args.sizes, args.repeats)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
