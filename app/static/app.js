// fieldmap's web app: ask, search, entities. Plain JS, no library. Every document text reaches the page
// through textContent or a text node, never innerHTML, so a title holding <script> is only text.
"use strict";

const state = { key: localStorage.getItem("fieldmap_key") || "", workspace: null, workspaces: [], answer: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

class Unauthorised extends Error {}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.key) h.Authorization = "Bearer " + state.key;
  return h;
}

async function api(path, options) {
  const base = path.startsWith("/v1/") ? "" : "/w/" + encodeURIComponent(state.workspace);
  const response = await fetch(base + path, Object.assign({}, options || {}, { headers: headers((options || {}).headers) }));
  if (response.status === 401 || response.status === 403) {
    showSignIn(response.status === 403 ? "This key may not read that workspace." : "This server needs an API key.");
    throw new Unauthorised(String(response.status));
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

const getJSON = async (path) => (await api(path)).json();
const enc = encodeURIComponent;

// ---- sign-in and workspaces ----

function showSignIn(message) {
  $("signin-message").textContent = message + " Ask whoever runs it for one.";
  $("signin").hidden = false;
  document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  $("sign-out").hidden = !state.key;
}

function setKey(key) {
  state.key = key;
  if (key) {
    localStorage.setItem("fieldmap_key", key);
    document.cookie = "fieldmap_key=" + enc(key) + "; path=/; SameSite=Strict";  // for the dashboard link
  } else {
    localStorage.removeItem("fieldmap_key");
    document.cookie = "fieldmap_key=; path=/; max-age=0; SameSite=Strict";
  }
}

async function start() {
  let models;
  try {
    models = await getJSON("/v1/models");
  } catch (e) {
    if (!(e instanceof Unauthorised)) $("signin-message").textContent = String(e.message);
    return;
  }
  state.workspaces = models.data.map((m) => m.id);
  if (!state.workspaces.length) { showSignIn("This key may read no workspace."); return; }
  const wanted = localStorage.getItem("fieldmap_workspace");
  state.workspace = state.workspaces.includes(wanted) ? wanted : state.workspaces[0];
  const select = $("workspace");
  select.replaceChildren(...state.workspaces.map((name) => el("option", { value: name }, name)));
  select.value = state.workspace;
  $("signin").hidden = true;
  $("sign-out").hidden = !state.key;
  $("dashboard-link").href = "/w/" + enc(state.workspace) + "/dashboard/";
  route();
}

// ---- views ----

function show(view) {
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== "view-" + view; });
  document.querySelectorAll("header nav a[data-view]").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
}

function route() {
  if (!state.workspace) return;
  const hash = decodeURIComponent(location.hash.slice(1) || "ask");
  $("passage-panel").hidden = true;
  if (hash.startsWith("entity/")) { show("entity"); loadEntity(hash.slice(7)); return; }
  const view = ["ask", "search", "entities"].includes(hash) ? hash : "ask";
  show(view);
}

function citeButton(n) {
  return el("button", { className: "cite", type: "button", "data-passage": n, onclick: () => openCited(n) }, "[" + n + "]");
}

// "... text [2] more [3]" -> text nodes and citation buttons
function withCitations(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    parts.push(document.createTextNode(text.slice(last, match.index)));
    parts.push(citeButton(Number(match[1])));
    last = match.index + match[0].length;
  }
  parts.push(document.createTextNode(text.slice(last)));
  return parts;
}

async function ask(question, mode) {
  state.answer = null;
  for (const id of ["answer", "progress", "flags", "evidence", "passages", "retrieval"]) $(id).replaceChildren();
  document.querySelectorAll(".after-answer").forEach((h) => { h.hidden = true; });
  $("answer").dataset.done = "false";
  $("ask-status").textContent = "Asking…";
  let response;
  try {
    response = await api("/ask/stream", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ question, mode }) });
  } catch (e) {
    $("ask-status").textContent = e instanceof Unauthorised ? "" : "Error: " + e.message;
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
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
      onAskEvent(name, data ? JSON.parse(data) : null);
      if (name === "answer") await new Promise((resolve) => setTimeout(resolve, 12));  // paint each piece as it comes
    }
  }
}

