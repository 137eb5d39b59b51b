"""Which bundle the pages show, opening it (and the Placer) once per process.

The bundle path comes from ``streamlit run app.py -- --bundle DIR``, else the
``GENRE_MAP_BUNDLE`` environment variable, else ``assets/gtzan`` next to this
repo. The bundle and the Placer are shared by all sessions (read-only); they
are reloaded when ``bundle.json`` changes on disk (a rebuild). The bundle is
opened lazily (``load_bundle(lazy=True)``): an array is read when a view first
asks for it, and big ones (at 10 000 tracks the thumbnails and the wide
embeddings) are memory-mapped from ``CACHE_DIR``, so they cost page cache, not
the server's memory, and a restarted server maps them at once. Session-state
keys live in ``explorer.keys``.

The Placer (model weights, numba warm-up: several seconds) is loaded in a
background thread, a few seconds after the first page is sent, so the map is
drawn and interactive before it is ready; only placing a song or looking up a
clip's neighbours waits for it (and starts it at once if it has not started).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from pipeline.bundle import Bundle, BundleError, load_bundle, read_meta
from pipeline.paths import ASSETS, DEFAULT_BUNDLE

from .placing import Placing, lower_priority

REPO = Path(__file__).resolve().parents[1]
ENV_VAR = "GENRE_MAP_BUNDLE"
THREADS_VAR = "GENRE_MAP_TORCH_THREADS"
# where a bundle's big arrays are unpacked to be memory-mapped (one folder per arrays.npz content)
CACHE_DIR = Path(os.environ.get("GENRE_MAP_CACHE") or REPO / ".cache" / "explorer")


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
def cached_bundle(path: str, version: float) -> Bundle:
    """The shared, lazily read bundle at ``path`` as it was at ``version`` (see ``stamp``)."""
    return load_bundle(path, lazy=True, cache_dir=CACHE_DIR)


def get_bundle(path: Path) -> Bundle:
    """The shared bundle at ``path``; raises BundleError (not cached, so a fix is picked up)."""
    return cached_bundle(str(path), stamp(path))


PLACER_DELAY_S = 8.0  # the first page is in the browser (plotly.js loaded) before the model starts loading


@dataclass
class PlacerLoad:
    """The background load of one bundle's Placer: ``future`` holds it; ``needed`` starts it without delay."""

    future: Future
    needed: threading.Event


def _make_placer(bundle: Bundle, needed: threading.Event, before=None):
    # Loading holds the GIL for seconds (imports, JIT, warm-up): right after a first visit it would starve
    # the server thread that sends the browser plotly.js (measured: the first map ~1.5 s later). Wait a
    # little, unless a song or a neighbour list needs the model now.
    needed.wait(PLACER_DELAY_S)
    lower_priority()  # this loader thread only; placements later run at normal priority
    if before is not None and not needed.is_set():
        try:
            before()
        except Exception:  # a convenience (e.g. warming figure caches): never a reason not to load the model
            pass
    # One compute thread per placement. A web server shares its cores between sessions (and, on a
    # classroom laptop, other programs); spinning worker threads then made a 30 s song take ~4.5 s
    # instead of ~0.6 s (measured on 2 cores at load average ~9). The explorer never imports torch
    # itself: where the placement still runs on torch, OMP_NUM_THREADS (read when torch is first
    # imported, below) sets it; GENRE_MAP_TORCH_THREADS overrides it.
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, int(os.environ.get(THREADS_VAR) or 1))))
    from pipeline.place import Placer

    placer = Placer(bundle)
    placer.warm_up()  # numba JIT, torch kernels, kNN indices
    # a typical upload is 30 s (several windows in one batch): run that shape once too
    import numpy as np

    noise = 0.1 * np.random.default_rng(0).standard_normal(int(30 * placer.spec.sample_rate))
    placer.place_audio(noise.astype(np.float32), "warm-up")
    if "thumbnails" in bundle.arrays:  # the detail panel's first spectrogram: unpacked (large bundles) now
        bundle.arrays["thumbnails"]
    return placer


@st.cache_resource(show_spinner=False, max_entries=4)
def _placer_load(path: str, version: float, _before=None) -> PlacerLoad:
    bundle = cached_bundle(path, version)
    needed = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="placer")
    future = pool.submit(_make_placer, bundle, needed, _before)
    pool.shutdown(wait=False)
    return PlacerLoad(future, needed)


def start_placer(path: Path, before=None) -> Future:
    """Start loading the shared Placer in the background, after ``PLACER_DELAY_S`` (returns at once).

    ``before``: a callable the loader thread runs first, unless the model is needed at once (the first
    session's call only: the load is shared).
    """
    return _placer_load(str(path), stamp(path), before).future


def get_placer(path: Path):
    """The shared, warmed-up Placer; starts its load now if it waits, and waits for it.

    A failed load is not kept: the next call tries again.
    """
    load = _placer_load(str(path), stamp(path))
    load.needed.set()
    try:
        return load.future.result()
    except Exception:
        _placer_load.clear()
        raise


@st.cache_resource(show_spinner=False)
def get_placing() -> Placing:
    """The threads that place every session's songs (one set per server: they share the cores)."""
    return Placing()


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
