"""Songs dropped in by every session, placed on the server's cores: a first answer now, the whole path after.

No Streamlit here. One ``Placing`` per server process (``state.get_placing``)
holds two sets of threads that every session shares:

- **first answers**: one thread per core. A new song's front ends and its
  budget of windows (``Song.first_windows``) are cut into small tasks, so an
  idle server runs them on every core at once, and songs that arrive
  together are answered in the order they came (``ahead`` says how many
  wait before a song, for the page to show);
- **paths**: one thread at a lower OS priority, so the pages' reruns and
  first answers go first; between two pieces of work it also waits for the
  pages that are running (``yield_to_pages``). It computes the rest of each
  song's windows, one song after the other, then places the whole song
  (``SongJob.final``).

onnxruntime and numpy's large operations release the GIL, so the threads
really do share the cores; but each such call must take the GIL back, behind the
pages' runs (``share_the_interpreter``).
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

WAIT_STEP_S = 0.25  # how often a waiting first answer says where it is in the queue
PAGE_THREAD = "ScriptRunner.scriptThread"  # Streamlit's thread of a page's run (alive while it runs)
YIELD_STEP_S, YIELD_MAX_S = 0.01, 1.0  # a path waits in these steps for pages' runs, at most this long a task
# A path starts this long after its page's run: a browser on the server's machine (a teacher's laptop) draws the
# first answer meanwhile, and a nice value does not hold a thread back from another process's (Linux autogroups).
FIRST_DRAW_S = 0.3
# A first answer's network inputs per task: small tasks share the cores evenly (a 4-minute song's 4 + 15 inputs:
# 0.35 s in tasks of 6 on 2 cores, 0.26 s in tasks of 2; a task's cost is linear in its inputs).
FIRST_TASK_INPUTS = 2


# How long a thread holding the GIL keeps it when another thread asks (Python's default: 5 ms). A first answer
# makes hundreds of native calls (onnxruntime, numpy) that give the GIL up and must take it back; behind pages'
# runs, each waits up to this long. Measured (in one process, a 30 s clip's first answer while 3 threads run
# Python): 5 ms 7.7-10.1 s, 1 ms 2.6-2.9 s, 0.5 ms 1.6-1.8 s (alone: 0.26 s); the Python threads lost 5 % of
# their speed at 1 ms, 12 % at 0.5 ms.
SWITCH_INTERVAL_S = 0.001


def share_the_interpreter() -> None:
    """Let the placing threads take the GIL back sooner from the pages' runs (``SWITCH_INTERVAL_S``)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def lower_priority() -> None:
    """This thread yields the CPU to the server's other threads (Linux: threads are tasks)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def pages_running() -> bool:
    """Whether any session's page is being run now (a rerun, a fragment)."""
    return any(t.name == PAGE_THREAD for t in threading.enumerate())


def yield_to_pages(running=pages_running) -> float:
    """Wait while pages run (at most ``YIELD_MAX_S``); the seconds waited.

    The path thread's nice value orders it only against threads of the same
    process group (Linux autogroups), and it shares Python's lock with the
    pages' runs whatever its priority. So a path lets the pages' runs finish
    first between two tasks; the bound keeps it moving when pages never stop
    running (a full class). Measured: a layer switch during a 4-minute song's
    path went from 0.38 s to 0.35 s (bench_app.py).
    """
    waited = 0.0
    while waited < YIELD_MAX_S and running():
        time.sleep(YIELD_STEP_S)
        waited += YIELD_STEP_S
    return waited


@dataclass
class SongJob:
    """One song's placement: its first answer, and the whole song computed in the background."""

    song: object  # pipeline.song.Song
    first: object  # pipeline.placement.Placement of the first windows
    final: Future  # → Placement of every window
    cancelled: threading.Event = field(default_factory=threading.Event)
    waited_s: float = 0.0  # the first answer's time in the queue, behind other songs
    cpu_s: float = 0.0  # CPU seconds the first answer used (decoding, front ends, networks), on every thread
    early_inputs: int = 0  # network inputs taken from the work done while a recording was recorded

    def progress(self) -> tuple[int, int]:
        """(windows computed, windows in the song)."""
        return self.song.computed(), self.song.n_windows

    def cancel(self) -> None:
        """Stop computing the path (the song was removed): its remaining tasks are skipped."""
        self.cancelled.set()
        self.final.cancel()


