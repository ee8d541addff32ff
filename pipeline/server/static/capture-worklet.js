// Microphone capture for the operator console (an AudioWorklet module, loaded by app.js).
//
// The AudioContext runs at the device's rate (often 48 kHz, sometimes 44.1 kHz); the server takes 16 kHz mono.
// This processor mixes its input down to mono, resamples it to `processorOptions.targetRate` (16000) with a
// windowed-sinc low-pass interpolator, and posts one frame of `processorOptions.frameMs` (100 ms) at a time to
// the main thread: {type: "frame", samples: Float32Array (transferred), peak, rms}. The main thread turns
// each frame into int16 little-endian PCM for the websocket.
//
// Messages from the main thread: {type: "flush"} posts what is left (the resampler's last few samples, then the
// current frame, shorter, possibly empty) and then {type: "flushed"}; after that the processor stops.

const ZERO_CROSSINGS = 32; // half-width of the kernel, in zero crossings of the low-pass sinc (flat to ~6.7 kHz)
const TABLE_STEPS = 512; // kernel table resolution per input sample

class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate; // input samples per output sample
    this.passthrough = inRate === outRate;
    // Cut off a little below the lower Nyquist frequency, so that nothing above 8 kHz folds back into speech.
    this.cutoff = 0.92 * Math.min(1, outRate / inRate); // as a fraction of the input Nyquist frequency
    this.half = Math.ceil(ZERO_CROSSINGS / this.cutoff); // kernel half-width, in input samples
    const n = this.half * TABLE_STEPS + 2;
    this.table = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = i / TABLE_STEPS;
      const u = x / this.half; // 0..1 across the half-width
      if (u >= 1) {
        this.table[i] = 0;
        continue;
      }
      const arg = Math.PI * this.cutoff * x;
      const sinc = x === 0 ? 1 : Math.sin(arg) / arg;
      const blackman = 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      this.table[i] = sinc * blackman;
    }
    this.buf = new Float32Array(4096);
    this.len = 0; // samples held in buf
    this.base = 0; // absolute input index of buf[0]
    this.t = 0; // absolute input position of the next output sample
  }

  kernel(x) {
    const p = Math.abs(x) * TABLE_STEPS;
    const i = p | 0;
    if (i + 1 >= this.table.length) return 0;
    const f = p - i;
    return this.table[i] + f * (this.table[i + 1] - this.table[i]);
  }

  // The output samples still owed for the input so far (the kernel reaches `half` samples ahead): push silence.
  drain(emit) {
    if (!this.passthrough) this.push(new Float32Array(this.half), emit);
  }

  push(input, emit) {
    if (this.passthrough) {
      for (let i = 0; i < input.length; i++) emit(input[i]);
      return;
    }
    if (this.len + input.length > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.len + input.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const end = this.base + this.len; // one past the last input sample held
    while (this.t + this.half < end) {
      const centre = Math.floor(this.t);
      let lo = centre - this.half + 1;
      let hi = centre + this.half;
      if (lo < 0) lo = 0; // the very start: no samples before the first one
      let acc = 0;
      let norm = 0;
      for (let k = lo; k <= hi; k++) {
        const w = this.kernel(this.t - k);
        acc += w * this.buf[k - this.base];
        norm += w;
      }
      emit(norm > 0 ? acc / norm : 0);
      this.t += this.step;
    }
    // Keep only what the next output samples still need.
    const keepFrom = Math.max(this.base, Math.floor(this.t) - this.half + 1);
    const drop = keepFrom - this.base;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.base = keepFrom;
    }
  }
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    const targetRate = opts.targetRate || 16000;
    const frameMs = opts.frameMs || 100;
    this.frameLen = Math.round((targetRate * frameMs) / 1000);
    this.resampler = new Resampler(sampleRate, targetRate);
    this.frame = new Float32Array(this.frameLen);
    this.filled = 0;
    this.stopped = false;
    this.mono = new Float32Array(128);
    this.emit = (v) => {
      this.frame[this.filled++] = v;
      if (this.filled === this.frameLen) this.post(this.frameLen);
    };
    this.port.onmessage = (e) => {
      if (e.data && e.data.type === "flush" && !this.stopped) {
        this.resampler.drain(this.emit);
        this.post(this.filled);
        this.stopped = true;
        this.port.postMessage({ type: "flushed" });
      }
    };
  }

  post(n) {
    const samples = this.frame.slice(0, n);
    let peak = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const a = Math.abs(samples[i]);
      if (a > peak) peak = a;
      sum += samples[i] * samples[i];
    }
    const rms = n > 0 ? Math.sqrt(sum / n) : 0;
    this.port.postMessage({ type: "frame", samples, peak, rms }, [samples.buffer]);
    this.filled = 0;
  }

  process(inputs) {
    if (this.stopped) return false;
    const input = inputs[0];
    if (!input || input.length === 0) return true; // no source connected yet (or it ended): nothing to take
    const n = input[0].length;
    if (this.mono.length !== n) this.mono = new Float32Array(n);
    if (input.length === 1) {
      this.mono.set(input[0]);
    } else {
      this.mono.fill(0);
      for (const ch of input) for (let i = 0; i < n; i++) this.mono[i] += ch[i];
      for (let i = 0; i < n; i++) this.mono[i] /= input.length;
    }
    this.resampler.push(this.mono, this.emit);
    return true;
  }
}

registerProcessor("capture-processor", CaptureProcessor);
