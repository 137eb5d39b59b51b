"""Take it with you: the current map as PNG and interactive HTML, and the numbers as CSV.

PNG: drawn with matplotlib from the same points, palette and overlays as the
page's map (plotly's own image export needs kaleido and a browser; neither is a
dependency). HTML: the page's plotly figure with plotly.js inlined, so the file
works offline. CSV: plain UTF-8 with a header row.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import plotly.io as pio

from .map_view import UPLOAD_PREFIX, colour_groups, display_name
from .palette import UPLOAD_OUTLINE, genre_colours
from .plotting import CONFIG

PNG_MIME, HTML_MIME, CSV_MIME = "image/png", "text/html", "text/csv"


def file_stem(*parts) -> str:
    """'genre-map_gtzan_deep_genre': safe for any file system."""
    return "_".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") for p in ("genre-map",) + parts if p)


def map_png(frame: pd.DataFrame, labels, colour_by: str = "genre", markers=(), paths=(), selected=(),
            title: str = "", dpi: int = 150) -> bytes:
    """The map as a PNG: the same dots, colours, stars, paths and highlighted selection as on the page."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in the server's threads

    fig = Figure(figsize=(11, 8), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    chosen = set(selected)
    faded = 0.2 if chosen else 0.9
    symbols = {"circle": "o", "diamond": "D"}
    for name, colour, symbol, mask in colour_groups(frame, labels, colour_by):
        rows = frame[mask]
        if rows.empty:
            continue
        ax.scatter(rows["x"], rows["y"], s=60, c=colour, marker=symbols.get(symbol, "o"), alpha=faded,
                   edgecolors="white", linewidths=0.8, label=name)
        hit = rows[rows["track_id"].isin(chosen)]
        if not hit.empty:
            ax.scatter(hit["x"], hit["y"], s=220, c=colour, marker=symbols.get(symbol, "o"), edgecolors=UPLOAD_OUTLINE,
                       linewidths=2, zorder=3)
            for _, r in hit.iterrows():
                ax.annotate(r["track_id"], (r["x"], r["y"]), xytext=(8, 8), textcoords="offset points", fontsize=11)
    colours = genre_colours(labels)
    cmap = colormaps["plasma"]
    for path in paths:
        ws = path["windows"]
        duration = max(path["duration"], max(w["end_s"] for w in ws), 1e-9)
        xs, ys = [w["x"] for w in ws], [w["y"] for w in ws]
        alpha = 1.0 if not chosen or path["item"] in chosen else 0.25
        ax.plot(xs, ys, color="#111111", alpha=0.4 * alpha, linewidth=1.5, zorder=4)
        ax.scatter(xs, ys, s=90, c=[cmap(w["start_s"] / duration) for w in ws], alpha=alpha, zorder=5,
                   edgecolors=[colours.get(w["genre"], "#888888") for w in ws], linewidths=2.5)
        ax.annotate("start", (xs[0], ys[0]), xytext=(-10, -14), textcoords="offset points", fontsize=10)
        ax.annotate("end", (xs[-1], ys[-1]), xytext=(6, -14), textcoords="offset points", fontsize=10)
    for m in markers:
        alpha = 1.0 if not chosen or UPLOAD_PREFIX + str(m["key"]) in chosen else 0.3
        ax.scatter([m["x"]], [m["y"]], s=520, marker="*", c=colours.get(m["genre"], "#888888"), alpha=alpha,
                   edgecolors=UPLOAD_OUTLINE, linewidths=1.5, zorder=6)
        ax.annotate(m["name"], (m["x"], m["y"]), xytext=(0, 14), textcoords="offset points", ha="center",
                    fontsize=12, zorder=7)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=15, loc="left")
    legend = ax.legend(title={"genre": "genre", "predicted": "predicted"}.get(colour_by), loc="center left",
                       bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=11)
    for handle in legend.legend_handles:  # full colour in the legend even when the dots are faded
        handle.set_alpha(1.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def map_html(fig, title: str = "GTZAN genre map") -> bytes:
    """The page's plotly figure as a stand-alone HTML file (plotly.js inlined: works offline)."""
    html = pio.to_html(fig, include_plotlyjs=True, full_html=True, config=CONFIG, validate=False,
                       default_width="100%", default_height="95vh")
    return html.replace("<head>", f"<head><title>{title}</title>", 1).encode("utf-8")


def coordinates_frame(bundle, results=()) -> pd.DataFrame:
    """Every clip's map position in every embedding; uploaded songs and their windows after them."""
    t = bundle.tracks
    out = pd.DataFrame({
        "kind": "clip", "id": t["track_id"].astype(str), "artist": t["artist"], "title": t["title"],
        "genre": t["genre"].astype(str), "predicted": t["predicted"].astype(str),
        "confidence": t["confidence"].astype(float).round(4), "split": t["split"].astype(str),
        "start_s": np.nan, "end_s": np.nan,
    })
    for e in bundle.embeddings:
        xy = bundle.coords(e)
        out[f"x_{e}"], out[f"y_{e}"] = xy[:, 0].astype(float), xy[:, 1].astype(float)
    rows = []
    for r in results:
        if not getattr(r, "ok", False):
            continue
        p = r.placement
        base = {"id": r.name, "artist": None, "title": None, "genre": None, "predicted": p.genre, "split": None}
        song = {**base, "kind": "song", "confidence": round(float(p.probabilities[p.genre]), 4), "start_s": 0.0,
                "end_s": float(p.duration_s)}
        for e in bundle.embeddings:
            m = p.maps.get(e, {})
            song[f"x_{e}"], song[f"y_{e}"] = m.get("x"), m.get("y")
        rows.append(song)
        for w in p.trajectory or []:
            win = {**base, "kind": "song window", "predicted": w["genre"],
                   "confidence": round(float(w.get("confidence", np.nan)), 4),
                   "start_s": float(w["start_s"]), "end_s": float(w["end_s"])}
            for e in bundle.embeddings:
                m = w["maps"].get(e, {})
                win[f"x_{e}"], win[f"y_{e}"] = m.get("x"), m.get("y")
            rows.append(win)
    if rows:
        out = pd.concat([out, pd.DataFrame(rows, columns=out.columns)], ignore_index=True)
    return out


def neighbours_frame(lists: dict, item: str) -> pd.DataFrame:
    """Long table of one item's neighbours in every embedding: embedding, rank, clip, similarity…"""
    rows = [{"for": item, "embedding": e, "rank": i + 1, "track_id": n["track_id"], "genre": n["genre"],
             "artist": n.get("artist"), "title": n.get("title"), "name": display_name(n.get("artist"), n.get("title")),
             "similarity": float(n["similarity"])}
            for e, ns in lists.items() for i, n in enumerate(ns)]
    return pd.DataFrame(rows, columns=["for", "embedding", "rank", "track_id", "genre", "artist", "title", "name",
                                       "similarity"])


def similarity_frame(matrix: np.ndarray, labels) -> pd.DataFrame:
    """One embedding's genre × genre mean cosine similarity, as a square table."""
    frame = pd.DataFrame(np.asarray(matrix, dtype=float), index=list(labels), columns=list(labels))
    frame.index.name = "genre"
    return frame


def similarity_long_frame(matrices: dict, labels) -> pd.DataFrame:
    """Every embedding's matrix in one long table: embedding, genre_a, genre_b, mean cosine similarity."""
    labels = list(labels)
    rows = [{"embedding": e, "genre_a": a, "genre_b": b, "mean_cosine_similarity": float(m[i, j])}
            for e, m in matrices.items() for i, a in enumerate(labels) for j, b in enumerate(labels)]
    return pd.DataFrame(rows, columns=["embedding", "genre_a", "genre_b", "mean_cosine_similarity"])


def csv_bytes(frame: pd.DataFrame, index: bool = False) -> bytes:
    return frame.to_csv(index=index).encode("utf-8")
