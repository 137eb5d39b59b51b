"""Shared figure plumbing: fast construction and one readable look.

Plotly validates every property when a ``go.Figure`` is built, which costs
~0.1 s per figure; the page rebuilds figures on every rerun, so they are built
unvalidated here (``_validate=False``). Unvalidated dicts reach plotly.js as
written, so write only what plotly.js understands: nested dicts (not
``font_size``), explicit colour scales (``colorscale``), no named templates.
The tests check each figure is unchanged by full validation.
"""
from __future__ import annotations

import html

import plotly.colors
import plotly.graph_objects as go
import plotly.io

FONT_SIZE = 16  # readable from the back of a classroom
CONFIG = {"displaylogo": False, "scrollZoom": True}  # st.plotly_chart(config=...) for every chart
FONT = dict(size=FONT_SIZE, family="Source Sans Pro, Arial, sans-serif", color="#222222")


def base_layout(**overrides) -> dict:
    """The common layout: white background, big fonts, tight margins."""
    layout = dict(
        # no named template: an unvalidated figure would send plotly.js the bare name, which it ignores
        paper_bgcolor="white", plot_bgcolor="white",
        font=FONT,
        margin=dict(l=10, r=10, t=40, b=10),
        hoverlabel=dict(font=dict(size=FONT_SIZE)),
        title=dict(font=dict(size=FONT_SIZE + 2)),
    )
    layout.update(overrides)
    for name in ("xaxis", "yaxis"):
        layout.setdefault(name, {})
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis.setdefault("automargin", True)  # tick labels are never cut off
    return layout


def colorscale(name: str) -> list:
    """A named Plotly colour scale as explicit [position, colour] pairs.

    Unvalidated figures reach plotly.js as they are, and plotly.js knows only a
    few scale names (not "Magma", for one): always send the explicit list.
    """
    return [[float(p), c] for p, c in plotly.colors.get_colorscale(name)]


def figure(data: list, layout: dict) -> go.Figure:
    """A figure built from plain trace/layout dicts without property validation."""
    return go.Figure(data=data, layout=layout, _validate=False)


def figure_json(fig) -> str:
    """The figure as the JSON plotly.js reads (as ``st.plotly_chart`` sends it: not validated again)."""
    return plotly.io.to_json(fig, validate=False)


def plotly_text(text) -> str:
    """``text`` as Plotly draws it literally: Plotly reads labels, legend names and hovers as pseudo-HTML
    (``<b>``, ``<a href>``, ``&amp;``), so a file named ``<b>x</b>.wav`` would be drawn bold. Only ``<``,
    ``>`` and ``&`` need escaping; Plotly turns the entities back into the characters."""
    return html.escape(str(text), quote=False)


def short_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (…) when longer."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def trace_kind(trace) -> str | None:
    """The explorer's tag on a trace (``meta.kind``): tracks, upload, selected…"""
    meta = trace.get("meta") if isinstance(trace, dict) else trace.meta
    return meta.get("kind") if isinstance(meta, dict) else None
