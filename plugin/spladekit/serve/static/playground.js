// The playground: one query, SPLADE, BM25 and hybrid side by side, the query's expansion as a weight chart, and
// per hit the query tokens that contributed most, highlighted in the snippet. It calls the service's own API
// (/v1/info, /v1/encode, /v1/search) as any client would; nothing here computes a score.
"use strict";

const MODES = ["splade", "bm25", "hybrid"];
const CHART_TERMS = 30;
const SNIPPET = 320;
const TOKEN_KEY = "spladekit-token";
const WORD = "[\\p{L}\\p{N}]";

const $ = (selector) => document.querySelector(selector);
let info = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, body) {
  const headers = { "Accept": "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const init = { headers, method: body === undefined ? "GET" : "POST" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (response.status === 401) {
    $("#token-form").hidden = false;
    throw new Error((data && data.error) || "this service needs a bearer token");
  }
  if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
  return data;
}

function fmt(x) {
  return Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3);
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The words of the query, lowercased (what BM25 matches, and what tells a literal term from an expansion).
function queryWords(text) {
  return (text.toLowerCase().match(new RegExp(WORD + "+", "gu")) || []);
}

// ---------------------------------------------------------------------------------------------- expansion

function renderChart(top, text) {
  const words = queryWords(text);
  const chart = $("#chart");
  chart.replaceChildren();
  const max = top.length ? top[0][1] : 1;
  for (const [token, weight] of top.slice(0, CHART_TERMS)) {
    const bare = token.replace(/^##/, "").toLowerCase();
    // A word of the query, or a word piece of one ("wing" of "wings"); anything else the model added.
    const literal = words.some((w) => bare.length >= 2 && w.startsWith(bare)) || words.includes(bare);
    const bar = el("span", { class: "bar " + (literal ? "literal" : "expanded") });
    bar.style.width = `${Math.max(1, (100 * weight) / max)}%`;
    chart.append(el("div", { class: "term", "data-token": token, title: `${token}: ${weight}` },
      el("span", { class: "token", text: token }), el("span", { class: "track" }, bar),
      el("span", { class: "weight", text: fmt(weight) })));
  }
  $("#expansion").hidden = false;
}

// ---------------------------------------------------------------------------------------------- hits

// The terms to highlight in a hit: its explanation's tokens (SPLADE, hybrid), else the query's words (BM25).
function hitTerms(hit, words) {
  if (hit.explanation && hit.explanation.length) {
    return hit.explanation.map((c) => ({ token: c.token, bare: c.token.replace(/^##/, ""),
                                         piece: c.token.startsWith("##"), contribution: c.contribution }));
  }
  return [...new Set(words)].map((w) => ({ token: w, bare: w, piece: false, contribution: null }));
}

function termPattern(terms) {
  const whole = terms.filter((t) => !t.piece && t.bare.length >= 2).map((t) => escapeRegExp(t.bare));
  if (!whole.length) return null;
  // A token matches a word that starts with it ("stall" in "stalling"); the longest alternative first.
  whole.sort((a, b) => b.length - a.length);
  return new RegExp(`(?<!${WORD})(?:${whole.join("|")})${WORD}*`, "giu");
}

// The snippet: a window of the text around the first highlighted word, built from text nodes (a document's
// text is never parsed as HTML).
function renderSnippet(text, terms) {
  const out = el("p", { class: "snippet" });
  if (!text) {
    out.append(el("em", { text: "(no text: this index keeps vectors only)" }));
    return { node: out, found: new Set() };
  }
  const pattern = termPattern(terms);
  let start = 0;
  if (pattern) {
    pattern.lastIndex = 0;
    const first = pattern.exec(text);
    if (first && first.index > SNIPPET / 3) start = text.lastIndexOf(" ", first.index - SNIPPET / 4) + 1;
  }
  let end = Math.min(text.length, start + SNIPPET);
  if (end < text.length) end = Math.max(text.lastIndexOf(" ", end), start + SNIPPET / 2);
  const part = text.slice(start, end);
  const found = new Set();
  if (start > 0) out.append("… ");
  let at = 0;
  if (pattern) {
    pattern.lastIndex = 0;
    for (const match of part.matchAll(pattern)) {
      out.append(part.slice(at, match.index));
      const word = match[0];
      const term = terms.find((t) => !t.piece && word.toLowerCase().startsWith(t.bare.toLowerCase()));
      const rank = term ? terms.indexOf(term) : 0;
      if (term) found.add(term.token);
      out.append(el("mark", { class: `hl r${Math.min(rank, 4)}`, title: term ? term.token : word, text: word }));
      at = match.index + word.length;
    }
  }
  out.append(part.slice(at));
  if (end < text.length) out.append(" …");
  return { node: out, found };
}

function renderHit(hit, mode, words) {
  const terms = hitTerms(hit, words);
  const text = [hit.title, hit.text].filter(Boolean).join(" — ");
  const { node: snippet, found } = renderSnippet(text, terms);
  const head = el("div", { class: "hit-head" },
    el("span", { class: "rank", text: `${hit.rank}` }),
    el("span", { class: "doc-id", text: hit.id }),
    el("span", { class: "score", title: "score", text: fmt(hit.score) }));
  const item = el("li", { class: "hit", "data-id": hit.id }, head, snippet);
  if (mode === "hybrid" && hit.components) {
    const c = hit.components;
    const from = [c.splade_rank ? `SPLADE #${c.splade_rank}` : "not in SPLADE",
                  c.bm25_rank ? `BM25 #${c.bm25_rank}` : "not in BM25"].join(" · ");
    item.append(el("div", { class: "components", text: from }));
  }
  if (hit.explanation && hit.explanation.length) {
    const why = el("div", { class: "why" }, el("span", { class: "label", text: "why:" }));
    hit.explanation.forEach((c, i) => {
      const inText = !text || found.has(c.token);  // without text there is nothing to be missing from
      why.append(el("span", {
        class: `chip r${Math.min(i, 4)}` + (inText ? "" : " unseen"), "data-token": c.token,
        title: `${c.token}: query ${fmt(c.query_weight)} × document ${fmt(c.doc_weight)} = ${c.contribution}` +
               (inText ? "" : " (not a word of the snippet: a subword, or a term the model added)"),
        text: `${c.token} ${fmt(c.contribution)}`,
      }));
    });
    item.append(why);
  }
  return item;
}

function column(mode) {
  return document.querySelector(`.column[data-mode="${mode}"]`);
}

function setNote(mode, text, kind) {
  const note = column(mode).querySelector(".note");
  note.textContent = text;
  note.className = "note" + (kind ? " " + kind : "");
}

async function runMode(mode, request, words) {
  const col = column(mode);
  const list = col.querySelector(".hits");
  list.replaceChildren();
  const unavailable = info && info.modes ? info.modes[mode] : null;
  if (unavailable) {
    col.classList.add("unavailable");
    setNote(mode, "Unavailable here: " + unavailable, "unavailable");
    return;
  }
  col.classList.remove("unavailable");
  setNote(mode, "searching…", "busy");
  try {
    const data = await api("/v1/search", { ...request, mode });
    for (const hit of data.hits) list.append(renderHit(hit, mode, words));
    setNote(mode, `${data.hits.length} hits in ${data.took_ms.toFixed(1)} ms`, "done");
  } catch (err) {
    setNote(mode, String(err.message || err), "error");
  }
}

async function search(event) {
  if (event) event.preventDefault();
  const text = $("#query").value;
  if (!text.trim()) return;
  const k = Math.max(1, parseInt($("#k").value, 10) || 10);
  const request = { text, k, explain: true, fusion: $("#fusion").value, two_phase: $("#two-phase").checked };
  const words = queryWords(text);
  $("#status").textContent = "";
  const jobs = MODES.map((mode) => runMode(mode, request, words));
  jobs.push(api("/v1/encode", { texts: [text], kind: "query" })
    .then((data) => renderChart(data.vectors[0].top, text))
    .catch((err) => { $("#status").textContent = "expansion: " + (err.message || err); }));
  await Promise.all(jobs);
  document.body.dataset.searched = String(Number(document.body.dataset.searched || 0) + 1);
}

async function loadInfo() {
  try {
    info = await api("/v1/info");
    const where = info.index.backend === "local" ? "the local index"
      : `${info.index.backend} index “${info.index.name}”`;
    $("#about").textContent = `${where} · model ${info.model.name} · spladekit ${info.version}`;
    for (const mode of MODES) {
      if (info.modes[mode]) {
        column(mode).classList.add("unavailable");
        setNote(mode, "Unavailable here: " + info.modes[mode], "unavailable");
      }
    }
    $("#token-form").hidden = true;
    document.body.dataset.ready = "1";
  } catch (err) {
    $("#about").textContent = String(err.message || err);
  }
}

function saveToken(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  loadInfo();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#search-form").addEventListener("submit", search);
  $("#token-form").addEventListener("submit", saveToken);
  loadInfo();
});
