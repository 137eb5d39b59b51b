"""Where the build's per-track work runs: in this process, or on a Ray cluster (``--executor ray``).

Both take a ``stream.TrackWork`` and a list of (index, track, part names) and
yield (index, result) as tracks finish. Ray is imported only when it is
asked for: ``pipeline.ray_executor`` is the one module that imports it.
"""
from __future__ import annotations

EXECUTORS = ("local", "ray")


def local_map(work, todo, progress: bool = True):
    """One track at a time in this process (onnxruntime uses every core on each track)."""
    from tqdm.auto import tqdm

    for index, track, names in tqdm(todo, desc="decode + features + previews", unit="track", disable=not progress):
        yield index, work(track, names)


def executor_map(name: str, workers: int = 0):
    """The ``run_map`` of executor ``name``; ``workers`` bounds Ray's actors (0: one per CPU of the cluster)."""
    if name == "local":
        return local_map
    if name == "ray":
        from functools import partial

        from .ray_executor import ray_map

        return partial(ray_map, workers=workers)
    raise ValueError(f"unknown executor {name!r}: choose one of {list(EXECUTORS)}")
