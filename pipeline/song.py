"""A decoded song, placed window by window: a first answer from a few windows, the rest later, nothing twice.

A whole song is many 10 s windows, and running the networks on all of them
is what makes a 4-minute song slow. ``Song`` splits the work so a first
answer does not wait for it:

1. ``prepare`` runs each network's front end on the whole signal (a few
   hundredths of a second per minute of music: one STFT per network), or,
   with ``whole=False``, only finds where the windows and inputs are: each
   task then computes its own inputs (its network's ``song_inputs``), and
   ``complete_tasks`` runs the whole front ends later, for the rest;
2. ``tasks(windows)`` are small pieces of network work (at most
   ``MAX_INPUTS`` network inputs each) that compute what those windows need
   and is not computed yet; run them inline (``compute``) or on any pool;
3. ``placement(windows)`` is the song as those windows hear it: their mean
   vectors placed on every map, their genre and each window's, their path.

A long file can come decoded only where its first answer listens (``PartSignal``,
``Placer.open_file(whole=False)``): the signal is zero elsewhere until
``complete_tasks`` decodes the whole file, first of all.

The app prepares with ``whole=False``, asks for ``first_windows()``
(``readout.FIRST_WINDOWS`` spread over the song), shows that placement at
once, and computes the rest in the background; the windows already placed keep their positions (a new point on a
map depends only on its own vector: ``project.place_points``). ``Placer.place_audio``
is the same steps on every window at once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .audio import AudioError
from .placement import Placement
from .readout import FIRST_WINDOWS, budget_windows, window_votes
from .serve import OUTPUTS
from .spectrogram import sounding_windows, thumbnail_from_power, window_starts

MAX_INPUTS = 6  # network inputs per task: ~0.2 s of the slowest network on one core, so a queue moves in small steps
SILENT = "silent: the clip has no sound to place"
QUIET_PEAK = 1e-3  # -60 dBFS: a recording whose loudest sample is below this heard nothing (a muted microphone)
QUIET = "silent: nothing louder than -60 dBFS was heard, nothing to place (is the microphone on?)"
# How far a network's input reaches outside the window it is pooled into: a 3 s patch centred inside its window
# starts up to 1.5 s before it (tests check every registered network against it).
INPUT_REACH_S = 2.0
SAME_SAMPLES = 1e-4  # -80 dBFS: a first answer's stretch further from the whole decode is computed again


@dataclass(frozen=True)
class PartSignal:
    """A long file decoded only where its first answer listens (``first_spans``): the signal is zero elsewhere.

    windows : the windows whose samples (and their inputs' reach) are decoded.
    spans : those samples, (start, stop) at the bundle's rate.
    decode_whole : decodes the whole signal (the path needs every window).
    """

    windows: np.ndarray
    spans: list
    decode_whole: Callable[[], np.ndarray]


def first_spans(n_samples: int, spec, k: int = FIRST_WINDOWS) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The windows a first answer of a ``n_samples`` signal hears if every window sounds, and the samples
    (start, stop) their inputs need (the window and ``INPUT_REACH_S`` on either side)."""
    starts = window_starts(n_samples, spec)
    windows = budget_windows(len(starts), k)
    seg = int(round(spec.segment_seconds * spec.sample_rate))
    reach = int(round(INPUT_REACH_S * spec.sample_rate))
    return windows, [(max(0, int(starts[i]) - reach), min(n_samples, int(starts[i]) + seg + reach))
                     for i in windows]


class NetworkWork:
    """One network's inputs of a song and its graph's outputs, computed input by input.

    ``whole``: run the network's front end on the whole song now (every input
    at once); else inputs are computed on demand, a task's own
    (``Network.song_inputs``), until ``complete`` runs the whole front end for the rest.
    """

    def __init__(self, network, y: np.ndarray, whole: bool = True):
        self.network, self.windows, self.source = network, None, None
        if whole or network.song_inputs is None:
            self.windows = network.front_end(y)  # place.Windows
            layout = self.windows
        else:
            self.source = layout = network.song_inputs(y)  # the network module's song_inputs
        self.starts_s, self.pool = layout.starts_s, layout.pool
        self.n_inputs = len(self.windows.inputs) if self.windows is not None else layout.n_inputs
        dims = {o.name: o.shape[-1] for o in network.graph.session.get_outputs()}
        self.outputs = {k: np.zeros((self.n_inputs, dims[k]), dtype=np.float32) for k in OUTPUTS}
        self.done = np.zeros(self.n_inputs, dtype=bool)
        self._none: dict[int, np.ndarray] = {}  # input → its "none" row, for inputs computed on demand

    def complete(self, y: np.ndarray) -> None:
        """The whole song's front end, for the inputs not computed yet (and the thumbnail's mel power)."""
        if self.windows is None:
            self.windows = self.network.front_end(y)

    def inputs_of(self, window_idx: np.ndarray) -> np.ndarray:
        """The network inputs these windows are made of (themselves, or the patches they average)."""
        if self.pool is None:
            return np.asarray(window_idx, dtype=np.int64)
        return np.flatnonzero(self.pool[window_idx].any(axis=0))

    def run(self, input_idx: np.ndarray) -> None:
        """Run the graph on these inputs and keep the rows (tasks touch disjoint rows: no lock)."""
        if self.windows is not None:
            x = self.windows.inputs[input_idx]
        else:
            x, none = self.source.at(input_idx)
            self._none.update(zip(input_idx.tolist(), none))
        self._keep(input_idx, self.network.graph.run(x))

    def _keep(self, input_idx: np.ndarray, out: dict) -> None:
        """Keep these inputs' graph outputs (``{output name: (n, dim)}``): they are computed."""
        for k in OUTPUTS:
            self.outputs[k][input_idx] = out[k]
        self.done[input_idx] = True

    def adopt(self, known: dict) -> int:
        """Take early outputs (``pipeline.early``: input index → (input, outputs)) of the inputs this song
        computes to the very same array; how many were taken."""
        if self.source is None:
            return 0
        idx = np.array(sorted(i for i in known if i < self.n_inputs and not self.done[i]), dtype=np.int64)
        if not len(idx):
            return 0
        x, none = self.source.at(idx)
        same = np.array([np.array_equal(x[r], known[i][0]) for r, i in enumerate(idx.tolist())], dtype=bool)
        taken = idx[same]
        if len(taken):
            self._none.update(zip(taken.tolist(), none[same]))
            self._keep(taken, {k: np.stack([known[i][1][k] for i in taken.tolist()]) for k in OUTPUTS})
        return len(taken)

    def forget(self, window_idx: np.ndarray) -> None:
        """Compute these windows' inputs again (their samples changed)."""
        self.done[self.inputs_of(window_idx)] = False

    def ready(self) -> np.ndarray:
        """(n_windows,) whether each window's inputs are all computed."""
        if self.pool is None:
            return self.done.copy()
        return ~((self.pool > 0) & ~self.done[None, :]).any(axis=1)

    def window_none(self, window_idx: np.ndarray) -> np.ndarray:
        """The "none" layer of these (computed) windows."""
        if self.windows is not None:
            return self.windows.none[window_idx]
        if self.pool is None:
            return np.stack([self._none[i] for i in window_idx])
        return np.stack([sum(self.pool[w, j] * self._none[j] for j in np.flatnonzero(self.pool[w]))
                         for w in window_idx]).astype(np.float32)

    def window_rows(self, window_idx: np.ndarray) -> tuple[dict, np.ndarray]:
        """({embedding key: (n, dim)}, head probabilities (n, labels)) of these windows."""
        if self.pool is None:
            out = {k: v[window_idx] for k, v in self.outputs.items()}
        else:  # each window is the mean of its patches
            out = {k: self.pool[window_idx] @ v for k, v in self.outputs.items()}
        key = self.network.key
        vectors = {key("none"): self.window_none(window_idx), **{key(t): out[t] for t in OUTPUTS[:-1]}}
        return vectors, out["probabilities"]

    def release(self) -> None:
        """Drop the network inputs (the outputs and "none" rows stay)."""
        self.source = None
        if self.windows is not None:
            self.windows = replace(self.windows, inputs=self.windows.inputs[:0])


class Song:
    """A decoded 22 050 Hz mono signal to place on a ``Placer``'s maps, window by window.

    Parameters
    ----------
    placer : pipeline.place.Placer
    y : the signal (``audio.load_audio``).
    name : shown as the song's name.
    file_duration_s : the whole file's length when ``y`` is only its start.
    part : set when ``y`` holds only a first answer's stretches; ``complete_tasks`` decodes the rest.
    """

    def __init__(self, placer, y: np.ndarray, name: str, file_duration_s: float | None = None,
                 part: PartSignal | None = None):
        peak = float(np.max(np.abs(y))) if len(y) else 0.0
        if peak < QUIET_PEAK:  # no direction on a cosine map (digital silence), or only the hiss of a quiet room
            raise AudioError(SILENT if peak == 0.0 else QUIET)
        self.placer, self.y, self.name, self.file_duration_s, self.part = placer, y, name, file_duration_s, part
        self.duration_s = round(len(y) / placer.spec.sample_rate, 3)
        self.work: list[NetworkWork | None] = [None] * len(placer.networks)
        self._positions: dict[str, np.ndarray] = {}  # embedding → (n_windows, 2), NaN until placed
        self._thumbnail_image = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ front ends
    def prepare_tasks(self, whole: bool = True) -> list[Callable[[], None]]:
        """One task per network: its front end on the whole song, or (``whole=False``) only where its windows
        and inputs are, their inputs computed by the tasks that need them (run these before anything else)."""
        return [lambda i=i: self._prepare(i, whole) for i in range(len(self.work)) if self.work[i] is None]

    def _prepare(self, i: int, whole: bool) -> None:
        self.work[i] = NetworkWork(self.placer.networks[i], self.y, whole)

    def prepare(self, pool=None, whole: bool = True) -> None:
        """Run ``prepare_tasks`` (here, or on ``pool``) and check that the networks agree on the windows."""
        _run(self.prepare_tasks(whole), pool)
        starts = [len(w.starts_s) for w in self.work]
        if len(set(starts)) > 1:
            raise ValueError(f"the networks' front ends give {starts} windows")
        self.starts_s = self.work[0].starts_s
        self.n_windows = len(self.starts_s)
        self._sounding = sounding_windows(self.y, self.placer.spec)
        if self.part is not None:  # only the decoded windows can be heard yet
            self._sounding &= np.isin(np.arange(self.n_windows), self.part.windows)

    def adopt(self, early) -> int:
        """Take what ``early`` (``pipeline.early.EarlyInputs``: this recording, computed while it was recorded)
        computed to the very inputs this song has (after ``prepare(whole=False)``); how many inputs were taken."""
        return sum(w.adopt(known) for w, known in zip(self.work, early.known))

    def complete_tasks(self) -> list[Callable[[], None]]:
        """The whole song's front ends where only a first answer's inputs were computed (cheaper per input);
        first the whole file's decoding where only the first answer's stretches were decoded."""
        if self.part is not None:  # every front end then runs again, on the whole signal
            return [self._decode_whole] + [lambda w=w: w.complete(self.y) for w in self.work]
        return [lambda w=w: w.complete(self.y) for w in self.work if w.windows is None]

    def _decode_whole(self) -> None:
        """The whole signal in place of the first answer's stretches; a window whose stretch differs from
        the whole decode's (float rounding aside) is computed again."""
        y = self.part.decode_whole()[: len(self.y)]
        y = np.pad(y, (0, len(self.y) - len(y)))  # the header's length laid out the windows: keep it
        changed = np.array([w for w, (a, b) in zip(self.part.windows, self.part.spans)
                            if np.max(np.abs(y[a:b] - self.y[a:b]), initial=0.0) > SAME_SAMPLES], dtype=np.int64)
        self.y, self.part = y, None
        self._sounding = sounding_windows(y, self.placer.spec)
        for w in self.work:
            w.windows = None  # a front end that ran on the stretches alone
            w.forget(changed)
        with self._lock:
            for positions in self._positions.values():
                positions[changed] = np.nan

    def release(self) -> None:
        """Drop the signal and the network inputs once every window is computed (placing still works)."""
        self.y = None
        for w in self.work:
            w.release()

    # ------------------------------------------------------------ network work
    def first_windows(self, k: int = FIRST_WINDOWS) -> np.ndarray:
        """``k`` sounding windows spread over the song (its first answer); AudioError if none sounds."""
        sounding = np.flatnonzero(self._sounding)
        if not len(sounding):  # every window's spectrogram is empty: no direction on a cosine map
            raise AudioError(SILENT)
        return sounding[budget_windows(len(sounding), k)]

    def all_windows(self) -> np.ndarray:
        return np.arange(self.n_windows)

    def tasks(self, window_idx: np.ndarray, max_inputs: int = MAX_INPUTS) -> list[Callable[[], None]]:
        """Tasks that compute every input these windows need and no task has computed (or will)."""
        out = []
        for w in self.work:
            todo = w.inputs_of(window_idx)
            todo = todo[~w.done[todo]]
            out += [lambda w=w, part=part: w.run(part)
                    for part in np.array_split(todo, max(1, -(-len(todo) // max_inputs))) if len(part)]
        return out

    def compute(self, window_idx: np.ndarray, pool=None) -> None:
        """Run ``tasks(window_idx)`` here, or on ``pool`` (an executor) and wait."""
        _run(self.tasks(window_idx), pool)

    def window_rows(self, window_idx: np.ndarray) -> tuple[dict, dict]:
        """({embedding key: (n, dim)} of every network, {network: head probabilities (n, labels)}) of windows."""
        vectors, head = {}, {}
        for w in self.work:
            v, head[w.network.name] = w.window_rows(window_idx)
            vectors.update(v)
        return vectors, head

    def computed(self) -> int:
        """How many windows have every input computed (for progress: "12 of 42 windows")."""
        return int(np.all([w.ready() for w in self.work], axis=0).sum())

    # ------------------------------------------------------------ placing what is computed
    def placement(self, window_idx: np.ndarray):
        """The song as these (computed) windows hear it: a ``Placement`` with their path.

        The song's vectors are the mean of these windows' (a bundle track's are
        the mean of its windows too); its genre is the bundle's predictor on them,
        and ``votes`` count the genre each sounding window gets (``readout``).
        Windows already placed keep their positions.
        """
        window_idx = np.sort(np.asarray(window_idx, dtype=np.int64))
        vectors, head = self.window_rows(window_idx)
        mean = {k: v.mean(axis=0, dtype=np.float64).astype(np.float32) for k, v in vectors.items()}
        if not np.any(mean[self.placer.predictor.key("none")]):
            raise AudioError(SILENT)
        probs, window_probs = self.placer.probabilities(vectors, head, mean)
        # a window that sounds and whose images are not empty (an empty one points nowhere on a cosine map)
        heard = self._sounding[window_idx] & np.all(
            [np.any(vectors[w.network.key("none")], axis=1) for w in self.work], axis=0)
        sounding = window_idx[heard]
        labels = self.placer.labels
        votes = window_votes(window_probs[heard], len(labels))
        maps = self._place(mean, vectors, window_idx, sounding)
        return Placement(
            file=self.name, genre=labels[int(np.argmax(probs))],
            probabilities={g: float(p) for g, p in zip(labels, probs)}, maps=maps,
            duration_s=self.duration_s, n_segments=self.n_windows, vectors=mean,
            thumbnail=self._thumbnail(), file_duration_s=self.file_duration_s,
            votes={g: int(n) for g, n in zip(labels, votes) if n},
            trajectory=self._trajectory(window_idx, sounding, window_probs),
        )

    def _place(self, mean: dict, vectors: dict, window_idx: np.ndarray, sounding: np.ndarray) -> dict:
        """Every map's position and neighbours of the song; its sounding windows' positions (once each)."""
        keys = self.placer.embeddings
        with self._lock:
            for e in keys:
                self._positions.setdefault(e, np.full((self.n_windows, 2), np.nan))
            new = sounding[np.isnan(self._positions[keys[0]][sounding, 0])]
            rows = np.searchsorted(window_idx, new)
            points, near = self.placer.project({e: np.vstack([mean[e][None], vectors[e][rows]]) for e in keys})
            for e in keys:
                self._positions[e][new] = points[e][1:]
        return {e: {"x": float(points[e][0, 0]), "y": float(points[e][0, 1]),
                    "neighbours": self.placer.neighbour_records(*near[e])} for e in keys}

    def _trajectory(self, window_idx: np.ndarray, sounding: np.ndarray, window_probs: np.ndarray) -> list:
        """Per sounding window: start, end, its genre and confidence, its position on every map."""
        seg_len, labels = self.placer.spec.segment_seconds, self.placer.labels
        rows = np.searchsorted(window_idx, sounding)
        return [
            {"start_s": round(float(self.starts_s[i]), 3),
             "end_s": round(float(min(self.starts_s[i] + seg_len, self.duration_s)), 3),
             "genre": labels[int(np.argmax(window_probs[r]))], "confidence": float(np.max(window_probs[r])),
             "maps": {e: {"x": float(p[i, 0]), "y": float(p[i, 1])} for e, p in self._positions.items()}}
            for i, r in zip(sounding, rows)
        ]

    def _thumbnail(self) -> np.ndarray | None:
        """The whole song's log-mel thumbnail (from the front end's mel power), made once."""
        power = next((w.windows.power for w in self.work if w.windows is not None and w.windows.power is not None),
                     None)  # a first answer has no whole-song front end yet: its thumbnail comes with the path
        if self._thumbnail_image is None and power is not None:
            self._thumbnail_image = thumbnail_from_power(power, self.placer.spec)
        return self._thumbnail_image


def _run(tasks: list, pool=None) -> None:
    """Run tasks here, one after the other, or on an executor and wait for them all."""
    if pool is None:
        for task in tasks:
            task()
        return
    for future in [pool.submit(task) for task in tasks]:
        future.result()
