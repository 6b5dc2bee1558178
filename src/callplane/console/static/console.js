// callplane console: the few behaviours htmx does not cover. No build step, no dependencies.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // --- The version editor: form fields and the JSON editor kept in step, validated live. ---
  function setPath(obj, path, value) {
    const parts = path.split(".");
    let at = obj;
    for (const part of parts.slice(0, -1)) {
      if (typeof at[part] !== "object" || at[part] === null) at[part] = {};
      at = at[part];
    }
    const last = parts[parts.length - 1];
    if (value === undefined) delete at[last]; else at[last] = value;
  }
  function getPath(obj, path) {
    return path.split(".").reduce((at, part) => (at && typeof at === "object" ? at[part] : undefined), obj);
  }
  function editor(form) {
    const json = form.querySelector("#f-config");
    const fields = Array.from(form.querySelectorAll("[data-path]"));
    const list = form.querySelector("#config-errors");
    const valid = form.querySelector("#config-valid");
    let timer = null;
    const parse = () => { try { return JSON.parse(json.value); } catch (e) { return null; } };
    function fieldValue(input) {
      if (input.value === "" && input.dataset.path === "starting_message") return null;
      if (input.dataset.number !== undefined && input.value !== "" && !isNaN(Number(input.value))) return Number(input.value);
      return input.value === "" && input.dataset.number !== undefined ? undefined : input.value;
    }
    fields.forEach((input) => input.addEventListener("input", () => {
      const config = parse();
      if (config === null) return schedule();
      setPath(config, input.dataset.path, fieldValue(input));
      json.value = JSON.stringify(config, null, 2);
      schedule();
    }));
    json.addEventListener("input", () => {
      const config = parse();
      if (config !== null) fields.forEach((input) => {
        if (document.activeElement === input) return;
        const value = getPath(config, input.dataset.path);
        input.value = value === undefined || value === null ? "" : String(value);
      });
      schedule();
    });
    function schedule() { clearTimeout(timer); timer = setTimeout(check, 250); }
    async function check() {
      let body;
      try { body = JSON.stringify(JSON.parse(json.value)); } catch (e) { return show([{ loc: [], msg: "Not valid JSON: " + e.message }]); }
      const answer = await fetch(form.dataset.validate, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      });
      if (!answer.ok) return;
      const result = await answer.json();
      show(result.errors || []);
    }
    function show(errors) {
      const byField = {};
      const rest = [];
      for (const e of errors) {
        const path = (e.loc || []).join(".");
        if (fields.some((f) => f.dataset.path === path) && !(path in byField)) byField[path] = e.msg;
        else rest.push([path || "(config)", e.msg]);
      }
      fields.forEach((input) => {
        const slot = form.querySelector(`[data-error-for="${input.dataset.path}"]`);
        const msg = byField[input.dataset.path];
        if (slot) { slot.textContent = msg || ""; slot.hidden = !msg; }
        if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
      });
      list.replaceChildren(...rest.map(([path, msg]) => {
        const li = document.createElement("li");
        li.className = "error";
        const code = document.createElement("code");
        code.textContent = path;
        li.append(code, ": " + msg);
        return li;
      }));
      json.setAttribute("aria-invalid", rest.length ? "true" : "false");
      valid.textContent = errors.length ? "" : "✓ valid configuration";
    }
  }

  // --- Streams: the comparison summary (text), a workflow's progress (Server-Sent Events). ---
  async function summary(el) {
    const body = new URLSearchParams({ from: el.dataset.from, to: el.dataset.to, csrf_token: csrf() });
    const answer = await fetch(el.dataset.summary, { method: "POST", body, credentials: "same-origin" });
    if (!answer.ok) { el.textContent = "The summary could not be written (" + answer.status + ")."; return; }
    const reader = answer.body.getReader();
    const decoder = new TextDecoder();
    el.textContent = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      el.textContent += decoder.decode(value, { stream: true });
    }
    el.dataset.done = "true";
  }
  function workflow(el) {
    const source = new EventSource(el.dataset.events);
    const update = (event) => {
      const run = JSON.parse(event.data);
      el.querySelector("#run-status").textContent = run.status;
      el.querySelector("#run-status").className = "status " + run.status;
      const bar = el.querySelector("#run-progress");
      bar.max = run.progress.total_steps || 1;
      bar.value = run.progress.completed_steps;
      el.querySelector("#run-step").textContent = run.progress.message || run.progress.step || "";
      if (run.error) { const e = el.querySelector("#run-error"); e.textContent = run.error.message; e.hidden = false; }
      if (run.result && run.result.agent_id) {
        const r = el.querySelector("#run-result");
        r.innerHTML = "";
        const a = document.createElement("a");
        a.className = "button primary"; a.href = "/console/agents/" + run.result.agent_id; a.textContent = "Open the agent";
        r.append(a); r.hidden = false;
      }
    };
    source.addEventListener("progress", update);
    source.addEventListener("finished", (event) => { update(event); source.close(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("form#editor");
    if (form && form.querySelector("#f-config") && !form.querySelector("fieldset[disabled]")) editor(form);
    const el = document.querySelector("[data-summary]");
    if (el) summary(el);
    const run = document.querySelector("#run[data-events]");
    if (run && run.dataset.events) workflow(run);
    if (window.callplanePlayground) window.callplanePlayground(csrf);
  });
})();

