"""Shareable views: what the URL holds, read back with only what fits."""
from __future__ import annotations

from explorer import share


def test_view_from_the_url_keeps_only_what_fits():
    embeddings, colours, ids = ["none", "immediate", "deep", "shallow"], ["genre", "predicted", "correct"], [
        "blues.00001", "blues.00003", "rock.00002"]
    assert share.parse_view({"embedding": "shallow", "track": "blues.00003"}, embeddings, colours, ids) == {
        "embedding": "shallow", "track": ["blues.00003"]}
    assert share.parse_view({"embedding": "Shallow", "colour": "PREDICTED"}, embeddings, colours, ids) == {
        "embedding": "shallow", "colour": "predicted"}
    bad = {"embedding": "sideways", "colour": "loudness", "track": "blues.99999", "other": "x"}
    assert share.parse_view(bad, embeddings, colours, ids) == {}
    assert share.parse_view({}, embeddings, colours, ids) == {}
    assert share.parse_view({"track": "rock.00002, blues.00001,nope,rock.00002", "color": "correct"},
                            embeddings, colours, ids) == {"track": ["rock.00002", "blues.00001"], "colour": "correct"}
    assert share.parse_view({"embedding": ["deep", "none"], "track": ""}, embeddings, colours, ids) == {
        "embedding": "none"}  # a repeated key: the last one wins
    assert share.unknown_tracks("blues.00012,blues.00001", ids) == ["blues.00012"]
    assert share.parse_tracks(",".join(ids * 40), ids) == ids


def test_view_params_and_link():
    params = share.view_params("shallow", "genre", ["blues.00003", "rock.00002"])
    assert params == {"embedding": "shallow", "colour": "genre", "track": "blues.00003,rock.00002"}
    assert list(share.view_params("deep", "genre", [], bundle="mine")) == ["bundle", "embedding", "colour"]
    assert share.link("http://localhost:8501", {"embedding": "shallow", "track": "a,b"}) == \
        "http://localhost:8501/?embedding=shallow&track=a,b"
    assert share.link(None, {"embedding": "deep"}) == "?embedding=deep"
    many = share.view_params("deep", "genre", [f"t{i}" for i in range(200)])
    assert len(many["track"].split(",")) == share.MAX_TRACKS
