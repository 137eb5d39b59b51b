"""What a bundle is on disk: its format's name and version, its files, and the hashes that seal them.

Layout of a bundle directory::

    bundle.json        format + version, config, labels, dataset, splits, metrics, file hashes
    model.safetensors  backbone + head weights (float16 where exact, else float32)
    model.onnx         the default network's graph for onnxruntime (placing songs needs no torch); its
                       weights are not copied: they point into model.safetensors (ONNX external data);
                       every other network's is ``<network>.onnx``
    predictor.safetensors  the genre predictor's arrays when it has any (a logistic probe's scaler and weights)
    tracks.csv         one row per track: id, genre, split, artist, title, path, prediction
    arrays.npz         embeddings (per track), maps, similarity matrices, probabilities,
                       spectrogram thumbnails, short audio previews (Ogg Vorbis bytes)

Only arrays, text and protobuf: ``np.load(..., allow_pickle=False)``, safetensors
and ONNX, so a bundle from anyone can be opened without running their code.
``bundle.json`` records each network's graph under ``onnx`` (network → file).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

FORMAT = "gtzan-genre-map"
FORMAT_VERSION = 3  # 2: bundle.json carries a hash of its own content; 3: model.onnx (serving without torch)
FILES = ("model.safetensors", "tracks.csv", "arrays.npz")  # always there; graphs (model.onnx) are listed in "files" too
WEIGHTS = "model.safetensors"
TRACK_COLUMNS = ("track_id", "genre", "split", "artist", "title", "path", "predicted", "confidence")
REQUIRED_META = ("format", "format_version", "config", "labels", "embeddings", "files", "metrics", "dataset")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def meta_hash(meta: dict) -> str:
    """Hash of bundle.json's content (all but this hash): an edited setting is refused, not obeyed."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()