// --- The playground: start a conversation, then stream each turn's events. ---
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        yield [name, data ? JSON.parse(data) : null];
      }
    }
  }
  function setup() {
    const root = document.getElementById("playground");
    if (!root) return;
    const chat = root.querySelector("#pg-chat");
    const say = root.querySelector("#pg-say");
    const input = root.querySelector("#pg-message");
    const error = root.querySelector("#pg-error");
    const status = root.querySelector("#pg-status");
    let conversation = null;
    const bubble = (role, text) => {
      const li = document.createElement("li");
      li.className = "msg " + role;
      const r = document.createElement("span"); r.className = "role"; r.textContent = role;
      const c = document.createElement("div"); c.className = "content"; c.textContent = text || "";
      li.append(r, c); chat.append(li); chat.scrollTop = chat.scrollHeight;
      return li;
    };
    const note = (li, cls, text) => {
      const d = document.createElement("div"); d.className = cls; d.textContent = text; li.append(d);
    };
    const fail = (text) => { error.textContent = text; error.hidden = false; };
    root.querySelector("#pg-start").addEventListener("submit", async (e) => {
      e.preventDefault();
      error.hidden = true;
      const body = new URLSearchParams({ version: root.querySelector("#pg-version").value, csrf_token: csrf() });
      const answer = await fetch(root.dataset.start, { method: "POST", body, credentials: "same-origin" });
      const data = await answer.json();
      if (!answer.ok) return fail(data.detail || ("Could not start (" + answer.status + ")"));
      conversation = data.conversation_id;
      chat.replaceChildren();
      status.textContent = "in progress · v" + data.version + " · " + data.model;
      if (data.starting_message) bubble("agent", data.starting_message);
      say.hidden = false; input.focus();
    });
    say.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!conversation || !input.value.trim()) return;
      const content = input.value; input.value = "";
      bubble("user", content);
      const agent = bubble("agent", "");
      const text = agent.querySelector(".content");
      const body = new URLSearchParams({ content, csrf_token: csrf() });
      const answer = await fetch("/console/conversations/" + conversation + "/messages", { method: "POST", body, credentials: "same-origin" });
      if (!answer.ok) { const d = await answer.json(); agent.remove(); return fail(d.detail || ("Error " + answer.status)); }
      for await (const [name, data] of events(answer)) {
        if (name === "delta") text.textContent += data.text;
        else if (name === "tool_call") note(agent, "tool", "🔧 " + data.name + "(" + JSON.stringify(data.arguments) + ")");
        else if (name === "tool_result") note(agent, "tool", "↳ " + data.name + ": " + String(typeof data.content === "string" ? data.content : JSON.stringify(data.content)).slice(0, 300));
        else if (name === "knowledge") note(agent, "citations", "Sources: " + data.passages.map((p) => p.title || p.url || p.document_id).join(" · "));
        else if (name === "action") note(agent, "tool", "⚡ " + data.type);
        else if (name === "error") note(agent, "error", data.message);
        else if (name === "done") {
          if (!text.textContent && data.message) text.textContent = data.message.content;
          agent.dataset.done = "true";
          if (data.ended) { status.textContent = "ended: " + data.ended_reason; say.hidden = true; }
        }
      }
    });
  }
  // --- Copy buttons: `data-copy` names the input (or element) whose text is copied. ---
  document.addEventListener("click", async (e) => {
    const button = e.target.closest ? e.target.closest("[data-copy]") : null;
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    try { await navigator.clipboard.writeText(text); }
    catch (err) { if (source.select) { source.select(); document.execCommand("copy"); } }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  document.addEventListener("DOMContentLoaded", setup);
})();
