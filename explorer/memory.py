"""The server's heap: freed song arrays go back to the system instead of staying in the process.

A class on one server drops in dozens of songs: each is decoded, cut into windows and run through the
networks, megabytes of numpy arrays made and freed by many threads (the pages' runs, the first answers, the
paths). With glibc's defaults the server kept that memory after the songs were gone (the soak: RSS up by a
fifth over three minutes, not given back when the sessions closed), for two reasons:

- glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MB), so later arrays of
  that size come from the heap, where a freed block can only be reused, not returned;
- every thread that allocates may get its own heap arena (up to 8 per core), each holding its own free memory.

``tune_malloc`` fixes the threshold (arrays from 4 MB up are mmapped: freeing one unmaps it) and caps the
arenas; ``release_free_memory`` (``pipeline.heap``) hands back what the heaps hold free, after sessions end.
Elsewhere than glibc both do nothing.

Measured in one process placing a 4-minute mp3 (first answer, then its path) and a 30 s clip six times,
shipped bundle, 2 cores: RSS 433–456 MB with glibc's defaults, 317–318 MB tuned, first answer 0.42–0.43 s
against 0.44–0.47 s (noise), path and clip alike. A 256 kB threshold also gave ~310 MB but made every
placement 15 % slower (each fresh mmapped array is page-faulted in); 16 MB kept 357 MB.
"""
from __future__ import annotations

import logging

from pipeline.heap import glibc, release_free_memory  # noqa: F401  (the explorer's name for it)

log = logging.getLogger(__name__)
M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 4 * 1024 * 1024  # bytes: a whole song's signal and spectrograms are above, a task's inputs below
ARENAS = 2  # one per core here; more only hold more free memory

_tuned: dict = {}


def tune_malloc() -> bool:
    """Fixed mmap threshold and at most ``ARENAS`` heap arenas for this process (once); False off glibc."""
    if "done" not in _tuned:
        libc = glibc()
        _tuned["done"] = bool(libc) and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) \
            and bool(libc.mallopt(M_ARENA_MAX, ARENAS))
        log.debug("malloc tuned: %s", _tuned["done"])
    return _tuned["done"]

