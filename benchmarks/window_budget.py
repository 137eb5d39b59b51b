"""How many windows the first answer to a dropped-in song needs: agreement of a budget's vote with the whole song's.

For every song, every window's genre probabilities are computed once (the
shipped bundle's predictor, ``Placer.segment_vectors``); then, for each budget
k, the genre voted by ``readout.budget_windows(n, k)`` is compared with the
genre voted by all the windows (``readout.voted_genre``). Printed per budget:
agreement on the real GTZAN tracks (whole 30 s clips: 5 windows) and on long
songs (the shared free-licence songs and a 4-minute song made of three of
them), and the GTZAN tracks' accuracy against their real genre, for the vote
and for the mean of the probabilities.

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
from pipeline.readout import budget_windows, voted_genre, window_votes  # noqa: E402

BUDGETS = (1, 2, 3, 4, 5, 6, 8)


def window_probabilities(placer: Placer, files: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """file name → (n_windows, n_labels) predictor probabilities, cached in ``cache`` (npz, no pickle)."""
    known = dict(np.load(cache, allow_pickle=False)) if cache.is_file() else {}
    sr = placer.spec.sample_rate
    for f in tqdm([f for f in files if str(f) not in known], desc="windows", unit="song"):
        try:
            y = load_audio(f, sr=sr, max_seconds=MAX_SECONDS)
        except AudioError as e:
            print(f"skipped {f.name}: {e}")
            continue
        seg, _ = placer.segment_vectors(y)
        known[str(f)] = seg["probabilities"]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **known)
    return {k: known[str(f)] for f in files if (k := str(f)) in known}


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


def agreement(probs: dict[str, np.ndarray], k: int) -> float:
    """Share of songs whose budget vote equals their whole vote."""
    same = []
    for p in probs.values():
        mean = p.mean(axis=0)
        whole = voted_genre(window_votes(p, p.shape[1]), mean)
        part = p[budget_windows(len(p), k)]
        same.append(voted_genre(window_votes(part, p.shape[1]), part.mean(axis=0)) == whole)
    return float(np.mean(same))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "gtzan"))
    ap.add_argument("--songs", default=str(REPO.parent / "shared" / "data" / "songs"))
    ap.add_argument("--cache", default=str(REPO / ".cache" / "bench" / "window_probabilities.npz"))
    args = ap.parse_args(argv)
    placer = Placer.from_path(args.bundle)
    labels = list(placer.labels)
    tracks = sorted(Path(args.data).glob("*/*.*"))
    songs = sorted(Path(args.songs).glob("*.ogg"))
    mix = long_song(Path(args.songs), Path(args.cache).parent / "three_songs_4min.flac")
    songs += [mix] if mix else []
    gtzan = window_probabilities(placer, tracks, Path(args.cache))
    long = window_probabilities(placer, songs, Path(args.cache))
    truth = {str(f): labels.index(f.parent.name) for f in tracks if f.parent.name in labels}
    vote_right = [voted_genre(window_votes(p, len(labels)), p.mean(0)) == truth[k] for k, p in gtzan.items()]
    mean_right = [int(np.argmax(p.mean(0))) == truth[k] for k, p in gtzan.items()]
    print(f"bundle {args.bundle}, predictor {placer.predictor.name}; {len(gtzan)} GTZAN tracks "
          f"(windows per track: {sorted({len(p) for p in gtzan.values()})}), {len(long)} long songs "
          f"({', '.join(f'{Path(k).stem} {len(p)}' for k, p in long.items())} windows)")
    print(f"GTZAN accuracy against the real genre (bundle tracks, seen in training): vote {np.mean(vote_right):.3f}, "
          f"mean probability {np.mean(mean_right):.3f}")
    print("| windows in the first answer | agrees with the whole song: GTZAN 30 s tracks | long songs |")
    print("|---|---|---|")
    for k in BUDGETS:
        print(f"| {k} | {agreement(gtzan, k):.3f} | {agreement(long, k):.3f} |")
    for k, p in long.items():
        votes = window_votes(p, len(labels))
        top = np.argsort(-votes)[:3]
        print(f"  {Path(k).stem}: " + ", ".join(f"{labels[i]} {votes[i]}" for i in top if votes[i]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
