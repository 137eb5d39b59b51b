"""The words on the page, written for a classroom: no jargon without a gloss."""
from __future__ import annotations

from pipeline.networks import DEFAULT_NETWORK, LAYER_PLACES, network_text, split_key
from pipeline.networks import PAPER_FINDINGS as PAPER_IN_SHORT

TITLE = "The genre map: how a network hears music"
INTRO_TITLE = "What is this map?"

INTRO = (
    "Each dot is one of {n} music clips from {collection}, each labelled with one of {g} genres. A neural network "
    "turns every clip into a long list of numbers (an *embedding*), and a method called t-SNE draws those lists on "
    "a flat map so that clips the network finds similar sit close together.  \n"
    "Choose which layer of the network to look at, click a dot to see and hear its clip, "
    "or drop in your own song to see where it lands."
)


def intro(n_tracks: int, n_genres: int, dataset_name: str) -> str:
    collection = ("**GTZAN**, a classic research collection of 30-second clips" if dataset_name.lower() == "gtzan"
                  else f"the collection **{dataset_name}**")
    return INTRO.format(n=n_tracks, g=n_genres, collection=collection)


# What each layer is (keyed by layer: pipeline.networks.LAYERS) and, for the paper's network, what the paper
# found (Matei, Nebreda Bernal & Jethoe, Figure 4). {dim}: its size; {network}: the network's short name.
LAYER_TEXTS = {
    "none": ("No network", "the spectrogram picture itself, shrunk to {dim} pixels"),
    "immediate": ("Straight out of the CNN", "{dim} numbers straight out of {network}, before any genre training"),
    "deep": ("Deep layer", "{dim} numbers from inside the new, genre-trained part"),
    "shallow": ("Last layer", "{dim} numbers just before the genre decision"),
}
PAPER_FINDINGS = {  # the paper's network (the default)
    "none": "Paper: not informative — genres are mixed together.",
    "immediate": "A network trained on photos, not music. Paper: some separation, but not enough (classical "
                 "spreads into unrelated genres).",
    "deep": "Paper: the best balance — clear genre groups whose positions and overlaps still say how genres relate.",
    "shallow": "Paper: tight clusters, but they no longer show how genres relate to each other.",
}
NETWORK_HELP = ("The same clips, heard by different networks: one first trained on photos (ImageNet, as in "
                "the paper) and others, such as one first trained on music. Compare where genres sit on each "
                "network's maps.")


def layer_title(key: str) -> str:
    """'Deep layer' for ``deep`` or ``<network>.deep`` (the network is said by the network picker)."""
    _, layer = split_key(key)
    return LAYER_TEXTS.get(layer, (layer,))[0]


def layer_finding(key: str, dim: int | None) -> str:
    """What the layer is and, where known, what the paper found about it (no title)."""
    network, layer = split_key(key)
    short = network_text(network, "short")
    base = LAYER_TEXTS.get(layer, (layer, "a layer of this bundle's network ({dim} numbers)"))[1]
    text = base.format(dim=dim if dim is not None else "?", network=short) + "."
    if network == DEFAULT_NETWORK:
        note = PAPER_FINDINGS.get(layer)
    else:
        note = network_text(network, "note") if layer == "immediate" else None
    return f"{text[0].upper()}{text[1:]} {note}" if note else f"{text[0].upper()}{text[1:]}"


def layer_one_line(key: str) -> str:
    """One line for a class: the layer and where it is read out; for the paper's network, what the paper found."""
    network, layer = split_key(key)
    found = PAPER_IN_SHORT.get(layer) if network == DEFAULT_NETWORK else None
    return f"{layer_title(key)} ({LAYER_PLACES.get(layer, layer)})" + (f" — paper: {found}" if found else "")


def layer_caption(key: str, dim: int | None) -> str:
    return f"{layer_title(key)}: {layer_finding(key, dim)}"


def network_title(network: str) -> str:
    """'Trained on photos (…, the paper)': the registered network's title (``pipeline.networks``)."""
    return network_text(network, "title")


MAP_HELP = ("Hover a dot for the clip's details; click one (or draw round several with the lasso tool at the top "
            "right) to see more. Drag to move, scroll or use the toolbar to zoom; click a genre in the legend to "
            "hide it. The two map axes have no meaning of their own — only distances between dots do.")

CORRECT_HELP = ("Most training clips are right because the model learnt them; hover to see which clips were "
                "held out for testing.")

