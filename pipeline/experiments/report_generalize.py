"""The report's "what generalizes" section, computed from ``generalization.json``.

Every number here is read from the experiment's results: the table of rows,
the paired comparison of each row with the first (same folds), the head
against the logistic probe on the same features, the row that matches the
build's defaults, and Sturm's fault-filtered split.
"""
from __future__ import annotations

import numpy as np

KEY = "track_balanced_accuracy"


def pct(m: dict | None) -> str:
    return "—" if not m else f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f} %"


def paired(a: dict, b: dict, key: str = KEY) -> tuple[float, float] | None:
    """Mean and standard error of (a - b) over the folds both rows share (same seed and fold).

    The 15 folds of 5-fold x 3 repeats are not independent (each track is tested
    once per repeat), so this standard error is a rough, optimistic guide.
    """
    fa = {(f["seed"], f["fold"]): f[key] for f in a.get("fold_results", []) if key in f}
    fb = {(f["seed"], f["fold"]): f[key] for f in b.get("fold_results", []) if key in f}
    common = sorted(set(fa) & set(fb))
    if len(common) < 2:
        return None
    d = np.array([fa[k] - fb[k] for k in common])
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def is_default(row: dict, defaults: dict | None) -> bool:
    """Whether a row is the configuration the build uses by default."""
    if not defaults:
        return False
    v = row.get("variant", {})
    spec, train = defaults["spectrogram"], defaults["train"]
    t = row.get("train", {})
    return (v.get("model") == defaults.get("model", "head")
            and float(v.get("seconds")) == float(spec["segment_seconds"])
            and float(v.get("hop")) == float(spec["segment_hop_seconds"])
            and v.get("image_size") == spec["image_size"]
            and tuple(v.get("blocks", ())) == tuple(defaults["pool_blocks"])
            and v.get("members", 1) == 1 and not v.get("masked")
            and all(t.get(k) == train[k] for k in ("class_weight", "mixup_alpha", "dropout", "deep", "shallow"))
            and t.get("augment", "none") == train.get("augment", "none"))


def build_defaults() -> dict:
    """The build's defaults, as the rows describe them."""
    from ..build import BuildConfig

    cfg = BuildConfig(data="")
    return {"spectrogram": cfg.spectrogram.to_dict(), "train": cfg.train.to_dict(),
            "pool_blocks": list(cfg.pool_blocks), "model": "head"}


def _row_line(r: dict, first: dict, default: bool) -> str:
    m = r["metrics"]
    d = paired(r, first) if r is not first else None
    delta = "—" if d is None else f"{100 * d[0]:+.1f} ± {100 * d[1]:.1f}"
    secs = [f.get("seconds") for f in r["fold_results"] if f.get("seconds") is not None]
    cost = f"{np.mean(secs):.0f} s" if secs else "—"
    name = f"**{r['name']}** (build default)" if default else r["name"]
    return (f"| {name} | {pct(m.get(KEY))} | {pct(m.get('track_accuracy'))} | {pct(m.get('track_macro_f1'))} | "
            f"{delta} | {r['dim']} | {cost} |")


def head_vs_probe(rows: list[dict], default: dict | None) -> list[str]:
    """The head against the class-weighted logistic probe on the same features and folds."""
    if default is None:
        return []
    probe = next((r for r in rows if r["variant"]["model"] == "logistic"
                  and r["variant"]["blocks"] == default["variant"]["blocks"]
                  and r["windows"] == default["windows"]), None)
    if probe is None:
        return []
    d = paired(default, probe)
    if d is None:
        return []
    beats = d[0] > d[1]
    verdict = ("the head beats the probe by more than the folds' standard error" if beats else
               "the head does **not** beat the probe by more than the folds' standard error")
    return [f"**Head vs probe** (same features, same {default['n_results']} folds): head "
            f"{pct(default['metrics'][KEY])}, probe {pct(probe['metrics'][KEY])} balanced accuracy; paired "
            f"difference {100 * d[0]:+.1f} points, standard error {100 * d[1]:.1f}: {verdict}."
            + ("" if beats else " The head is kept because its inner layers are the map's *deep* and *shallow* "
               "embeddings, which a logistic regression does not have; as a classifier it is no better than the "
               "probe on this little data."), ""]


