"""Soak test: N concurrent headless Chromium sessions drive ``streamlit run app.py`` for a bounded time.

    python benchmarks/soak.py                          # 4 sessions for 60 s on the shipped map
    python benchmarks/soak.py --sessions 8 --seconds 120 [--bundle DIR]
    setsid python benchmarks/soak.py --sessions 8 --seconds 600 --browsers-nice 19 --waves 2  # a class's server
    setsid python benchmarks/soak.py --sessions 1 8 --seconds 120 --browsers-nice 19  # 8 sessions against 1

``--browsers-nice`` starts the server in a scheduling group of its own and lowers the browsers' groups, so that
the server's times are its own, not what eight browsers on the same cores leave it;
``setsid`` keeps your shell out of the lowered group. ``--waves 2`` runs the sessions twice, one class after
another: memory that stays flat from one wave's end to the next is a bounded cache, memory that grows is a leak.
Several ``--sessions`` run one wave of each on the same server and print each wave's server times (medians)
with their ratio to the first wave's.

Starts the app on a free localhost port, opens ``--sessions`` browser sessions (separate contexts of one
headless Chromium, /usr/bin/chromium) and has each one, until the time is up, do what a student does, again
and again: switch the layer, click a dot of the map (in the map component's iframe) and play it in the
detail panel until it sounds, download the map's coordinates (every third round), and drop in a song (a
synthetic one, or a real GTZAN clip when ../shared/data/gtzan is here; every fourth upload is a broken
file, which must get its one-line message; every eighth round clears the session's songs). Then it reports:

- sessions held (still connected and answering at the end), placements and placements per second,
  upload-to-star latency, embedding switches, dots heard, downloads;
- server memory (VmRSS of the streamlit process from /proc) before, during (peak, thirds) and after the run,
  and what Streamlit's own stores hold (uploads, media);
- the session folders of song files (``explorer/media.py``) left at the end and after the sessions closed;
- the server's own time (measured in the server process, not by the browsers): each script run (full page,
  fragment, fragment timer) and each placement (``explorer.placing.Placing.start``: decode, queue, first answer),
  count, median, mean, p95;
- how many times the server loaded the bundle and built a Placer (counted by wrapping
  ``pipeline.bundle.load_bundle`` and ``pipeline.place.Placer.__init__`` in the server process: the app
  must share one of each across sessions);
- every exception block (``[data-testid="stException"]``), page error, console error (e.g. a player's
  "Audio source error") and HTTP status >= 400 (e.g. a /media/ file Streamlit dropped) seen.

``tests/app/test_soak_short.py`` runs the same sessions (``drive``) for 2 sessions x 20 s in the test suite.

Exits 1 if any error was seen, a session was lost, a song was not placed or the model was loaded more
than once; 0 otherwise. Traffic stays on 127.0.0.1; the run stops by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.app.test_browser import DOTS, FIRST_X, SELECTED  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, MAP_FRAME, MAP_JS  # noqa: E402

MAX_SESSIONS, MAX_SECONDS = 16, 600
# the page's map is in the map component's iframe (explorer/map_chart.py): reached through it
STARS = f"""() => {{ const el = {MAP_JS};
    return el && el._fullData ? el._fullData.filter(t => t.meta && t.meta.kind === 'upload').length : -1; }}"""
SHOWN_X = f"""() => {{ const el = {MAP_JS};
    return el && el._fullData ? ({FIRST_X})(el) : null; }}"""
PICKED = f"() => ({SELECTED})({MAP_JS})"
SIDEBAR_ALERT = '[data-testid="stSidebar"] [data-testid="stAlert"]'
ALERTS = f"() => document.querySelectorAll('{SIDEBAR_ALERT}').length"
EMBEDDINGS = ("shallow", "none", "immediate", "deep")
DEFAULT_EMBEDDING = "deep"  # what the page shows first
# the detail panel's player (the first on the page: "sounds like" is below it): play it, report how it went
PLAYER = '[data-testid="stMain"] audio'
PLAY = f"""async () => {{ const a = document.querySelector('{PLAYER}');
    if (!a) return 'no player';
    try {{ await a.play(); }} catch (e) {{ return `play failed: ${{e.name}} ${{a.currentSrc}}`; }}
    return 'playing'; }}"""
PLAYED = f"""() => {{ const a = document.querySelector('{PLAYER}');
    return !a ? 'no player' : a.error ? `audio error ${{a.error.code}} ${{a.currentSrc}}`
         : a.currentTime > 0.2 ? 'played' : null; }}"""
STOP = "() => document.querySelectorAll('audio').forEach(a => a.pause())"


# Run inside the server process before Streamlit starts: count bundle loads and Placer constructions.
# pipeline.place (torch) is wrapped only when the app itself imports it, so start-up memory is the app's own.
SERVER = """
import importlib.abc, importlib.util, sys
import pipeline.bundle
_load = pipeline.bundle.load_bundle
def load_bundle(*a, **k):
    print("SOAK-PROBE load_bundle", flush=True)
    return _load(*a, **k)
