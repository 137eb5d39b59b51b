"""The build's per-track work on a Ray cluster: a pool of actors, each holding its own ONNX sessions.

The only module that imports Ray (``pip install -r requirements-ray.txt``).
The cluster is Ray's usual ``RAY_ADDRESS`` (an existing cluster); without it
``ray.init`` starts a local one on this machine. The ``pipeline`` package
travels to the workers with the job (``runtime_env`` ``py_modules``); its
dependencies (requirements.txt) must be installed on every node, and the
audio files must be readable at the same paths there (a shared disk or
object storage mounted on the nodes).

Why actors and ``ray.util.ActorPool`` rather than Ray Data's ``map_batches``:
each actor opens the networks' ONNX sessions once and reuses them for every
track it is given; results (a few hundred kB per track) come back to the
driver, which writes each track's cache entry as it arrives, so an interrupted
run resumes from exactly what was written; and a track's rows are ragged
(windows and patches per track vary), which plain Python objects carry as they
are, while Ray Data would turn them into Arrow blocks and needs ``ray[data]``'s
extra dependencies.
"""
from __future__ import annotations

import os
from pathlib import Path

import ray
from ray.util import ActorPool


@ray.remote(num_cpus=1)
class TrackActor:
    """One worker process: a ``stream.TrackWork`` with one onnxruntime thread per session."""

    def __init__(self, work):
        for part in work.parts.values():
            part.threads = 1  # one CPU per actor: parallelism comes from the actors
        self.work = work

    def run(self, index, track, names):
        return index, self.work(track, names)


def start_ray() -> None:
    """Connect to ``RAY_ADDRESS`` or start a local cluster, shipping this package to its workers."""
    if ray.is_initialized():
        return
    package = str(Path(__file__).resolve().parent)
    ray.init(address=os.environ.get("RAY_ADDRESS"), runtime_env={"py_modules": [package]},
             log_to_driver=False, include_dashboard=False)


def ray_map(work, todo, progress: bool = True, workers: int = 0):
    """(index, result) of every (index, track, names) in ``todo``, as the actors finish them.

    ``workers`` actors (0: one per CPU the cluster has); the driver keeps only
    the results not yet written, because it writes each as it arrives.
    """
    from tqdm.auto import tqdm

    start_ray()
    n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    work_ref = ray.put(work)
    actors = [TrackActor.remote(work_ref) for _ in range(min(n, len(todo)) or 1)]
    try:
        results = ActorPool(actors).map_unordered(lambda actor, item: actor.run.remote(*item), todo)
        yield from tqdm(results, total=len(todo), desc=f"tracks on Ray ({len(actors)} workers)", unit="track",
                        disable=not progress)
    finally:
        for actor in actors:
            ray.kill(actor)
