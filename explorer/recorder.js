// The sidebar's microphone recorder (Streamlit component v2, explorer/recorder.py).
// While recording, the microphone's samples are kept as 16-bit mono PCM (an AudioWorklet hands them over in
// blocks); on "Stop recording" they become a WAV at once (a 44-byte header in front) and go to Python as the
// component's trigger value "clip" ({id, wav: base64, rate, seconds}): no decoding, resampling or encoding is
// left to do after the stop, and nothing is fetched from the network (the worklet's code is a Blob). A trigger,
// not a state value: the browser sends every state value again with each rerun, the WAV would go up each time.
// While recording, the samples not sent yet go every part_s seconds as the trigger "part" ({id, offset, rate,
// pcm: base64 16-bit}), so the server runs the networks on them before the stop (pipeline/early.py).
const RATE = 22050; // the pipeline's rate; a browser that cannot record at it records at the device's rate
const BLOCK = 1024; // samples per message from the worklet (the last, partial block is left out: < 50 ms)

const WORKLET = `
class Pcm extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Float32Array(${BLOCK}); this.n = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) {
      for (let i = 0; i < ch.length; i++) {
        this.buf[this.n++] = ch[i];
        if (this.n === this.buf.length) { this.port.postMessage(this.buf); this.buf = new Float32Array(${BLOCK}); this.n = 0; }
      }
    }
    return true;
  }
}
registerProcessor("genre-map-pcm", Pcm);`;

function wavBytes(samples, rate) {
  const n = samples.length;
  const buf = new ArrayBuffer(44 + 2 * n);
  const v = new DataView(buf);
  const text = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  text(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); text(8, "WAVE"); text(12, "fmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
  v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  text(36, "data"); v.setUint32(40, 2 * n, true);
  new Int16Array(buf, 44, n).set(samples);
  return new Uint8Array(buf);
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function toInt16(f) {
  const out = new Int16Array(f.length);
  for (let i = 0; i < f.length; i++) { const x = Math.max(-1, Math.min(1, f[i])); out[i] = x < 0 ? x * 0x8000 : x * 0x7fff; }
  return out;
}

function whyNot(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError")
    return "The browser may not use the microphone: allow it (the icon in the address bar) and press Record again.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "No microphone was found: plug one in (or choose one in the browser's settings) and press Record again.";
  if (name === "NotReadableError")
    return "The microphone is busy or cannot be read: close other programs using it and press Record again.";
  return `The microphone could not be started (${name || err}).`;
}

function openSource(ctx, stream) {
  // Chrome resamples the microphone to the context's rate; Firefox refuses a rate other than the device's
  try {
    return [ctx, ctx.createMediaStreamSource(stream)];
  } catch (e) {
    ctx.close();
    const own = new AudioContext();
    return [own, own.createMediaStreamSource(stream)];
  }
}

function concat(blocks) {
  const out = new Int16Array(blocks.reduce((s, b) => s + b.length, 0));
  let o = 0;
  for (const b of blocks) { out.set(b, o); o += b.length; }
  return out;
}

function makeRecorder(root, limitS, partS) {
  const button = root.querySelector("button");
  const clock = root.querySelector(".clock");
  const note = root.querySelector(".note");
  const rec = { on: false, count: 0 };
  const show = () => {
    button.textContent = rec.on ? "Stop recording" : "Record";
    button.setAttribute("aria-label", button.textContent); // the name without the CSS's dot or square
    button.classList.toggle("on", rec.on);
    button.setAttribute("aria-pressed", String(rec.on));
  };
  const tick = () => {
    const s = (performance.now() - rec.t0) / 1000;
    clock.textContent = `${Math.floor(s)} s of ${limitS} s`;
    if (s >= limitS) stop();
    else if (s >= rec.sentS + partS) sendPart(s);
  };
  function sendPart(s) { // the samples recorded since the last part
    const pcm = concat(rec.blocks.slice(rec.sentBlocks));
    rec.sentBlocks = rec.blocks.length;
    rec.sentS = s;
    if (!pcm.length) return;
    root.__setTrigger("part", { id: rec.id, offset: rec.sentSamples, rate: rec.ctx.sampleRate,
                                pcm: base64(new Uint8Array(pcm.buffer)) });
    rec.sentSamples += pcm.length;
  }
  async function start() {
    note.textContent = "";
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      note.textContent = "This page cannot reach a microphone: open it over https (or on localhost).";
      return;
    }
    try { // made in the click: browsers start audio on a gesture; some refuse a rate of our own
      rec.ctx = new AudioContext({ sampleRate: RATE });
    } catch (e) {
      rec.ctx = new AudioContext();
    }
    rec.starting = true;
    try {
      rec.stream = await navigator.mediaDevices.getUserMedia({ audio: {
        channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
      [rec.ctx, rec.source] = openSource(rec.ctx, rec.stream);
      await rec.ctx.resume();
      await rec.ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" })));
      rec.node = new AudioWorkletNode(rec.ctx, "genre-map-pcm");
    } catch (e) {
      release();
      note.textContent = whyNot(e);
      return;
    } finally {
      rec.starting = false;
    }
    rec.blocks = [];
    rec.count += 1;
    rec.id = `${Date.now().toString(36)}-${rec.count}`;
    rec.sentBlocks = rec.sentSamples = rec.sentS = 0;
    rec.node.port.onmessage = (m) => { if (rec.blocks) rec.blocks.push(toInt16(m.data)); };
    rec.source.connect(rec.node);
    rec.on = true;
    rec.t0 = performance.now();
    rec.timer = setInterval(tick, 200);
    tick();
    show();
  }
  function release() {
    clearInterval(rec.timer);
    if (rec.source) rec.source.disconnect();
    if (rec.stream) rec.stream.getTracks().forEach((t) => t.stop());
    if (rec.ctx) rec.ctx.close();
    rec.stream = rec.ctx = rec.source = rec.node = null;
  }
  function stop() {
    if (!rec.on) return;
    rec.stoppedAt = performance.now();
    const blocks = rec.blocks, rate = rec.ctx.sampleRate;
    rec.blocks = null;
    rec.on = false;
    clearInterval(rec.timer);
    show();
    const samples = concat(blocks), n = samples.length;
    clock.textContent = `${(n / rate).toFixed(1)} s recorded`;
    const id = rec.id;
    const wav = base64(wavBytes(samples, rate));
    root.__setTrigger("clip", { id, rate, seconds: n / rate, wav });
    // for benchmarks/bench_teach.py: when the stop began and when the WAV left for Python (the page's clock)
    window.genreMapRecorder = { stopped: rec.stoppedAt, sent: performance.now(), base64Chars: wav.length };
    // the microphone and audio thread are let go once the page is idle, not while it draws the star the WAV
    // brings back (traced: the star came 50-200 ms after the server's run ended, the upload's 70-200 ms)
    (window.requestIdleCallback || setTimeout)(release, { timeout: 2000 });
  }
  button.addEventListener("click", () => (rec.on ? stop() : rec.starting || start()));
  show();
  return rec;
}

export default function ({ parentElement, data, setTriggerValue }) {
  const root = parentElement.querySelector(".recorder");
  root.__setTrigger = setTriggerValue; // the newest run's
  if (!root.__recorder) root.__recorder = makeRecorder(root, (data && data.limit_s) || 30, (data && data.part_s) || 1);
  root.querySelector(".label").textContent = (data && data.label) || "";
  root.querySelector("button").title = (data && data.help) || "";
}