pipeline.bundle.load_bundle = load_bundle

class CountPlacers(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "pipeline.place":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module
        def exec_and_wrap(module):
            exec_module(module)
            init = module.Placer.__init__
            def placer_init(self, *a, **k):
                print("SOAK-PROBE placer", flush=True)
                return init(self, *a, **k)
            module.Placer.__init__ = placer_init
        spec.loader.exec_module = exec_and_wrap
        return spec
sys.meta_path.insert(0, CountPlacers())
import os
if os.environ.get("SOAK_TRACE"):  # --trace: where the Python heap grows, every SOAK_TRACE seconds
    import threading, tracemalloc
    tracemalloc.start(8)
    def trace(every=float(os.environ["SOAK_TRACE"])):
        import time
        first = tracemalloc.take_snapshot()
        while True:
            time.sleep(every)
            now = tracemalloc.take_snapshot()
            for stat in now.compare_to(first, "traceback")[:6]:
                print("SOAK-TRACE", stat, "|", " <- ".join(str(f) for f in stat.traceback[::-1][:5]), flush=True)
            print("SOAK-TRACE ----", flush=True)
    threading.Thread(target=trace, daemon=True).start()
import time as _time
# the server's own time: every script run (full, fragment, timer) and every Placing.start, in this process
from streamlit.runtime.scriptrunner import script_runner as _sr
_run_script = _sr.ScriptRunner._run_script
def _timed_run(self, rerun_data):
    kind = "timer" if rerun_data.is_auto_rerun else "fragment" if rerun_data.fragment_id_queue else "full"
    t0 = _time.perf_counter()
    try:
        return _run_script(self, rerun_data)
    finally:
        sys.stdout.write(f"SOAK-TIME run {kind} {_time.perf_counter() - t0:.4f}\\n")  # one write: threads interleave
        sys.stdout.flush()
_sr.ScriptRunner._run_script = _timed_run
import explorer.placing as _placing
_start = _placing.Placing.start
def _timed_start(self, *a, **k):
    t0, job = _time.perf_counter(), None
    try:
        job = _start(self, *a, **k)
        return job
    finally:
        parts = [f"SOAK-TIME place {_time.perf_counter() - t0:.4f}\\n"]
        if job is not None:  # of it: waiting behind other songs, its own time after that, the CPU it used
            own = _time.perf_counter() - t0 - job.waited_s
            parts += [f"SOAK-TIME place-waited {job.waited_s:.4f}\\n", f"SOAK-TIME place-own {own:.4f}\\n",
                      f"SOAK-TIME place-cpu {job.cpu_s:.4f}\\n"]
        sys.stdout.write("".join(parts))
        sys.stdout.flush()
_placing.Placing.start = _timed_start
import ctypes, gc, signal
def trim(*_):  # SIGUSR1: how much of the RSS is live objects and how much is memory malloc kept after free
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    print("SOAK-PROBE trimmed", flush=True)
signal.signal(signal.SIGUSR1, trim)
from streamlit.web import cli
sys.argv = ["streamlit", "run", sys.argv[1], "--server.port", sys.argv[2], "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.disconnectedSessionTTL", "10",  # closed sessions are dropped 10 s later
            "--server.fileWatcherType", "none"] + sys.argv[3:]  # as a class's server: an edit does not reload it
sys.exit(cli.main())
"""


@dataclass
class Session:
    index: int
    held: bool = False
    placed: int = 0
    answered_bad: int = 0
    switches: int = 0
    played: int = 0
    downloaded: int = 0
    load_seconds: float = 0.0
    step: str = "loading the page"  # what it was doing last: a failure says where it stopped
    latencies: list = field(default_factory=list)
    sources: set = field(default_factory=set)  # the folders the players' audio came from
    problems: list = field(default_factory=list)  # (kind, text)


@dataclass
class Wave:
    """One wave of sessions: what they did, their timed run, the server's memory and song folders at its end
    and 20 s after its sessions closed."""
    sessions: list
    start: float
    end: float
    rss_end: float
    rss_after: float
    folders_end: int
    folders_after: int
    lines: list = field(default_factory=list)  # what the server printed meanwhile (its SOAK-TIME lines)


def lower_browsers(nice: int) -> None:
    """The browsers this process started (Playwright starts each in a session of its own) get ``nice``.

    With autogroup scheduling (Linux's default for desktops and many servers) a nice value only orders threads
    within one session, so each descendant's session group is lowered (the processes a browser starts later
    join its group); without autogroups, each process's own nice value."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" ", 1)
            parents[int(pid)] = int(rest.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
    mine, grew = {os.getpid()}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in mine} - mine
        mine |= found
        grew = bool(found)
    for pid in mine - {os.getpid()}:
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("python"):
                continue  # the server (in a session of its own) keeps its priority
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        except OSError:
            try:
                os.setpriority(os.PRIO_PROCESS, pid, nice)
            except OSError:
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc (no psutil)."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) / 1024


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds the process has used, CPU seconds the whole machine has been busy), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    machine = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (int(fields[11]) + int(fields[12])) / tick, (sum(machine) - machine[3] - machine[4]) / tick


