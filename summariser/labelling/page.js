// The label page: one paper at a time, one keystroke per field, every answer saved at once.
"use strict";

// Keys for a field's values, in its order; s, u, n, r and m are commands.
const VALUE_KEYS = "1234567890qwetyiopadfghjklzxcvb".split("");
const HEARTBEAT_MS = 20000;
const RETRY_MS = 1000;
const $ = (id) => document.getElementById(id);
const tab = randomId();
const state = {
  setup: null, paper: null, chosen: {}, picked: [], active: 0, busy: false, keyAt: null,
  suggest: localStorage.getItem("summariser-suggest") === "on", suggestion: null, lastSaved: null, beating: false,
};
// Milliseconds from the keystroke (or click) that saved an answer to the next paper on screen.
window.labelTimings = [];

function randomId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function showStatus(text, bad = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("bad", bad);
  el.hidden = false;
}

// GET (no body) or POST JSON. While the server is unreachable, retry every second (answers and
// skips are safe to send again); an error reply is shown and thrown.
async function api(path, body, retry = true) {
  for (;;) {
    let resp;
    try {
      resp = await fetch(path, body === undefined ? { cache: "no-store" }
        : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    } catch (err) {
      showStatus("The label server is not answering (stopped?). Retrying every second" +
        (body && retry ? "; what you just did is sent again when it is back." : "."), true);
      if (!retry) throw err;
      await sleep(RETRY_MS);
      continue;
    }
    const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) {
      showStatus(data.error || `HTTP ${resp.status}`, true);
      throw new Error(data.error);
    }
    $("status").hidden = true;
    return data;
  }
}

function buildFields() {
  const box = $("fields");
  box.textContent = "";
  state.setup.fields.forEach((field, i) => {
    const el = document.createElement("div");
    el.className = "field";
    el.dataset.field = field.name;
    const head = document.createElement("h2");
    head.textContent = field.name;
    const desc = document.createElement("p");
    desc.className = "description";
    desc.textContent = field.description;
    el.append(head, desc);
    field.values.forEach((v, j) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "value";
      button.dataset.value = v.value;
      button.innerHTML = '<kbd></kbd><span><span class="name"></span><span class="mark"></span> <span class="definition"></span></span>';
      button.querySelector("kbd").textContent = VALUE_KEYS[j] || "";
      button.querySelector(".name").textContent = v.value;
      button.querySelector(".definition").textContent = v.definition;
      button.addEventListener("click", (e) => { e.currentTarget.blur(); state.keyAt = performance.now(); choose(i, v.value); });
      el.append(button);
    });
    el.addEventListener("click", () => { state.active = i; renderFields(); });
    box.append(el);
  });
}

function renderFields() {
  const model = state.paper && state.paper.model;
  state.setup.fields.forEach((field, i) => {
    const el = document.querySelector(`.field[data-field="${field.name}"]`);
    el.classList.toggle("active", i === state.active);
    const probs = (state.suggest && state.suggestion && state.suggestion.fields[field.name]) || null;
    const top = probs ? Object.keys(probs).reduce((a, b) => (probs[a] >= probs[b] ? a : b)) : null;
    el.querySelectorAll(".value").forEach((button) => {
      const value = button.dataset.value;
      button.classList.toggle("selected", state.chosen[field.name] === value);
      const marks = [];
      if (model && model.labels[field.name] === value) {
        const c = model.confidence[field.name];
        marks.push(`model${c == null ? "" : " " + c.toFixed(2)}`);
      }
      if (probs) marks.push(`${value === top ? "classifier " : ""}${Math.round(100 * (probs[value] || 0))}%`);
      const mark = button.querySelector(".mark");
      mark.className = marks.length ? "mark model-mark" : "mark";
      mark.textContent = marks.join(" · ");
    });
  });
  $("save").disabled = !allChosen();
}

const allChosen = () => state.setup.fields.every((f) => state.chosen[f.name]);
const describe = (labels) => Object.entries(labels).map(([k, v]) => `${k} ${v}`).join(", ");
const shorten = (text) => (text.length > 70 ? text.slice(0, 67) + "…" : text);

