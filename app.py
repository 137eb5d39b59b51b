"""The GTZAN genre map — a thin Streamlit page: layout and wiring only (views live in explorer/).

Run:  streamlit run app.py            (the shipped map in assets/gtzan)
      streamlit run app.py -- --bundle DIR    or    GENRE_MAP_BUNDLE=DIR streamlit run app.py
"""
import streamlit as st

st.set_page_config(page_title="GTZAN genre map", page_icon="🎵", layout="wide")

from explorer import cache, panels, state, text, track_view, upload  # noqa: E402
from explorer.map_view import COLOUR_MODES, UPLOAD_PREFIX, add_overlays, selection_keys  # noqa: E402
from explorer.plotting import CONFIG as PLOTLY_CONFIG  # noqa: E402
from explorer.similarity_view import SCALES  # noqa: E402
from pipeline.bundle import BundleError  # noqa: E402

ss = st.session_state

# ---------------------------------------------------------------- the bundle
path = state.bundle_path()
try:
    bundle = state.get_bundle(path)
except BundleError as e:
    st.title(text.TITLE)
    how = "" if "pipeline build" in str(e) else f"\n\nBuild one:\n```\n{state.build_command(path)}\n```"
    st.error(f"**There is no genre map to show yet.** {e}{how}\n\nThen reload this page. To open a map built "
             f"elsewhere: `streamlit run app.py -- --bundle DIR` (or set `{state.ENV_VAR}=DIR`).")
    st.stop()
version = state.stamp(path)
ref = (str(path), version)
labels, embeddings = bundle.labels, bundle.embeddings
ids = bundle.tracks["track_id"].astype(str).tolist()
ss.setdefault(state.SELECTION, [])
if ss.get(state.UPLOADS_VERSION) != ref:  # a rebuilt bundle has new maps: place this session's songs again
    ss[state.UPLOADS], ss[state.UPLOADS_VERSION] = {}, ref
ss.setdefault(state.UPLOADER_ROUND, 0)


def select(keys, origin: str = "page") -> None:
    ss[state.SELECTION] = list(keys)
    ss[state.SELECTION_ORIGIN] = origin


def on_map_select() -> None:
    select(selection_keys(ss.get(state.MAP_CHART)), origin="map")


def on_lookup() -> None:
    if ss.get("lookup"):
        select([ss["lookup"]])
    ss["lookup"] = None


def remove_all_songs() -> None:
    ss[state.UPLOADS] = {}
    ss[state.UPLOADER_ROUND] += 1
    select([k for k in ss[state.SELECTION] if not k.startswith(UPLOAD_PREFIX)])


def dim(e: str):
    return bundle.meta["embeddings"].get(e, {}).get("dim")


# ---------------------------------------------------------------- sidebar: controls and uploads
with st.sidebar:
    st.header("What to show")
    embedding = st.radio("Which layer of the network?", embeddings, key=state.EMBEDDING,
                         index=embeddings.index("deep") if "deep" in embeddings else 0,
                         format_func=lambda e: f"{text.embedding_title(e)} ({e})",
                         captions=[text.embedding_finding(e, dim(e)) for e in embeddings])
    colour_by = st.radio("Colour the dots by", list(COLOUR_MODES), key=state.COLOUR, format_func=COLOUR_MODES.get)

    st.header("Drop in a song")
    max_mb = int(st.get_option("server.maxUploadSize") or upload.DEFAULT_MAX_MB)
    files = st.file_uploader(f"wav, mp3, flac, ogg or au, up to {max_mb} MB", type=upload.UPLOAD_TYPES,
                             accept_multiple_files=True, key=f"uploader_{ss[state.UPLOADER_ROUND]}",
                             help=text.UPLOAD_HELP)
    with st.spinner("Listening to your song…"):
        results, new = upload.sync_uploads(files, ss[state.UPLOADS], lambda: state.get_placer(path),
                                           max_bytes=max_mb * 1024 * 1024)
    placed = [r for r in new if r.ok]
    if placed:  # show the newest song in the detail panel
        select([UPLOAD_PREFIX + placed[-1].key])
    for r in results:
        if r.ok:
            p = r.placement
            st.button(f"★ **{r.name}**: the model says **{p.genre}** ({p.probabilities[p.genre]:.0%})",
                      key=f"show_{r.key}", type="tertiary", on_click=select, args=([UPLOAD_PREFIX + r.key],),
                      help="Show this song next to the map")
        else:
            st.error(f"**{r.name}** could not be placed: {r.error}")
    if results:
        st.button("Remove all my songs", on_click=remove_all_songs, key="remove_songs")

    st.divider()
    d = bundle.meta["dataset"]
    st.caption(f"Map: `{path.name}` — {d.get('n_tracks', len(ids))} clips of {d.get('name', '?')}, built "
               f"{bundle.meta.get('created', '?')[:10]}. Another collection: `streamlit run app.py -- --bundle DIR`.")

