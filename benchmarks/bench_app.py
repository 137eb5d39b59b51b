"""Timings of the explorer page against its targets; prints one line per number.

    python benchmarks/bench_app.py              # AppTest (script) timings + real-browser timings
    python benchmarks/bench_app.py --no-browser # script timings only
    python benchmarks/bench_app.py --browser-only

Targets (issue 4, 2 CPU cores): cold start to an interactive map ≤ 3 s after imports,
switching embedding ≤ 0.2 s, a 30 s upload placed and drawn ≤ 1 s. Issue 7: a 5-minute
song's trajectory ready ≤ 3 s; export timings (PNG, HTML, CSV). Other processes on the
machine inflate every number: the load average is printed with them, and CPU time
(process time, all threads) next to wall time for the long song.
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
APP = str(REPO / "app.py")


def line(name: str, seconds: float, target: float | None = None) -> None:
    verdict = "" if target is None else ("  ok" if seconds <= target else f"  OVER target {target:g} s")
    print(f"{name:58s} {seconds:7.3f} s{verdict}", flush=True)


def wav_bytes(seconds: float = 30.0) -> bytes:
    import numpy as np
    import soundfile as sf

    from tests.synth import genre_clip

    buf = io.BytesIO()
    sf.write(buf, genre_clip(1, seconds, 22050, np.random.default_rng(0)), 22050, format="WAV")
    return buf.getvalue()


def wav_30s() -> bytes:
    return wav_bytes(30.0)


def timed(f):
    """(result, wall s, CPU s of this process: all threads)."""
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - w, time.process_time() - c


def bench_trajectory(placer, repeats: int) -> None:
    """A 5-minute song placed window by window, as the app does (target ≤ 3 s), with its stages."""
    from explorer import trajectory_view, upload
    from pipeline.audio import load_audio
    from pipeline.embed import segment_images

    data = wav_bytes(300.0)
    threads = placer.networks[0].graph.session.get_session_options().intra_op_num_threads
    runs = [timed(lambda: upload.place_upload(placer, "long", "five minutes.wav", data)) for _ in range(repeats)]
    result = runs[-1][0]
    assert result.ok and len(result.placement.trajectory) >= 50, result.error
    line(f"5-min song: decode + place + trajectory, {threads} onnxruntime thread(s), median of {repeats}",
         statistics.median(r[1] for r in runs), 3.0)
    line("  … CPU time of that (all threads)", statistics.median(r[2] for r in runs))
    plain = [timed(lambda: placer.place_file(data, filename="five minutes.wav")) for _ in range(repeats)]
    line(f"5-min song: decode + place without the trajectory (median of {repeats})", statistics.median(r[1] for r in plain))
    y, t_decode, _ = timed(lambda: load_audio(data, sr=placer.spec.sample_rate, filename="x.wav"))
    (images, _), t_mel, c_mel = timed(lambda: segment_images(y, placer.spec))
    _, t_cnn, c_cnn = timed(lambda: placer.networks[0].graph.run(images))
    seg, _ = placer.segment_vectors(y)
    _, t_tsne, _ = timed(lambda: placer._project({e: seg[e] for e in placer.bundle.embeddings}))
    line("  stage: decode 5 min of WAV", t_decode)
    line(f"  stage: log-mel images of {len(images)} windows (wall; CPU {c_mel:.2f} s)", t_mel)
    line(f"  stage: MobileNetV2 on {len(images)} windows (wall; CPU {c_cnn:.2f} s)", t_cnn)
    line(f"  stage: t-SNE transform of {len(images)} windows, 4 maps (the trajectory's own cost)", t_tsne)
    from explorer import map_view
    from explorer.state import DEFAULT_BUNDLE
    from pipeline.bundle import load_bundle

    bundle = load_bundle(DEFAULT_BUNDLE)
    frame = map_view.map_frame(bundle, "deep")
    path = trajectory_view.song_path("upload:long", result.name, result.placement, "deep")
    _, t_fig, _ = timed(lambda: map_view.map_figure(frame, bundle.labels, markers=upload.markers([result], "deep"),
                                                    paths=[path]).to_json())
    line("5-min song: map figure with its path + JSON", t_fig)


def bench_exports(repeats: int) -> None:
    """The downloads, generated when clicked (PNG, HTML) or with the page (CSV)."""
    from explorer import export, map_view
    from explorer.state import DEFAULT_BUNDLE
    from pipeline.bundle import load_bundle

    bundle = load_bundle(DEFAULT_BUNDLE)
    frame = map_view.map_frame(bundle, "deep")
    fig = map_view.map_figure(frame, bundle.labels, selected=["blues.00001"])
    jobs = {
        "PNG (matplotlib, 150 dpi)": lambda: export.map_png(frame, bundle.labels, "genre", selected=["blues.00001"],
                                                            title="deep"),
        "interactive HTML (plotly.js inlined)": lambda: export.map_html(fig),
        "coordinates CSV (every layer)": lambda: export.csv_bytes(export.coordinates_frame(bundle)),
        "similarity CSV (every layer, long)": lambda: export.csv_bytes(export.similarity_long_frame(
            {e: bundle.similarity(e) for e in bundle.embeddings}, bundle.labels)),
    }
    for name, job in jobs.items():
        times, size = [], 0
        for _ in range(repeats):
            out, t, _ = timed(job)
            times.append(t)
            size = len(out)
        line(f"export: {name}, {size / 1e6:.2f} MB (median of {repeats}; first {times[0]:.2f} s)",
             statistics.median(times))


def bench_script(repeats: int) -> None:
    t0 = time.perf_counter()
    import plotly.graph_objects  # noqa: F401
    import streamlit  # noqa: F401
    from streamlit.testing.v1 import AppTest

    import explorer.cache  # noqa: F401
    import pipeline.bundle  # noqa: F401
    line("imports (streamlit, plotly, explorer, pipeline.bundle)", time.perf_counter() - t0)

    at = AppTest.from_file(APP, default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    line("page script, first run (cold caches; placer starts in background)", time.perf_counter() - t0, 3.0)
    assert not at.exception, at.exception
    t0 = time.perf_counter()
    at.run()
    line("page script, second run (warm caches)", time.perf_counter() - t0)

    from explorer import state
    t0 = time.perf_counter()
    state.get_placer(state.bundle_path([]))
    line("  waiting for the background placer after first run", time.perf_counter() - t0)

    times = []
    for _ in range(repeats):
        for e in ("shallow", "none", "immediate", "deep"):
            t0 = time.perf_counter()
            at.sidebar.radio(key="embedding").set_value(e).run()
            times.append(time.perf_counter() - t0)
    line(f"embedding switch, rerun (median of {len(times)})", statistics.median(times), 0.2)
    line("embedding switch, rerun (max)", max(times))

    data = wav_30s()
    from explorer import cache, map_view, upload
    placer = state.get_placer(state.bundle_path([]))
    ref = (str(state.bundle_path([])), state.stamp(state.bundle_path([])))
    places, draws = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        result = upload.place_upload(placer, f"k{i}", "song.wav", data)
        t1 = time.perf_counter()
        fig = map_view.add_overlays(cache.map_base(*ref, "deep", "genre"), cache.map_frame(*ref, "deep"),
                                    placer.labels, markers=upload.markers([result], "deep"))
        import plotly.io as pio
        pio.to_json(fig.to_dict(), validate=False)
        places.append(t1 - t0)
        draws.append(time.perf_counter() - t1)
    line(f"30 s upload: decode + place (median of {repeats})", statistics.median(places))
    line(f"30 s upload: map figure with the star + JSON (median of {repeats})", statistics.median(draws))
    times = []
    for i in range(repeats):
        at.file_uploader[0].set_value((f"song{i}.wav", data, "audio/wav"))
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception and not at.error, (at.exception, at.error)
    line(f"30 s upload: full page rerun incl. placement (median of {repeats})", statistics.median(times), 1.0)

    bench_trajectory(placer, max(1, min(repeats, 3)))
    bench_exports(repeats)


def bench_browser(chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port),
                             "--server.headless", "true"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    mapsel = ".st-key-map_chart .js-plotly-plot"
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        line("browser: server process start to healthy (imports)", time.perf_counter() - t_start)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                  "--no-first-run"])
            page = b.new_page(viewport={"width": 1600, "height": 1000})
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_selector('[data-testid="stSidebar"] [role="radiogroup"]', timeout=120_000)
            line("browser: first page load to first widgets shown", time.perf_counter() - t0)
            page.wait_for_function(f"() => {{ const e = document.querySelector('{mapsel}'); "
                                   "return e && e._fullData && e._fullData.length > 0; }", timeout=120_000)
            line("browser: first page load to map drawn (cold server)", time.perf_counter() - t0, 3.0)
            page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
            line("browser: first page load to script finished", time.perf_counter() - t0)
            page.wait_for_timeout(3000)  # let the background placer finish before timing an upload
            first_x = ("() => { const e = document.querySelector('" + mapsel + "'); return e && e._fullData ? "
                       "Array.from(e._fullData.find(t => t.meta && t.meta.kind === 'tracks').x).slice(0, 3).join(',')"
                       " : null; }")
            for label in ("Last layer (shallow)", "Deep layer (deep)"):
                before = page.evaluate(first_x)
                t0 = time.perf_counter()
                page.locator('[data-testid="stSidebar"]').get_by_text(label).click()
                page.wait_for_function(f"b => {{ const x = ({first_x})(); return x !== null && x !== b; }}", arg=before,
                                       timeout=30_000)
                line(f"browser: click '{label}' to new map drawn", time.perf_counter() - t0, 0.2)
                page.wait_for_selector('[data-test-script-state="notRunning"]')
            tmp = Path(os.environ.get("TMPDIR", "/tmp"))
            for i, label in enumerate(("first", "second")):
                song = tmp / f"bench {label} 30s song.wav"
                song.write_bytes(wav_30s())
                t0 = time.perf_counter()
                page.locator('input[type="file"]').set_input_files(str(song))
                page.wait_for_function(f"n => {{ const e = document.querySelector('{mapsel}'); return e && e._fullData "
                                       "&& e._fullData.filter(t => t.meta && t.meta.kind === 'upload').length === n; }",
                                       arg=i + 1, timeout=120_000)
                note = " (may wait for the model to load)" if i == 0 else ""
                line(f"browser: {label} 30 s upload to star drawn{note}", time.perf_counter() - t0,
                     None if i == 0 else 1.0)
                page.wait_for_selector('[data-test-script-state="notRunning"]')
                song.unlink()
            b.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--browser-only", action="store_true", help="skip the AppTest, 5-minute song and export timings")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.environ.pop("GENRE_MAP_BUNDLE", None)
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (other processes slow every number)")
    if not args.browser_only:
        bench_script(args.repeats)
    chromium = "/usr/bin/chromium"
    if not args.no_browser:
        if Path(chromium).exists():
            bench_browser(chromium)
        else:
            print(f"browser timings skipped: {chromium} not installed")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