function show(reply) {
  const p = reply.progress;
  const verb = state.setup.mode === "review" ? "reviewed" : "labelled";
  $("progress").textContent = `${p.labelled} ${verb} of ${p.total}` + (p.skipped ? ` · ${p.skipped} skipped` : "");
  $("bar").max = Math.max(p.total, 1);
  $("bar").value = p.labelled + p.skipped;
  $("ranked-by").textContent = `next paper chosen by: ${reply.ranked_by}`;
  if (reply.saved) showSaved(reply.saved);
  if (reply.withdrawn && reply.paper) $("previous").textContent = `Withdrawn: your answer for “${shorten(reply.paper.title)}”. Answer it again.`;
  state.paper = reply.paper;
  $("work").hidden = !reply.paper;
  $("done").hidden = !!reply.paper;
  if (!reply.paper) {
    $("done-text").textContent = `${p.labelled} ${verb} and ${p.skipped} skipped of ${p.total}. The answers are in ${state.setup.file}.`;
    return;
  }
  showPaper(reply.paper);
}

function showPaper(paper) {
  $("paper").dataset.id = paper.id;
  $("title").textContent = paper.title;
  $("abstract").textContent = paper.abstract;
  state.chosen = { ...paper.labels };
  state.picked = [];
  const fields = state.setup.fields;
  const firstOpen = fields.findIndex((f) => !state.chosen[f.name]);
  state.active = firstOpen < 0 ? 0 : firstOpen;
  $("summary").value = paper.summary || "";
  $("note").value = paper.note || "";
  const model = paper.model;
  $("review-note").hidden = !model;
  $("model-summary").hidden = !(model && model.summary);
  if (model) {
    const least = Object.values(model.confidence).filter((c) => c != null);
    $("review-note").textContent = "The model's answer is selected" +
      (least.length ? ` (lowest confidence ${Math.min(...least).toFixed(2)})` : "") +
      ": Enter confirms it, a key changes a field.";
    $("model-summary").textContent = `The run's summary: ${model.summary || ""}`;
  }
  state.suggestion = null;
  renderFields();
  if (state.suggest) loadSuggestion(paper.id);
  if (state.keyAt !== null) {
    const started = state.keyAt;
    state.keyAt = null;
    requestAnimationFrame(() => window.labelTimings.push(performance.now() - started));
  }
}

function showSaved(saved) {
  const el = $("previous");
  state.lastSaved = saved.id;
  if (saved.skipped) {
    el.textContent = `Skipped “${shorten(saved.title)}”.`;
    return;
  }
  el.textContent = `Saved “${shorten(saved.title)}”: ${describe(saved.labels)}.`;
  if (state.suggest) return;
  // Only now, after the answer, what the classifier would have said: it must not anchor the answer.
  api(`/api/suggestion?id=${encodeURIComponent(saved.id)}`, undefined, false).then((s) => {
    if (state.lastSaved !== saved.id) return;
    const span = document.createElement("span");
    span.className = "model";
    const parts = Object.entries(s.fields).map(([name, probs]) => {
      const best = Object.keys(probs).reduce((a, b) => (probs[a] >= probs[b] ? a : b));
      return `${name} ${best} (${probs[best].toFixed(2)})`;
    });
    const why = s.ranked_by === "no features yet" ? "the papers' features are still being computed"
      : "it needs 4 other answers with two different values in a field";
    span.textContent = parts.length ? ` The classifier would have said: ${parts.join(", ")}.` : ` (No classifier suggestion yet: ${why}.)`;
    el.append(span);
  }).catch(() => {});
}

async function loadSuggestion(id) {
  const s = await api(`/api/suggestion?id=${encodeURIComponent(id)}`, undefined, false).catch(() => null);
  if (s && state.paper && state.paper.id === id) {
    state.suggestion = s;
    renderFields();
  }
}

function choose(i, value) {
  if (!state.paper || state.busy) return;
  const fields = state.setup.fields;
  state.chosen[fields[i].name] = value;
  state.picked.push(i);
  if (allChosen() && i === fields.length - 1) {
    save();
    return;
  }
  const open = fields.findIndex((f, k) => k > i && !state.chosen[f.name]);
  const before = fields.findIndex((f) => !state.chosen[f.name]);
  state.active = open >= 0 ? open : before >= 0 ? before : Math.min(i + 1, fields.length - 1);
  renderFields();
}

