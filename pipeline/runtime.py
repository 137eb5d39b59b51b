"""Process-wide runtime settings (set for a block and restored after it) and the versions a result was made with."""
from __future__ import annotations

import platform
from contextlib import contextmanager

import numpy as np
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


def package_versions() -> dict:
    """The versions of the packages a bundle or an experiment's numbers depend on."""
    import librosa
    import openTSNE
    import sklearn
    import torchvision

    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "librosa": librosa.__version__,
            "openTSNE": openTSNE.__version__, "scikit-learn": sklearn.__version__}
