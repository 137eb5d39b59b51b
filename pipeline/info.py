"""What a bundle says about itself, in words: ``info``'s summary and the README's tables (``info --markdown``)."""
from __future__ import annotations

from .networks import DEFAULT_NETWORK


def _fmt_cv(cv: dict) -> str:
    return f"{cv['mean']:.3f} ± {cv['std']:.3f}"


def _fmt_scores(m: dict) -> str:
    """balanced accuracy first (the classes are imbalanced), then accuracy and macro-F1; older bundles: accuracy."""
    if "balanced_accuracy" not in m:
        return f"accuracy {_fmt_cv(m)}"
    return (f"balanced acc {_fmt_cv(m['balanced_accuracy'])}, acc {_fmt_cv(m['accuracy'])}, "
            f"macro-F1 {_fmt_cv(m['macro_f1'])}")


def _test_line(t: dict) -> str:
    return ((f"balanced accuracy {t['balanced_accuracy']:.3f}, " if "balanced_accuracy" in t else "")
            + f"accuracy {t['accuracy']:.3f}" + (f", macro-F1 {t['macro_f1']:.3f}" if "macro_f1" in t else "")
            + f", loss {t['loss']:.3f} on {t['n_tracks']} test tracks (seed {t['seed']})")


def network_lines(name: str, metrics: dict) -> list[str]:
    """One network's test and cross-validation figures (artist-grouped CV, the headline, first)."""
    lines = [f"{name}", f"  test       {_test_line(metrics['test'])}"]
    for kind, cv in metrics["cross_validation"].items():
        seeds = f"seeds {cv['seed']}-{cv['seed'] + cv['repeats'] - 1}" if cv["repeats"] > 1 else f"seed {cv['seed']}"
        lines.append(f"  CV by {kind:6} head {_fmt_scores(cv['head'])}; logistic probe "
                     f"{_fmt_scores(cv['logistic_baseline'])} ({cv['folds']}-fold x{cv['repeats']}, {seeds})")
    return lines


def summary_lines(meta: dict) -> list[str]:
    """What a bundle holds, in a few human lines (``info`` and the end of ``build``)."""
    d, s, m = meta["dataset"], meta["splits"], meta["metrics"]
    lines = [
        f"dataset      {d['name']}: {d['n_tracks']} tracks, {len(meta['labels'])} genres ({', '.join(meta['labels'])})",
        f"skipped      {len(d['skipped'])} file(s) or folder(s)"
        + "".join(f"\n               {x['file']}: {x['reason']}" for x in d["skipped"]),
        f"splits       train {s['counts']['train']} / val {s['counts']['val']} / test {s['counts']['test']} tracks, "
        f"seed {s['seed']}; "
        f"by artist except {', '.join(s['genres_grouped_by_track']) or 'none'}",
    ]
    networks = m.get("networks") or {DEFAULT_NETWORK: m}
    if "predictor" in meta:
        lines.append(f"predicts     {predictor_sentence(meta)}")
    for name, metrics in networks.items():
        lines += network_lines(name, metrics)
    for e, q in m["embedding_quality"].items():
        lines.append(f"embedding    {e:17} dim {meta['embeddings'][e]['dim']:5}  kNN acc {q['knn_accuracy']:.3f}  "
                     f"silhouette {q['silhouette']:+.3f}  trustworthiness {q['trustworthiness']:.3f}")
    v = meta.get("versions", {})
    lines.append("versions     " + ", ".join(f"{k} {x}" for k, x in v.items()))
    if "timings_s" in meta:
        lines.append("timings      " + ", ".join(f"{k} {x:.1f}s" for k, x in meta["timings_s"].items()))
    return lines


def _pm(score: dict) -> str:
    return f"{score['mean']:.3f} ± {score['std']:.3f}"


def predictor_sentence(meta: dict) -> str:
    """Which predictor gives a song its genre, its score and why it was chosen."""
    from .predictor import META_KEY, score_text

    chosen = (meta.get(META_KEY) or {}).get("chosen")
    if chosen is None:
        return (f"Predictions come from **{meta.get('predictor', DEFAULT_NETWORK)}** "
                f"({meta.get('predictor_reason', 'the only network')}).")
    score = score_text(chosen.get("score") or {})
    return (f"Genres come from the **{chosen['name']}**" + (f": {score}" if score else "")
            + f"; chosen as {meta[META_KEY]['reason']}.")


def markdown_numbers(meta: dict) -> list[str]:
    """The README's table of a bundle's headline numbers (``info --markdown``): balanced accuracy first."""
    from .predictor import candidates_markdown

    d = meta["dataset"]
    networks = meta["metrics"].get("networks") or {DEFAULT_NETWORK: meta["metrics"]}
    out = [f"Data: {d['name']}, {d['n_tracks']} tracks, {len(meta['labels'])} genres. {predictor_sentence(meta)}", "",
           *candidates_markdown(meta),
           "| network | what | folds | balanced accuracy | accuracy | macro-F1 |", "|---|---|---|---|---|---|"]
    for name, m in networks.items():
        for kind, cv in m["cross_validation"].items():
            last = cv['seed'] + cv['repeats'] - 1
            folds = f"{cv['folds']}-fold × {cv['repeats']}, " + (f"seeds {cv['seed']}–{last}" if cv['repeats'] > 1
                                                                 else f"seed {cv['seed']}")
            for model, label in (("head", "head"), ("logistic_baseline", "logistic probe")):
                r = cv[model]
                out.append(f"| {name} | {label}, CV grouped by {kind} | {folds} | {_pm(r['balanced_accuracy'])} | "
                           f"{_pm(r['accuracy'])} | {_pm(r['macro_f1'])} |")
        t = m["test"]
        out.append(f"| {name} | head, fixed test split ({t['n_tracks']} tracks, artist-grouped) | seed {t['seed']} | "
                   f"{t['balanced_accuracy']:.3f} | {t['accuracy']:.3f} | {t['macro_f1']:.3f} |")
    out += ["", "| layer | dim | kNN genre accuracy | silhouette | trustworthiness |", "|---|---|---|---|---|"]
    for e, q in meta["metrics"]["embedding_quality"].items():
        out.append(f"| {e} | {meta['embeddings'][e]['dim']} | {q['knn_accuracy']:.3f} | {q['silhouette']:+.3f} | "
                   f"{q['trustworthiness']:.3f} |")
    return out
