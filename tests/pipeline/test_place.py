"""Placement: every awkward input through both placement paths, with nothing crashing.

The two paths are ``python -m pipeline place --json`` (a real subprocess, one call with every file) and
the app's upload (``explorer.upload.sync_uploads``, the function behind the file uploader, and a few
through Streamlit's AppTest). Each input must give either a placement with finite coordinates in all
four embeddings and probabilities summing to 1, or exactly one line naming the file and the problem.

The inputs are ``tests.synth.write_bad_files`` (empty, text-as-wav, truncated, random .mp3, 0.1 s,
silence, clipping, NaN/inf, 8k/44.1k/48k/96k, stereo, 6 channels, 8/16/24-bit int, float32, .m4a,
unicode name) plus the ones made here: hour-long files, a file over the upload limit, a name with a
backslash, a folder named like a song, a missing file, a name without extension, and upload names that
look like paths ("../../etc/passwd.wav"), which must never reach the filesystem.

Everything runs against the tiny synthetic bundle (``tiny`` in conftest.py), on one torch thread.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from explorer import keys, state, upload
from explorer.text import markdown_text
from explorer.views import song_marks
from pipeline.audio import load_audio
from pipeline.cli import main as cli_main
from pipeline.networks.mobilenet_v2_net import EMBEDDINGS
from pipeline.place import MAX_SECONDS, Placer
from tests.conftest import GENRES, REPO, torch_threads
from tests.synth import genre_clip, tone, write_audio, write_bad_files

APP = str(REPO / "app.py")
MAX_BYTES = upload.DEFAULT_MAX_MB * 1024 * 1024  # what the app passes with server.maxUploadSize = 50
SUPPORTED = "supported: wav, flac, au, mp3, ogg"
HOUR16 = "hour 8kHz 16-bit.wav"  # 57.6 MB: placed by the CLI (no size limit), too large for an upload
HOUR8 = "hour 8kHz 8-bit.wav"  # 28.8 MB: fits under the upload limit, placed through the app's path
HOUR_SR = 8000

# name -> what its one-line message must say (both paths)
FAILS = {
    "empty.wav": "empty file (0 bytes)",
    "text.wav": "not a decodable audio file",
    "random.mp3": "not a decodable audio file",
    "song.m4a": f"unsupported format '.m4a'; {SUPPORTED}",
    "short.wav": "too short: 0.10 s, need at least 1.00 s",
    "all_nan.wav": "no finite samples",
    "silence.wav": "silent",
    "no extension": f"unsupported format (no file extension); {SUPPORTED}",
}
CLI_ONLY_FAILS = {"folder.wav": "not a regular file", "missing.ogg": "file not found"}
# name -> seconds that must be placed
PLACED = {
    "truncated.wav": 2.0, "clipping.wav": 5.0, "nan.wav": 3.0,
    "sr8k.wav": 3.0, "sr44k.wav": 3.0, "sr48k.wav": 3.0, "sr96k.wav": 3.0,
    "stereo.wav": 3.0, "six_channels.wav": 3.0,
    "pcm8.wav": 3.0, "pcm16.wav": 3.0, "pcm24.wav": 3.0, "float32.wav": 3.0,
    "spaces ünïcode name.wav": 3.0, "back\\slash ☃ «name».flac": 4.0,
}


def write_hour(path: Path, subtype: str) -> Path:
    """One hour of 8 kHz mono WAV written one minute at a time (a second or two, no hour in memory)."""
    minute = genre_clip(0, 60.0, HOUR_SR, np.random.default_rng(60))
    with sf.SoundFile(str(path), "w", HOUR_SR, 1, subtype=subtype, format="WAV") as f:
        for _ in range(60):
            f.write(minute)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hardening inputs")
    files = write_bad_files(d)
    files["back\\slash ☃ «name».flac"] = write_audio(d / "back\\slash ☃ «name».flac", tone(4.0, freq=550.0), 22050)
    (d / "folder.wav").mkdir()
    files["folder.wav"] = d / "folder.wav"
    files["missing.ogg"] = d / "missing.ogg"
    files["no extension"] = d / "no extension"
    files["no extension"].write_bytes(files["pcm16.wav"].read_bytes())
    files[HOUR16] = write_hour(d / HOUR16, "PCM_16")
    files[HOUR8] = write_hour(d / HOUR8, "PCM_U8")
    assert files[HOUR16].stat().st_size > MAX_BYTES > files[HOUR8].stat().st_size
    assert set(files) >= set(FAILS) | set(PLACED), "an expected input was not written"
    return files


@pytest.fixture(scope="module")
def placer(tiny):
    with torch_threads(1):
        p = Placer.from_path(tiny.bundle)
        p.warm_up()
    return p


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def check_placement(rec: dict, seconds: float | None = None) -> None:
    """A placement record (CLI JSON line or ``Placement.to_json()``) holds a usable answer."""
    name = rec["file"]
    assert set(rec["maps"]) == set(EMBEDDINGS), f"{name}: embeddings {sorted(rec['maps'])}"
    for e, m in rec["maps"].items():
        assert math.isfinite(m["x"]) and math.isfinite(m["y"]), f"{name}: {e} position ({m['x']}, {m['y']})"
        assert m["neighbours"] and all(math.isfinite(n["similarity"]) for n in m["neighbours"]), f"{name}: {e}"
    probs = rec["probabilities"]
    assert list(probs) == list(GENRES), f"{name}: probabilities for {list(probs)}"
    assert all(0.0 <= p <= 1.0 and math.isfinite(p) for p in probs.values()), f"{name}: {probs}"
    assert abs(sum(probs.values()) - 1.0) <= 1e-6, f"{name}: probabilities sum to {sum(probs.values())!r}"
    assert rec["genre"] == max(probs, key=probs.get)
    if seconds is not None:
        assert rec["duration_s"] == pytest.approx(seconds, abs=0.01), f"{name}: placed {rec['duration_s']} s"


def check_message(message: str, expected: str, name: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, f"{name}: {message!r}"
    assert expected in message, f"{name}: message {message!r} does not say {expected!r}"


# --- the command line: one call with every file ----------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tiny, inputs):
    names = sorted(set(FAILS) | set(CLI_ONLY_FAILS) | set(PLACED)) + [HOUR16]
    args = [sys.executable, "-m", "pipeline", "place", *[str(inputs[n]) for n in names], "--bundle", str(tiny.bundle),
            "--json"]
    # No PYTHONWARNINGS=ignore: a warning on stderr would break the one-line-per-failure promise too.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one torch thread: see tests/conftest.torch_threads
    t0 = time.perf_counter()
    r = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    return SimpleNamespace(names=names, r=r, seconds=time.perf_counter() - t0)


def test_cli_places_or_names_the_problem_of_every_file(cli_run, inputs):
    r = cli_run.r
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    records = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    placed = {rec["file"]: rec for rec in records}
    assert sorted(placed) == sorted(inputs[n].name for n in [*PLACED, HOUR16]), "placed files differ"
    for name, seconds in {**PLACED, HOUR16: MAX_SECONDS}.items():
        check_placement(placed[inputs[name].name], seconds)
    # the record says the hour was cut (its whole length); files under the cap say nothing of the kind
    assert placed[inputs[HOUR16].name]["file_duration_s"] == pytest.approx(3600, abs=0.1)
    assert not any("file_duration_s" in placed[inputs[name].name] for name in PLACED)

    lines = [line for line in r.stderr.splitlines() if line.strip()]
    expected = {**FAILS, **CLI_ONLY_FAILS}
    assert len(lines) == len(expected), "expected exactly one stderr line per failed file, got:\n" + r.stderr
    for name, problem in expected.items():
        prefix = f"error: {inputs[name]}: "
        mine = [line for line in lines if line.startswith(prefix)]
        assert len(mine) == 1, f"{name}: {len(mine)} stderr lines start with {prefix!r}:\n{r.stderr}"
        check_message(mine[0][len(prefix):], problem, name)
    assert r.returncode == 1, f"exit code {r.returncode} with {len(lines)} failed file(s)"


def test_cli_hour_long_file_is_cut_to_the_cap_in_bounded_time(cli_run):
    # 23 files (1 hour, capped at 10 min = 119 windows) incl. torch import: minutes would mean a full decode
    assert cli_run.seconds < 240, f"place took {cli_run.seconds:.0f} s"


def test_cli_text_output_says_when_a_file_was_cut(capsys):
    from pipeline.cli import _print_placement
    from pipeline.place import Placement

    maps = {"deep": {"x": 0.0, "y": 0.0, "neighbours": []}}
    for full, said in ((3600.0, "600.0 s (the first 600 s of 3600 s), 119 windows"), (None, "30.0 s, 5 windows")):
        n = 119 if full else 5
        _print_placement(Placement("song.wav", "rock", {"rock": 1.0}, maps, 600.0 if full else 30.0, n,
                                   file_duration_s=full))
        assert said in capsys.readouterr().out.splitlines()[0]


def test_cli_exit_code_is_zero_iff_every_file_is_placed(tiny, inputs, capfd):
    good = [str(inputs["pcm16.wav"]), str(inputs["spaces ünïcode name.wav"])]
    assert cli_main(["place", *good, "--bundle", str(tiny.bundle), "--json"]) == 0
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 2 and err == ""
    assert cli_main(["place", good[0], str(inputs["silence.wav"]), "--bundle", str(tiny.bundle), "--json"]) == 1
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 1 and err.startswith(f"error: {inputs['silence.wav']}: silent")


def test_cli_unexpected_failure_is_one_line_and_the_next_file_is_placed(tiny, inputs, capfd, monkeypatch):
    real = Placer.song

    def flaky(self, y, name, *args, **kwargs):
        if name == "pcm24.wav":
            raise RuntimeError("something nobody foresaw\nwith a second line")
        return real(self, y, name, *args, **kwargs)

    monkeypatch.setattr(Placer, "song", flaky)
    files = [str(inputs["pcm24.wav"]), str(inputs["pcm16.wav"])]
    assert cli_main(["place", *files, "--bundle", str(tiny.bundle), "--json"]) == 1
    out, err = capfd.readouterr()
    assert [json.loads(line)["file"] for line in out.splitlines()] == ["pcm16.wav"]
    assert err.splitlines() == [f"error: {files[0]}: could not be placed (RuntimeError: something nobody foresaw)"]


# --- the app's upload path (explorer.upload, no Streamlit) ----------------------------------------


class FakeUpload:
    """What ``st.file_uploader`` hands the page: ``file_id``, ``name`` and ``getvalue()``."""

    def __init__(self, file_id: str, name: str, data: bytes):
        self.file_id, self.name, self._data = file_id, name, data

    def getvalue(self) -> bytes:
        return self._data


UPLOAD_FAILS = {**FAILS, HOUR16: "file too large: 55 MB, limit 50 MB"}  # as the uploader says: 50 MB


@pytest.fixture(scope="module")
def uploaded(inputs, placer):
    names = sorted(set(FAILS) | set(PLACED)) + [HOUR16]
    files = [FakeUpload(f"id{i}", name, inputs[name].read_bytes()) for i, name in enumerate(names)]
    calls = []

    def get_placer():
        calls.append(1)
        return placer

    with torch_threads(1):
        results, new = upload.sync_uploads(files, {}, get_placer, max_bytes=MAX_BYTES)
    return SimpleNamespace(names=names, results=results, new=new, calls=calls)


def test_upload_places_or_names_the_problem_of_every_file(uploaded):
    assert [r.name for r in uploaded.results] == uploaded.names and uploaded.new == uploaded.results
    by_name = {r.name: r for r in uploaded.results}
    for name, problem in UPLOAD_FAILS.items():
        r = by_name[name]
        assert not r.ok, f"{name} was placed"
        check_message(r.error, problem, name)
    for name, seconds in PLACED.items():
        r = by_name[name]
        assert r.ok, f"{name}: {r.error}"
        rec = r.placement.to_json()
        assert rec["file"] == name
        check_placement(rec, seconds)
        assert song_marks.markers([r], "deep")[0]["name"] == name


def test_upload_and_cli_agree(uploaded, cli_run, inputs):
    cli = {json.loads(line)["file"]: json.loads(line) for line in cli_run.r.stdout.splitlines() if line.strip()}
    for r in uploaded.results:
        if r.ok:
            rec = cli[inputs[r.name].name]
            assert rec["genre"] == r.placement.genre, r.name
            np.testing.assert_allclose(list(rec["probabilities"].values()), list(r.placement.probabilities.values()),
                                       atol=1e-5, err_msg=r.name)
            for e in EMBEDDINGS:
                assert [n["track_id"] for n in rec["maps"][e]["neighbours"]] == \
                       [n["track_id"] for n in r.placement.maps[e]["neighbours"]], f"{r.name}: {e}"


def test_upload_rerun_does_not_place_again_and_removal_forgets(uploaded, inputs, placer):
    cache = {r.key: r for r in uploaded.results}
    kept = [FakeUpload("id-new", "pcm16.wav", inputs["pcm16.wav"].read_bytes())]  # same name: a new upload
    calls = []
    results, new = upload.sync_uploads(kept, cache, lambda: calls.append(1) or placer, max_bytes=MAX_BYTES)
    assert list(cache) == ["id-new"] and len(calls) == 1 and new == results and results[0].ok
    results, new = upload.sync_uploads(kept, cache, lambda: calls.append(1) or placer, max_bytes=MAX_BYTES)
    assert new == [] and len(calls) == 1, "a rerun placed an already placed song again"


def test_same_name_uploaded_twice_is_placed_twice(inputs, placer):
    # the second "song.wav" is shown as "song.wav (2)", but is still decoded as a .wav (found by the soak run)
    data = inputs["pcm16.wav"].read_bytes()
    cache = {}
    upload.sync_uploads([FakeUpload("a", "song.wav", data)], cache, lambda: placer, max_bytes=MAX_BYTES)
    results, new = upload.sync_uploads([FakeUpload("a", "song.wav", data), FakeUpload("b", "song.wav", data),
                                        FakeUpload("c", "song.wav", data)], cache, lambda: placer, max_bytes=MAX_BYTES)
    assert [r.name for r in results] == ["song.wav", "song.wav (2)", "song.wav (3)"]
    assert all(r.ok for r in results), [r.error for r in results]


def test_upload_names_that_look_like_paths_never_reach_the_filesystem(inputs, placer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative "../../etc/passwd.wav" would resolve from here
    data = inputs["pcm16.wav"].read_bytes()
    names = ["../../etc/passwd.wav", "a/b\\c.wav", "/etc/passwd.wav", "C:\\Windows\\win.ini.wav", "../../etc/passwd"]
    files = [FakeUpload(f"p{i}", n, data) for i, n in enumerate(names)]
    with audit_events() as events:
        results, _ = upload.sync_uploads(files, {}, lambda: placer, max_bytes=MAX_BYTES)
    touched = [(ev, args) for ev, args in events
               if any(s in str(args) for s in ("passwd", "b\\c", "win.ini", "a/b"))]
    assert touched == [], f"an upload name reached the filesystem: {touched}"
    assert list(tmp_path.iterdir()) == []
    assert [r.name for r in results] == names
    for r in results[:4]:
        assert r.ok, f"{r.name}: {r.error}"
        check_placement(r.placement.to_json(), 3.0)
    check_message(results[4].error, "unsupported format (no file extension)", names[4])


def test_upload_unexpected_failure_is_one_line(placer, inputs, monkeypatch):
    def boom(*a, **k):
        raise ValueError("Input X contains NaN.\nNearestNeighbors does not accept missing values ...")

    monkeypatch.setattr(placer, "place_file", boom)
    r = upload.place_upload(placer, "k", "x.wav", inputs["pcm16.wav"].read_bytes(), MAX_BYTES)
    assert not r.ok
    check_message(r.error, "could not be placed (ValueError: Input X contains NaN.)", "x.wav")


def _vm(key: str) -> int:
    """/proc/self/status memory figure in bytes (VmRSS, VmHWM)."""
    return int(re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1)) * 1024


def test_hour_long_upload_decodes_only_what_it_needs(inputs, placer, monkeypatch):
    data = inputs[HOUR8].read_bytes()

    # Reference: what decoding the whole hour would hold at its peak (numpy memory, tracemalloc).
    tracemalloc.start()
    whole = load_audio(data, filename=HOUR8)
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(whole) == 3600 * 22050
    del whole

    frames_read = []
    real_read = sf.SoundFile.read

    def counting_read(self, *args, **kwargs):
        out = real_read(self, *args, **kwargs)
        frames_read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    tracemalloc.start()
    capped = load_audio(data, filename=HOUR8, max_seconds=MAX_SECONDS)  # what the placement decodes
    capped_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(capped) == MAX_SECONDS * 22050
    assert sum(frames_read) <= MAX_SECONDS * HOUR_SR, f"read {sum(frames_read) / HOUR_SR:.0f} s of the hour"
    assert capped_peak < 0.25 * whole_peak, (f"decoding the first 10 min peaked at {capped_peak / 1e6:.0f} MB, "
                                             f"the whole hour at {whole_peak / 1e6:.0f} MB")
    del capped
    frames_read.clear()

    # The whole upload path: decode + spectrograms + network + maps, peak RSS growth of this process.
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
    rss0 = _vm("VmRSS")
    t0 = time.perf_counter()
    results, _ = upload.sync_uploads([FakeUpload("hour", HOUR8, data)], {}, lambda: placer, max_bytes=MAX_BYTES)
    seconds = time.perf_counter() - t0
    growth = _vm("VmHWM") - rss0
    (r,) = results
    assert r.ok, r.error
    check_placement(r.placement.to_json(), MAX_SECONDS)
    assert r.placement.n_segments == 119  # 10 s windows every 5 s over 600 s
    assert r.note == "only its first 10 minutes were placed: the whole file is 60 minutes long"
    assert sum(frames_read) <= MAX_SECONDS * HOUR_SR
    assert seconds < 120, f"placing an hour-long upload took {seconds:.0f} s"
    # typically +390-460 MB (the 119 windows and the network's batch activations), whatever the file's length
    assert growth < whole_peak, (f"placing the hour grew RSS by {growth / 1e6:.0f} MB; only decoding it whole "
                                 f"would peak at {whole_peak / 1e6:.0f} MB")
    print(f"\nhour upload: {seconds:.1f} s, RSS +{growth / 1e6:.0f} MB; decode peak {capped_peak / 1e6:.0f} MB "
          f"(whole hour: {whole_peak / 1e6:.0f} MB)")


class audit_events:
    """Record filesystem audit events (open, mkdir, rename, remove...) raised inside the block."""

    _active: list | None = None
    _installed = False
    EVENTS = ("open", "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
              "os.chmod", "os.utime", "shutil.copyfile", "shutil.rmtree", "os.listdir", "os.scandir")

    def __enter__(self) -> list:
        if not audit_events._installed:
            sys.addaudithook(audit_events._hook)  # hooks cannot be removed; it only records inside a block
            audit_events._installed = True
        audit_events._active = []
        return audit_events._active

    def __exit__(self, *exc):
        audit_events._active = None

    @staticmethod
    def _hook(event, args):
        if audit_events._active is not None and event in audit_events.EVENTS:
            audit_events._active.append((event, args))


# --- the page itself, through Streamlit's AppTest --------------------------------------------------


@pytest.fixture
def app(tiny, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(state.ENV_VAR, str(tiny.bundle))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_uploads(at) -> dict:
    """Name -> placement or error of this session's uploads (what the page shows)."""
    return {r.name: r for r in at.session_state[keys.UPLOADS].values()}


