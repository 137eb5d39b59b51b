"""'Sounds like' as plain functions: neighbour lists per layer, the ranked frame, the why, layers side by side."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.views import sounds_like
from tests.explorer.fakes import fake_placement


def test_neighbour_lists_rank_every_embedding_and_exclude_the_clip(bundle, placer):
    i = 3
    tid = bundle.tracks["track_id"].iloc[i]
    lists = sounds_like.neighbour_lists(placer, sounds_like.track_vectors(bundle, i), k=10, exclude=tid)
    assert list(lists) == bundle.embeddings
    for e, ns in lists.items():
        assert len(ns) == 10 and tid not in {n["track_id"] for n in ns}
        sims = [n["similarity"] for n in ns]
        assert sims == sorted(sims, reverse=True)
    assert lists["deep"][0]["track_id"] != lists["none"][0]["track_id"] or lists["deep"] != lists["none"]
    song = fake_placement(3)
    song.vectors = {e: bundle.vectors(e)[i] for e in bundle.embeddings}
    assert sounds_like.song_vectors(song, bundle.embeddings).keys() == set(bundle.embeddings)


def test_ranked_frame_and_the_why(bundle):
    ns = [{"track_id": f"blues.0000{j}", "genre": g, "similarity": 0.9 - 0.1 * j, "artist": "A", "title": None}
          for j, g in enumerate(["blues", "blues", "jazz", "blues", "rock"])]
    ranked = sounds_like.ranked_frame(ns, {"blues.00000": True})
    assert list(ranked.columns) == ["similarity", "genre", "artist – title", "clip", "listen"]
    assert ranked.index[0] == 1 and ranked["listen"].iloc[0] == "▶ below" and ranked["listen"].iloc[1] != "▶ below"
    probs = {g: 0.0 for g in bundle.labels} | {"blues": 0.7, "jazz": 0.2, "rock": 0.1}
    why = sounds_like.why_frame(probs, ns, bundle.labels)
    assert why["genre"].tolist()[0] == "blues" and why["nearest clips"].sum() == pytest.approx(1.0)
    assert set(why["genre"]) == {"blues", "jazz", "rock"} and why["clips"].sum() == 5
    bars = sounds_like.why_bars(why, bundle.labels)
    assert bars.count('class="why-model"') == bars.count('class="why-near"') == 3 + 1  # a pair per genre, legend
    assert bars.index(">blues<") < bars.index(">jazz<") < bars.index(">rock<")  # the strongest on top
    assert "width:70.0%" in bars and "3 of 5" in bars and "the model gives 70%" in bars
    odd = sounds_like.why_bars(why.assign(genre=["<b>x</b>", "jazz", "rock"]), bundle.labels)
    assert "<b>x</b>" not in odd and "&lt;b&gt;x&lt;/b&gt;" in odd  # a genre name is shown as text
    agree = sounds_like.why_sentence(probs, ns, "deep", real_genre="blues")
    assert "3 of the 5" in agree and "agrees" in agree and "real genre is **blues**" in agree
    jazzy = [{**n, "genre": "jazz"} for n in ns[:3]] + ns[3:]
    disagree = sounds_like.why_sentence(probs, jazzy, "shallow")
    assert "mostly **jazz**" in disagree and "second guess" in disagree  # jazz is the model's second choice
    assert "different stories" in sounds_like.why_sentence({"blues": 0.7, "rock": 0.3, "jazz": 0.0}, jazzy, "deep")
    assert "no other clips" in sounds_like.why_sentence(probs, [], "deep")


def test_layers_compared_side_by_side_with_overlaps():
    def ns(*ids):
        return [{"track_id": t, "genre": t.split(".")[0], "similarity": 0.5} for t in ids]
    lists = {"none": ns("rock.1", "pop.1", "pop.2", "jazz.1", "rock.2"),
             "deep": ns("blues.1", "blues.2", "jazz.1", "rock.2", "blues.3", "blues.9"),
             "shallow": ns("blues.1", "blues.2", "blues.3", "blues.4", "blues.5")}
    table = sounds_like.comparison_frame(lists, "blues", "deep")
    assert list(table.columns) == ["none", "deep", "shallow"]
    assert table.loc["1"].tolist() == ["rock.1", "blues.1", "blues.1"]
    assert table.loc["blues clips"].tolist() == ["0 of 5", "3 of 5", "5 of 5"]
    assert table.loc["also in the deep list"].tolist() == ["2 of 5", "5 of 5", "3 of 5"]
    over = sounds_like.overlap_frame(lists)
    assert np.diag(over.to_numpy()).tolist() == [5, 5, 5] and (over.to_numpy() == over.to_numpy().T).all()
    assert over.loc["deep", "shallow"] == 3 and over.loc["none", "shallow"] == 0
    assert sounds_like.overlap_sentence(lists, "deep") == "The *deep* top 5 shares 2 with *none* and 3 with *shallow*."
    assert sounds_like.cell({"track_id": "x7", "genre": "pop"}) == "x7 (pop)"  # ids that do not name their genre
