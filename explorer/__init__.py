"""The Streamlit explorer of a genre-map bundle (``streamlit run app.py``).

Where things are::

    app.py                 declares the pages (st.navigation) and runs the shared set-up; nothing else
    explorer/pages/        one file, one function (``page``) per page: map, compare_layers, similarity, model
    explorer/sections/     Streamlit parts the pages share: controls, detail panel, "sounds like", downloads
    explorer/views/        pure figure and frame builders (no Streamlit import; tested without a browser)
    explorer/session.py    the set-up of every run: collection, view in the URL; callbacks
    explorer/sidebar.py    the sidebar's songs: uploader, recorder, one line per song, the paths' progress
    explorer/recorder.py   the microphone recorder (component + recorder.js): a WAV ready the moment it stops
    explorer/keys.py       every session-state, widget, fragment and chart key
    explorer/state.py      which bundle, opened once per process (lazily: ``load_bundle(lazy=True)``), and the
                           background Placer
    explorer/cache.py      figures built once per bundle and shared by every session
    explorer/upload.py     uploads → the pipeline's placement (no Streamlit); views/song_marks.py draws them
    explorer/share.py      the view in the URL (no Streamlit)
    explorer/media.py      audio the players read, as files under static/ (Streamlit's static serving)
    explorer/exports.py    downloads built on click and served from static/ too
    explorer/sessions_sweep.py  an ended session's static/ folder and songs' work released
    explorer/text.py       the words on the pages, layer texts keyed by layer name

The explorer reads bundles and calls the pipeline's public placement; it never trains and never imports torch.
"""