def stars(at) -> list[str]:
    """Names of the upload stars on the main map."""
    from tests.app.test_app import charts  # the map is a component (explorer/map_chart.py), not st.plotly_chart

    traces = charts(at).get(keys.MAP_CHART, {}).get("data", [])
    return [t["name"] for t in traces if (t.get("meta") or {}).get("kind") == "upload"]


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_app_bad_uploads_then_good_uploads_still_work(app, inputs):
    bad = ["empty.wav", "text.wav", "random.mp3", "short.wav", "all_nan.wav", "silence.wav"]
    app.file_uploader[0].set_value([(n, inputs[n].read_bytes(), "audio/wav") for n in bad]).run()
    assert not app.exception, [e.value for e in app.exception]
    shown = errors(app)
    assert len(shown) == len(bad), shown
    for name, message in zip(bad, shown):
        check_message(message, markdown_text(name), name)  # the name as written (escaped for markdown)
        check_message(message, FAILS[name], name)
    assert stars(app) == []

    good = ("new song.wav", inputs["pcm24.wav"].read_bytes(), "audio/wav")
    app.file_uploader[0].set_value(good).run()
    assert not app.exception and errors(app) == [], errors(app)
    assert stars(app) == ["★ new song.wav"]
    check_placement(page_uploads(app)["new song.wav"].placement.to_json(), 3.0)

    # a good one, a bad one and another good one at once; then the page keeps working after a switch
    app.file_uploader[0].set_value([good, ("text.wav", inputs["text.wav"].read_bytes(), "audio/wav"),
                                    ("clip ü.flac", inputs["back\\slash ☃ «name».flac"].read_bytes(), "audio/flac")]
                                   ).run()
    assert not app.exception
    assert len(errors(app)) == 1 and "text.wav" in errors(app)[0]
    assert sorted(stars(app)) == ["★ clip ü.flac", "★ new song.wav"]
    app.radio(key=keys.EMBEDDING).set_value("none").run()  # the layer control sits above the map
    assert not app.exception and sorted(stars(app)) == ["★ clip ü.flac", "★ new song.wav"]