class Placing:
    """The shared threads that place every session's songs.

    Parameters
    ----------
    workers : threads for first answers (default: one per core).
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._first = ThreadPoolExecutor(self.workers, "first-answer")
        self._paths = ThreadPoolExecutor(1, "song-path", initializer=lower_priority)
        self._order = itertools.count()
        self._waiting: dict[int, int] = {}  # arrival number → its first answer's tasks not finished yet
        self._lock = threading.Lock()

    def ahead(self, number: int) -> int:
        """How many songs that arrived before song ``number`` still wait for their first answer."""
        with self._lock:
            return sum(1 for n in self._waiting if n < number)

    def _run_first(self, number: int, tasks: list, progress=None) -> tuple[float, float]:
        """Run tasks on the first-answer threads; while they wait, tell ``progress`` how many songs are ahead.

        Returns (seconds before the first task started, CPU seconds the tasks used).
        """
        with self._lock:
            self._waiting[number] = self._waiting.get(number, 0) + len(tasks)
        submitted, started, cpu = time.perf_counter(), [], []
        futures = [self._first.submit(self._finish_one, number, t, started, cpu) for t in tasks]
        pending = futures
        while pending:
            done, pending = wait(pending, timeout=WAIT_STEP_S, return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in done):
                break
            if pending and progress is not None:
                progress(self.ahead(number))
        with self._lock:  # on a failure, what did not run must not hold up the songs after this one
            self._waiting.pop(number, None)
        for f in futures:
            f.cancel()
            if f.done() and not f.cancelled() and f.exception():
                raise f.exception()
        return (min(started) - submitted if started else 0.0), sum(cpu)

    def _finish_one(self, number: int, task, started: list, cpu: list) -> None:
        started.append(time.perf_counter())
        t0 = time.thread_time()
        try:
            task()
        finally:
            cpu.append(time.thread_time() - t0)
            with self._lock:
                if number in self._waiting:
                    self._waiting[number] -= 1
                    if self._waiting[number] <= 0:
                        del self._waiting[number]

    def start(self, placer, source, filename: str, max_bytes: int | None = None, progress=None,
              min_seconds: float | None = None, early=None) -> SongJob:
        """Decode a file (here), give its first answer (on the shared threads) and queue the rest.

        Raises AudioError for what cannot be placed. ``progress(n)`` is called while
        ``n`` songs are ahead of this one; ``min_seconds``: refuse shorter audio; ``early``: a recording's
        inputs computed while it was recorded (``pipeline.early.EarlyInputs``), taken where they are the same.
        """
        number = next(self._order)
        shortest = {} if min_seconds is None else {"min_seconds": min_seconds}
        cpu0 = time.thread_time()
        song = placer.open_file(source, filename, max_bytes, prepare=False, whole=False, **shortest)
        steps = [self._run_first(number, song.prepare_tasks(whole=False), progress)]  # where the inputs are
        song.prepare(whole=False)
        taken = song.adopt(early) if early is not None else 0
        first = song.first_windows()
        steps.append(self._run_first(number, song.tasks(first, FIRST_TASK_INPUTS), progress))
        job = SongJob(song, song.placement(first), Future(), waited_s=sum(w for w, _ in steps),
                      cpu_s=time.thread_time() - cpu0 + sum(c for _, c in steps), early_inputs=taken)
        if song.computed() == song.n_windows:  # a short clip: the first answer heard all of it
            job.final.set_result(job.first)
            song.release()
        else:
            job.final = self._paths.submit(self._whole_song, job)
        return job

    @staticmethod
    def _whole_song(job: SongJob):
        """Every window, one task after the other (the song may be removed meanwhile), then the whole song."""
        song = job.song
        yield_to_pages()  # the page that asked for the song is still showing its first answer…
        time.sleep(FIRST_DRAW_S)  # …and a browser on this machine then draws it
        for tasks in (song.complete_tasks, lambda: song.tasks(song.all_windows())):  # front ends, then networks
            for task in tasks():
                yield_to_pages()
                if job.cancelled.is_set():
                    return None
                task()
        placement = song.placement(song.all_windows())
        song.release()  # the signal and the network inputs are no longer needed
        return placement
