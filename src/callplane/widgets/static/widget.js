/*! callplane web widget 1.0.0 | Apache-2.0 | <script src="https://YOUR-SERVER/widget.js" data-widget-id="WIDGET_ID" async></script> */
(function () {
  "use strict";
  var VERSION = "1.0.0";
  var script = document.currentScript;
  if (!script || !script.dataset.widgetId) return;
  var widgetId = script.dataset.widgetId;
  var base = new URL(script.src, location.href).origin;
  var api = base + "/core/public/web-widgets/" + encodeURIComponent(widgetId);
  var storageKey = "callplane-widget:" + widgetId;

  var host = document.createElement("div");
  host.setAttribute("data-callplane-widget", VERSION);
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" +
    ":host{all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2330}" +
    ".bubble{width:56px;height:56px;border-radius:50%;border:0;background:#2f5bd3;color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
    ".panel{position:absolute;right:0;bottom:70px;width:340px;max-width:calc(100vw - 40px);height:440px;background:#fff;border:1px solid #dde1e8;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.2);display:flex;flex-direction:column;overflow:hidden}" +
    ".panel[hidden]{display:none}.head{padding:10px 14px;background:#2f5bd3;color:#fff;font-weight:600}" +
    ".log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px;margin:0;list-style:none}" +
    ".msg{padding:7px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
    ".agent{background:#f0f2f5;align-self:flex-start}.user{background:#2f5bd3;color:#fff;align-self:flex-end}" +
    ".error{color:#b42318;font-size:13px;padding:0 12px}" +
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #dde1e8}input{flex:1;padding:7px 9px;border:1px solid #c4cad5;border-radius:8px;font:inherit}" +
    "button.send{border:0;background:#2f5bd3;color:#fff;border-radius:8px;padding:0 12px;cursor:pointer;font:inherit}" +
    "</style>" +
    '<div class="panel" part="panel" role="dialog" aria-label="Chat" hidden>' +
    '<div class="head">Chat with us</div><ol class="log" aria-live="polite"></ol><p class="error" role="alert" hidden></p>' +
    '<form><input name="message" autocomplete="off" placeholder="Type a message" aria-label="Message"><button class="send">Send</button></form></div>' +
    '<button class="bubble" part="bubble" aria-label="Open the chat" aria-expanded="false"><svg width="26" height="26" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg></button>';
  var panel = root.querySelector(".panel");
  var bubbleButton = root.querySelector(".bubble");
  var log = root.querySelector(".log");
  var errorBox = root.querySelector(".error");
  var form = root.querySelector("form");
  var input = root.querySelector("input");
  var state = null;
  var busy = false;
  try { state = JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (e) { state = null; }

  function add(role, text) {
    var li = document.createElement("li");
    li.className = "msg " + role;
    li.textContent = text || "";
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }
  function fail(text) { errorBox.textContent = text; errorBox.hidden = false; }
  function headers(extra) {
    var h = { "Content-Type": "application/json" };
    if (state) h["X-Widget-Token"] = state.token;
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }
  async function problem(answer) {
    try { var body = await answer.json(); return body.detail || ("Error " + answer.status); }
    catch (e) { return "The chat is not available here (" + answer.status + ")."; }
  }
  async function restore() {
    if (!state) return false;
    try {
      var answer = await fetch(api + "/conversations/" + state.conversation_id, { headers: headers() });
      if (!answer.ok) { state = null; localStorage.removeItem(storageKey); return false; }
      var data = await answer.json();
      log.textContent = "";
      data.messages.forEach(function (m) { add(m.role, m.content); });
      if (data.ended) { state = null; localStorage.removeItem(storageKey); }
      return true;
    } catch (e) { return false; }
  }
  async function start() {
    var answer;
    try { answer = await fetch(api + "/conversations", { method: "POST", headers: headers(), body: "{}" }); }
    catch (e) { fail("This site is not allowed to use this chat."); return false; }
    if (!answer.ok) { fail(await problem(answer)); return false; }
    var data = await answer.json();
    state = { conversation_id: data.conversation_id, token: data.token };
    localStorage.setItem(storageKey, JSON.stringify(state));
    if (data.starting_message) add("agent", data.starting_message);
    return true;
  }
  async function* events(answer) {
    var reader = answer.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        var name = "message", data = "";
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) name = line.slice(7);
          else if (line.indexOf("data: ") === 0) data += line.slice(6);
        });
        yield [name, data ? JSON.parse(data) : null];
      }
    }
  }
  async function send(text) {
    if (busy) return;
    busy = true;
    errorBox.hidden = true;
    try {
      if (!state && !(await start())) return;
      add("user", text);
      var reply = add("agent", "");
      var answer = await fetch(api + "/conversations/" + state.conversation_id + "/messages", {
        method: "POST", headers: headers({ Accept: "text/event-stream" }), body: JSON.stringify({ content: text }),
      });
      if (!answer.ok) { reply.remove(); fail(await problem(answer)); return; }
      for await (var pair of events(answer)) {
        var name = pair[0], data = pair[1];
        if (name === "delta") reply.textContent += data.text;
        else if (name === "error") fail(data.message);
        else if (name === "done") {
          if (!reply.textContent && data.message) reply.textContent = data.message.content;
          reply.setAttribute("data-done", "true");
          if (data.ended) { state = null; localStorage.removeItem(storageKey); }
        }
      }
    } catch (e) {
      fail("The chat could not be reached.");
    } finally {
      busy = false;
    }
  }
  bubbleButton.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    bubbleButton.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) input.focus();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  function mount() {
    document.body.appendChild(host);
    restore().then(function (restored) { if (restored) { panel.hidden = false; bubbleButton.setAttribute("aria-expanded", "true"); } });
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
