"""The sidebar's microphone recorder (Streamlit component v2; its script is ``recorder.js``).

``st.audio_input`` records a compressed stream and, after "Stop", decodes, resamples and encodes it as a WAV in the
browser before uploading it (stop → star 1.2-1.6× an upload's, benchmarks/bench_teach.py --record). This recorder
keeps the microphone's samples as 16-bit PCM while it records (at the pipeline's 22 050 Hz where the browser
allows), so on "Stop" the WAV is ready and goes to Python at once as the component's trigger value (base64 in JSON,
on the page's websocket; a state value would go up again with every rerun). The recording is then placed through
``upload.Recording`` like a dropped-in file. It shows the seconds recorded, stops by itself at
``upload.RECORDING_MAX_S`` and says in one line when the microphone is denied, missing or unreachable (a page over
plain http on another machine).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import upload

SCRIPT = Path(__file__).with_name("recorder.js")

HTML = """<div class="recorder"><div class="label"></div>
<div class="row"><button type="button" aria-pressed="false">Record</button><span class="clock"></span></div>
<div class="note" role="alert"></div></div>"""

# Large enough to hit and read on a projector; red while recording
CSS = """
.recorder { font-family: inherit; color: inherit; }
.label { font-size: 0.875rem; margin-bottom: 0.35rem; }
.row { display: flex; align-items: center; gap: 0.75rem; }
button { font: inherit; font-size: 1rem; font-weight: 600; min-height: 2.75rem; padding: 0.4rem 1.1rem;
  border-radius: 0.5rem; border: 1px solid rgba(49, 51, 63, 0.3); background: transparent; color: inherit;
  cursor: pointer; white-space: nowrap; }
button::before { content: "\\25CF  "; color: #d62728; }
button.on { background: #d62728; border-color: #d62728; color: white; }
button.on::before { content: "\\25A0  "; color: white; }
.clock { font-variant-numeric: tabular-nums; font-size: 1rem; white-space: nowrap; }
.note { color: #d62728; font-size: 0.875rem; margin-top: 0.35rem; }
.note:empty { display: none; }
"""

_recorder = st.components.v2.component("genre_map_recorder", html=HTML, css=CSS, js=SCRIPT.read_text())
KEPT = "recorder_kept"  # session state: {recorder key: its last Recording, or why the last clip was refused}


def _ignore() -> None:
    """A trigger value needs a callback; the full run that follows reads it."""


def recorder(label: str, key: str, help: str = "") -> upload.Recording | None:
    """The recorder with ``label`` (and ``help`` on its button); its last recording (placed like an upload),
    or None before one.

    The clip arrives once (a trigger value) and is kept in the session under the recorder's key, so a new
    round of the uploader ("remove all my songs") starts without it. A clip that is not a WAV (a damaged or
    forged message) is said in one line under the recorder.
    """
    result = _recorder(data={"label": label, "help": help, "limit_s": upload.RECORDING_MAX_S}, key=key,
                       on_clip_change=_ignore)
    clip = upload.recorder_clip(result)
    if clip is not None:
        try:
            st.session_state[KEPT] = {key: upload.Recording(upload.RecordedClip.from_clip(clip))}
        except upload.RecordingError as e:
            st.session_state[KEPT] = {key: f"The recording could not be used: {e}."}
    kept = st.session_state.get(KEPT, {}).get(key)
    if isinstance(kept, str):
        st.error(kept)
    return last_recording(key)


def last_recording(key: str) -> upload.Recording | None:
    """The last recording recorder ``key`` sent (its bytes play in the detail panel), or None."""
    kept = st.session_state.get(KEPT, {}).get(key)
    return kept if isinstance(kept, upload.Recording) else None
