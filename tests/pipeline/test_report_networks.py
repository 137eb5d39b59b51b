"""The report's networks section: the bundle's CV rows per network and MusiCNN's output choice."""
import json

from pipeline.experiments.report_networks import bundle_network_rows, musicnn_output_choice


def _m(mean, std=0.1):
    return {"mean": mean, "std": std, "folds": [mean] * 3}


def _cv(kind_mean):
    return {"folds": 5, "repeats": 3, "seed": 0,
            "head": {"accuracy": _m(0.8), "balanced_accuracy": _m(kind_mean), "macro_f1": _m(0.7)},
            "logistic_baseline": {"accuracy": _m(0.81), "balanced_accuracy": _m(kind_mean + 0.01),
                                  "macro_f1": _m(0.71)}}


def test_every_network_and_cv_kind_is_a_row_with_head_and_probe():
    meta = {"config": {"train": {"augment": "paper"}},
            "networks": {"mobilenet_v2": {"settings": {"backbone": "mobilenet_v2", "pool_blocks": list(range(19))}},
                         "musicnn": {"settings": {"backbone": "musicnn"}}},
            "metrics": {"networks": {"mobilenet_v2": {"cross_validation": {"artist": _cv(0.61), "track": _cv(0.77)}},
                                     "musicnn": {"cross_validation": {"artist": _cv(0.74)}}}}}
    text = "\n".join(bundle_network_rows(meta))
    rows = [line for line in text.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == 3
    assert "19 blocks" in rows[0] and "by artist" in rows[0]
    assert "61.0 ± 10.0 %" in rows[0] and "62.0 ± 10.0 %" in rows[0]  # head, then the probe
    assert "by track" in rows[1] and "77.0" in rows[1]
    assert "MusiCNN" in rows[2] and "74.0 ± 10.0 %" in rows[2]
    assert "augmentation `paper`" in text


def test_a_single_network_bundle_reads_its_top_level_metrics():
    meta = {"config": {"train": {}}, "metrics": {"cross_validation": {"artist": _cv(0.6)}}}
    rows = [line for line in bundle_network_rows(meta) if "%" in line and line.startswith("| ")]
    assert len(rows) == 1 and "the last block" in rows[0]


def test_output_choice_says_when_the_cv_cannot_choose(tmp_path):
    assert "not measured" in musicnn_output_choice(tmp_path)[0]
    rows = [{"output": name, "dim": d, "accuracy": [0.8, 0.82], "balanced_accuracy": [0.74 + off, 0.75 + off],
             "paired_balanced_vs_first": [off - 0.05, off + 0.05]} for name, d, off in
            (("mean_pool+max_pool", 1506, 0.0), ("penultimate", 200, -0.006))]
    (tmp_path / "musicnn_outputs.json").write_text(json.dumps(
        {"probe": "p", "data": "253 tracks", "patches": 10, "patch": "3 s", "folds": "5 x 3", "rows": rows}))
    text = "\n".join(musicnn_output_choice(tmp_path))
    assert "| penultimate | 200 | 73.9 ± 0.5 % |" in text and "-0.6 ± 5.0" in text
    assert "cannot choose" in text
    rows[1]["paired_balanced_vs_first"] = [0.2, 0.21]
    (tmp_path / "musicnn_outputs.json").write_text(json.dumps(
        {"probe": "p", "data": "253 tracks", "patches": 10, "patch": "3 s", "folds": "5 x 3", "rows": rows}))
    assert "prefers another output" in "\n".join(musicnn_output_choice(tmp_path))
