// The "Call" page: the microphone to the agent over the voice gateway (WS /voice/browser/stream,
// Twilio's Media Streams messages), the agent's audio played back, the turns shown as they come.
// See docs/voice.md, "Call an agent from the browser".
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function ulawToFloat(u) {
    u = ~u & 0xff;
    const sign = u & 0x80, exponent = (u >> 4) & 0x07, mantissa = u & 0x0f;
    const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    return (sign ? -magnitude : magnitude) / 32768;
  }
  const toBase64 = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text);
  };
  const fromBase64 = (text) => {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  };

  function setup() {
    const root = document.getElementById("call");
    if (!root) return;
    const form = root.querySelector("#call-start");
    const dial = root.querySelector("#call-dial");
    const hangup = root.querySelector("#call-hangup");
    const turns = root.querySelector("#call-turns");
    const error = root.querySelector("#call-error");
    const status = root.querySelector("#call-status");
    const framesOut = root.querySelector("#call-frames-out");
    const framesIn = root.querySelector("#call-frames-in");
    let call = null;

    const fail = (text) => { error.textContent = text; error.hidden = false; };
    const bubble = (role, text) => {
      const li = document.createElement("li");
      li.className = "msg " + role;
      const r = document.createElement("span"); r.className = "role"; r.textContent = role;
      const c = document.createElement("div"); c.className = "content"; c.textContent = text;
      li.append(r, c); turns.append(li); turns.scrollTop = turns.scrollHeight;
    };

    function finish(text, linger) {
      if (!call) return;
      const ending = call;
      call = null;
      ending.stopPlayback();
      ending.microphone.getTracks().forEach((track) => track.stop());
      ending.context.close().catch(() => {});
      // after a `stop` the gateway closes the socket once it has read everything before it (a
      // close from here could overtake what it has not read yet); close it here if it does not
      const close = () => { if (ending.socket.readyState <= 1) ending.socket.close(); };
      if (linger) setTimeout(close, linger); else close();
      status.textContent = text;
      root.dataset.state = "ended";
      hangup.hidden = true;
      dial.hidden = false;
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (call) return;
      error.hidden = true;
      // made inside the click: the browser lets a page play audio after a user gesture
      const context = new AudioContext();
      let microphone = null;
      try {
        const body = new URLSearchParams({ version: root.querySelector("#call-version").value, csrf_token: csrf() });
        const answer = await fetch(root.dataset.token, { method: "POST", body, credentials: "same-origin" });
        const data = await answer.json();
        if (!answer.ok) throw new Error(data.detail || ("Could not call (" + answer.status + ")"));
        microphone = await navigator.mediaDevices.getUserMedia({
          audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
        await context.audioWorklet.addModule(root.dataset.worklet);
        start(context, microphone, data);
      } catch (problem) {
        if (microphone) microphone.getTracks().forEach((track) => track.stop());
        context.close().catch(() => {});
        fail(problem && problem.name === "NotAllowedError"
          ? "The browser did not allow the microphone."
          : String((problem && problem.message) || problem));
      }
    });
    const hangUp = () => {
      if (!call) return;
      const socket = call.socket;
      if (socket.readyState === 1) {
        socket.send(JSON.stringify({ event: "stop", streamSid: call.streamSid, stop: { callSid: call.callId } }));
      }
      finish("ended: you hung up", 10000);
    };
    hangup.addEventListener("click", hangUp);
    window.addEventListener("pagehide", hangUp); // leaving the page hangs up (best effort)

    function start(context, microphone, data) {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + data.stream_path);
      const streamSid = "MZ" + data.call_id.replace(/^web-/, "");
      const sources = new Set();
      let playAt = 0, chunk = 0, sent = 0, received = 0;
      const stopPlayback = () => {
        sources.forEach((source) => { try { source.stop(); } catch (_) { /* already stopped */ } });
        sources.clear();
        playAt = 0;
      };
      call = { context, microphone, socket, streamSid, callId: data.call_id, stopPlayback };
      root.dataset.state = "connecting";
      status.textContent = "connecting · v" + data.version;
      turns.replaceChildren();
      dial.hidden = true;
      hangup.hidden = false;

      const input = context.createMediaStreamSource(microphone);
      const worklet = new AudioWorkletNode(context, "callplane-downsampler");
      const mute = context.createGain();
      mute.gain.value = 0; // the worklet must be pulled by the graph; nothing of it is heard
      input.connect(worklet); worklet.connect(mute); mute.connect(context.destination);
      worklet.port.onmessage = (message) => {
        if (socket.readyState !== 1 || root.dataset.state !== "live") return;
        chunk++;
        socket.send(JSON.stringify({
          event: "media", streamSid,
          media: { track: "inbound", chunk: String(chunk), timestamp: String(chunk * 20), payload: toBase64(new Uint8Array(message.data)) },
        }));
        framesOut.textContent = String(++sent);
      };

      socket.onopen = () => {
        socket.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
        socket.send(JSON.stringify({
          event: "start", sequenceNumber: "1", streamSid,
          start: {
            streamSid, callSid: data.call_id, accountSid: "browser", tracks: ["inbound"],
            customParameters: { token: data.token },
            mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
          },
        }));
        root.dataset.state = "live";
        status.textContent = "in call · v" + data.version;
      };
      socket.onmessage = (message) => {
        let event;
        try { event = JSON.parse(message.data); } catch (_) { return; }
        if (event.event === "media") {
          const bytes = fromBase64(event.media.payload);
          const buffer = context.createBuffer(1, bytes.length, 8000);
          const samples = buffer.getChannelData(0);
          for (let i = 0; i < bytes.length; i++) samples[i] = ulawToFloat(bytes[i]);
          const source = context.createBufferSource();
          source.buffer = buffer;
          source.connect(context.destination);
          playAt = Math.max(playAt, context.currentTime + 0.05);
          source.start(playAt);
          playAt += buffer.duration;
          sources.add(source);
          source.onended = () => sources.delete(source);
          framesIn.textContent = String(++received);
        } else if (event.event === "clear") {
          stopPlayback(); // the caller talked over the agent
        } else if (event.event === "mark") {
          // tell the gateway when its audio up to here has played, as a carrier does
          const delay = Math.max(0, playAt - context.currentTime) * 1000;
          setTimeout(() => {
            if (socket.readyState === 1) socket.send(JSON.stringify({ event: "mark", streamSid, mark: event.mark }));
          }, delay);
        } else if (event.event === "transcript") {
          bubble(event.role, event.text);
        } else if (event.event === "ended" && call) {
          call.endedReason = event.reason;
        }
      };
      socket.onclose = (closed) => {
        if (!call || call.socket !== socket) return;
        const reason = call.endedReason || closed.reason || (closed.code === 1008 ? "refused" : "disconnected");
        // let the agent's last words play out before closing the audio
        const left = Math.max(0, playAt - context.currentTime) * 1000;
        root.dataset.state = "ending";
        setTimeout(() => finish("ended: " + reason), Math.min(left, 10000));
      };
    }
  }
  document.addEventListener("DOMContentLoaded", setup);
})();