const SHOWN_RETRIEVED = 5;  // passage titles named while the answer is read; all of them are listed with it

// the answer's events as it is made (app/webapp.py); every document text goes in as text nodes
function onAskEvent(name, data) {
  if (name === "status") $("ask-status").textContent = "Working: " + data.stage + "…";
  else if (name === "retrieved") {
    const titles = data.passages.slice(0, SHOWN_RETRIEVED).map((p) => "[" + p.number + "] " + (p.title || p.doc_id));
    const more = data.passages.length > SHOWN_RETRIEVED ? " · …" : "";
    $("progress").append(el("li", { className: "retrieved" },
      "Retrieved " + data.passages.length + " passages: " + titles.join(" · ") + more));
  } else if (name === "hop") {
    $("progress").append(el("li", { className: "hop" }, "read " + data.bridge + " in [" + data.passage + "] " + data.title));
  } else if (name === "reset") $("answer").replaceChildren();
  else if (name === "answer") $("answer").append(document.createTextNode(data.text));
  else if (name === "error") $("ask-status").textContent = "Error: " + data.detail;
  else if (name === "done") {
    document.querySelectorAll("#progress li.retrieved").forEach((li) => li.remove());  // the passages are listed below
    showAnswer(data);
  }
}

function showAnswer(answer) {
  state.answer = answer;
  $("ask-status").textContent = "";
  const cited = [...new Set(answer.evidence.map((e) => e.passage))].sort((a, b) => a - b);
  const text = answer.answer || (answer.evidence.length ? "" : "No answer was found in the documents.");
  $("answer").replaceChildren(...withCitations(text));
  if (answer.answer && !/\[\d+\]/.test(answer.answer)) cited.forEach((n) => $("answer").append(" ", citeButton(n)));
  $("answer").dataset.done = "true";
  $("flags").replaceChildren(...answer.flags.map((f) => el("p", { className: "flag" }, f)));
  // a description's answer is its evidence, already shown sentence by sentence with [n]: not listed twice
  const listed = answer.answer_type === "description" ? [] : answer.evidence;
  $("evidence").replaceChildren(...listed.map((e) => el("li", {}, e.text, " ", citeButton(e.passage))));
  const citedIds = new Set(answer.citations.map((c) => c.chunk_id));
  $("passages").replaceChildren(...answer.passages.map((p, i) => el("li", { className: citedIds.has(p.chunk_id) ? "cited" : "" },
    el("span", { className: "title", onclick: () => openCited(i + 1) }, "[" + (i + 1) + "] " + (p.title || p.doc_id)),
    el("div", { className: "snippet" }, p.text.length > 320 ? p.text.slice(0, 320) + "…" : p.text))));
  document.querySelectorAll(".after-answer").forEach((h) => { h.hidden = h.nextElementSibling.children.length === 0; });
  $("retrieval").textContent = "retrieval: " + (answer.retrieval || answer.mode) + " · answer: " + answer.method;
}

function openCited(n) {
  const passage = state.answer && state.answer.passages[n - 1];
  if (!passage) return;
  const sentences = state.answer.evidence.filter((e) => e.chunk_id === passage.chunk_id).map((e) => e.text);
  openPassage(passage.chunk_id, sentences);
}

