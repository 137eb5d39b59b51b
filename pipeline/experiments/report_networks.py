"""Report section: the bundle's networks side by side (Table 1's MusiCNN rows) and which MusiCNN output to embed.

The build cross-validates every network it trains with the same fold function
(``splits.cv_folds``), the same artist grouping (genres with at least two known
artists; repeated recordings together) and the same seeds as the experiments,
so its figures are rows of Table 1 on the same folds. Read from ``bundle.json``:
nothing here trains anything.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..networks import network_title


def _pm(m: dict | None) -> str:
    return "—" if not m else f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f} %"


def _features(name: str, settings: dict) -> str:
    if settings.get("backbone") == "musicnn":
        return "MusiCNN (Million Song Dataset tags), max + mean pools (1506-d) of 3 s patches, frozen"
    blocks = settings.get("pool_blocks") or [18]
    pooled = "the last block" if blocks == [18] else f"{len(blocks)} blocks" if len(blocks) > 1 else f"block {blocks}"
    return f"MobileNetV2 (ImageNet), average pools of {pooled}, frozen"


def bundle_network_rows(meta: dict) -> list[str]:
    """One row per network of the bundle and CV kind: head and logistic probe on the same folds."""
    per_network = meta.get("metrics", {}).get("networks") or {"mobilenet_v2": meta.get("metrics", {})}
    lines = ["**The shipped bundle's networks** (the build's own cross-validation: the same fold function, artist "
             "grouping and seeds 0–2 as the rows above, so the artist rows are on the same folds; the build's head is "
             f"trained with augmentation `{meta['config']['train'].get('augment', 'none')}` for MobileNetV2 and none "
             "for MusiCNN, class-weighted):", "",
             "| network | frozen features | CV | head, balanced | head, accuracy | head, macro-F1 | logistic probe, "
             "balanced | folds × repeats |", "|---|---|---|---|---|---|---|---|"]
    for name, m in per_network.items():
        settings = meta.get("networks", {}).get(name, {}).get("settings", {})
        for kind, cv in (m.get("cross_validation") or {}).items():
            head, probe = cv["head"], cv["logistic_baseline"]
            lines.append(f"| {network_title(name)} | {_features(name, settings)} | by {kind} | "
                         f"{_pm(head['balanced_accuracy'])} | {_pm(head['accuracy'])} | {_pm(head['macro_f1'])} | "
                         f"{_pm(probe['balanced_accuracy'])} | {cv['folds']} × {cv['repeats']} |")
    return lines + [""]


def bundle_predictor_rows(meta: dict) -> list[str]:
    """The shipped bundle's genre-predictor candidates on the same folds, with paired differences and their meaning."""
    from ..predictor import candidates_markdown, candidates_meaning

    table = candidates_markdown(meta)
    if not table:
        return ["_The bundle stores no genre-predictor candidates (built before they were scored); rebuild it._", ""]
    return ["**Which reader of the features gives a song its genre** (the build's `predictor` stage):", "",
            *table, candidates_meaning(meta), ""]


def musicnn_output_choice(results: Path) -> list[str]:
    """Which MusiCNN output the build embeds, from ``benchmarks/musicnn_probe.py --json``."""
    path = Path(results) / "musicnn_outputs.json"
    if not path.is_file():
        return ["_Which MusiCNN output to embed: not measured here (run `python benchmarks/musicnn_probe.py --json "
                f"{path}`)._", ""]
    s = json.loads(path.read_text())
    lines = [f"**Which MusiCNN output to embed** — a linear probe per candidate ({s['probe']}); data {s['data']}, "
             f"{s['patches']} patches of {s['patch']}; {s['folds']}. Δ = paired difference from the first row "
             "over the same folds (mean ± std).", "",
             "| output | dim | balanced accuracy | accuracy | Δ balanced vs first (points) |", "|---|---|---|---|---|"]
    for r in s["rows"]:
        b, a, d = (np.asarray(r[k]) for k in ("balanced_accuracy", "accuracy", "paired_balanced_vs_first"))
        lines.append(f"| {r['output']} | {r['dim']} | {100 * b.mean():.1f} ± {100 * b.std():.1f} % | "
                     f"{100 * a.mean():.1f} ± {100 * a.std():.1f} % | {100 * d.mean():+.1f} ± {100 * d.std():.1f} |")
    deltas = [np.mean(r["paired_balanced_vs_first"]) for r in s["rows"]]
    spread = max(np.std(r["paired_balanced_vs_first"]) for r in s["rows"])
    verdict = (f"The outputs differ by at most {100 * np.ptp(deltas):.1f} points, inside the paired spread "
               f"({100 * spread:.1f}): the CV cannot choose between them, so" if np.ptp(deltas) < spread else
               "Note: the CV prefers another output than the build's;")
    return lines + ["", f"{verdict} the build embeds the max + mean pools (1506-d), the features MusiCNN's own back "
                    "end reads, so its *immediate* layer summarises the whole pretrained network.", ""]
