"""The grid of small maps (Compare layers) as plain functions: one map per layer, a selection drawn in every map."""
from __future__ import annotations

from explorer.views import map_view
from tests.explorer.test_views import kinds, validated


def test_small_maps_for_the_grid(bundle):
    frame = map_view.map_frame(bundle, "shallow")
    fig = validated(map_view.small_figure(frame, bundle.labels, "genre", "Last layer (shallow)"))
    assert fig.layout.showlegend is False and fig.layout.title.text == "Last layer (shallow)"
    assert sum(len(t.x) for t in kinds(fig, "tracks")) == len(bundle.tracks)
    assert fig.layout.height == map_view.GRID_HEIGHT


def test_a_selection_made_in_one_grid_map_is_drawn_in_the_others():
    from explorer.views.map_view import selection_to_draw
    sig = ("deep", "genre", ())
    last = (sig, ["a"])
    # the clicked chart keeps its figure as sent; every other chart draws the new selection
    assert selection_to_draw(["b"], "grid_deep", sig, last, chart="grid_deep") == ["a"]
    assert selection_to_draw(["b"], "grid_deep", sig, last, chart="grid_none") == ["b"]
    assert selection_to_draw(["b"], "grid_deep", sig, last) == ["b"]  # the main map