def fault_filtered(ff: list[dict]) -> list[str]:
    if not ff:
        return []
    first = ff[0]
    n, listed = first["n_tracks"], first["n_listed"]
    out = ["**Sturm's fault-filtered split** (Kereliuk, Sturm & Larsen 2015), restricted to its tracks that are here: "
           f"train {n['train']} of {listed['train']}, valid {n['valid']} of {listed['valid']}, test {n['test']} of "
           f"{listed['test']} (genres in test: {', '.join(first['test_genres'])}). The head early-stops on *valid* and "
           "is refit on train + valid; seeds re-initialise the model, the split is fixed. "
           f"{first['test_tracks_with_a_trained_artist']} of the {n['test']} test tracks share an artist with a "
           "training track (the published split predates some artist identifications).", "",
           "| row | balanced accuracy | accuracy | macro-F1 | seeds |", "|---|---|---|---|---|"]
    for r in ff:
        if r["status"] != "ok":
            out.append(f"| {r['name']} | **not run**: {r['reason']} | | | |")
            continue
        m = r["metrics"]
        out.append(f"| {r['name']} | {pct(m.get(KEY))} | {pct(m.get('track_accuracy'))} | "
                   f"{pct(m.get('track_macro_f1'))} | {', '.join(map(str, r['seeds']))} |")
    return out + [""]


def section(s: dict, data_line: str, defaults: dict | None = None) -> list[str]:
    """Markdown lines for the generalization experiment."""
    rows = [r for r in s["rows"] if r["status"] == "ok"]
    if not rows:
        return ["_No rows._", ""]
    defaults = build_defaults() if defaults is None else defaults
    first, p = rows[0], s["protocol"]
    default = next((r for r in rows if is_default(r, defaults)), None)
    out = [f"Data: {data_line}. Every row on the **same folds**: {p['folds']}-fold × seeds "
           f"{p['seeds'][0]}–{p['seeds'][-1]} ({first['n_results']} folds), split by artist ({p['grouping']}), "
           "stratified by genre. Balanced accuracy = mean per-genre recall per fold, then mean ± std over folds. "
           "Δ = paired difference from the first row over the same folds (± its standard error; the folds are not "
           "independent, so treat it as a rough guide). Cost = mean wall time per fold on the shared 2 cores "
           "(features are extracted once and cached, not counted).", "",
           "| row | balanced accuracy | accuracy | macro-F1 | Δ balanced vs first row (points) | input dim "
           "| cost per fold |", "|---|---|---|---|---|---|---|"]
    out += [_row_line(r, first, r is default) for r in rows]
    out += [""]
    best = max((r for r in rows if r["variant"]["model"] != "logistic"), key=lambda r: r["metrics"][KEY]["mean"])
    out.append(f"Best row by balanced accuracy: **{best['name']}**, {pct(best['metrics'][KEY])}. "
               + (f"The build's default is **{default['name']}**, {pct(default['metrics'][KEY])}." if default else
                  "No row matches the build's defaults exactly."))
    target = 0.80
    reached = default is not None and default["metrics"][KEY]["mean"] >= target
    out += ["", f"Target: balanced accuracy ≥ {target:.2f} under artist-grouped CV for ImageNet "
            f"MobileNetV2 + head: **{'reached' if reached else 'not reached'}**"
            + ("" if default is None else f" ({100 * default['metrics'][KEY]['mean']:.1f} %).") , ""]
    out += head_vs_probe(rows, default)
    out += per_genre(default or best, s["labels"], p.get("largest_artist", {}))
    out += fault_filtered(p.get("fault_filtered", []))
    return out


def per_genre(row: dict, labels, largest: dict) -> list[str]:
    """Per-genre recall of a row (pooled over its folds) beside each genre's most frequent artist."""
    cm = np.asarray(row["confusion"], dtype=float)
    recall = np.diag(cm) / np.maximum(cm.sum(1), 1)
    out = [f"Per genre for \"{row['name']}\" (recall pooled over its {row['n_results']} folds) beside the genre's "
           "most frequent artist: a genre that is mostly one artist is either barely trained on or tested on "
           "another sound when that artist is held out.", "",
           "| genre | recall | tracks | known artists | most frequent artist (tracks) |", "|---|---|---|---|---|"]
    for g, r in zip(labels, recall):
        a = largest.get(g, {})
        top = f"{a['artist']} ({a['tracks']})" if a.get("artist") else "—"
        out.append(f"| {g} | {100 * r:.0f} % | {a.get('genre_tracks', '—')} | {a.get('artists', '—')} | {top} |")
    return out + [""]