def test_app_upload_over_the_size_limit(app, inputs):
    from streamlit import config

    before = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 1)  # 1 MB (1024² bytes), so a 2.7 MB song is over it
    try:
        data = inputs["sr96k.wav"].read_bytes() * 5
        app.run()
        app.file_uploader[0].set_value(("big song.wav", data, "audio/wav")).run()
        assert not app.exception
        (message,) = errors(app)
        check_message(message, "big song.wav", "big song.wav")
        check_message(message, "file too large: 2.7 MB, limit 1 MB", "big song.wav")
        assert stars(app) == []
    finally:
        config.set_option("server.maxUploadSize", before)
    app.run()  # the uploader's label (and so maybe the widget) changes with the limit
    app.file_uploader[0].set_value(("small.wav", inputs["pcm16.wav"].read_bytes(), "audio/wav")).run()
    assert not app.exception and errors(app) == [] and stars(app) == ["★ small.wav"]


def test_app_path_like_upload_names_are_only_names(app, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = inputs["pcm16.wav"].read_bytes()
    with audit_events() as events:
        app.file_uploader[0].set_value([("../../etc/passwd.wav", data, "audio/wav"),
                                        ("a/b\\c.wav", data, "audio/wav")]).run()
    assert not app.exception and errors(app) == [], errors(app)
    assert sorted(stars(app)) == ["★ ../../etc/passwd.wav", "★ a/b\\c.wav"]
    touched = [(ev, args) for ev, args in events if any(s in str(args) for s in ("passwd", "b\\c", "a/b"))]
    assert touched == [], f"an upload name reached the filesystem: {touched}"
    assert list(tmp_path.iterdir()) == []


# --- a hand-edited bundle.json reaches the placement: a clear error, never a crash --------------------


def _edited_copy(tiny, tmp_path, edit, resign: bool = True) -> Path:
    """A copy of the tiny bundle with bundle.json edited; ``resign`` also updates its content hash,
    as a determined editor could, so the checks behind the hash are exercised too."""
    import shutil

    from pipeline.bundle import meta_hash

    out = tmp_path / "edited"
    shutil.copytree(tiny.bundle, out)
    meta = json.loads((out / "bundle.json").read_text())
    edit(meta)
    if resign:
        meta["meta_sha256"] = meta_hash(meta)
    (out / "bundle.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("what, edit", [
    ("no spectrogram config", lambda m: m["config"].pop("spectrogram")),
    ("another head size", lambda m: m["config"]["train"].update(deep=128)),
    ("no map settings", lambda m: m.pop("maps")),
    ("unknown map setting", lambda m: m["maps"]["params"].update(learning_rate=5)),
])
def test_edited_bundle_is_one_clear_error_for_cli_and_upload(tiny, inputs, tmp_path, capfd, what, edit):
    from pipeline.bundle import BundleError

    bundle = _edited_copy(tiny, tmp_path, edit)
    with pytest.raises(BundleError, match="cannot place songs .*rebuild it"):
        Placer.from_path(bundle)
    assert cli_main(["place", str(inputs["pcm16.wav"]), "--bundle", str(bundle), "--json"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: bundle ") and "Traceback" not in err
    results, _ = upload.sync_uploads([FakeUpload("k", "song.wav", inputs["pcm16.wav"].read_bytes())], {},
                                     lambda: Placer.from_path(bundle), max_bytes=MAX_BYTES)
    check_message(results[0].error, "the model could not be loaded (BundleError: bundle", what)


def test_edited_spectrogram_setting_is_refused(tiny, tmp_path):
    from pipeline.bundle import BundleError

    bundle = _edited_copy(tiny, tmp_path, lambda m: m["config"]["spectrogram"].update(hop_length=256), resign=False)
    with pytest.raises(BundleError, match="bundle.json was edited after the build"):
        Placer.from_path(bundle)