def cpu_share(cpu: list, start: float, end: float) -> str:
    """The server's CPU and everything else's (the browsers, this script) between two moments of the run."""
    if not cpu:
        return "no samples"
    a = min(cpu, key=lambda r: abs(r[0] - start))
    b = min(cpu, key=lambda r: abs(r[0] - end))
    server, busy = b[1] - a[1], max(b[2] - a[2], 1e-9)
    return (f"server {server:.0f} core-s, everything else {busy - server:.0f} core-s (the browsers, this script): "
            f"the server had {server / busy:.0%} of the busy CPU")


def held_bytes(url: str) -> dict[str, float]:
    """MB that Streamlit reports holding, by store (uploaded files, media files, ...), from /_stcore/metrics."""
    import urllib.request

    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"{url}/_stcore/metrics?families=cache_memory_bytes", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return out
    for m in re.finditer(r'^cache_memory_bytes\{cache_type="([^"]*)",cache="([^"]*)"\} (\S+)$', text, re.M):
        kind, name, value = m.groups()
        if not kind.startswith("st_cache_resource"):  # resource caches report entry counts, not bytes
            out[kind] = out.get(kind, 0.0) + float(value) / 1e6
    return out


def session_folders(pid: int) -> int:
    """How many sessions of server ``pid`` have a folder of song files (explorer/media.py) right now."""
    from explorer.media import STATIC_DIR

    return sum(1 for d in (STATIC_DIR / "songs").glob(f"{pid}-*/*") if d.is_dir())


def write_songs(folder: Path, n: int, seconds: float) -> tuple[list[Path], list[Path]]:
    """``n`` synthetic songs of different genres (and two real GTZAN clips when the shared data is here) and a
    few broken files."""
    import numpy as np

    from tests.conftest import SHARED_GTZAN
    from tests.synth import genre_clip, write_audio

    rng = np.random.default_rng(0)
    songs = [write_audio(folder / f"soak song {i} ü.wav", genre_clip(i % 3, seconds, 22050, rng), 22050)
             for i in range(n)]
    real = sorted(SHARED_GTZAN.glob("*/*.flac"))[::97][:2] if SHARED_GTZAN.is_dir() else []
    songs = [x for pair in zip(real, songs) for x in pair] + songs[len(real):]  # a real clip early on
    bad = [folder / "broken text.wav", folder / "noise bytes.mp3", folder / "too short.wav"]
    bad[0].write_text("not audio\n" * 100)
    bad[1].write_bytes(rng.bytes(4096))
    write_audio(bad[2], genre_clip(0, 0.2, 22050, rng), 22050)
    return songs, bad


