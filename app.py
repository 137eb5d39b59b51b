"""The GTZAN genre map — the Streamlit entry point: the pages and the set-up they share, nothing else.

Run:  streamlit run app.py            (the shipped map in assets/gtzan)
      streamlit run app.py -- --bundle DIR    or    GENRE_MAP_BUNDLE=DIR streamlit run app.py
A view can be opened from its address: /?embedding=shallow&colour=genre&track=blues.00003 (the Map page is
the default page, at /; the others are at /compare, /similarity, /model and /present, presentation mode,
which any address with ?present=1 opens: /?present=1&embedding=none)

Each page is one file in explorer/pages/ (one function, ``page``); what they share (the collection, the view
in the URL, the songs dropped in the sidebar) is set up by ``explorer.session`` and ``explorer.sidebar`` on every
full run.
"""
import streamlit as st

# a narrow sidebar (px): on a 1280 × 720 projector the map keeps most of the width
st.set_page_config(page_title="GTZAN genre map", page_icon="🎵", layout="wide", initial_sidebar_state=250)

from explorer import memory, placing, session, sidebar  # noqa: E402

memory.tune_malloc()  # once per server: freed song arrays go back to the system
placing.share_the_interpreter()  # songs placed beside many pages' runs take the GIL back sooner

PAGES = (  # file, title, icon, url path
    ("explorer/pages/map.py", "Map", ":material/scatter_plot:", "map"),
    ("explorer/pages/compare_layers.py", "Compare layers", ":material/grid_view:", "compare"),
    ("explorer/pages/similarity.py", "Genre similarity", ":material/grid_on:", "similarity"),
    ("explorer/pages/model.py", "Model", ":material/query_stats:", "model"),
    ("explorer/pages/present.py", "Present", ":material/co_present:", "present"),
)


def main() -> None:
    pages = [st.Page(file, title=title, icon=icon, url_path=url, default=i == 0)
             for i, (file, title, icon, url) in enumerate(PAGES)]
    page = st.navigation(pages, position="top")
    if st.query_params.get("present") == "1" and page is not pages[-1]:  # a prepared link: presentation mode
        st.switch_page(pages[-1], query_params={k: v for k, v in st.query_params.to_dict().items() if k != "present"})
    session.compact_layout()
    ctx = session.set_up(page.title)
    with st.sidebar:
        sidebar.songs_sidebar(ctx)
    session.finish_set_up(ctx)
    page.run()


main()
