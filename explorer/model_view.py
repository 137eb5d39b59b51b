"""How good the model is: accuracy (with split and seed), per genre, confusion, embedding quality."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .palette import genre_colours
from .plotting import base_layout, figure


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def accuracy_lines(meta: dict) -> list[str]:
    """Markdown lines: every accuracy says which split and seed it comes from."""
    m, splits = meta["metrics"], meta.get("splits", {})
    t = m["test"]
    grouped = splits.get("genres_grouped_by_track") or []
    how = "clips grouped by artist" + (f" (by clip for {', '.join(grouped)})" if grouped else "")
    lines = [f"**Test accuracy {_pct(t['accuracy'])}** on the {t['n_tracks']} held-out **{t.get('split', 'test')}** "
             f"clips ({how}; seed {t['seed']}). With so few test clips, one clip moves this by "
             f"{_pct(1 / max(1, t['n_tracks']))}."]
    names = {"track": "held-out clips", "artist": "held-out artists"}
    for kind, cv in m.get("cross_validation", {}).items():
        head, base = cv["head"], cv["logistic_baseline"]
        lines.append(
            f"**Cross-validation, {names.get(kind, kind)}**: {_pct(head['mean'])} ± {_pct(head['std'])} "
            f"({cv['folds']} folds × {cv['repeats']} repeats, seed {cv['seed']}); a plain logistic regression "
            f"on the same CNN features gets {_pct(base['mean'])} ± {_pct(base['std'])}.")
    return lines


def per_genre_frame(meta: dict, labels) -> pd.DataFrame:
    """Test accuracy per genre and how many test clips it rests on (None: no test clips)."""
    t = meta["metrics"]["test"]
    cm = np.asarray(t["confusion_matrix"])
    per = t.get("per_genre_accuracy", {})
    return pd.DataFrame({
        "genre": list(labels),
        "accuracy": [per.get(g) if per.get(g) is not None else np.nan for g in labels],
        "test clips": cm.sum(axis=1).astype(int) if cm.size else np.zeros(len(labels), int),
    })


def per_genre_figure(frame: pd.DataFrame, height: int = 380):
    """Bars of per-genre test accuracy, labelled 'right/total' (test sets are small: counts say more)."""
    colours = genre_colours(frame["genre"])
    acc = frame["accuracy"].to_numpy(dtype=float)
    n = frame["test clips"].to_numpy(dtype=int)
    text = [f"{round(a * k)}/{k}" if np.isfinite(a) else "none" for a, k in zip(acc, n)]
    hover = [f"{a:.0%}: {round(a * k)} of {k} test clips right" if np.isfinite(a) else "no test clips"
             for a, k in zip(acc, n)]
    trace = dict(type="bar", x=frame["genre"].tolist(), y=[float(a) if np.isfinite(a) else 0.0 for a in acc],
                 marker=dict(color=[colours[g] for g in frame["genre"]]), text=text, textposition="outside",
                 textfont=dict(size=15), cliponaxis=False, constraintext="none", customdata=hover,
                 hovertemplate="%{x}: %{customdata}<extra></extra>")
    layout = base_layout(height=height, title=dict(text="Test accuracy per genre (right / test clips)"),
                         yaxis=dict(range=[0, 1.15], tickformat=".0%"),
                         xaxis=dict(tickangle=-45), margin=dict(l=10, r=10, t=50, b=10))
    return figure([trace], layout)


def confusion_figure(meta: dict, labels, height: int = 480):
    """Counts of test clips: rows the real genre, columns what the model said."""
    cm = np.asarray(meta["metrics"]["test"]["confusion_matrix"], dtype=int)
    text = [[str(v) if v else "" for v in row] for row in cm]
    trace = dict(type="heatmap", z=cm.tolist(), x=list(labels), y=list(labels), text=text, texttemplate="%{text}",
                 textfont=dict(size=14), colorscale=[[0, "#ffffff"], [1, "#08519c"]], zmin=0, showscale=False, xgap=1, ygap=1,
                 hovertemplate="real %{y}, model said %{x}: <b>%{z}</b> clip(s)<extra></extra>")
    layout = base_layout(height=height, title=dict(text="Confusion matrix (test clips)"),
                         xaxis=dict(title=dict(text="model said"), tickangle=-45, showgrid=False, constrain="domain"),
                         yaxis=dict(title=dict(text="real genre"), autorange="reversed", showgrid=False,
                                    scaleanchor="x", constrain="domain"),
                         margin=dict(l=10, r=10, t=50, b=10))
    return figure([trace], layout)


def quality_frame(meta: dict) -> pd.DataFrame:
    """One row per embedding: size and how well it keeps genres and neighbourhoods."""
    q = meta["metrics"].get("embedding_quality", {})
    rows = []
    for e, info in meta["embeddings"].items():
        v = q.get(e, {})
        rows.append({"layer": e, "numbers per clip": int(info.get("dim", 0)),
                     "kNN genre accuracy": v.get("knn_accuracy", np.nan), "silhouette": v.get("silhouette", np.nan),
                     "trustworthiness": v.get("trustworthiness", np.nan)})
    return pd.DataFrame(rows)