async def wait_idle(page, timeout_ms: int = 120_000) -> None:
    await page.wait_for_timeout(50)  # let a rerun triggered just now start
    await page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=timeout_ms)


async def switch(page, embedding: str) -> str:
    """Click another layer above the map and wait until the map shows it."""
    before = await page.evaluate(SHOWN_X)
    await page.locator(".st-key-embedding").get_by_text(embedding, exact=True).first.click()
    await page.wait_for_function(f"b => ({SHOWN_X})() !== b", arg=before, timeout=120_000)
    await wait_idle(page)
    return embedding


async def click_a_dot_and_play(page, s: Session, rng) -> None:
    """Click a dot of the map (in its iframe), wait for its detail panel, play its player until it sounds."""
    box = await page.locator(MAP_FRAME).bounding_box()
    dots = await page.frame_locator(MAP_FRAME).locator(".js-plotly-plot").evaluate(DOTS)
    inside = [(x, y) for x, y in dots if 60 < x < box["width"] - 60 and 80 < y < box["height"] - 40]
    if not inside:
        s.problems.append(("no dot to click", f"{len(dots)} dots drawn"))
        return
    x, y = inside[int(rng.integers(len(inside)))]
    await page.mouse.click(box["x"] + x, box["y"] + y)
    try:
        await page.wait_for_function(f"() => ({PICKED})().length > 0", timeout=20_000)
    except Exception:  # the click met no dot (between two, or on a song's path): not the app's fault
        return
    picked = (await page.evaluate(PICKED))[0]
    heading = "★" if picked.startswith("upload:") else picked  # a song's star, else a clip
    await page.locator('[data-testid="stMain"] h3').filter(has_text=heading).first.wait_for(timeout=60_000)
    await wait_idle(page)
    try:  # the panel is drawn top down: its heading can be there a moment before its player
        await page.wait_for_function(f"() => !!document.querySelector('{PLAYER}')", timeout=30_000)
    except Exception:
        pass  # PLAY says "no player"
    state = await page.evaluate(PLAY)
    if state == "playing":
        handle = await page.wait_for_function(PLAYED, timeout=60_000)
        state = await handle.json_value()
    await page.evaluate(STOP)
    src = await page.evaluate(f"() => document.querySelector('{PLAYER}')?.currentSrc || ''")
    s.sources.add(source_folder(src))
    if state == "played":
        s.played += 1
    else:
        shot = Path(tempfile.gettempdir()) / f"soak-player-{s.index}-{len(s.problems)}.png"
        await page.screenshot(path=str(shot))
        s.problems.append(("player", f"{state} (detail panel of {picked}; screenshot {shot})"))


def source_folder(src: str) -> str:
    """Where a player reads from: '/media/' (Streamlit's in-memory store), '/app/static/clips/', ..."""
    path = urlparse(src).path
    return "/media/" if path.startswith("/media/") else "/".join(path.split("/")[:4]) + "/"


async def download_coordinates(page, s: Session) -> None:
    """Open "Share or download this map" (once) and download the coordinates (made on click)."""
    button = page.get_by_role("button", name="Coordinates (CSV)")
    if not await button.is_visible():
        await page.get_by_text("Share or download this map").click()
    async with page.expect_download(timeout=60_000) as info:
        await button.click()
    download = await info.value
    failure = await download.failure()
    if failure is None and Path(await download.path()).stat().st_size > 0:
        s.downloaded += 1
    else:
        # Chromium calls a download whose address answered 404 "canceled" (no response event is seen)
        s.problems.append(("download", f"{download.suggested_filename}: {failure or 'empty'}"))


