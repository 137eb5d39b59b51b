"""``python -m pipeline report``: the paper's tables and figures from our runs, as markdown + PNGs.

Reads the experiment summaries (``<results>/{backbones,augmentation,leakage}.json``
and ``history.jsonl``) and a bundle (t-SNE maps, cosine heatmaps, held-out
confusion matrix, embedding quality), and writes ``<out>/README.md`` with every
table next to the paper's numbers and every figure linked. What is missing is
said, with the command that makes it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..networks import PAPER_FINDINGS
from . import report_figures as figs
from . import report_generalize, report_networks
from .tables import EXPERIMENTS

# The paper's Table 1 (test loss, test accuracy) and Table 2 (accuracy), as summarised in paper.md.
PAPER_TABLE1 = {"vgg16": ("9766.05", "62.99 %"), "inception_v3": ("1.4073", "68 %"), "xception": ("0.9703", "68 %"),
                "mobilenet_v2": ("0.8062", "73 %")}
PAPER_TABLE2 = {(30.0, False): ("75.9 %", "66.0 %"), (10.0, True): ("74.6 %", "64.3 %"),
                (5.0, True): ("67.3 %", "59.6 %")}
COMMANDS = {e: f"python -m pipeline experiment {e} --data DIR --weights mobilenet_v2_imagenet_float.pth"
            for e in EXPERIMENTS}
TITLES = {"backbones": "Table 1 — backbones", "augmentation": "Table 2 — window length and augmentation",
          "leakage": "Leakage — what the split does to the number",
          "generalization": "What generalizes to unheard artists",
          "inputs": "Other inputs and poolings of the frozen network"}
UNIT = {"segment": "window", "track": "track", "artist": "artist"}


def pct(m: dict | None) -> str:
    return "—" if not m else f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f} %"


def num(m: dict | None) -> str:
    return "—" if not m else f"{m['mean']:.3f} ± {m['std']:.3f}"


def _acc(row: dict | None, key: str = "track_balanced_accuracy") -> str:
    return "—" if row is None or row.get("status") != "ok" else f"{100 * row['metrics'][key]['mean']:.1f} %"


def protocol(row: dict) -> str:
    """Folds and seeds behind a number, e.g. "5-fold × seeds 0–2 (15 folds)"."""
    seeds = row["seeds"]
    s = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    n = f"{row['n_results']} fold{'s' if row['n_results'] != 1 else ''}"
    run = row.get("folds_run")
    if run is not None and len(run) < row["folds"]:
        return f"folds {', '.join(str(k + 1) for k in run)} of {row['folds']}, {s} ({n})"
    return f"{row['folds']}-fold × {s} ({n})"


def _data_line(s: dict) -> str:
    d = s["data"]
    per = ", ".join(f"{g} {n}" for g, n in d["tracks_per_genre"].items())
    skipped = f"; skipped {len(d['skipped'])} file(s)" if d["skipped"] else ""
    return f"`{d['name']}`: {d['n_tracks']} tracks ({per}){skipped}"


def _name(row: dict) -> str:
    return row["name"].split(" (")[0]


def _split_line(s: dict) -> str:
    """How the folds of an experiment were grouped, from its rows."""
    split = s["protocol"].get("split", "track")
    grouping = next((r.get("grouping") for r in s["rows"] if r.get("grouping")), None)
    return f"by {UNIT.get(split, split)}" + (f" ({grouping})" if grouping else "") + ", stratified by genre"


def scores(m: dict, probe: dict | None = None) -> str:
    """``| balanced | accuracy | macro-F1 |`` cells of a row's track-level metrics (older results: accuracy only)."""
    m = m or {}
    return f"{pct(m.get('track_balanced_accuracy'))} | {pct(m.get('track_accuracy'))} | {pct(m.get('track_macro_f1'))}"


