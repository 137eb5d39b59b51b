"""How good the model is: accuracy (with split and seed), per genre, confusion, embedding quality."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .palette import genre_colours
from .plotting import base_layout, figure


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


CV_NAMES = {"artist": "held-out artists", "track": "held-out clips"}


def _cv_score(scores: dict, metric: str) -> tuple[float, float] | None:
    """(mean, std) of one metric in a cross-validation entry's ``head`` or ``logistic_baseline``.

    Bundles from format 3 hold ``{metric: {"mean", "std", "folds"}}``; older ones held the accuracy
    alone as ``{"mean", "std", "fold_accuracy"}``.
    """
    if isinstance(scores.get(metric), dict):
        return float(scores[metric]["mean"]), float(scores[metric]["std"])
    if metric == "accuracy" and "mean" in scores:
        return float(scores["mean"]), float(scores["std"])
    return None


def _cv_text(scores: dict) -> str:
    """'balanced accuracy 78 % ± 9 % (accuracy 80 % ± 8 %, macro-F1 …)', or the accuracy alone."""
    parts = {m: _cv_score(scores, m) for m in ("balanced_accuracy", "accuracy", "macro_f1")}
    def one(m: str, name: str) -> str:
        mean, std = parts[m]
        return f"{name}{_pct(mean)} ± {_pct(std)}"
    if parts["balanced_accuracy"] is None:
        return one("accuracy", "")
    extra = [one(m, n) for m, n in (("accuracy", "accuracy "), ("macro_f1", "macro-F1 ")) if parts[m] is not None]
    return one("balanced_accuracy", "balanced accuracy ") + (f" ({', '.join(extra)})" if extra else "")


def accuracy_lines(meta: dict) -> list[str]:
    """Markdown lines: every number says which split and seed it comes from.

    Shows balanced accuracy and macro-F1 beside the accuracy when the bundle has them; the
    artist-grouped cross-validation (the honest one) comes first.
    """
    m, splits = meta["metrics"], meta.get("splits", {})
    t = m["test"]
    grouped = splits.get("genres_grouped_by_track") or []
    how = "clips grouped by artist" + (f" (by clip for {', '.join(grouped)})" if grouped else "")
    extra = [f"{name} {_pct(t[k])}" for k, name in (("balanced_accuracy", "balanced accuracy"),
                                                      ("macro_f1", "macro-F1")) if t.get(k) is not None]
    lines = [f"**Test accuracy {_pct(t['accuracy'])}**" + (f" ({', '.join(extra)})" if extra else "")
             + f" on the {t['n_tracks']} held-out **{t.get('split', 'test')}** "
             f"clips ({how}; seed {t['seed']}). With so few test clips, one clip moves this by "
             f"{_pct(1 / max(1, t['n_tracks']))}."]
    cvs = m.get("cross_validation", {})
    for kind in sorted(cvs, key=lambda k: (k != "artist", k)):
        cv = cvs[kind]
        lines.append(
            f"**Cross-validation, {CV_NAMES.get(kind, kind)}**: {_cv_text(cv['head'])} "
            f"({cv['folds']} folds × {cv['repeats']} repeats, {_seeds(cv['seed'], cv['repeats'])}); a plain "
            "logistic regression "
            f"on the same CNN features gets {_cv_text(cv['logistic_baseline'])}.")
    return lines


def _seeds(first: int, repeats: int) -> str:
    """The seeds of ``repeats`` CV repeats (``evaluate.cross_validate`` uses first .. first + repeats - 1)."""
    return f"seed {first}" if repeats <= 1 else f"seeds {first}–{first + repeats - 1}"


def predictor_line(predictor: str, networks, title: str, reason: str | None = None) -> str | None:
    """Which network's probabilities give a song its genre, when the bundle holds more than one."""
    if len(networks) < 2:
        return None
    return (f"**The genre a song gets comes from the network {title.lower()}**: of the networks in this "
            "bundle, it scores better under artist-grouped cross-validation"
            + (f" ({reason})." if reason else "."))


def genre_predictor_line(meta: dict) -> str | None:
    """Which predictor gives a song its genre, with its score and why (None: a bundle from before candidates)."""
    from pipeline.predictor import META_KEY, score_text

    spec = meta.get(META_KEY) or {}
    chosen = spec.get("chosen")
    if not chosen:
        return None
    score = score_text(chosen.get("score") or {})
    return (f"**The genre a song gets comes from the {chosen['name']}**" + (f": {score}" if score else "")
            + f", chosen as {spec.get('reason', 'the best candidate')}. Every candidate below was scored on the "
            "same folds; the last column is its per-fold difference to the chosen one (mean ± standard error).")


def candidates_frame(meta: dict) -> pd.DataFrame:
    """One row per genre-predictor candidate, best first (empty for a bundle from before candidates)."""
    from pipeline.predictor import candidate_rows

    rows = [{"predictor": ("★ " if r["chosen"] else "") + r["candidate"], "what": r["what"],
             "balanced accuracy": r["balanced_accuracy"]["mean"], "± (folds)": r["balanced_accuracy"]["std"],
             "accuracy": r["accuracy"]["mean"], "macro-F1": r["macro_f1"]["mean"],
             "minus the chosen": f"{r['vs_chosen']['mean']:+.3f} ± {r['vs_chosen']['se']:.3f}"}
            for r in candidate_rows(meta)]
    return pd.DataFrame(rows)


def network_meta(meta: dict, network: str) -> dict:
    """bundle.json as if its metrics were only ``network``'s (what the lines and figures here read)."""
    own = meta["metrics"].get("networks", {}).get(network)
    return meta if own is None else {**meta, "metrics": {**meta["metrics"], **own}}


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
                 textfont=dict(size=14), colorscale=[[0, "#ffffff"], [1, "#08519c"]], zmin=0, showscale=False,
                 xgap=1, ygap=1,
                 hovertemplate="real %{y}, model said %{x}: <b>%{z}</b> clip(s)<extra></extra>")
    layout = base_layout(height=height, title=dict(text="Confusion matrix (test clips)"),
                         xaxis=dict(title=dict(text="model said"), tickangle=-45, showgrid=False, constrain="domain"),
                         yaxis=dict(title=dict(text="real genre"), autorange="reversed", showgrid=False,
                                    scaleanchor="x", constrain="domain"),
                         margin=dict(l=10, r=10, t=50, b=10))
    return figure([trace], layout)


def quality_frame(meta: dict, networks: dict | None = None) -> pd.DataFrame:
    """One row per embedding: size and how well it keeps genres and neighbourhoods.

    ``networks`` (``Bundle.networks``): with more than one, a first column names each row's network.
    """
    q = meta["metrics"].get("embedding_quality", {})
    owner = {e: n for n, keys in (networks or {}).items() for e in keys}
    rows = []
    for e, info in meta["embeddings"].items():
        v = q.get(e, {})
        row = {"network": owner.get(e, "")} if len(networks or {}) > 1 else {}
        row.update({"layer": e, "numbers per clip": int(info.get("dim", 0)),
                    "kNN genre accuracy": v.get("knn_accuracy", np.nan), "silhouette": v.get("silhouette", np.nan),
                    "trustworthiness": v.get("trustworthiness", np.nan)})
        rows.append(row)
    return pd.DataFrame(rows)