async def upload(page, s: Session, k: int, songs, bad) -> None:
    """Drop in a song (every fourth time a broken file) and wait for its star or its message."""
    uploader = page.locator('[data-testid="stSidebar"] input[type="file"]')
    if (k + 2 * s.index) % 4 == 3:  # the second session's second file is already a broken one
        template = bad[(k // 4 + s.index) % len(bad)]
        path = template.with_name(f"s{s.index}-{k} {template.name}")  # its own name: its own message
        shutil.copyfile(template, path)
        await uploader.set_input_files(str(path))
        await page.locator(SIDEBAR_ALERT).filter(
            has_text=path.name).filter(has_text="could not be placed").first.wait_for(timeout=120_000)
        s.answered_bad += 1
        return
    before = [await page.evaluate(STARS), await page.evaluate(ALERTS)]
    t0 = time.monotonic()
    await uploader.set_input_files(str(songs[(k + s.index) % len(songs)]))
    # answered: its star, or a message saying why not (a good song must not get one)
    await page.wait_for_function(f"b => ({STARS})() > b[0] || ({ALERTS})() > b[1]", arg=before, timeout=120_000)
    if await page.evaluate(STARS) > before[0]:
        s.latencies.append(time.monotonic() - t0)
        s.placed += 1
    else:
        alert = page.locator(SIDEBAR_ALERT).nth(before[1])
        s.problems.append(("song not placed", (await alert.inner_text())[:300]))


async def check_exceptions(page, s: Session) -> None:
    blocks = page.locator('[data-testid="stException"]')
    for i in range(await blocks.count()):
        text = (await blocks.nth(i).inner_text())[:300]
        if ("exception", text) not in s.problems:
            s.problems.append(("exception", text))


def watch(page, s: Session) -> None:
    """Record every page error, console error and HTTP status >= 400 of this session's page."""
    page.on("pageerror", lambda e: s.problems.append(("page error", str(e)[:300])))
    page.on("console", lambda m: m.type == "error" and s.problems.append(("console error", m.text[:300])))
    page.on("response", lambda r: r.status >= 400 and s.problems.append(("HTTP error", f"{r.status} {r.url[:200]}")))


async def one_round(page, s: Session, k: int, shown: str, songs, bad, rng) -> str:
    """What a student does in a minute, in turn: another layer, a dot heard, a download, a song dropped in."""
    cycle = list(EMBEDDINGS[s.index % 4:] + EMBEDDINGS[:s.index % 4])  # sessions start on different maps
    target = next(e for e in cycle[k % 4:] + cycle[:k % 4] if e != shown)
    s.step = f"round {k}: switching from {shown} to {target}"
    shown = await switch(page, target)
    s.switches += 1
    s.step = f"round {k}: clicking a dot and playing it"
    await click_a_dot_and_play(page, s, rng)
    if k % 3 == s.index % 3:
        s.step = f"round {k}: downloading the coordinates"
        await download_coordinates(page, s)
    s.step = f"round {k}: dropping in a song"
    await upload(page, s, k, songs, bad)
    await wait_idle(page)
    await check_exceptions(page, s)
    if (k + 1) % 8 == 0:  # keep each session's song list bounded, as a visitor would clear it
        s.step = f"round {k}: removing all songs"
        await page.locator(".st-key-remove_songs button").click()
        await page.wait_for_function(f"() => ({STARS})() === 0", timeout=120_000)
        await wait_idle(page)
    return shown


async def run_session(s: Session, browser, url: str, start_at: float, ready, songs, bad, log) -> None:
    import numpy as np

    context = await browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = await context.new_page()
    watch(page, s)
    rng = np.random.default_rng(s.index)
    try:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        t_load = time.monotonic()
        await page.goto(url, timeout=120_000)
        await page.wait_for_function(f"() => ({SHOWN_X})() !== null", timeout=180_000)
        await wait_idle(page)
        s.load_seconds = time.monotonic() - t_load
        deadline = await ready(s)  # every session has the page: the timed run starts together
        k, shown = 0, DEFAULT_EMBEDDING
        while time.monotonic() < deadline:
            shown = await one_round(page, s, k, shown, songs, bad, rng)
            k += 1
        # still connected and answering: one more switch must redraw the map
        s.step = "the last switch"
        await switch(page, next(e for e in EMBEDDINGS if e != shown))
        await check_exceptions(page, s)
        s.held = True
    except Exception as exc:  # a timeout or a lost page: report it, keep the other sessions going
        await ready(s, failed=True)
        s.problems.append(("session failed",
                           f"{type(exc).__name__} while {s.step}: {str(exc).splitlines()[0][:300]}"))
        try:
            await check_exceptions(page, s)
            shot = Path(tempfile.gettempdir()) / f"soak-session-{s.index}.png"
            await page.screenshot(path=str(shot))
            log(f"session {s.index}: failed, screenshot {shot}")
        except Exception:
            pass
    finally:
        await context.close()


async def drive(url: str, n: int, seconds: float, songs, bad, chromium: str = CHROMIUM,
                log=print, browsers_nice: int = 0) -> tuple[list[Session], float, float]:
    """Run ``n`` sessions against the app at ``url`` for ``seconds`` once all have the page; returns them and
    the (monotonic) start and end of the timed run."""
    from playwright.async_api import async_playwright

    sessions = [Session(i) for i in range(n)]
    arrived: set = set()
    all_in = asyncio.Event()
    window: dict = {}

    async def ready(s: Session, failed: bool = False) -> float:
        """Barrier: returns the common deadline once every session has loaded the page (or failed)."""
        if s.index not in arrived:
            arrived.add(s.index)
            if len(arrived) == n:
                window["start"] = time.monotonic()
                window["deadline"] = window["start"] + seconds
                log(f"all pages loaded ({max(x.load_seconds for x in sessions):.1f} s for the slowest); "
                    f"timed run starts")
                all_in.set()
        if failed:
            return 0.0
        await asyncio.wait_for(all_in.wait(), timeout=300)
        return window["deadline"]

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium,
                                          args=CHROMIUM_ARGS + ["--autoplay-policy=no-user-gesture-required"])
        if browsers_nice:
            lower_browsers(browsers_nice)
        try:
            now = time.monotonic()
            # sessions open the page 0.5 s apart (a class opening the link), then run together
            await asyncio.gather(*(run_session(s, browser, url, now + 0.5 * s.index, ready, songs, bad, log)
                                   for s in sessions))
        finally:
            await browser.close()
    window.setdefault("start", time.monotonic())
    return sessions, window["start"], min(time.monotonic(), window.get("deadline", time.monotonic()))


def wave_times(waves: list) -> list[str]:
    """Each wave's median server times, and their ratio to the first wave's (e.g. 8 sessions against 1)."""
    kinds = ("place", "place-own", "place-cpu", "place-waited", "run full", "run fragment")
    medians = [{k: statistics.median(v) for k, v in timed(w.lines).items() if k in kinds} for w in waves]
    out = []
    for i, (w, m) in enumerate(zip(waves, medians)):
        parts = [f"{k} {m[k]:.3f} s" + (f" ({m[k] / medians[0][k]:.2f}x wave 1)" if i and medians[0].get(k) else "")
                 for k in kinds if k in m]
        out.append(f"wave {i + 1}, {len(w.sessions):2d} session(s), server medians: " + ", ".join(parts))
    return out


def problems(sessions: list[Session]) -> list[tuple[int, str, str]]:
    """(session, kind, text) of everything that went wrong, and a line for each session that was lost."""
    return ([(s.index, kind, text) for s in sessions for kind, text in s.problems]
            + [(s.index, "session lost", "not answering at the end") for s in sessions if not s.held])


def timed(lines: list[str]) -> dict[str, list[float]]:
    """What → seconds, from the SOAK-TIME lines the server printed (threads interleave them)."""
    times: dict[str, list[float]] = {}
    for m in re.finditer(r"SOAK-TIME (place(?:-\w+)?|run \w+) (\d+\.\d{4})", "".join(lines)):
        times.setdefault(m.group(1), []).append(float(m.group(2)))
    return times


def server_times(lines: list[str]) -> list[str]:
    """The server's own time per script run (by kind) and per placement (``Placing.start``: decode, queue and
    first answer), from the SOAK-TIME lines the server printed."""
    out = []
    for what, values in sorted(timed(lines).items()):
        q = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
        out.append(f"server time {what:<13}{len(values):5d} x, median {statistics.median(values):.3f} s, "
                   f"mean {statistics.mean(values):.3f} s, p95 {q:.3f} s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[4],
                    help=f"concurrent browser sessions (1-{MAX_SESSIONS}); several: one wave of each, in order, on "
                         "the same server (e.g. 1 8: a single session's server times, then eight's, and their ratio)")
    ap.add_argument("--seconds", type=float, default=60.0, help=f"how long the sessions run (at most {MAX_SECONDS})")
    ap.add_argument("--bundle", help="bundle directory (default: the app's own choice, assets/gtzan)")
    ap.add_argument("--song-seconds", type=float, default=20.0, help="length of the synthetic songs uploaded")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--trace", type=float, default=0, metavar="S",
                    help="trace the server's Python heap (tracemalloc, slow) and log its growth every S seconds")
    ap.add_argument("--memory-media", action="store_true",
                    help="serve players and downloads from Streamlit's in-memory store (static serving off): "
                         "how the app played audio before explorer/media.py, for comparison")
    ap.add_argument("--waves", type=int, default=1,
                    help="run the sessions this many times, one wave after another: the server's memory after "
                         "each wave has closed tells a bounded cache (flat from wave to wave) from a leak (growing)")
    ap.add_argument("--browsers-nice", type=int, default=0, metavar="N",
                    help="run the browsers (this script's scheduling group) at nice N and the server in a group of "
                         "its own: a class's browsers are on the students' machines, here they share the server's "
                         "cores; with N=19 the server's times are what it needs, not what the browsers leave it")
    args = ap.parse_args()
    sizes = [max(1, min(n, MAX_SESSIONS)) for n in args.sessions] * max(1, args.waves)
    seconds = max(5.0, min(args.seconds, MAX_SECONDS))
    if not Path(args.chromium).exists():
        print(f"Chromium not found at {args.chromium} (apt-get install -y chromium)", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    songs, bad = write_songs(tmp, 6, args.song_seconds)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GENRE_MAP_BUNDLE", "SOAK_TRACE")}
    if args.trace:
        env["SOAK_TRACE"] = str(args.trace)
    if args.bundle:
        env["GENRE_MAP_BUNDLE"] = str(Path(args.bundle).resolve())
    server_log = tmp / "streamlit.log"
    flags = ["--server.enableStaticServing", "false"] if args.memory_media else []
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(REPO / "app.py"), str(port)] + flags, cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=bool(args.browsers_nice))  # its own scheduling group
    lines: list[str] = []

    def pump():
        with open(server_log, "w") as f:
            for line in proc.stdout:
                lines.append(line)
                f.write(line)
                f.flush()

    threading.Thread(target=pump, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    samples: list[tuple[float, float]] = []
    cpu: list[tuple[float, float, float]] = []  # (when, server CPU s, machine busy CPU s)
    stores: list[tuple[float, dict]] = []  # what Streamlit itself holds, every 30 s
    stop = threading.Event()
    try:
        from tests.server import wait_until_healthy

        problem = wait_until_healthy(url, proc, 120)
        if problem:
            if proc.poll() is not None:
                print("".join(lines), file=sys.stderr)
            print(problem, file=sys.stderr)
            return 2
        rss_start = rss_mb(proc.pid)
        log(f"server pid {proc.pid} on {url}: healthy, RSS {rss_start:.0f} MB (no session yet); "
            f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")

        def sample():
            i = 0
            while not stop.is_set() and proc.poll() is None:
                samples.append((time.monotonic(), rss_mb(proc.pid)))
                cpu.append((time.monotonic(), *cpu_seconds(proc.pid)))
                if i % 30 == 0:
                    stores.append((time.monotonic(), held_bytes(url)))
                i += 1
                stop.wait(1.0)

        threading.Thread(target=sample, daemon=True).start()
        waves = []
        for wave, n in enumerate(sizes):
            log(f"wave {wave + 1}: {n} session(s) for {seconds:.0f} s, each switching embeddings and uploading "
                f"{args.song_seconds:.0f} s songs (every 4th upload a broken file) ...")
            first_line = len(lines)
            got, start, end = asyncio.run(drive(url, n, seconds, songs, bad, args.chromium, log, args.browsers_nice))
            rss_end, songs_during = rss_mb(proc.pid), session_folders(proc.pid)
            time.sleep(20)  # the browser contexts are closed: Streamlit drops their sessions after 10 s
            waves.append(Wave(got, start, end, rss_end, rss_mb(proc.pid), songs_during, session_folders(proc.pid),
                              lines[first_line:]))
        sessions = [s for w in waves for s in w.sessions]
        run_start, run_end = waves[0].start, waves[0].end  # the first wave's timed run: its memory thirds
        elapsed = sum(max(w.end - w.start, 1e-9) for w in waves)
        rss_end, rss_after = waves[-1].rss_end, waves[-1].rss_after
        songs_during, songs_after = waves[-1].folders_end, waves[-1].folders_after
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not any("SOAK-PROBE trimmed" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
        rss_trimmed = rss_mb(proc.pid)
        stop.set()
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    placed = sum(s.placed for s in sessions)
    latencies = [x for s in sessions for x in s.latencies]
    held = sum(s.held for s in sessions)
    loads = {kind: sum(f"SOAK-PROBE {kind}" in line for line in lines) for kind in ("load_bundle", "placer")}
    found = problems(sessions)
    values = [v for _, v in samples]
    timed = [v for t, v in samples if run_start <= t <= run_end] or values[-1:]
    third = max(1, len(timed) // 3)
    print()
    print(f"sessions held            {held} / {sum(sizes)} (page load {min(s.load_seconds for s in sessions):.1f}-"
          f"{max(s.load_seconds for s in sessions):.1f} s before the timed run)")
    print(f"placements               {placed} in {elapsed:.0f} s = {placed / elapsed:.2f} per second "
          f"(+ {sum(s.answered_bad for s in sessions)} broken files answered with a message)")
    if latencies:
        q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) >= 2 else latencies * 19
        print(f"upload to star           median {statistics.median(latencies):.1f} s, p95 {q[-1]:.1f} s, "
              f"max {max(latencies):.1f} s ({args.song_seconds:.0f} s songs)")
    print(f"embedding switches       {sum(s.switches for s in sessions)}; dots heard "
          f"{sum(s.played for s in sessions)} (from {', '.join(sorted(set().union(*(s.sources for s in sessions))))})"
          f"; downloads {sum(s.downloaded for s in sessions)}")
    print(f"server RSS               {rss_start:.0f} MB before any session, {timed[0]:.0f} MB when the timed run "
          f"started (pages loaded, model warm), peak {max(values, default=rss_end):.0f} MB, {rss_end:.0f} MB at the "
          f"end, {rss_after:.0f} MB 20 s after the sessions closed, {rss_trimmed:.0f} MB after gc + malloc_trim")
    print(f"server RSS in the run    first third mean {statistics.mean(timed[:third]):.0f} MB, last third mean "
          f"{statistics.mean(timed[-third:]):.0f} MB ({len(timed)} samples, 1 per second)")
    marks = [(t - run_start, v) for t, v in samples if run_start <= t <= run_end][::30]
    if len(waves) > 1:
        print("server RSS by wave       " + "; ".join(
            f"wave {i + 1}: {w.rss_end:.0f} MB at its end, {w.rss_after:.0f} MB 20 s after it closed"
            for i, w in enumerate(waves)))
    print("server RSS every 30 s   " + ", ".join(f"{t:.0f}s {v:.0f}" for t, v in marks) + " (MB)")
    print(f"CPU in the timed run     {cpu_share(cpu, run_start, run_end)}")
    for t, stored in stores:
        if run_start <= t <= run_end + 30:
            print(f"streamlit holds at {t - run_start:4.0f}s  " + (", ".join(
                f"{k} {v:.1f} MB" for k, v in sorted(stored.items())) or "nothing reported"))
    blocks = "".join(line for line in lines if line.startswith("SOAK-TRACE")).split("SOAK-TRACE ----\n")
    if len(blocks) > 1:  # the last complete block
        print("python heap growth since start (tracemalloc):\n" + blocks[-2], end="")
    for line in server_times(lines):
        print(line)
    if len(waves) > 1:
        for line in wave_times(waves):
            print(line)
    print(f"model loads (server)     bundle loaded {loads['load_bundle']}x, Placer built {loads['placer']}x "
          f"(shared: st.cache_resource in explorer/state.py)")
    print(f"song files (static/)     {songs_during} session folder(s) at the end of the run, {songs_after} 20 s "
          "after the sessions closed (each is deleted with its session)")
    print(f"errors seen              {len(found)}")
    for index, kind, text in found:
        print(f"  session {index}: {kind}: {text}")
    print(f"server log               {server_log}")
    failed = found or held < sum(sizes) or placed == 0 or loads["placer"] > 1 or loads["load_bundle"] > 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
