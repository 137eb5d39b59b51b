"""Every session-state key, widget key, fragment key and chart key of the explorer, in one place.

Pages and sections read and write ``st.session_state`` only through these names.
Widget keys double as URL query-parameter names where the view is in the URL
(``embedding``, ``colour``; see ``explorer/share.py``).
"""
from __future__ import annotations

# ---------------------------------------------------------------- the view (survives moving between pages)
EMBEDDING = "embedding"  # the layer radio: an embedding key of the bundle ("deep", "<network>.deep")
NETWORK = "network"  # the network picker (only drawn when the bundle holds more than one network)
COLOUR = "colour"  # the colouring radio: genre / predicted / correct
SELECTION = "selection"  # list of item keys: track ids and/or "upload:<file id>"
SELECTION_ORIGIN = "selection_origin"  # the chart whose click made the selection ("map", "grid_deep"), else "page"
VIEW_MEMORY = "view_memory"  # {EMBEDDING: …, COLOUR: …} as last shown: restores the controls after a page move

# ---------------------------------------------------------------- songs dropped in by this session
UPLOADS = "uploads"  # file id → UploadResult, in upload order
UPLOADS_VERSION = "uploads_version"  # the bundle (path, version) those songs were placed on
UPLOADER_ROUND = "uploader_round"  # bumped to empty the file uploader ("remove all")
UPLOADER_PREFIX = "uploader_"  # + round: the file uploader's widget key
RECORDER_PREFIX = "recorder_"  # + round: the microphone recorder's widget key

# ---------------------------------------------------------------- the collection and the address bar
BUNDLE_CHOICE = "bundle"  # the collection selector (its value: the bundle directory)
URL_WRITTEN = "url_written"  # the query parameters the page last wrote (see explorer/share.py)
PAGE_SHOWN = "page_shown"  # url path of the page the last full run showed (a page move resets charts' memory)

# ---------------------------------------------------------------- the Map page
MAP_CHART = "map_chart"
MAP_DRAWN = "map_drawn"  # (signature, selection drawn into it) of the map figure last sent
LOOKUP = "lookup"  # "find a clip"
SEARCH = "search"  # "find a clip" in a large collection: the words typed
FOCUS = "focus"  # which of several selected items the detail panel shows
AUTOPLAY = "autoplay"  # item key whose player should start playing on this run (after a jump)
N_NEIGHBOURS = "n_neighbours"
SOUNDS_TABLE = "sounds_like_table"
TIMELINE_CHART = "detail_timeline"
JUMP_PREFIX = "jump_"  # + song key: a song's "play from" control

# ---------------------------------------------------------------- other pages
GRID_PREFIX = "grid_"  # + layer: one small map of the Compare page; + "_drawn": what it last drew
COMPARE_SCALE = "compare_scale"

# ---------------------------------------------------------------- fragments (st.fragment(key=...)) of the Map page
MAP_FRAGMENT = "map_fragment"  # the controls and the map
DETAIL_FRAGMENT = "detail_fragment"  # find a clip and the detail panel
SOUNDS_FRAGMENT = "sounds_fragment"  # "sounds like"
RECORDER_FRAGMENT = "recorder_fragment"  # the sidebar's recorder (its parts while recording rerun only it)
PATH_FRAGMENT = "path_fragment"  # the sidebar's progress of songs' paths (every page, while one is computed)
