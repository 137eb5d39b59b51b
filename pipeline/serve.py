"""Run a bundle's network in onnxruntime: placing songs needs no torch.

``build`` writes each network as an ONNX graph (``pipeline.export``) with one
input, a batch of network inputs, and one output per tap. Every network a
bundle holds uses the same output names, so the placement code reads them the
same way whatever the network.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

INPUT = "images"  # (batch, n_mels, frames) float32 in [0, 1] for the image networks; each network documents its own
OUTPUTS = ("immediate", "deep", "shallow", "probabilities")  # the taps (networks.LAYERS but "none") + the softmax
THREADS_VAR = "GENRE_MAP_THREADS"


def default_threads(environ=None) -> int:
    """onnxruntime threads per placement: $GENRE_MAP_THREADS, else 1.

    One thread: a server shares its cores between sessions (and other programs);
    a second thread per run gains little on 5 windows and costs a lot under load.
    """
    environ = os.environ if environ is None else environ
    try:
        return max(1, int(environ.get(THREADS_VAR) or 1))
    except ValueError:
        return 1


def limit_blas_threads(n: int) -> None:
    """numpy's BLAS on ``n`` threads, process-wide (threadpoolctl; a no-op without it).

    A placement's matrix products are small (a few rows against the collection):
    OpenBLAS's worker threads cost far more than they gain, most of all on shared
    cores (measured: 15× the CPU time of one thread for the similarity searches
    of a 30 s song, at load 11 on 2 cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=max(1, int(n)), user_api="blas")


class OnnxNetwork:
    """An onnxruntime session on one graph with named outputs; ``run`` is safe to call from several threads.

    Parameters
    ----------
    path : the graph file (its external weights are read from beside it), or
        a serialised graph with its weights inside (the build's check).
    threads : intra-op threads (``default_threads()`` when None).
    batch_size : inputs per run. One: onnxruntime's arena keeps the largest run's activations for the
        life of the session, and one input per run is no slower on one thread (measured on a 30 s clip,
        interleaved: the music network's 10 patches 0.96×, the paper's network's 5 windows 0.88× the time at 4
        per run) while the memory kept after a placement drops from 159 to 46 MB (music network) and 49 to 15 MB.
    """

    def __init__(self, path: str | Path | bytes, threads: int | None = None, batch_size: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no warnings on a user's terminal
        source = path if isinstance(path, bytes) else str(path)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [INPUT] or sorted(outputs) != sorted(OUTPUTS):
            name = "the graph" if isinstance(path, bytes) else Path(path).name
            raise ValueError(f"{name} has inputs {inputs} and outputs {outputs}; "
                             f"expected [{INPUT!r}] and {list(OUTPUTS)}")

    def run(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every output for a batch of inputs, (n, dim) float32 each, in ``batch_size`` pieces."""
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        parts = [self.session.run(list(OUTPUTS), {INPUT: inputs[i : i + self.batch_size]})
                 for i in range(0, len(inputs), self.batch_size)]
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(OUTPUTS)}