# ---------------------------------------------------------------- title, map and detail panel
st.title(text.TITLE)
st.markdown(text.intro(len(ids), len(labels), str(bundle.meta["dataset"].get("name", "?"))))

songs = {UPLOAD_PREFIX + r.key: r for r in results if r.ok}
known = set(ids)
selection = [k for k in ss[state.SELECTION] if k in songs or k in known]
frame = cache.map_frame(*ref, embedding)
map_col, detail_col = st.columns([3, 2], gap="large")

with map_col:
    st.subheader(f"{text.embedding_title(embedding)} ({embedding}): {len(ids)} clips")
    st.caption(text.embedding_finding(embedding, dim(embedding)))
    markers = upload.markers(results, embedding)
    signature = (embedding, colour_by, tuple((m["key"], m["name"]) for m in markers))
    drawn = state.selection_to_draw(selection, ss.get(state.SELECTION_ORIGIN), signature, ss.get(state.MAP_DRAWN))
    ss[state.MAP_DRAWN] = (signature, drawn)
    fig = add_overlays(cache.map_base(*ref, embedding, colour_by), frame, labels, markers=markers, selected=drawn)
    st.plotly_chart(fig, key=state.MAP_CHART, on_select=on_map_select, selection_mode=("points", "lasso", "box"),
                    config=PLOTLY_CONFIG, theme=None)
    st.caption(text.MAP_HELP + (" " + text.CORRECT_HELP if colour_by == "correct" else ""))


with detail_col:
    names = dict(zip(ids, frame["name"]))
    st.selectbox("Find a clip", ids, index=None, key="lookup", on_change=on_lookup,
                 placeholder="type a genre, artist or title…", format_func=lambda t: f"{t} — {names[t]}")
    if not selection:
        st.info("Click a dot on the map (or find a clip above, or drop in a song) to see and hear it here.")
    else:
        focus = selection[0]
        if len(selection) > 1:
            genre_of = dict(zip(ids, frame["genre"]))
            st.markdown(f"**{len(selection)} selected**: "
                        + track_view.selection_summary(genre_of.get(k, "your songs") for k in selection))
            focus = st.selectbox("Show", selection, key="focus", label_visibility="collapsed",
                                 format_func=lambda k: f"★ {songs[k].name}" if k in songs else f"{k} — {names[k]}")
            st.button("Clear selection", on_click=select, args=([],), key="clear_selection")
        if focus in songs:
            panels.show_song(songs[focus], labels, embedding)
        else:
            panels.show_track(bundle, names[focus], focus, embedding, lambda: state.get_placer(path))

# ---------------------------------------------------------------- similarity heatmaps
st.header("How similar are the genres?")
st.markdown(text.SIMILARITY_HELP)
abs_col, rel_col = st.columns(2, gap="large")
for col, scale in ((abs_col, "absolute"), (rel_col, "relative")):
    with col:
        st.plotly_chart(cache.similarity(*ref, embedding, scale), config=PLOTLY_CONFIG, theme=None, key=f"sim_{scale}")
st.subheader("All layers side by side")
compare_scale = st.radio("Colour scale", list(SCALES), index=1, key="compare_scale", horizontal=True,
                         format_func=SCALES.get)
st.plotly_chart(cache.similarity_all(*ref, compare_scale), config=PLOTLY_CONFIG, theme=None, key="sim_all")
st.caption(text.SIMILARITY_ALL_HELP)

# ---------------------------------------------------------------- model panel
st.header("How good is the model?")
panel = cache.model_panel(*ref)
st.markdown("\n\n".join(panel["lines"]))
bar_col, cm_col = st.columns(2, gap="large")
with bar_col:
    st.plotly_chart(panel["per_genre"], config=PLOTLY_CONFIG, theme=None, key="per_genre")
with cm_col:
    st.plotly_chart(panel["confusion"], config=PLOTLY_CONFIG, theme=None, key="confusion")
st.subheader("How good is each layer's map?")
st.dataframe(panel["quality"], hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("kNN genre accuracy", "silhouette", "trustworthiness")})
st.caption(text.QUALITY_HELP)

cache.warm(*ref, embeddings, list(COLOUR_MODES))  # later switches draw from the cache
# Load torch and the model in a background thread, only now that the page is drawn: the import holds
# the GIL for seconds and would otherwise slow the first run. Uploads and neighbour lists wait for it.
state.start_placer(path)