// Send an answer, skip or undo; the reply brings the next paper.
async function send(path, body, retry = true) {
  if (state.busy) return;
  state.busy = true;
  try {
    show(await api(path, body, retry));
  } catch (err) {
    state.keyAt = null;
  } finally {
    state.busy = false;
  }
}

function save() {
  if (!state.paper) return;
  if (!allChosen()) {
    state.active = state.setup.fields.findIndex((f) => !state.chosen[f.name]);
    renderFields();
    return;
  }
  send("/api/answer", { tab, id: state.paper.id, labels: { ...state.chosen }, summary: $("summary").value, note: $("note").value });
}

const skip = () => state.paper && send("/api/skip", { tab, id: state.paper.id });
const undo = () => send("/api/undo", { tab }, false);

// u / Backspace: take back the last choice on this paper, else withdraw the last saved answer.
function takeBack() {
  if (!state.picked.length) {
    undo();
    return;
  }
  const i = state.picked.pop();
  const name = state.setup.fields[i].name;
  if (state.paper.labels[name]) state.chosen[name] = state.paper.labels[name];
  else delete state.chosen[name];
  state.active = i;
  renderFields();
}

function toggleSuggest(on = !state.suggest) {
  state.suggest = on;
  $("suggest").checked = on;
  localStorage.setItem("summariser-suggest", on ? "on" : "off");
  if (on && state.paper) loadSuggestion(state.paper.id);
  else renderFields();
}

function onKey(e) {
  const t = e.target;
  if (t instanceof HTMLTextAreaElement || (t instanceof HTMLInputElement && t.type === "text")) {
    if (e.key === "Escape" || (e.key === "Enter" && t instanceof HTMLInputElement)) { e.preventDefault(); t.blur(); }
    else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); t.blur(); state.keyAt = performance.now(); save(); }
    return;  // typing never triggers a shortcut
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  state.keyAt = performance.now();
  const commands = {
    Enter: save, ArrowDown: () => move(1), ArrowUp: () => move(-1), u: takeBack, Backspace: takeBack, s: skip,
    m: () => toggleSuggest(), r: () => $("summary").focus(), n: () => $("note").focus(),
  };
  if (!state.paper) {
    if (key === "u" || key === "Backspace") { e.preventDefault(); undo(); }
    return;
  }
  if (state.busy) { e.preventDefault(); return; }
  if (commands[key]) {
    e.preventDefault();
    commands[key]();
    return;
  }
  const field = state.setup.fields[state.active];
  const j = VALUE_KEYS.indexOf(key);
  if (j >= 0 && j < field.values.length) {
    e.preventDefault();
    choose(state.active, field.values[j].value);
  }
}

function move(step) {
  state.active = Math.max(0, Math.min(state.setup.fields.length - 1, state.active + step));
  renderFields();
}

// Tell the server this tab is open and which paper it shows; if the paper went to another tab
// (this one was asleep, or the server restarted and gave it away), show the next one.
async function heartbeat() {
  if (!state.paper || state.beating || state.busy) return;
  state.beating = true;
  try {
    const beat = await api("/api/heartbeat", { tab, id: state.paper.id });
    if (!beat.held && !state.busy) await send(`/api/next?tab=${tab}`);
  } catch (err) {
    // shown by api()
  } finally {
    state.beating = false;
  }
}

async function start() {
  state.setup = await api("/api/setup");
  const mode = state.setup.mode === "review" ? " · reviewing a run's answers" : "";
  $("who").textContent = `${state.setup.version} · annotator ${state.setup.annotator}${mode}`;
  document.title = `label ${state.setup.version} (${state.setup.annotator})`;
  buildFields();
  $("suggest").checked = state.suggest;
  $("suggest").addEventListener("change", (e) => { e.currentTarget.blur(); toggleSuggest(e.currentTarget.checked); });
  for (const [id, act] of [["save", save], ["skip", skip], ["undo", undo], ["done-undo", undo]]) {
    $(id).addEventListener("click", (e) => { e.currentTarget.blur(); state.keyAt = performance.now(); act(); });
  }
  document.addEventListener("keydown", onKey);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) heartbeat(); });
  window.addEventListener("pagehide", () => {
    fetch("/api/release", { method: "POST", keepalive: true, headers: { "content-type": "application/json" }, body: JSON.stringify({ tab }) });
  });
  setInterval(heartbeat, HEARTBEAT_MS);
  await send(`/api/next?tab=${tab}`);
}

start();
