// The "Call" page's microphone processor (an AudioWorklet): the context's float samples (48 kHz
// usually) averaged down to 8 kHz, encoded as G.711 µ-law, posted to the page in 20 ms frames
// (160 bytes), which the page sends as Twilio Media Streams `media` messages.
"use strict";

const RATE = 8000;
const FRAME = 160; // 20 ms at 8 kHz

function ulaw(sample) {
  // G.711 µ-law of one 16-bit sample (the encoding the gateway's audioop decodes)
  const BIAS = 0x84, CLIP = 32635;
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

class Downsampler extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = RATE / sampleRate; // output samples per input sample
    this.position = 0;
    this.sum = 0;
    this.count = 0;
    this.frame = new Uint8Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      // a box filter over each output sample's span: a crude low-pass, enough for speech
      this.sum += channel[i];
      this.count++;
      this.position += this.step;
      if (this.position >= 1) {
        this.position -= 1;
        const value = Math.max(-1, Math.min(1, this.sum / this.count));
        this.sum = 0;
        this.count = 0;
        this.frame[this.filled++] = ulaw(Math.round(value * 32767));
        if (this.filled === FRAME) {
          this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
          this.frame = new Uint8Array(FRAME);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("callplane-downsampler", Downsampler);
