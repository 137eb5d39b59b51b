"""Waiting for a Streamlit server started by a test or a benchmark."""
from __future__ import annotations

import subprocess
import time
import urllib.request


def wait_until_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> str | None:
    """Poll ``{url}/_stcore/health`` until it answers 200; None when healthy, else why not."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            return f"streamlit exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return None
        except OSError:
            pass
        if time.monotonic() > deadline:
            return f"streamlit did not become healthy within {timeout_s:.0f} s"
        time.sleep(0.2)
