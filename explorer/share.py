"""Shareable views: the layer, colouring, selected clips and collection live in the URL.

``?embedding=shallow&track=blues.00012`` opens the shallow map with that clip
selected; ``colour=predicted`` and ``bundle=<name in assets/>`` work the same
way, and several clips can be given as ``track=a,b``. Values that do not fit
this bundle are ignored (and dropped from the address bar on the next write).

The page reads the URL on a session's first run, and again whenever it differs
from what the page last wrote (the browser's back and forward buttons); after
every run it writes the current view. Plain functions over dicts: no Streamlit.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

PARAMS = ("bundle", "embedding", "colour", "track")
MAX_TRACKS = 50  # a lasso of hundreds of clips is not worth a kilometre-long link


def _value(v) -> str | None:
    """One string from a query value (``st.query_params`` gives str; repeated keys a list: take the last)."""
    if isinstance(v, (list, tuple)):
        v = v[-1] if v else None
    return v.strip() if isinstance(v, str) else None


def current(params: Mapping) -> dict[str, str]:
    """The query parameters as a plain {name: last value} dict."""
    out = {}
    for k in params:
        try:
            v = params.get_all(k) if hasattr(params, "get_all") else params[k]
        except Exception:  # an odd mapping must not take the page down
            continue
        v = _value(v)
        if v is not None:
            out[str(k)] = v
    return out


def pick(value: str | None, options) -> str | None:
    """``value`` if it is one of ``options`` (exact, else ignoring case), else None."""
    if not value:
        return None
    options = [str(o) for o in options]
    if value in options:
        return value
    folded = {o.lower(): o for o in options}
    return folded.get(value.lower())


def parse_tracks(value: str | None, track_ids) -> list[str]:
    """Known clip ids from ``track=a,b,c`` in the given order, without repeats; unknown ones dropped."""
    if not value:
        return []
    known = set(track_ids)
    out = []
    for t in value.split(","):
        t = t.strip()
        if t in known and t not in out:
            out.append(t)
    return out[:MAX_TRACKS]


def unknown_tracks(value: str | None, track_ids) -> list[str]:
    """The clip ids in ``track=…`` that this collection does not have (to say so, not to fail)."""
    known = set(track_ids)
    return [t.strip() for t in (value or "").split(",") if t.strip() and t.strip() not in known]


def parse_view(params: Mapping, embeddings, colour_modes, track_ids) -> dict:
    """The valid parts of a URL's view: any of embedding, colour (str) and track (list of ids)."""
    q = current(params)
    view = {}
    e = pick(q.get("embedding"), embeddings)
    if e is not None:
        view["embedding"] = e
    c = pick(q.get("colour") or q.get("color"), colour_modes)
    if c is not None:
        view["colour"] = c
    tracks = parse_tracks(q.get("track"), track_ids)
    if tracks:
        view["track"] = tracks
    return view


def view_params(embedding: str, colour: str, tracks=(), bundle: str | None = None) -> dict[str, str]:
    """The query parameters for a view (bundle only when it is not the one the app started with)."""
    out = {}
    if bundle:
        out["bundle"] = bundle
    out["embedding"] = embedding
    out["colour"] = colour
    tracks = list(dict.fromkeys(tracks))[:MAX_TRACKS]
    if tracks:
        out["track"] = ",".join(tracks)
    return out


def link(base_url: str | None, params: Mapping) -> str:
    """The shareable address: the app's URL (when known) plus the query string."""
    query = urlencode(dict(params), safe=",")
    return f"{(base_url or '').rstrip('/')}/?{query}" if base_url else f"?{query}"
