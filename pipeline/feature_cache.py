"""Features cached on disk, one ``.npz`` per key, so a re-run after an interruption continues from them.

``build`` keys them on the data files and the config (``build._cache_key``), the experiments on the
decoded audio and the code that made them; a different key never reuses them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def cached_features(key: str, cache_dir: Path, compute) -> dict:
    """Load features saved under ``key`` or compute and save them (atomic replace)."""
    path = cache_dir / f"features-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:
            path.unlink(missing_ok=True)  # a damaged cache is recomputed, never trusted
    feats = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
    np.savez(tmp, **feats)
    os.replace(tmp, path)
    return feats
