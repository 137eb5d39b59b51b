"""The sidebar's microphone recorder (Streamlit component v2; its script is ``recorder.js``).

``st.audio_input`` records a compressed stream and, after "Stop", decodes, resamples and encodes it as a WAV in the
browser before uploading it (stop → star 1.2-1.6× an upload's, benchmarks/bench_teach.py --record). This recorder
keeps the microphone's samples as 16-bit PCM while it records (at the pipeline's 22 050 Hz where the browser
allows), so on "Stop" the WAV is ready and goes to Python at once as the component's trigger value (base64 in JSON,
on the page's websocket; a state value would go up again with every rerun). While it records, it sends the
samples every second, and the networks run on every input heard whole (``pipeline.early``): at "Stop" only
the last seconds are left to compute. The recording is then placed through ``upload.Recording`` like a
dropped-in file, taking the early work only where it is the same. It shows the seconds recorded, stops by itself at
``upload.RECORDING_MAX_S`` and says in one line when the microphone is denied, missing or unreachable (a page over
plain http on another machine).
"""
from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from pipeline.early import EarlyInputs

from . import upload

log = logging.getLogger(__name__)
PART_S = 1.0  # while recording, the samples go to the server this often (the networks run on them meanwhile)

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
EARLY = "recorder_early"  # session state: the recording being recorded ({"id", "inputs": EarlyInputs or None})


def _ignore() -> None:
    """A trigger value needs a callback; the run that follows reads it."""


def recorder(label: str, key: str, get_placer, help: str = "") -> bool:
    """The recorder with ``label`` (and ``help`` on its button); whether a new recording arrived in this run
    (``last_recording`` has it).

    While it records, the recorder sends its samples every second (trigger ``part``), and the networks run on
    what has arrived (``listen``); call it in a fragment, so that a part reruns only that. The clip arrives
    once (trigger ``clip``) and is kept in the session under the recorder's key, so a new round of the uploader
    ("remove all my songs") starts without it. A clip that is not a WAV (a damaged or forged message) is said
    in one line under the recorder.
    """
    result = _recorder(data={"label": label, "help": help, "limit_s": upload.RECORDING_MAX_S,
                             "part_s": PART_S}, key=key, on_clip_change=_ignore, on_part_change=_ignore)
    part = result.get("part") if isinstance(result, dict) else None
    if part is not None:
        listen(part, get_placer)
    clip = upload.recorder_clip(result)
    if clip is not None:
        early = st.session_state.pop(EARLY, None)
        early = early["inputs"] if early is not None and early["id"] == clip.get("id") else None
        if early is not None:
            early.stop()
        try:
            st.session_state[KEPT] = {key: upload.Recording(upload.RecordedClip.from_clip(clip), early=early)}
        except upload.RecordingError as e:
            st.session_state[KEPT] = {key: f"The recording could not be used: {e}."}
    kept = st.session_state.get(KEPT, {}).get(key)
    if isinstance(kept, str):
        st.error(kept)
    return clip is not None


def listen(part: dict, get_placer) -> None:
    """Run the networks on a recording's samples so far (``pipeline.early``); a part that does not follow the
    last one (lost on the way) or a rate other than the bundle's ends it: the clip is then placed as a file."""
    ss = st.session_state
    try:
        p = upload.RecordedPart.from_part(part)
        now = ss.get(EARLY)
        if now is None or now["id"] != p.id:
            placer = get_placer() if p.offset == 0 else None
            usable = placer is not None and p.rate == placer.spec.sample_rate
            now = ss[EARLY] = {"id": p.id, "inputs": EarlyInputs(placer) if usable else None}
        inputs = now["inputs"]
        if inputs is None or p.offset != inputs.n_samples or p.offset > p.rate * (upload.RECORDING_MAX_S + 1):
            now["inputs"] = None
            return
        inputs.extend(p.samples)
    except Exception:  # noqa: BLE001 - early work is only a head start: the clip is placed (and checked) anyway
        log.exception("a recording's part could not be used")
        if isinstance(ss.get(EARLY), dict):
            ss[EARLY]["inputs"] = None


def last_recording(key: str) -> upload.Recording | None:
    """The last recording recorder ``key`` sent (its bytes play in the detail panel), or None."""
    kept = st.session_state.get(KEPT, {}).get(key)
    return kept if isinstance(kept, upload.Recording) else None
