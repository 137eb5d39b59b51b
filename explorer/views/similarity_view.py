"""Genre × genre mean cosine similarity heatmaps, in absolute and relative scale.

Absolute: colours span 0 to 1, so embeddings can be compared and the
"everything is close in high dimensions" effect shows as one flat colour.
Relative: colours span the matrix's own min to max, so its structure shows.
"""
from __future__ import annotations

import numpy as np

from .plotting import base_layout, colorscale, figure

SCALES = {"absolute": "absolute (0 to 1)", "relative": "relative (lowest to highest)"}
COLOURSCALE = colorscale("Viridis")


def scale_range(matrix: np.ndarray, scale: str) -> tuple[float, float]:
    """(zmin, zmax) for a scale: (0, 1), or the finite min and max of the matrix."""
    if scale == "absolute":
        return 0.0, 1.0
    if scale != "relative":
        raise ValueError(f"scale must be 'absolute' or 'relative', not {scale!r}")
    finite = np.asarray(matrix, dtype=float)[np.isfinite(matrix)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 1e-6, hi + 1e-6)


def _heatmap(matrix, labels, scale, *, xaxis="x", yaxis="y", showscale=True, text=True, colorbar_x=None) -> dict:
    zmin, zmax = scale_range(matrix, scale)
    z = [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in np.asarray(matrix, float)]
    trace = dict(
        type="heatmap", z=z, x=list(labels), y=list(labels), zmin=zmin, zmax=zmax, colorscale=COLOURSCALE,
        xaxis=xaxis, yaxis=yaxis, showscale=showscale, xgap=1, ygap=1,
        hovertemplate="%{y} vs %{x}<br>mean cosine similarity <b>%{z:.3f}</b><extra></extra>",
        colorbar=dict(thickness=14, len=0.9, **({"x": colorbar_x} if colorbar_x is not None else {})),
    )
    if text:
        trace.update(texttemplate="%{z:.2f}", textfont=dict(size=11))
    return trace


def similarity_figure(matrix: np.ndarray, labels, scale: str = "absolute", title: str | None = None, height: int = 520):
    """One heatmap: rows and columns are genres, cells the mean cosine similarity of their songs."""
    layout = base_layout(
        height=height, title=dict(text=title or SCALES[scale], x=0.5, xanchor="center"),
        xaxis=dict(side="bottom", tickangle=-45, showgrid=False, constrain="domain"),
        yaxis=dict(autorange="reversed", showgrid=False, scaleanchor="x", constrain="domain"),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return figure([_heatmap(matrix, labels, scale)], layout)


def comparison_figure(matrices: dict, labels, scale: str = "relative", height: int = 400):
    """All embeddings' heatmaps side by side in one scale (one panel per embedding).

    In relative scale each panel spans its own min to max, so no single colour
    bar applies and none is drawn; hover gives the values.
    """
    names = list(matrices)
    n = len(names)
    gap = 0.03
    width = (1 - gap * (n - 1)) / n
    traces, layout = [], base_layout(height=height, margin=dict(l=10, r=10, t=60, b=10), annotations=[])
    for i, name in enumerate(names):
        suffix = "" if i == 0 else str(i + 1)
        x0 = i * (width + gap)
        traces.append(_heatmap(matrices[name], labels, scale, xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                               showscale=(scale == "absolute" and i == n - 1), text=False, colorbar_x=1.01))
        layout[f"xaxis{suffix}"] = dict(domain=[x0, x0 + width], anchor=f"y{suffix}", tickangle=-45,
                                         showgrid=False, tickfont=dict(size=11), automargin=True)
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}", autorange="reversed", showgrid=False,
                                         showticklabels=(i == 0), tickfont=dict(size=11),
                                         scaleanchor=f"x{suffix}", constrain="domain", automargin=True)
        layout["annotations"].append(dict(text=f"<b>{name}</b>", x=x0 + width / 2, y=1.0, xref="paper", yref="paper",
                                          yanchor="bottom", showarrow=False, font=dict(size=17)))
    return figure(traces, layout)