UPLOAD_HELP = ("Your song is cut into 10-second windows, each window goes through the same networks, and the "
               "average lands on the map as a ★. The first answer comes from four windows spread over the song; "
               "the others follow while you look, and the ★ moves to where the whole song lands. Its genre is the "
               "one most windows choose. Nothing is stored after you close the page.")

RECORD_LABEL = "…or record it from the room (5–30 s)"
RECORD_HELP = ("Play a song near the microphone (from a phone, say), press Record, and stop after 5 to 30 "
               "seconds: the recording is placed like a dropped-in file.")

SIMILARITY_HELP = (
    "Each cell is the average *cosine similarity* (1 = pointing the same way, 0 = unrelated) between every song "
    "of the row's genre and every song of the column's genre. **Absolute** colours run from 0 to 1, so you can "
    "compare layers: almost everything looks very similar, a known effect of comparing long lists of numbers. "
    "**Relative** colours run from the lowest to the highest value of this layer, so its structure shows."
)

SIMILARITY_ALL_HELP = ("Same genres, same order in every panel. In the relative scale each panel runs from its own "
                       "lowest (dark) to its own highest (yellow) value; hover a cell for the number.")

QUALITY_HELP = (
    "**kNN genre accuracy**: how often a clip's 5 nearest neighbours (in the full list of numbers) mostly share its "
    "genre. **Silhouette** (−1 to 1): how well genres form separate groups. **Trustworthiness** (0 to 1): how well "
    "the flat map keeps each clip's true neighbours. Measured on all clips of this bundle."
)


# ---------------------------------------------------------------- beyond the paper
COLLECTION_HELP = ("Maps found in the `assets/` folder (and the one the app was started with). Build your own "
                   "from a folder of genre sub-folders: see docs/own_collection.md.")

TRAJECTORY_HELP = (
    "Your song, window by window: each small dot on the map is 10 seconds of it (a new window every 5 seconds), "
    "placed on its own. The line joins them in time order, from dark purple (start) to yellow (end); each dot's "
    "ring has the colour of the genre the model hears in that window. The ★ is the whole song: the average of "
    "its windows. Click a dot on the map or a bar here to play from there."
)

JUMP_LABEL = "Play from"

SOUNDS_LIKE_HELP = (
    "The clips whose lists of numbers point most nearly the same way as this one's in the *{embedding}* layer "
    "(cosine similarity: 1 = the same direction). Pick a row to hear that clip."
)

WHY_HELP = ("Solid bars: how sure the model is of each genre for this song. Striped bars: how many of its nearest "
            "clips have that genre. When they match, the map and the decision agree.")

COMPARE_HELP = (
    "The same question asked of every layer: its 5 nearest clips. In the paper's words, the *shallow* layer picks "
    "clips of the same genre, the *deep* layer keeps the genre but still finds clips that share more than the "
    "label, and the layers before the genre training (*none*, *immediate*) pick by sound alone."
)

SIDE_BY_SIDE_HELP = (
    "The same clips on the map of every layer. Click a dot or draw round several (lasso, top right of each map): "
    "they are highlighted on all four maps, so you can see where the same songs sit in each layer."
)

SHARE_HELP = ("This view (layer, colouring, selected clips) is in the address bar: copy the link to bookmark it "
              "or send it to a class.")

EXPORT_HELP = ("PNG: a picture of this map with the same colours (for slides). HTML: the interactive map as one "
               "file that works offline. CSV: every clip's position on every layer's map, and your songs'.")


def markdown_text(name: str) -> str:
    """A file name shown as itself in Streamlit's markdown (no bold, links or code from its characters)."""
    return "".join("\\" + c if c in "\\`*_[]<>#|~$" else c for c in str(name))


def genre_readout(result) -> str:
    """'the model says **pop** — 24 of 42 windows; classical 11' (+ ' so far' while the rest is computed)."""
    p = result.placement
    more = " so far" if getattr(result, "job", None) is not None else ""
    return f"the model says **{p.genre}**{p.readout[len(p.genre):]}{more}"


def song_readout(result) -> str:
    """'**song.mp3**: the model says **pop** — 24 of 42 windows; classical 11'."""
    return f"**{markdown_text(result.name)}**: {genre_readout(result)}"


def queue_position(ahead: int) -> str:
    songs = "song" if ahead == 1 else "songs"
    return f"⏳ {ahead} {songs} from other listeners ahead of yours: yours is next in line after them."


def path_progress(name: str, done: int, total: int) -> str:
    return f"★ {markdown_text(name)}: its path, {done} of {total} windows heard…"