def table_backbones(s: dict) -> list[str]:
    spec = s["protocol"]["spectrogram"]
    out = [f"Data: {_data_line(s)}. Split: {_split_line(s)}. Features: windows of "
           f"{spec['segment_seconds']:g} s (hop {spec['segment_hop_seconds']:g} s); a track's prediction is the mean "
           "of its windows' probabilities. Balanced accuracy = mean per-genre recall. Mean ± std over all folds of all "
           "seeds.", "",
           "| backbone | weights | balanced accuracy (per track) | accuracy | macro-F1 | per window | loss "
           "| logistic probe, balanced | folds × seeds | paper loss | paper accuracy |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        paper = ("—", "—") if "scratch" in r["name"] else PAPER_TABLE1.get(r["backbone"], ("—", "—"))
        if r["status"] != "ok":
            out.append(f"| {r['name']} | **not run**: {r['reason']} | | | | | | | | {paper[0]} | {paper[1]} |")
            continue
        m, probe = r["metrics"], (r.get("logistic") or {}).get("track_balanced_accuracy")
        out.append(f"| {r['name']} | {r['weights']} | {scores(m)} | {pct(m.get('segment_accuracy'))} | "
                   f"{num(m.get('track_loss'))} | {pct(probe)} | {protocol(r)} | {paper[0]} | {paper[1]} |")
    out += ["", "Losses are not comparable with the paper's: theirs is the Keras test loss of one model, ours the log "
            "loss of averaged window probabilities from a head trained with label smoothing "
            f"{s['protocol']['train']['label_smoothing']}. Compare accuracies. The logistic probe is class-weighted "
            "logistic regression on the same frozen features and folds: a check that the head adds nothing spurious."]
    scratch = next((r for r in s["rows"] if "scratch" in r["name"] and r["status"] == "ok"), None)
    if scratch:
        out += ["", _scratch_note(scratch, max(r.get("n_results", 0) for r in s["rows"]))]
    return out


def _scratch_note(r: dict, most_folds: int) -> str:
    t = r["training"]
    epochs = [f.get("epochs_run") for f in r["fold_results"]]
    secs = [f["seconds"] for f in r["fold_results"] if f.get("seconds")]
    per_fold = f", ~{sum(secs) / len(secs) / 60:.1f} min per fold" if secs else ""
    fewer = (" — fewer folds than the frozen backbones (CPU time), so its ± is less certain"
             if r["n_results"] < most_folds else "")
    return (f"From scratch: the whole MobileNetV2 (random init, batch-norm in train mode) + the same head, trained "
            f"end-to-end on each fold's training windows; images block-averaged by {t['downsample']} to "
            f"{t['image_shape'][0]} × {t['image_shape'][1]}, at most {t['max_epochs']} epochs "
            f"(patience {t['patience']}, lr {t['learning_rate']}, batch {t['batch_size']}; best-validation epoch kept, "
            f"no refit) to fit 2 CPU cores. Epochs run per fold: {epochs}{per_fold}. Run on {protocol(r)}{fewer}.")


def table_augmentation(s: dict) -> list[str]:
    out = [f"Data: {_data_line(s)}. Backbone: MobileNetV2 (ImageNet, frozen) + head. Split: {_split_line(s)}. "
           f"Windows overlap by half their length. Augmentation: {s['protocol']['augmentation']}. "
           "Mean ± std over all folds of all seeds.", "",
           "| windows | augmentation | balanced accuracy (per track) | accuracy | macro-F1 | per window | track loss "
           "| folds × seeds | paper MobileNetV2 | paper Xception |", "|---|---|---|---|---|---|---|---|---|---|"]
    whole = s["protocol"].get("max_track_seconds", 30.0)
    for r in s["rows"]:
        sec, aug, m = r["windows"]["seconds"], r["augment"], r["metrics"]
        paper = PAPER_TABLE2.get((float(sec), aug), ("—", "—"))
        win = f"{sec:g} s (whole clip)" if sec >= whole else f"{sec:g} s (hop {r['windows']['hop_seconds']:g} s)"
        out.append(f"| {win} | {'paper scheme' if aug else 'none'} | {scores(m)} | {pct(m.get('segment_accuracy'))} | "
                   f"{num(m.get('track_loss'))} | {protocol(r)} | {paper[0]} | {paper[1]} |")
    out += ["", "Per track = mean of the track's window probabilities; per window = each window on its own. Our "
            "augmentation adds an augmented copy of every training window next to the clean one; whether the paper "
            "replaced or added windows is not stated in our summary of it."]
    return out


def table_leakage(s: dict) -> list[str]:
    out = [f"Data: {_data_line(s)}. Backbone: MobileNetV2 (ImageNet, frozen) + head, clean windows. The same "
           "training in every row; only what the folds are made of changes. Mean ± std over all folds of all seeds.",
           "", "| split | fold unit | accuracy per window | accuracy per track | balanced accuracy per track "
           "| folds × seeds | note |", "|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        if r["status"] != "ok":
            out.append(f"| {r['name']} | — | — | — | — | — | **not run**: {r['reason']} |")
            continue
        m, split = r["metrics"], r["split"]
        straddle = "— (tracks straddle folds)"
        per_track = straddle if split == "segment" else pct(m.get("track_accuracy"))
        balanced = straddle if split == "segment" else pct(m.get("track_balanced_accuracy"))
        fallback = ", ".join(r.get("genres_grouped_by_track", [])) or "no genre"
        note = {"segment": f"{r['n_units']} windows split at random: other windows of a test track are in training",
                "track": f"{r['n_units']} tracks in {r.get('n_groups', r['n_units'])} groups (repeated recordings "
                         "together); no track in two folds",
                "artist": f"{r.get('n_groups')} groups; by track for {fallback} (too few artists)"}[split]
        out.append(f"| {r['name']} | {UNIT[split]} | {pct(m.get('segment_accuracy'))} | {per_track} | {balanced} | "
                   f"{protocol(r)} | {note} |")
    return out


def _headlines(summaries: dict) -> list[str]:
    """The tables in three sentences, computed from the results (so they cannot drift from them)."""
    out = []
    bb = summaries.get("backbones", {}).get("rows", [])
    frozen = [r for r in bb if r["status"] == "ok" and "scratch" not in r["name"]]
    scratch = next((r for r in bb if "scratch" in r["name"] and r["status"] == "ok"), None)
    if frozen:
        best = max(frozen, key=lambda r: r["metrics"]["track_balanced_accuracy"]["mean"])
        missing = ", ".join(_name(r) for r in bb if r["status"] != "ok") or "none"
        unit = UNIT.get(summaries["backbones"]["protocol"].get("split", "track"))
        out.append(f"- **Backbones** (balanced accuracy per track, by {unit}): "
                   f"best frozen ImageNet backbone {_name(best)} {_acc(best)}"
                   + (f"; the same MobileNetV2 trained from scratch {_acc(scratch)}" if scratch else "")
                   + f" (paper, accuracy on its own split: MobileNetV2 best, 73 %). Not run: {missing}.")
    aug = {(r["windows"]["seconds"], r["augment"]): r for r in summaries.get("augmentation", {}).get("rows", [])}
    if aug:
        per_window = " / ".join(_acc(aug.get((w, False)), "segment_accuracy") for w in (30.0, 10.0, 5.0))
        out.append(f"- **Augmentation and window length** (balanced accuracy per track): 30 s clean "
                   f"{_acc(aug.get((30.0, False)))}, "
                   f"10 s augmented {_acc(aug.get((10.0, True)))} vs clean {_acc(aug.get((10.0, False)))}, "
                   f"5 s augmented {_acc(aug.get((5.0, True)))} vs clean {_acc(aug.get((5.0, False)))}; per window, "
                   f"30 / 10 / 5 s clean (accuracy): {per_window} (paper: 75.9 / 74.6 / 67.3 % accuracy; augmentation "
                   "did not help there).")
    rows = summaries.get("leakage", {}).get("rows", [])
    if rows:
        by = {split: next((r for r in rows if r["split"] == split), None) for split in ("track", "artist")}
        windows = " / ".join(_acc(r, "segment_accuracy") for r in rows if r["split"] == "segment")
        out.append(f"- **Leakage** (per window): random split over windows {windows} (overlapping / non-overlapping "
                   f"windows) vs by track {_acc(by['track'], 'segment_accuracy')} vs by artist "
                   f"{_acc(by['artist'], 'segment_accuracy')}: the kind of split behind the paper's near-100 %.")
    gen = summaries.get("generalization")
    if gen:
        out += report_generalize.headline(gen)
    return (["## In short", ""] + out + [""]) if out else []


def _size_note(summaries: dict) -> str:
    sizes = {(s["data"]["name"], s["data"]["n_tracks"]) for s in summaries.values()}
    if len(sizes) != 1:
        return ""
    name, n = sizes.pop()
    share = f", {100 * n / 1000:.1f} % of GTZAN's 1 000" if "gtzan" in name.lower() and n < 1000 else ""
    return f" (`{name}`: {n} tracks{share})"


def _timings(results: Path, last: int = 12) -> list[str]:
    """Wall time of the experiment runs logged in ``history.jsonl`` (cold runs compute every fold)."""
    path = results / "history.jsonl"
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not runs:
        return []
    out = ["## Timings", "",
           "Every experiment run on these results, most recent last. A run that computes all its folds and features "
           "is the cold cost; cached parts cost nothing. The machine's 2 cores were shared with other work (load "
           "average at start and end of each run).", "",
           "| experiment | finished (UTC) | wall time | folds computed / cached | feature sets computed "
           "| torch threads | load average | commit |", "|---|---|---|---|---|---|---|---|"]
    for r in runs[-last:]:
        load = "–".join("?" if x is None else f"{x:.1f}" for x in r.get("load_average", []))
        when = r["created"].replace("T", " ").rstrip("Z")
        out.append(f"| {r['experiment']} | {when} | {r['seconds'] / 60:.1f} min | {r['folds_computed']} / "
                   f"{r['folds_cached']} | {r['feature_sets_computed']} | {r['threads']} | {load} | "
                   f"{r.get('commit') or '?'} |")
    return out + [""]


def write_report(out: str | Path, bundle: str | Path | None, results: str | Path) -> Path:
    """Write ``out/README.md`` and its figures; returns the README path."""
    out, results = Path(out), Path(results)
    out.mkdir(parents=True, exist_ok=True)
    summaries = {e: json.loads((results / f"{e}.json").read_text())
                 for e in EXPERIMENTS if (results / f"{e}.json").is_file()}
    lines = ["# GTZAN genre map — experiments report", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m pipeline report`. "
             "Paper = Matei, Nebreda Bernal & Jethoe, \"Classifying Music Genres: A Deep Dive into Sound Analysis\" "
             "(999 GTZAN tracks, held-out test numbers). Ours = repeated, stratified K-fold cross-validation on the "
             f"data named under each table{_size_note(summaries)}, so every ± is wide and a difference of a few "
             "points between rows is within noise. Each number says its data, split, folds and seeds.", ""]
    lines += _headlines(summaries)
    makers = {"backbones": table_backbones, "augmentation": table_augmentation, "leakage": table_leakage,
              "generalization": lambda s: report_generalize.section(s, _data_line(s)),
              "inputs": lambda s: report_generalize.inputs_section(s, _data_line(s))}
    for e in EXPERIMENTS:
        lines += [f"## {TITLES[e]}", ""]
        if e not in summaries:
            lines += [f"_Not run yet._ Make it with `{COMMANDS[e]}`, then re-run the report.", ""]
        else:
            s = summaries[e]
            lines += makers[e](s) + ["", f"_Run: `{s.get('command') or COMMANDS[e]}` — {s['seconds'] / 60:.1f} min "
                                         f"wall time for what that run computed (cached parts cost nothing); "
                                         f"{s['created']}; torch {s['versions']['torch']}._", ""]
        if e == "backbones":  # the networks the bundle trains, on the same folds, and MusiCNN's output choice
            lines += _bundle_networks(bundle) + report_networks.musicnn_output_choice(results)
    lines += _timings(results)
    lines += _bundle_section(out, bundle, summaries)
    readme = out / "README.md"
    readme.write_text("\n".join(lines) + "\n")
    return readme


def _bundle_networks(bundle) -> list[str]:
    from ..bundle import BundleError, read_meta

    try:
        if not bundle:
            return []
        meta = read_meta(bundle)
        return report_networks.bundle_network_rows(meta) + report_networks.bundle_predictor_rows(meta)
    except BundleError as e:
        return [f"_The bundle's networks are not shown: {e}_", ""]


def _bundle_section(out: Path, bundle, summaries: dict) -> list[str]:
    from ..bundle import BundleError, load_bundle

    try:
        b = load_bundle(bundle) if bundle else None
        lines = [] if b else ["_No bundle given: Figure 4, heatmaps, embedding quality and the held-out confusion "
                              "matrix need one (`--bundle assets/gtzan`)._", ""]
    except BundleError as e:
        b, lines = None, [f"_Bundle figures skipped: {e}_", ""]
    labels = b.labels if b else next((s["labels"] for s in summaries.values()), None)
    if b is not None:
        lines += _maps_and_quality(out, b)
    confusion = []
    if b is not None:
        t, seed = b.meta["metrics"]["test"], b.meta["config"]["seed"]
        title = f"held-out test split of the bundle: {t['n_tracks']} tracks, seed {t.get('seed', seed)}"
        fig = figs.confusion(t["confusion_matrix"], labels, out / "confusion_test.png", title)
        confusion += [f"Held-out test split of the bundle ({t['n_tracks']} tracks, one split, "
                      f"seed {t.get('seed', seed)}): "
                  f"accuracy {100 * t['accuracy']:.1f} %, loss {t['loss']:.3f}.", "", f"![test confusion]({fig.name})",
                  ""]
    cv_row = next((r for r in summaries.get("backbones", {}).get("rows", []) if r.get("backbone") == "mobilenet_v2"
                   and r["status"] == "ok" and "scratch" not in r["name"]), None)
    cv_row = cv_row or next((r for r in summaries.get("leakage", {}).get("rows", []) if r["split"] == "track"), None)
    if cv_row is not None and labels is not None:
        fig = figs.confusion(cv_row["confusion"], labels, out / "confusion_cv.png",
                             f"{cv_row['name']}: pooled over {protocol(cv_row)}")
        unit = UNIT.get(cv_row.get("split", "track"), cv_row.get("split", "track"))
        confusion += [f"Cross-validated ({cv_row['name']}, split by {unit}, {protocol(cv_row)}; every track counted "
                      "once per seed), from the experiments:", "", f"![CV confusion]({fig.name})", ""]
    lines += ["## Confusion matrices", ""] + confusion if confusion else []
    if b is not None:
        sims = {e: b.similarity(e) for e in b.embeddings}
        ab = figs.similarity_heatmaps(sims, labels, out / "similarity_absolute.png", "absolute", b.embeddings)
        rel = figs.similarity_heatmaps(sims, labels, out / "similarity_relative.png", "relative", b.embeddings)
        lines += ["## Appendix — genre × genre cosine similarity", "",
                  "Mean cosine similarity between all pairs of tracks, grouped by genre (diagonal: distinct pairs), "
                  "per embedding of the bundle. Absolute scale 0–1, then each embedding's own min–max.", "",
                  f"![absolute]({ab.name})", "", f"![relative]({rel.name})", ""]
    return lines


def _maps_and_quality(out: Path, b) -> list[str]:
    c, d, emb = b.meta["config"], b.meta["dataset"], b.embeddings
    spec = c["spectrogram"]
    fig = figs.tsne_maps({e: b.coords(e) for e in emb}, b.tracks["genre"].to_numpy(), b.labels,
                         out / "fig4_tsne_maps.png", emb)
    lines = ["## Figure 4 — the four embeddings as t-SNE maps", "",
             f"Bundle `{b.path.name}`: {d['n_tracks']} tracks of `{d['name']}`, "
             f"windows of {spec['segment_seconds']:g} s, "
             f"image size {spec['image_size'] or 'native'}, augmentation {c['train']['augment']}, seed {c['seed']}; "
             f"one map per embedding (openTSNE, cosine, perplexity {b.meta['maps']['params']['perplexity']:g}, capped "
             "for small sets).", "", f"![Figure 4]({fig.name})", "", "## Embedding quality", "",
             "Per track (mean of its windows). kNN = leave-one-out 5-NN genre accuracy (cosine, full dimension); "
             "silhouette by genre (cosine); trustworthiness of the 2-D map (5 neighbours).", "",
             "| embedding | dim | kNN accuracy | silhouette | trustworthiness | the paper's reading of its map |",
             "|---|---|---|---|---|---|"]
    for e in emb:
        q = b.meta["metrics"]["embedding_quality"][e]
        lines.append(f"| {e} | {b.meta['embeddings'][e]['dim']} | {q['knn_accuracy']:.3f} | {q['silhouette']:+.3f} "
                     f"| {q['trustworthiness']:.3f} | {PAPER_FINDINGS.get(e, '')} |")
    counts = b.meta["splits"]["counts"]
    return lines + ["", f"All {d['n_tracks']} tracks are in these maps and numbers, and the head was trained on "
                    f"{counts['train'] + counts['val']} of them (train + val), so *deep* and *shallow* look better "
                    "here than on unseen songs: the cross-validated accuracies above are the honest measure.", ""]
