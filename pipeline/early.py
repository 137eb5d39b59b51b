"""A recording's network work done while it is still being recorded, for its placement to take.

A recording from the room reaches the server in parts while it is recorded
(``explorer.recorder``). Most of its first answer's cost is network inputs
whose samples were heard seconds before "Stop" (a music network's 3 s patches:
~30 ms each on one core), so ``EarlyInputs`` computes every input whose
samples have all arrived (its ``ends_s`` and ``EDGE_S`` of margin), as they
arrive. The placement then takes an early input's outputs only where the whole
recording gives the very same input (``Song.adopt``: equal arrays, compared
after the stop), so its answer is the one an upload of the same WAV gets.
"""
from __future__ import annotations

import numpy as np

from .serve import OUTPUTS

# The input's samples end this long before the newest sample: the resampler's (soxr HQ) and the STFT's reach
# near the end of the signal so far (measured: a patch that ends 0.4 s before the cut is already bit-equal).
EDGE_S = 0.25


class EarlyInputs:
    """A recording's network inputs and outputs, computed part by part while it is recorded.

    Parameters
    ----------
    placer : pipeline.place.Placer (its networks and sample rate).
    """

    def __init__(self, placer):
        self.placer = placer
        self.y = np.zeros(0, dtype=np.float32)  # the samples so far
        # per network: {input index: (its input, {output name: its row})}
        self.known: list[dict[int, tuple[np.ndarray, dict]]] = [{} for _ in placer.networks]

    def extend(self, samples: np.ndarray) -> int:
        """Append the next samples (the bundle's rate, float32) and run every input that is now complete;
        the number of inputs computed."""
        y = self.y = np.concatenate([self.y, np.asarray(samples, dtype=np.float32)])
        heard_s = len(y) / self.placer.spec.sample_rate - EDGE_S
        ran = 0
        for network, known in zip(self.placer.networks, self.known):
            inputs = network.song_inputs(y) if network.song_inputs is not None else None
            if inputs is None or getattr(inputs, "ends_s", None) is None:
                continue
            todo = np.array([i for i in np.flatnonzero(inputs.ends_s <= heard_s) if i not in known], dtype=np.int64)
            if len(todo):
                x, _ = inputs.at(todo)
                out = network.graph.run(x)
                for row, i in enumerate(todo.tolist()):
                    known[i] = (x[row], {k: out[k][row] for k in OUTPUTS})
                ran += len(todo)
        return ran

    @property
    def n_samples(self) -> int:
        """How many samples have arrived (where the next part starts)."""
        return len(self.y)

    def stop(self) -> None:
        """The recording ended: drop its samples (the outputs stay, for its placement)."""
        self.y = self.y[:0]

    def computed(self) -> int:
        """How many network inputs are computed so far (every network)."""
        return sum(len(k) for k in self.known)
