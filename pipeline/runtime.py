"""Process-wide runtime settings, set for a block and restored after it."""
from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch CPU threads.

    Small models (the head, one clip at a time) gain nothing from more threads
    and lose a lot to oversubscription when other processes share the cores.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
