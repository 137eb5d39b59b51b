"""What every page shares in one session (Streamlit): the collection, the view, the URL and the songs.

``set_up`` runs on every full run, before the page: it opens the collection
chosen in the sidebar, reads the view from the address bar when it is new
(a first visit, a shared link, the back button) and fits it to the collection;
the sidebar (``explorer.sidebar``) then places the songs dropped in its uploader. Streamlit drops a widget's
value when a page without that widget is shown: the view's values are kept in
``keys.VIEW_MEMORY`` as well and put back from there. Pages and their fragments read the result with
``context()`` and session state (keys in ``explorer.keys``).

Memory: callbacks here are module functions that take only strings, and no
module global holds an upload. Streamlit keeps the callbacks of every run's
widgets; had they been closures over a run's variables, every upload's bytes
would stay alive (measured before: 250 stale UploadedFiles, 180 MB, after a
90 s soak of 4 sessions).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from pipeline.bundle import Bundle, BundleError
from pipeline.networks import embedding_key, split_key

from . import keys, media, recorder, share, state, text, upload
from .views.map_view import COLOUR_MODES, UPLOAD_PREFIX

CONTEXT = "context"  # this session's Context (see set_up)


@dataclass(frozen=True)
class Context:
    """The collection a session is looking at: where it is and which version of it."""

    path: Path
    version: float
    startup: Path  # the collection the app was started with (not named in the URL)
    moved: bool = False  # this run shows another page than the last one

    @property
    def ref(self) -> tuple[str, float]:
        """(path, version): the key of everything cached per bundle (``explorer.cache``)."""
        return str(self.path), self.version

    @property
    def bundle(self) -> Bundle:
        return state.cached_bundle(*self.ref)


def context() -> Context:
    """The Context of this session's last full run."""
    return st.session_state[CONTEXT]


def default_embedding(bundle: Bundle) -> str:
    """The paper's favourite layer (deep) of the first network, else its first layer."""
    first = next(iter(bundle.networks.values()))
    deep = [e for e in first if split_key(e)[1] == "deep"]
    return (deep or first)[0]


def network_of(embedding: str) -> str:
    return split_key(embedding)[0]


# ---------------------------------------------------------------- callbacks (module functions: see the docstring)
def select(item_keys, origin: str = "page", rerun=None) -> None:
    """Select items (track ids, ``upload:<id>``); ``rerun``: fragment keys to rerun instead of the default."""
    st.session_state[keys.SELECTION] = list(item_keys)
    st.session_state[keys.SELECTION_ORIGIN] = origin
    if rerun:
        st.rerun(with_path_progress(rerun))


def switch_network() -> None:
    """The network picker changed: show the same layer of the new network (its first, if it lacks it)."""
    ss = st.session_state
    network, layer = ss[keys.NETWORK], split_key(ss.get(keys.EMBEDDING, ""))[1]
    layers = context().bundle.networks.get(network, [])
    wanted = embedding_key(network, layer)
    ss[keys.EMBEDDING] = wanted if wanted in layers else layers[0]


def rerun_fragments(fragments) -> None:
    """A callback that only chooses what reruns (e.g. a layer switch: the map and "sounds like")."""
    st.rerun(with_path_progress(fragments))


def with_path_progress(fragments) -> list:
    """The fragments to rerun, and then the sidebar's path progress while a song's path is computed (see
    ``path_progress_box``: without it the page would not update when the path is done); last, so the map
    the user asked for is sent first."""
    pending = upload.pending(st.session_state.get(keys.UPLOADS, {}).values())
    return list(fragments) + ([keys.PATH_FRAGMENT] if pending else [])


def remove_all_songs() -> None:
    ss = st.session_state
    state.release_uploads(ss[keys.UPLOADS])  # the emptied uploader's files would stay until the session ends
    for result in ss[keys.UPLOADS].values():
        upload.forget(result)
    ss[keys.UPLOADS] = {}
    media.forget_songs()
    ss[keys.UPLOADER_ROUND] += 1
    select([k for k in ss[keys.SELECTION] if not k.startswith(UPLOAD_PREFIX)])


# ---------------------------------------------------------------- the set-up of every full run
def set_up(page_name: str) -> Context:
    """Open the collection, apply the URL's view, keep the view alive; returns the Context.

    Then the sidebar places new songs (``explorer.sidebar``) and ``finish_set_up`` writes the address.
    """
    ss = st.session_state
    startup = state.bundle_path()
    choices = state.bundle_choices(startup)
    query = share.current(st.query_params)
    moved = ss.get(keys.PAGE_SHOWN) not in (None, page_name)
    ss[keys.PAGE_SHOWN] = page_name
    if moved:  # the charts of the new page start afresh in the browser: forget what earlier ones showed
        for k in [k for k in ss if k == keys.MAP_DRAWN or str(k).endswith("_drawn")]:
            del ss[k]
    # the address changed under the page (first run, a link, back / forward); a page move may clear it
    from_url = ss.get(keys.URL_WRITTEN) != query and not (moved and not query)
    if from_url:
        wanted = share.pick(query.get("bundle"), [p.name for p in choices])
        ss[keys.BUNDLE_CHOICE] = str(next((p for p in choices if p.name == wanted), startup))
    with st.sidebar:
        path = Path(st.selectbox("Which collection?", [str(p) for p in choices], key=keys.BUNDLE_CHOICE,
                                 format_func=lambda p: state.describe_bundle(Path(p)), help=text.COLLECTION_HELP))
    try:
        bundle = state.get_bundle(path)
    except BundleError as e:
        ss[keys.URL_WRITTEN] = query  # read once: the collection selector must be able to move away from here
        st.title(text.TITLE)
        how = "" if "pipeline build" in str(e) else f"\n\nBuild one:\n```\n{state.build_command(path)}\n```"
        st.error(f"**There is no genre map to show yet.** {e}{how}\n\nThen reload this page. To open a map built "
                 f"elsewhere: `streamlit run app.py -- --bundle DIR` (or set `{state.ENV_VAR}=DIR`).")
        st.stop()
    ctx = Context(path=path, version=state.stamp(path), startup=startup, moved=moved)
    ss[CONTEXT] = ctx
    apply_view(bundle, query if from_url else None, moved)
    if ss.get(keys.UPLOADS_VERSION) != ctx.ref:  # a rebuilt bundle has new maps: place this session's songs again
        ss[keys.UPLOADS], ss[keys.UPLOADS_VERSION] = {}, ctx.ref
    ss.setdefault(keys.UPLOADER_ROUND, 0)
    return ctx


