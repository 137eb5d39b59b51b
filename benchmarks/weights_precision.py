"""How much the shipped float16 weights change the networks' outputs against their float32 originals.

    python benchmarks/weights_precision.py [--clips 2] [--original ../shared/weights/mobilenet_v2_imagenet_float.pth]

MobileNetV2: backbone features ("immediate", 1280-d) of real GTZAN windows (the first ``--clips`` clips of every
genre, 10 s windows as the build makes them) with the shipped file vs the float32 original, and what the shipped
bundle's head makes of each (genre probabilities, predicted genre). MusiCNN: the variables themselves, and, when
``pipeline.networks.musicnn_net`` is present, its outputs on the reference inputs shipped beside the original.
Needs the float32 originals and the data (``../shared``); prints numbers, asserts nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.audio import load_audio  # noqa: E402
from pipeline.bundle import load_bundle  # noqa: E402
from pipeline.embed import backbone_features, head_taps, segment_images  # noqa: E402
from pipeline.networks.mobilenet_v2_net import Backbone, GenreHead, load_imagenet_backbone  # noqa: E402
from pipeline.networks.weights import SHIPPED, read_state_dict  # noqa: E402
from pipeline.spectrogram import SpectrogramConfig  # noqa: E402

SHARED = REPO.parent / "shared"


def report(name: str, shipped: np.ndarray, original: np.ndarray) -> None:
    """Max abs difference, relative to the largest original value, and the smallest row cosine."""
    d = np.abs(shipped - original)
    cos = (shipped * original).sum(1) / (np.linalg.norm(shipped, axis=1) * np.linalg.norm(original, axis=1) + 1e-12)
    print(f"  {name:12} max|diff| {d.max():.3g}  / max|original| {d.max() / np.abs(original).max():.2e}  "
          f"median |diff|/|original| {np.median(d / (np.abs(original) + 1e-6)):.2e}  min cosine {cos.min():.6f}")


def mobilenet(original: Path, clips_per_genre: int) -> None:
    cfg = SpectrogramConfig()
    clips = [p for g in sorted((SHARED / "data" / "gtzan").iterdir()) if g.is_dir()
             for p in sorted(g.iterdir())[:clips_per_genre]]
    images = np.concatenate([segment_images(load_audio(c, max_seconds=30), cfg)[0] for c in clips])
    feats = {}
    for label, weights in (("shipped", None), ("original", original)):
        b = Backbone()
        load_imagenet_backbone(b, weights)
        feats[label] = backbone_features(b, images)
    print(f"MobileNetV2: {len(images)} windows of {len(clips)} clips; "
          f"{SHIPPED['mobilenet_v2'].path.stat().st_size:,} B shipped vs {original.stat().st_size:,} B original")
    report("features", feats["shipped"], feats["original"])
    state = load_bundle(REPO / "assets" / "gtzan").state_dict()
    head = GenreHead(len(state["head.out.bias"]))
    head.load_state_dict({k[len("head."):]: v for k, v in state.items() if k.startswith("head.")})
    probs = {k: head_taps(head, v)["probabilities"] for k, v in feats.items()}
    report("probability", probs["shipped"], probs["original"])
    same = (probs["shipped"].argmax(1) == probs["original"].argmax(1)).mean()
    print(f"  the shipped bundle's head predicts the same genre for {same:.1%} of windows")


def musicnn() -> None:
    original_path = SHARED / "weights" / "musicnn" / "msd_musicnn.safetensors"
    shipped, original = read_state_dict(SHIPPED["musicnn"].path), read_state_dict(original_path)
    worst = max(original, key=lambda k: ((shipped[k] - original[k]).abs().max() / original[k].abs().max()).item())
    rel = ((shipped[worst] - original[worst]).abs().max() / original[worst].abs().max()).item()
    print(f"MusiCNN: {SHIPPED['musicnn'].path.stat().st_size:,} B shipped vs {original_path.stat().st_size:,} B "
          f"original; largest variable-wise max|diff|/max|value| {rel:.2e} ({worst})")
    try:
        from pipeline.networks.musicnn_net import load_musicnn
    except ImportError:
        print("  (pipeline.networks.musicnn_net not present: outputs not compared)")
        return
    ref = np.load(original_path.with_name("reference_outputs.npz"))
    nets = {"shipped": load_musicnn(SHIPPED["musicnn"].path), "original": load_musicnn(original_path)}
    with torch.no_grad():
        for c in range(3):
            x = torch.from_numpy(ref[f"clip{c}_input"].astype(np.float32))
            out = {k: {o: v.numpy() for o, v in n(x).items()} for k, n in nets.items()}
            for o in ("mean_pool", "max_pool", "penultimate", "logits"):
                report(f"clip{c} {o}", out["shipped"][o], out["original"][o])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=2, help="clips per genre (default 2)")
    p.add_argument("--original", type=Path, default=SHARED / "weights" / "mobilenet_v2_imagenet_float.pth")
    args = p.parse_args()
    torch.set_num_threads(1)
    mobilenet(args.original, args.clips)
    musicnn()


if __name__ == "__main__":
    main()
