"""The GTZAN genre map — a thin Streamlit page: layout and wiring only (views live in explorer/).

Run:  streamlit run app.py            (the shipped map in assets/gtzan)
      streamlit run app.py -- --bundle DIR    or    GENRE_MAP_BUNDLE=DIR streamlit run app.py
A view can be opened from its address: ?embedding=shallow&colour=genre&track=blues.00003
"""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="GTZAN genre map", page_icon="🎵", layout="wide")

from explorer import (cache, export, panels, sections, share, sounds_like, sounds_panel, state, text,  # noqa: E402
                      track_view, upload)
from explorer.map_view import COLOUR_MODES, UPLOAD_PREFIX, add_overlays, selection_keys  # noqa: E402
from explorer.plotting import CONFIG as PLOTLY_CONFIG  # noqa: E402
from explorer.similarity_view import SCALES  # noqa: E402
from pipeline.bundle import BundleError  # noqa: E402


def main() -> None:
    # Everything lives in this function's scope, not the script's globals: Streamlit keeps widget callbacks
    # (and so the globals they were defined in) alive after a run, and the globals would hold every upload's
    # bytes (measured: 250 stale UploadedFiles, 180 MB, after a 90 s soak of 4 sessions).
    ss = st.session_state

    # ------------------------------------------------------------ which collection (selector, or ?bundle= in the URL)
    startup = state.bundle_path()
    choices = state.bundle_choices(startup)
    query = share.current(st.query_params)
    from_url = ss.get(state.URL_WRITTEN) != query  # a session's first run, or the address changed (back / forward)
    if from_url:
        wanted = share.pick(query.get("bundle"), [p.name for p in choices])
        ss[state.BUNDLE_CHOICE] = str(next((p for p in choices if p.name == wanted), startup))
    with st.sidebar:
        path = Path(st.selectbox("Which collection?", [str(p) for p in choices], key=state.BUNDLE_CHOICE,
                                 format_func=lambda p: state.describe_bundle(Path(p)), help=text.COLLECTION_HELP))

    try:
        bundle = state.get_bundle(path)
    except BundleError as e:
        ss[state.URL_WRITTEN] = query  # read once: the collection selector must be able to move away from here
        st.title(text.TITLE)
        how = "" if "pipeline build" in str(e) else f"\n\nBuild one:\n```\n{state.build_command(path)}\n```"
        st.error(f"**There is no genre map to show yet.** {e}{how}\n\nThen reload this page. To open a map built "
                 f"elsewhere: `streamlit run app.py -- --bundle DIR` (or set `{state.ENV_VAR}=DIR`).")
        st.stop()
    version = state.stamp(path)
    ref = (str(path), version)
    labels, embeddings = bundle.labels, bundle.embeddings
    ids = bundle.tracks["track_id"].astype(str).tolist()
    known = set(ids)
    default_embedding = "deep" if "deep" in embeddings else embeddings[0]
    ss.setdefault(state.SELECTION, [])
    if from_url:  # the view in the address: anything that does not fit this bundle is ignored
        view = share.parse_view(query, embeddings, list(COLOUR_MODES), ids)
        ss[state.EMBEDDING] = view.get("embedding", default_embedding)
        ss[state.COLOUR] = view.get("colour", "genre")
        ss[state.SELECTION], ss[state.SELECTION_ORIGIN] = view.get("track", []), "page"
        missing = share.unknown_tracks(query.get("track"), ids)
        if missing:
            st.toast(f"Not in this collection, so not selected: {', '.join(missing[:5])}", icon="ℹ️")
    if ss.get(state.EMBEDDING) not in embeddings:  # another collection without this layer
        ss[state.EMBEDDING] = default_embedding
    if ss.get(state.UPLOADS_VERSION) != ref:  # a rebuilt bundle has new maps: place this session's songs again
        ss[state.UPLOADS], ss[state.UPLOADS_VERSION] = {}, ref
    ss.setdefault(state.UPLOADER_ROUND, 0)

    def select(keys, origin: str = "page") -> None:
        ss[state.SELECTION] = list(keys)
        ss[state.SELECTION_ORIGIN] = origin

    def on_map_select() -> None:
        select(selection_keys(ss.get(state.MAP_CHART)), origin="map")
        panels.on_window_click(state.MAP_CHART)  # a click on a song's path: play from that window

    def on_grid_select(chart: str) -> None:
        select(selection_keys(ss.get(chart)), origin=chart)

    def on_lookup() -> None:
        if ss.get("lookup"):
            select([ss["lookup"]])
        ss["lookup"] = None

    def remove_all_songs() -> None:
        state.release_uploads(ss[state.UPLOADS])  # the emptied uploader's files would stay until the session ends
        ss[state.UPLOADS] = {}
        ss[state.UPLOADER_ROUND] += 1
        select([k for k in ss[state.SELECTION] if not k.startswith(UPLOAD_PREFIX)])

    def dim(e: str):
        return bundle.meta["embeddings"].get(e, {}).get("dim")

    # ---------------------------------------------------------------- sidebar: controls and uploads
    with st.sidebar:
        st.header("What to show")
        embedding = st.radio("Which layer of the network?", embeddings, key=state.EMBEDDING,
                             format_func=lambda e: f"{text.embedding_title(e)} ({e})",
                             captions=[text.embedding_finding(e, dim(e)) for e in embeddings])
        ss.setdefault(state.COLOUR, "genre")
        colour_by = st.radio("Colour the dots by", list(COLOUR_MODES), key=state.COLOUR, format_func=COLOUR_MODES.get)

        st.header("Drop in a song")
        max_mb = int(st.get_option("server.maxUploadSize") or upload.DEFAULT_MAX_MB)
        # No type= filter: a file of another format (.m4a, .mp4…) gets our message naming the supported ones
        files = st.file_uploader(f"{upload.FORMATS_LABEL}, up to {max_mb} MB",
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
                   f"{bundle.meta.get('created', '?')[:10]}. "
                   "Another collection: `streamlit run app.py -- --bundle DIR`.")

    # ---------------------------------------------------------------- the view goes into the address bar
    songs = {UPLOAD_PREFIX + r.key: r for r in results if r.ok}
    uploaded = {UPLOAD_PREFIX + f.file_id: f for f in files or [] if f is not None}
    selection = [k for k in ss[state.SELECTION] if k in songs or k in known]
    params = share.view_params(embedding, colour_by, [k for k in selection if k in known],
                               bundle=path.name if path != startup else None)
    if params != query:
        st.query_params.from_dict(params)
    ss[state.URL_WRITTEN] = params

    # ---------------------------------------------------------------- title, map and detail panel
    st.title(text.TITLE)
    st.markdown(text.intro(len(ids), len(labels), str(bundle.meta["dataset"].get("name", "?"))))

    frame = cache.map_frame(*ref, embedding)
    map_col, detail_col = st.columns([3, 2], gap="large")

    with map_col:
        st.subheader(f"{text.embedding_title(embedding)} ({embedding}): {len(ids)} clips")
        st.caption(text.embedding_finding(embedding, dim(embedding)))
        markers = upload.markers(results, embedding)
        paths = upload.paths(results, embedding)
        signature = (embedding, colour_by, tuple((m["key"], m["name"]) for m in markers))
        drawn = state.selection_to_draw(selection, ss.get(state.SELECTION_ORIGIN), signature, ss.get(state.MAP_DRAWN))
        ss[state.MAP_DRAWN] = (signature, drawn)
        fig = add_overlays(cache.map_base(*ref, embedding, colour_by), frame, labels, markers=markers, selected=drawn,
                           paths=paths)
        st.plotly_chart(fig, key=state.MAP_CHART, on_select=on_map_select, selection_mode=sections.SELECT_MODES,
                        config=PLOTLY_CONFIG, theme=None)
        st.caption(text.MAP_HELP + (" " + text.CORRECT_HELP if colour_by == "correct" else ""))
        sections.share_and_download(bundle=bundle, bundle_name=path.name, embedding=embedding, colour_by=colour_by,
                                    params=params, fig=fig, frame=frame, markers=markers, paths=paths,
                                    selection=selection, results=results)

    names = dict(zip(ids, frame["name"]))
    focus = None
    with detail_col:
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
                                     format_func=lambda k: f"★ {songs[k].name}" if k in songs
                                     else f"{k} — {names[k]}")
                st.button("Clear selection", on_click=select, args=([],), key="clear_selection")
            if focus in songs:
                f = uploaded.get(focus)
                audio = None
                if f is not None:
                    try:
                        audio = track_view.upload_audio_for_player(f.getvalue(), f.name)
                    except Exception:  # placed but not playable: the panel still shows the rest
                        audio = None
                panels.show_song(songs[focus], labels, audio)
            else:
                panels.show_track(bundle, names[focus], focus)

    # ---------------------------------------------------------------- sounds like
    stem = export.file_stem(path.name, embedding)
    if focus is None:
        st.header("Sounds like…")
        st.info("Pick a clip or drop in a song: the clips that sound most like it appear here, with the reasons.")
    elif focus in songs:
        p = songs[focus].placement
        sounds_panel.show(bundle, item=songs[focus].name, title=f"★ {songs[focus].name}",
                          vectors=sounds_like.song_vectors(p, embeddings), probabilities=p.probabilities,
                          real_genre=None,
                          exclude=None, embedding=embedding, get_placer=lambda: state.get_placer(path),
                          on_show=lambda t: select([t]), file_stem=stem)
    else:
        i = track_view.track_index(bundle, focus)
        sounds_panel.show(bundle, item=focus, title=focus, vectors=sounds_like.track_vectors(bundle, i),
                          probabilities=track_view.track_probabilities(bundle, i),
                          real_genre=str(bundle.tracks["genre"].iloc[i]), exclude=focus, embedding=embedding,
                          get_placer=lambda: state.get_placer(path), on_show=lambda t: select([t]), file_stem=stem)

    # ---------------------------------------------------------------- all four layers side by side
    sections.side_by_side(ref, embeddings, labels, colour_by, results, selection, on_grid_select)

    # ---------------------------------------------------------------- similarity heatmaps
    st.header("How similar are the genres?")
    st.markdown(text.SIMILARITY_HELP)
    abs_col, rel_col = st.columns(2, gap="large")
    for col, scale in ((abs_col, "absolute"), (rel_col, "relative")):
        with col:
            st.plotly_chart(cache.similarity(*ref, embedding, scale), config=PLOTLY_CONFIG, theme=None,
                            key=f"sim_{scale}")
    one_col, all_col, _ = st.columns([1, 1, 2])
    one_col.download_button(
        "This layer's matrix (CSV)",
        export.csv_bytes(export.similarity_frame(bundle.similarity(embedding), labels), index=True),
        file_name=f"{stem}_similarity.csv", mime=export.CSV_MIME, key="export_similarity", on_click="ignore",
        icon=":material/table:")
    all_col.download_button(
        "Every layer's matrix (CSV)",
        lambda: export.csv_bytes(export.similarity_long_frame({e: bundle.similarity(e) for e in embeddings}, labels)),
        file_name=export.file_stem(path.name, "similarity_all_layers") + ".csv", mime=export.CSV_MIME,
        key="export_similarity_all", on_click="ignore", icon=":material/table:")
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


main()