def headline(s: dict, defaults: dict | None = None) -> list[str]:
    """One bullet for the report's "In short": what the artist-grouped CV says, and the verdicts."""
    rows = [r for r in s["rows"] if r["status"] == "ok"]
    if not rows:
        return []
    defaults = build_defaults() if defaults is None else defaults
    default = next((r for r in rows if is_default(r, defaults)), None)
    trained = [r for r in rows if r["variant"]["model"] != "logistic"]
    best = max(trained, key=lambda r: r["metrics"][KEY]["mean"]) if trained else None
    probes = [r for r in rows if r["variant"]["model"] == "logistic"]
    best_probe = max(probes, key=lambda r: r["metrics"][KEY]["mean"]) if probes else None
    text = (f"- **Unheard artists** (balanced accuracy, {rows[0]['n_results']} artist-grouped folds, the same for "
            f"every row): first row {pct(rows[0]['metrics'][KEY])}; best trained row \"{best['name']}\" "
            f"{pct(best['metrics'][KEY])}")
    if best_probe:
        text += f"; best logistic probe \"{best_probe['name']}\" {pct(best_probe['metrics'][KEY])}"
    if default:
        d = paired(default, rows[0]) if default is not rows[0] else None
        text += (f"; the build's default \"{default['name']}\" {pct(default['metrics'][KEY])}"
                 + (f" ({100 * d[0]:+.1f} ± {100 * d[1]:.1f} points vs the first row)" if d else ""))
        text += f". Target 0.80: {'reached' if default['metrics'][KEY]['mean'] >= 0.80 else 'not reached'}."
    return [text]


def inputs_section(s: dict, data_line: str) -> list[str]:
    """Markdown lines for the inputs experiment: other inputs and poolings of the frozen network, by probe."""
    rows = [r for r in s["rows"] if r["status"] == "ok"]
    if not rows:
        reasons = sorted({r.get("reason", "?") for r in s["rows"]})
        return [f"_Not run_: {'; '.join(reasons) or 'no rows'}.", ""]
    first, p = rows[0], s["protocol"]
    out = [f"Data: {data_line}. Frozen ImageNet MobileNetV2, {p['probe']}; every row on the **same folds**: "
           f"{p['folds']}-fold × seeds {p['seeds'][0]}–{p['seeds'][-1]} ({first['n_results']} folds), split by "
           f"artist ({first.get('grouping', p.get('split'))}). Δ = paired difference from the first row (± its "
           "standard error, a rough guide: the folds are not independent).", "",
           "| input and pooling | balanced accuracy | accuracy | macro-F1 | Δ balanced vs first row (points) "
           "| dim |", "|---|---|---|---|---|---|"]
    for r in rows:
        m, d = r["metrics"], paired(r, first) if r is not first else None
        delta = "—" if d is None else f"{100 * d[0]:+.1f} ± {100 * d[1]:.1f}"
        out.append(f"| {r['name']} | {pct(m.get(KEY))} | {pct(m.get('track_accuracy'))} | "
                   f"{pct(m.get('track_macro_f1'))} | {delta} | {r['dim']} |")
    best = max(rows, key=lambda r: r["metrics"][KEY]["mean"])
    d = paired(best, first) if best is not first else None
    clear = d is not None and d[0] > 2 * d[1]
    out += ["", f"Best: **{best['name']}**, {pct(best['metrics'][KEY])}"
            + ("" if d is None else f" ({100 * d[0]:+.1f} ± {100 * d[1]:.1f} points vs the build's input)")
            + (". That is more than twice its standard error: worth a trained-head row before the build adopts it."
               if clear else ". No row beats the build's input by more than twice the standard error, so the build "
               "keeps its grey log-mel image and mean pools."), ""]
    return out