// the passage's text with every evidence sentence in it wrapped in <mark class="evidence">
function highlighted(text, sentences) {
  const spans = [];
  for (const sentence of sentences) {
    const at = text.indexOf(sentence.trim());
    if (at >= 0) spans.push([at, at + sentence.trim().length]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const parts = [];
  let last = 0;
  for (const [from, to] of spans) {
    if (from < last) continue;
    parts.push(document.createTextNode(text.slice(last, from)));
    parts.push(el("mark", { className: "evidence" }, text.slice(from, to)));
    last = to;
  }
  parts.push(document.createTextNode(text.slice(last)));
  return parts;
}

async function openPassage(chunkId, sentences) {
  let passage;
  try { passage = await getJSON("/passages/" + enc(chunkId)); } catch (e) { return; }
  $("passage-title").textContent = passage.title || passage.doc_id;
  const meta = [];
  if (passage.date) meta.push(passage.date);
  if (passage.pages) meta.push(passage.pages[0] === passage.pages[1] ? "PDF page " + passage.pages[0] : "PDF pages " + passage.pages[0] + "–" + passage.pages[1]);
  meta.push(passage.doc_id);
  const parts = [meta.join(" · ")];
  if (passage.link && /^https?:\/\//.test(passage.link)) parts.push(" · ", el("a", { href: passage.link, target: "_blank", rel: "noopener noreferrer" }, "open the document"));
  $("passage-meta").replaceChildren(...parts);
  $("passage-text").replaceChildren(...highlighted(passage.text, sentences || []));
  $("passage-panel").hidden = false;
  $("passage-panel").dataset.chunk = chunkId;
}

async function search(query, mode) {
  const found = await getJSON("/search?q=" + enc(query) + "&mode=" + enc(mode) + "&k=10");
  $("results").replaceChildren(...found.results.map((p, i) => el("li", {},
    el("span", { className: "title", onclick: () => openPassage(p.chunk_id, []) }, "[" + (i + 1) + "] " + (p.title || p.doc_id)),
    el("div", { className: "snippet" }, p.text.length > 400 ? p.text.slice(0, 400) + "…" : p.text))));
}

async function findEntities(query) {
  const found = await getJSON("/entities?q=" + enc(query) + "&limit=30");
  $("entity-list").replaceChildren(...found.entities.map((e) => el("li", {},
    el("a", { href: "#entity/" + enc(e.entity_id) }, e.name), " ", el("span", { className: "meta" }, e.type + " · " + e.mentions + " mentions"))));
}

function barFill(width) {
  const bar = el("span", { className: "bar-fill" });
  bar.style.width = width + "px";  // through the CSSOM: the page's CSP refuses style attributes
  return bar;
}

function entityLink(id, name) {
  return el("a", { href: "#entity/" + enc(id) }, name);
}

async function loadEntity(entityId) {
  let entity, graph;
  try {
    [entity, graph] = await Promise.all([getJSON("/entities/" + enc(entityId)), getJSON("/graph/" + enc(entityId))]);
  } catch (e) {
    $("entity-name").textContent = e instanceof Unauthorised ? "" : "Error: " + e.message;
    return;
  }
  $("entity-name").textContent = entity.name;
  $("entity-meta").textContent = entity.type + " · " + entity.mentions + " mentions";
  $("facts").tBodies[0].replaceChildren(...entity.facts.map((f) => el("tr", {},
    el("td", {}, entityLink(f.subject_id, f.subject)), el("td", {}, f.predicate || f.relation),
    el("td", {}, entityLink(f.object_id, f.object)), el("td", { className: "meta" }, f.doc_id))));
  $("synonyms").replaceChildren(...entity.synonyms.map((s) => el("li", {}, entityLink(s.entity_id, s.name), " ",
    el("span", { className: "meta" }, s.similarity.toFixed(2)))));
  const most = Math.max(1, ...entity.documents_by_year.map((y) => y.documents));
  $("by-year").replaceChildren(...entity.documents_by_year.map((y) => el("div", { className: "row" },
    el("span", {}, y.year ?? "no date"), barFill(Math.round(120 * y.documents / most)),
    el("span", { className: "meta" }, y.documents))));
  $("entity-documents").replaceChildren(...entity.documents.map((d) => el("li", {}, d.title || d.doc_id, " ",
    el("span", { className: "meta" }, (d.year ?? "") + " · " + d.mentions + " mentions"))));
  drawGraph(graph);
}

// ---- the neighbourhood graph: a small force layout (repulsion, springs, a pull to the centre) ----

function layout(nodes, edges, width, height) {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const pos = nodes.map((n, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, nodes.length - 1);
    return i === 0 ? { x: width / 2, y: height / 2 } : { x: width / 2 + 160 * Math.cos(angle), y: height / 2 + 140 * Math.sin(angle) };
  });
  const links = edges.map((e) => [index.get(e.source), index.get(e.target)]).filter(([a, b]) => a !== undefined && b !== undefined);
  for (let step = 0; step < 300; step++) {
    const cool = 1 - step / 300;
    const force = pos.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < pos.length; i++) {
      for (let j = i + 1; j < pos.length; j++) {
        const dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y;
        const d2 = Math.max(dx * dx + dy * dy, 25);
        const push = 2400 / d2;
        force[i].x += dx * push; force[i].y += dy * push;
        force[j].x -= dx * push; force[j].y -= dy * push;
      }
    }
    for (const [a, b] of links) {
      const dx = pos[b].x - pos[a].x, dy = pos[b].y - pos[a].y;
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const pull = (d - 120) * 0.02;
      force[a].x += (dx / d) * pull * d / 4; force[a].y += (dy / d) * pull * d / 4;
      force[b].x -= (dx / d) * pull * d / 4; force[b].y -= (dy / d) * pull * d / 4;
    }
    for (let i = 1; i < pos.length; i++) {  // the centre node stays put
      force[i].x += (width / 2 - pos[i].x) * 0.01; force[i].y += (height / 2 - pos[i].y) * 0.01;
      const len = Math.hypot(force[i].x, force[i].y) || 1;
      const move = Math.min(len, 12 * cool + 0.5);
      pos[i].x = Math.min(width - 150, Math.max(40, pos[i].x + (force[i].x / len) * move));
      pos[i].y = Math.min(height - 20, Math.max(20, pos[i].y + (force[i].y / len) * move));
    }
  }
  return { pos, links };
}

function drawGraph(graph) {
  const box = $("graph");
  const [width, height] = [640, 480];
  const { pos, links } = layout(graph.nodes, graph.edges, width, height);
  const kinds = graph.edges.filter((e) => graph.nodes.some((n) => n.id === e.source) && graph.nodes.some((n) => n.id === e.target)).map((e) => e.kind);
  const edgeLayer = svg("g", {}), nodeLayer = svg("g", {});
  links.forEach(([a, b], i) => {
    const line = svg("line", { x1: pos[a].x, y1: pos[a].y, x2: pos[b].x, y2: pos[b].y });
    if (kinds[i] === "synonym") line.classList.add("synonym");
    edgeLayer.append(line);
  });
  const most = Math.max(1, ...graph.nodes.map((n) => n.mentions));
  graph.nodes.forEach((node, i) => {
    const g = svg("g", { class: "node" + (node.id === graph.centre ? " centre" : ""), "data-id": node.id,
                         transform: "translate(" + pos[i].x.toFixed(1) + "," + pos[i].y.toFixed(1) + ")" });
    const title = svg("title", {});
    title.textContent = node.name + " (" + node.type + ", " + node.mentions + " mentions)";
    const label = svg("text", { x: 9, y: 4 });
    label.textContent = node.name.length > 28 ? node.name.slice(0, 27) + "…" : node.name;
    g.append(title, svg("circle", { r: (5 + 7 * Math.sqrt(node.mentions / most)).toFixed(1) }), label);
    g.addEventListener("click", () => { location.hash = "#entity/" + enc(node.id); });
    nodeLayer.append(g);
  });
  box.replaceChildren(edgeLayer, nodeLayer);
  box.dataset.centre = graph.centre;
}

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setKey($("key").value.trim());
    $("key").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => { setKey(""); showSignIn("Signed out."); });
  $("workspace").addEventListener("change", () => {
    state.workspace = $("workspace").value;
    localStorage.setItem("fieldmap_workspace", state.workspace);
    $("dashboard-link").href = "/w/" + enc(state.workspace) + "/dashboard/";
    route();
  });
  $("ask-form").addEventListener("submit", (event) => { event.preventDefault(); ask($("question").value, $("mode").value); });
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search($("query").value, $("search-mode").value).catch(() => {}); });
  $("entity-form").addEventListener("submit", (event) => { event.preventDefault(); findEntities($("entity-query").value).catch(() => {}); });
  $("close-passage").addEventListener("click", () => { $("passage-panel").hidden = true; });
  window.addEventListener("hashchange", route);
  start();
});
