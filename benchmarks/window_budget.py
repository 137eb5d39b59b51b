"""How many windows the first answer to a dropped-in song needs: agreement of a budget's vote with the whole song's.

For every song, every window is computed once; then, for each budget k, the
genre the app shows from ``Song.first_windows(k)`` (the bundle's predictor on
those windows' mean vectors) is compared with the whole song's. Printed per budget:
agreement on the real GTZAN tracks (whole 30 s clips: 5 windows) and on long
songs (the shared free-licence songs and a 4-minute song made of three of
them), and the GTZAN tracks' accuracy against their real genre.

    python benchmarks/window_budget.py [--data ../shared/data/gtzan] [--songs ../shared/data/songs]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.audio import AudioError, load_audio  # noqa: E402
from pipeline.paths import DEFAULT_BUNDLE  # noqa: E402
from pipeline.place import MAX_SECONDS, Placer  # noqa: E402
from pipeline.readout import FIRST_WINDOWS  # noqa: E402

BUDGETS = (1, 2, 3, 4, 5, 6, 8)


def genres(placer: Placer, files: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """file → (genre of the whole song, genre from each budget in BUDGETS), label indices; cached (npz, no pickle).

    The genre is what the app shows: the bundle's predictor on the mean vectors of the windows heard
    (``Song.placement``), from ``Song.first_windows(k)`` and from every window.
    """
    known = dict(np.load(cache, allow_pickle=False)) if cache.is_file() else {}
    labels = list(placer.labels)
    for f in tqdm([f for f in files if str(f) not in known], desc="songs", unit="song"):
        try:
            song = placer.song(load_audio(f, sr=placer.spec.sample_rate, max_seconds=MAX_SECONDS), f.name)
        except AudioError as e:
            print(f"skipped {f.name}: {e}")
            continue
        song.compute(song.all_windows())
        whole = song.placement(song.all_windows())
        known[str(f)] = np.array([labels.index(whole.genre), len(song.starts_s),
                                  *(labels.index(song.placement(song.first_windows(k)).genre) for k in BUDGETS)])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **known)
    return {str(f): known[str(f)] for f in files if str(f) in known}


def long_song(songs: Path, out: Path) -> Path | None:
    """A 4-minute song that changes genre: three shared songs one after the other (flac)."""
    import soundfile as sf

    parts = ["karissa_hobbs-lets_go_fishin.ogg", "kevin_macleod-vibe_ace.ogg", "brahms-hungarian_dance_5.ogg"]
    if not all((songs / p).is_file() for p in parts):
        return None
    if not out.is_file():
        y = np.concatenate([load_audio(songs / p, sr=22050) for p in parts])
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, y, 22050)
    return out


def agreement(found: dict[str, np.ndarray], k: int) -> float:
    """Share of songs whose first answer from k windows names the whole song's genre."""
    return float(np.mean([g[2 + BUDGETS.index(k)] == g[0] for g in found.values()]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "gtzan"))
    ap.add_argument("--songs", default=str(REPO.parent / "shared" / "data" / "songs"))
    ap.add_argument("--cache", default=str(REPO / ".cache" / "bench" / "first_answer_genres.npz"))
    args = ap.parse_args(argv)
    placer = Placer.from_path(args.bundle)
    labels = list(placer.labels)
    tracks = sorted(Path(args.data).glob("*/*.*"))
    songs = sorted(Path(args.songs).glob("*.ogg"))
    mix = long_song(Path(args.songs), Path(args.cache).parent / "three_songs_4min.flac")
    songs += [mix] if mix else []
    gtzan = genres(placer, tracks, Path(args.cache))
    long = genres(placer, songs, Path(args.cache))
    truth = {str(f): labels.index(f.parent.name) for f in tracks if f.parent.name in labels}
    right = np.mean([g[0] == truth[k] for k, g in gtzan.items()])
    print(f"bundle {args.bundle}, genre by {placer.predictor_model.name}; {len(gtzan)} GTZAN tracks "
          f"(windows per track: {sorted({int(g[1]) for g in gtzan.values()})}), {len(long)} long songs "
          f"({', '.join(f'{Path(k).stem} {int(g[1])}' for k, g in long.items())} windows)")
    print(f"GTZAN tracks' genre against the real one: {right:.3f} (the bundle's own tracks: seen in training)")
    print("| windows in the first answer | agrees with the whole song: GTZAN 30 s tracks | long songs |")
    print("|---|---|---|")
    for k in BUDGETS:
        print(f"| {k} | {agreement(gtzan, k):.3f} | {agreement(long, k):.3f} |")
    for k, g in long.items():
        print(f"  {Path(k).stem}: {labels[g[0]]} (first answer from {FIRST_WINDOWS} windows: "
              f"{labels[g[2 + BUDGETS.index(FIRST_WINDOWS)]]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
