"""The sidebar's songs (Streamlit): the uploader and recorder, one line per placed song, the paths' progress.

New files are placed here, on every full run (``upload.sync_uploads``: only
files not seen before); the state they change is ``explorer.session``'s.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from . import keys, recorder, sessions_sweep, state, text, upload
from .session import Context, recorder_key, remove_all_songs, select, uploader_key
from .views.map_view import UPLOAD_PREFIX

PATH_POLL_S = 0.5  # how often the sidebar asks how far the songs' paths are


def songs_sidebar(ctx: Context) -> None:
    """The uploader, one line per song (click: show it), and "remove all"; new files are placed here."""
    ss = st.session_state
    st.header("Drop in a song")
    max_mb = int(st.get_option("server.maxUploadSize") or upload.DEFAULT_MAX_MB)
    # No type= filter: a file of another format (.m4a, .mp4…) gets our message naming the supported ones
    files = st.file_uploader(f"{upload.FORMATS_LABEL}, up to {max_mb} MB", accept_multiple_files=True,
                             key=uploader_key(), help=text.UPLOAD_HELP)
    recorder_box(ctx.path)
    recording = recorder.last_recording(recorder_key())
    files = [*(files or []), *([recording] if recording is not None else [])]
    queue = st.empty()
    with st.spinner("Listening to your song…"):
        results, new = upload.sync_uploads(files, ss[keys.UPLOADS], lambda: state.get_placer(ctx.path),
                                           max_bytes=max_mb * 1024 * 1024, placing=state.get_placing(),
                                           progress=lambda n: queue.caption(text.queue_position(n)))
    queue.empty()
    sessions_sweep.register(jobs=[r.job for r in new])  # cancelled if the session ends first
    upload.refresh(results)
    path_progress_box()
    placed = [r for r in new if r.ok]
    if placed:  # show the newest song in the detail panel
        select([UPLOAD_PREFIX + placed[-1].key])
    for r in results:
        if r.ok:
            st.button(f"★ {text.song_readout(r)}", key=f"show_{r.key}", type="tertiary", on_click=select,
                      args=([UPLOAD_PREFIX + r.key],), help="Show this song next to the map")
        else:
            st.error(f"**{text.markdown_text(r.name)}** could not be placed: {r.error}")
    if results:
        st.button("Remove all my songs", on_click=remove_all_songs, key="remove_songs")
    st.divider()
    bundle = ctx.bundle
    d = bundle.meta["dataset"]
    st.caption(f"Map: `{ctx.path.name}` — {d.get('n_tracks', len(bundle.tracks))} clips of {d.get('name', '?')}, "
               f"built {bundle.meta.get('created', '?')[:10]}. Another collection: "
               "`streamlit run app.py -- --bundle DIR`.")


@st.fragment(key=keys.RECORDER_FRAGMENT)
def recorder_box(path) -> None:
    """The recorder, in a fragment: the parts it sends while recording rerun only this; its clip, the page."""
    if recorder.recorder(text.RECORD_LABEL, recorder_key(), lambda: state.get_placer(path), help=text.RECORD_HELP):
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:  # a fragment's run: the page places the clip
            rerun_page()


def rerun_page() -> None:
    """Rerun the whole page from a fragment's run, at the view the page last wrote.

    The full run takes its address from the fragment's request, sent before any view written since (a dot
    clicked while the request waited): it would read that stale address as a link and drop the click.
    """
    written = st.session_state.get(keys.URL_WRITTEN)
    if written is not None:
        st.query_params.from_dict(written)
    st.rerun(scope="app")


@st.fragment(key=keys.PATH_FRAGMENT)
def path_progress_box() -> None:
    """Holds ``path_progress`` while a song's path is computed: rerunning this box calls it anew, which restarts
    its timer in the browser.

    A control outside every fragment (the layer picker) makes the browser drop every ``run_every`` timer,
    even when its callback reruns only some fragments; a fragment rerun by its id does not restart its own
    timer (Streamlit 1.67), but a fragment called anew does. ``with_path_progress`` adds this box to those
    reruns.

    The box itself is drawn on every run, at the same place (before the song list, whose length changes): a
    timer's run that comes late, after a full run stopped drawing it, then still writes into this box, not into
    the element that took its place. That is the page-blanking "'setIn' cannot be called on an ElementNode"
    (streamlit#15084), seen once in a 16-session soak.
    """
    if upload.pending(st.session_state.get(keys.UPLOADS, {}).values()):
        path_progress()


@st.fragment(run_every=PATH_POLL_S)
def path_progress() -> None:
    """While songs' paths are computed: how far each is; when one is done, the whole page shows it."""
    results = list(st.session_state.get(keys.UPLOADS, {}).values())
    if upload.refresh(results):
        rerun_page()
    for r in upload.pending(results):
        done, total = r.job.progress()
        st.progress(done / max(total, 1), text=text.path_progress(r.name, done, total))