def finish_set_up(ctx: Context) -> None:
    """After the sidebar (its songs are placed by then): write the view to the address bar."""
    # a page move may have cleared the address, or not yet: write it whatever it holds now
    write_url(ctx, force=ctx.moved)


def apply_view(bundle: Bundle, query: dict | None, moved: bool = False) -> None:
    """Set layer, colouring and selection from ``query`` (when given), else keep them; fit them to the bundle.

    ``moved``: the first run of another page. Its controls are new widgets to Streamlit (a widget's identity
    includes its page), which would start from their first option: they are given the view's values.
    """
    ss = st.session_state
    ids = bundle.tracks["track_id"].astype(str).tolist()
    for k, v in ss.get(keys.VIEW_MEMORY, {}).items():
        if moved or k not in ss:
            ss[k] = v
    ss.setdefault(keys.SELECTION, [])
    if query is not None:  # anything that does not fit this bundle is ignored
        view = share.parse_view(query, bundle.embeddings, list(COLOUR_MODES), ids)
        ss[keys.EMBEDDING] = view.get("embedding", default_embedding(bundle))
        ss[keys.COLOUR] = view.get("colour", "genre")
        ss[keys.SELECTION], ss[keys.SELECTION_ORIGIN] = view.get("track", []), "page"
        missing = share.unknown_tracks(query.get("track"), ids)
        if missing:
            st.toast(f"Not in this collection, so not selected: {', '.join(missing[:5])}", icon="ℹ️")
    if ss.get(keys.EMBEDDING) not in bundle.embeddings:  # another collection without this layer
        ss[keys.EMBEDDING] = default_embedding(bundle)
    ss.setdefault(keys.COLOUR, "genre")
    ss[keys.NETWORK] = network_of(ss[keys.EMBEDDING])


def write_url(ctx: Context, force: bool = False) -> dict:
    """Put the current view in the address bar (when it changed, or ``force``); returns its query parameters."""
    ss = st.session_state
    known = track_ids(*ctx.ref)
    tracks = [k for k in ss.get(keys.SELECTION, []) if k in known]
    params = share.view_params(ss[keys.EMBEDDING], ss[keys.COLOUR], tracks,
                               bundle=ctx.path.name if ctx.path != ctx.startup else None)
    if force or params != share.current(st.query_params):
        st.query_params.from_dict(params)
    ss[keys.URL_WRITTEN] = params
    ss[keys.VIEW_MEMORY] = {keys.EMBEDDING: ss[keys.EMBEDDING], keys.COLOUR: ss[keys.COLOUR]}
    return params


@st.cache_resource(show_spinner=False, max_entries=4)
def track_ids(path: str, version: float) -> frozenset:
    return frozenset(state.cached_bundle(path, version).tracks["track_id"].astype(str))


def recorder_key() -> str:
    """The microphone recorder's widget key (emptied with the uploader by "remove all my songs")."""
    return f"{keys.RECORDER_PREFIX}{st.session_state.get(keys.UPLOADER_ROUND, 0)}"


def uploader_key() -> str:
    return f"{keys.UPLOADER_PREFIX}{st.session_state.get(keys.UPLOADER_ROUND, 0)}"


def placed_songs() -> dict:
    """``upload:<id>`` → UploadResult of this session's placed songs, in upload order."""
    return {UPLOAD_PREFIX + r.key: r for r in st.session_state.get(keys.UPLOADS, {}).values() if r.ok}


def uploaded_file(item: str):
    """The uploader's file (or the recording) behind a song's item key (its bytes play in the detail panel)."""
    recording = recorder.last_recording(recorder_key())
    files = [*(st.session_state.get(uploader_key()) or []), *([recording] if recording else [])]
    return next((f for f in files if f is not None and UPLOAD_PREFIX + f.file_id == item), None)


def compact_layout() -> None:
    """Less empty space above the page, so that on a 1280 × 720 projector the whole map fits the first screen."""
    st.html("<style>[data-testid='stMainBlockContainer'] {padding: 3.6rem 1.5rem 2rem 1.5rem;}"
            "[data-testid='stMainBlockContainer'] h1 {font-size: 2.1rem; padding: 0.25rem 0 0 0;}</style>")
