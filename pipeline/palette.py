"""One fixed, legible genre palette used by every chart: the explorer's and the report's.

The ten GTZAN genres always get the same colour, whatever order a bundle lists
them in. Any other label set (a user's own collection) gets colours from the
same family, assigned in sorted label order, so the result depends only on the
set of labels and never on chance.
"""
from __future__ import annotations

# Saturated colours that stay distinct on a washed-out classroom projector.
GTZAN_COLOURS = {
    "blues": "#1f5fbf",      # blue
    "classical": "#b8a800",  # olive gold
    "country": "#8c564b",    # brown
    "disco": "#e377c2",      # pink
    "hiphop": "#555555",     # dark grey
    "jazz": "#9467bd",       # purple
    "metal": "#d62728",      # red
    "pop": "#ff7f0e",        # orange
    "reggae": "#2ca02c",     # green
    "rock": "#17becf",       # cyan
}

# For labels outside GTZAN: the same ten first, then ten lighter/darker companions.
EXTRA_COLOURS = tuple(GTZAN_COLOURS.values()) + (
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#7f7f7f", "#dbdb8d", "#9edae5",
)

# Colouring by correct / wrong prediction (colour-blind safe pair).
CORRECT_COLOUR = "#1b7837"
WRONG_COLOUR = "#c51b7d"
UPLOAD_OUTLINE = "#111111"


def genre_colours(labels) -> dict[str, str]:
    """Colour for each label: fixed for GTZAN names, deterministic for the rest.

    Labels not in GTZAN take the unused palette colours in sorted order; beyond
    twenty labels the palette repeats (a map with that many genres needs the
    legend anyway).
    """
    labels = list(dict.fromkeys(labels))
    out = {g: GTZAN_COLOURS[g] for g in labels if g in GTZAN_COLOURS}
    free = [c for c in EXTRA_COLOURS if c not in out.values()] or list(EXTRA_COLOURS)
    for i, g in enumerate(sorted(g for g in labels if g not in out)):
        out[g] = free[i % len(free)]
    return {g: out[g] for g in labels}
