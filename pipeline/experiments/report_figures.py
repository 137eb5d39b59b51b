"""PNG figures for the report (matplotlib, Agg canvas, no pyplot state).

Colours come from the genre palette the explorer also uses (``palette``), so a
genre has the same colour in the report as on the page.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..networks import LAYER_PLACES
from ..palette import genre_colours as palette_colours

TITLES = {layer: f"{layer} ({place})" for layer, place in LAYER_PLACES.items()}
DPI = 110


def genre_colours(labels) -> dict[str, str]:
    """The shared palette: the same colour per genre in the report and on the page."""
    return palette_colours(labels)


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def tsne_maps(coords: dict, genres, labels, path: Path, embeddings) -> Path:
    """Figure 4: one t-SNE map per embedding, side by side, coloured by genre."""
    colours, genres = genre_colours(labels), np.asarray(genres)
    fig = Figure(figsize=(4.2 * len(embeddings), 4.6))
    axes = fig.subplots(1, len(embeddings))
    for ax, e in zip(np.atleast_1d(axes), embeddings):
        xy = coords[e]
        for g in labels:
            m = genres == g
            ax.scatter(xy[m, 0], xy[m, 1], s=16, c=colours[g], label=g, edgecolors="white", linewidths=0.3)
        ax.set_title(TITLES.get(e, e), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="lower center", ncol=min(10, len(labels)),
               frameon=False, fontsize=9, markerscale=1.5)
    fig.subplots_adjust(bottom=0.12, wspace=0.05)
    return _save(fig, path)


def similarity_heatmaps(matrices: dict, labels, path: Path, scale: str, embeddings) -> Path:
    """Appendix: genre × genre mean cosine similarity per embedding; absolute (0–1) or relative (min–max)."""
    fig = Figure(figsize=(4.3 * len(embeddings), 4.4))
    axes = fig.subplots(1, len(embeddings))
    for ax, e in zip(np.atleast_1d(axes), embeddings):
        S = np.asarray(matrices[e], dtype=float)
        lo, hi = (0.0, 1.0) if scale == "absolute" else (np.nanmin(S), np.nanmax(S))
        im = ax.imshow(S, vmin=lo, vmax=hi if hi > lo else lo + 1e-9, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"{TITLES.get(e, e)}\n{scale}: {lo:.2f}–{hi:.2f}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
    fig.subplots_adjust(wspace=0.45)
    return _save(fig, path)


def confusion(cm, labels, path: Path, title: str) -> Path:
    """Counts annotated; colour is the row share (rows = true genre)."""
    cm = np.asarray(cm, dtype=float)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(5.6, 5.0))
    ax = fig.subplots()
    ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)
