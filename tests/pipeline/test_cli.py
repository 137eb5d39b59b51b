"""The CLI's defaults are the config dataclasses': each default is written once, and ``--help`` shows it."""
from dataclasses import replace

import pytest

from pipeline.build import BuildConfig
from pipeline.cli import build_config, experiment_config, parser
from pipeline.experiments.tables import ExperimentConfig
from pipeline.paths import DEFAULT_BUNDLE


def test_a_bare_build_command_is_the_build_configs_defaults():
    assert build_config(parser().parse_args(["build", "--data", "d"])) == BuildConfig(data="d")


def test_build_options_change_only_their_fields():
    args = parser().parse_args(["build", "--data", "d", "--folds", "4", "--networks", "mobilenet_v2", "--previews",
                                "0", "--out", "o"])
    assert build_config(args) == replace(BuildConfig(data="d"), cv_folds=4, networks=("mobilenet_v2",),
                                         preview_seconds=0.0, out="o")


def test_a_bare_experiment_command_is_the_experiment_configs_defaults():
    cfg = experiment_config(parser().parse_args(["experiment", "leakage", "--data", "d"]))
    assert replace(cfg, command=None) == ExperimentConfig(data="d")
    assert cfg.command == "python -m pipeline experiment leakage --data d --seeds 3 --folds 5"


@pytest.mark.parametrize("command, shown", [
    ("build", ["(default: 5)", "runs once; default: 3)", "(default: .cache/pipeline)", "default: paper"]),
    ("experiment", ["(default: 3)", "(default: artist)", "(default: 15)", "default: .cache/experiments"]),
    ("report", ["(default: .cache/experiments)"]),
])
def test_help_shows_the_configs_defaults(command, shown, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(s in text for s in shown), text


def test_info_and_place_open_the_shipped_bundle_by_default():
    assert parser().parse_args(["info"]).bundle == str(DEFAULT_BUNDLE)
    assert parser().parse_args(["place", "x.wav"]).bundle == str(DEFAULT_BUNDLE)
