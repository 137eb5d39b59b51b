"""Which bundle the page shows, loading it (and the Placer) once per process, and session keys.

The bundle path comes from ``streamlit run app.py -- --bundle DIR``, else the
``GENRE_MAP_BUNDLE`` environment variable, else ``assets/gtzan`` next to this
repo. The bundle and the Placer are shared by all sessions (read-only); they
are reloaded when ``bundle.json`` changes on disk (a rebuild).

The Placer (torch, model weights, numba warm-up: several seconds) is loaded in
a background thread so the map is interactive before it is ready; only
placing a song or looking up a clip's neighbours waits for it.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import streamlit as st

from pipeline.bundle import Bundle, BundleError, load_bundle, read_meta

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"
DEFAULT_BUNDLE = ASSETS / "gtzan"
ENV_VAR = "GENRE_MAP_BUNDLE"
THREADS_VAR = "GENRE_MAP_TORCH_THREADS"

# Session-state keys. Widget keys double as URL query-parameter names if the
# widgets are later bound to the URL (st.radio(..., bind="query-params")).
EMBEDDING = "embedding"
COLOUR = "colour"
SELECTION = "selection"  # list of item keys: track ids and/or "upload:<file id>"
SELECTION_ORIGIN = "selection_origin"  # "map" when the last selection was a click on the map, else "page"
MAP_DRAWN = "map_drawn"  # (signature, selection drawn into it) of the map figure last sent
UPLOADS = "uploads"  # file id → UploadResult (this session's songs)
UPLOADS_VERSION = "uploads_version"  # the bundle (path, version) those songs were placed on
UPLOADER_ROUND = "uploader_round"  # bumped to empty the file uploader ("remove all")
MAP_CHART = "map_chart"
BUNDLE_CHOICE = "bundle"  # the collection selector (its value: the bundle directory)
URL_WRITTEN = "url_written"  # the query parameters the page last wrote (see explorer/share.py)
AUTOPLAY = "autoplay"  # item key whose player should start playing on this run (after a jump)


def bundle_path(argv: list[str] | None = None, environ=None) -> Path:
    """The bundle directory: ``--bundle`` after ``--``, else $GENRE_MAP_BUNDLE, else assets/gtzan."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bundle")
    args, _ = parser.parse_known_args(argv)
    return Path(args.bundle or environ.get(ENV_VAR) or DEFAULT_BUNDLE).expanduser().resolve()


def find_bundles(root: Path = ASSETS) -> list[Path]:
    """Bundle directories directly under ``root`` (each a dir holding bundle.json), sorted by name."""
    try:
        return sorted((p.parent.resolve() for p in Path(root).glob("*/bundle.json")), key=lambda p: p.name)
    except OSError:
        return []


def bundle_choices(startup: Path, root: Path = ASSETS) -> list[Path]:
    """What the collection selector offers: the bundle the app was started with, then the others in ``root``."""
    startup = Path(startup).resolve()
    return [startup] + [p for p in find_bundles(root) if p != startup]


def describe_bundle(path: Path) -> str:
    """'gtzan — gtzan, 94 clips' (or why it cannot be opened) for the selector."""
    path = Path(path)
    try:
        d = read_meta(path).get("dataset", {})
    except BundleError:
        return f"{path.name} (cannot be opened)"
    n = d.get("n_tracks")
    return f"{path.name} — {d.get('name', '?')}" + (f", {n} clips" if n is not None else "")


def build_command(path: Path) -> str:
    """The command that makes a bundle at ``path``."""
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    return f"python -m pipeline build --data DIR_OF_GENRE_FOLDERS --out {shown}"


def stamp(path: Path) -> float:
    """Changes when the bundle is rebuilt: the mtime of bundle.json (0 when absent)."""
    try:
        return (path / "bundle.json").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Opening the genre map…", max_entries=4)
def _load(path: str, version: float) -> Bundle:
    return load_bundle(path)


def get_bundle(path: Path) -> Bundle:
    """The shared bundle at ``path``; raises BundleError (not cached, so a fix is picked up)."""
    return _load(str(path), stamp(path))


def _lower_this_threads_priority() -> None:
    """Let the page (and, on a laptop, the browser) have the CPU first (Linux: threads are tasks)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _make_placer(bundle: Bundle):
    _lower_this_threads_priority()  # this loader thread only; placements later run at normal priority
    import torch  # imported here, off the page's critical path

    from pipeline.place import Placer

    # One torch thread per placement. A web server shares its cores between sessions (and, on a
    # classroom laptop, other programs); torch's spinning worker threads then make a 30 s song
    # take ~4.5 s instead of ~0.6 s (measured on 2 cores at load average ~9). GENRE_MAP_TORCH_THREADS
    # overrides it.
    torch.set_num_threads(max(1, int(os.environ.get(THREADS_VAR) or 1)))
    placer = Placer(bundle)
    placer.warm_up()  # numba JIT, torch kernels, kNN indices
    # a typical upload is 30 s (several windows in one batch): run that shape once too
    import numpy as np

    noise = 0.1 * np.random.default_rng(0).standard_normal(int(30 * placer.spec.sample_rate))
    placer.place_audio(noise.astype(np.float32), "warm-up")
    return placer


@st.cache_resource(show_spinner=False, max_entries=4)
def _placer_future(path: str, version: float) -> Future:
    bundle = _load(path, version)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="placer")
    future = pool.submit(_make_placer, bundle)
    pool.shutdown(wait=False)
    return future


def start_placer(path: Path) -> Future:
    """Start loading the shared Placer in the background (returns at once)."""
    return _placer_future(str(path), stamp(path))


def get_placer(path: Path):
    """The shared, warmed-up Placer; waits for the background load if needed.

    A failed load is not kept: the next call tries again.
    """
    future = start_placer(path)
    try:
        return future.result()
    except Exception:
        _placer_future.clear()
        raise


def release_uploads(file_ids) -> None:
    """Drop these uploads from Streamlit's per-session upload store.

    An uploader that is replaced (its key bumped by "remove all my songs") never
    tells the browser to delete its files, so the store would keep their bytes
    until the session ends. A no-op outside a running page.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    remove = getattr(getattr(ctx, "uploaded_file_mgr", None), "remove_file", None)
    if remove is None:  # another upload store (not in-memory) or no page
        return
    for file_id in list(file_ids):
        remove(ctx.session_id, file_id)


def selection_to_draw(selection: list, origin: str | None, signature, last, chart: str = "map") -> list:
    """Which selection to write into the map figure (as plotly ``selectedpoints``).

    Streamlit identifies a chart by a hash of its figure, so a figure that changes
    is a new chart: zoom, pan and plotly's own click highlight are lost. After a
    click on the map, plotly already shows that selection, so the figure is kept
    exactly as last sent (``last`` = (signature, drawn selection)). Any other
    change (a search, an upload, clearing, another embedding or colouring, i.e.
    another ``signature``) draws the current selection. ``chart`` names the chart
    (the main map is "map"; the side-by-side maps "grid_<embedding>").
    """
    if origin == chart and last is not None and last[0] == signature:
        return list(last[1])
    return list(selection)
