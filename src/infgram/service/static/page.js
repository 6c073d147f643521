// The infgram web page: every view is one or two calls of POST /v1/{op}.
// Corpus text is only ever put on the page as text nodes (never as HTML), and the page's
// state lives in the URL's fragment, so a link shows the same view again.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 10;
const state = { tab: "count", index: "", q: "", offset: 0, within: "", infgram: false, min_length: "", prompt: "" };

// -- small helpers --------------------------------------------------------------------------------
function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function show(container, ...children) {
  container.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
}

function number(value) {
  return value === null || value === undefined ? "–" : value.toLocaleString("en");
}

function probability(value) {
  return value === null || value === undefined ? "undefined (the prompt never occurs)" : value.toPrecision(4);
}

class ServerError extends Error {
  constructor(body, status) {
    super(body.error ? body.error.message : `HTTP ${status}`);
    this.body = body.error || {};
    this.status = status;
  }
}

async function call(op, fields) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("infgram-key");
  if (key) headers.Authorization = "Bearer " + key;
  const query = state.index ? "?index=" + encodeURIComponent(state.index) : "";
  const response = await fetch(op.startsWith("/") ? op : `/v1/${op}${query}`,
    op.startsWith("/") ? { headers } : { method: "POST", headers, body: JSON.stringify(fields) });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) $("key-box").hidden = false;
  if (!response.ok || body.error) throw new ServerError(body, response.status);
  return body;
}

function failure(container, error) {
  show(container, element("div", { class: "error" }, `${error.body && error.body.type ? error.body.type + ": " : ""}${error.message}`));
}

// Text with [start, end) code-point ranges marked; overlapping ranges merge.
function marked(text, spans) {
  const characters = Array.from(text);
  const ranges = (spans || []).map(([a, b]) => [a, b]).sort((x, y) => x[0] - y[0]);
  const merged = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push(range);
  }
  const parts = [];
  let at = 0;
  for (const [start, end] of merged) {
    if (start > at) parts.push(characters.slice(at, start).join(""));
    parts.push(element("mark", {}, characters.slice(Math.max(start, at), end).join("")));
    at = Math.max(at, end);
  }
  parts.push(characters.slice(at).join(""));
  return element("span", { class: "text" }, ...parts);
}

function documentCard(document) {
  const place = document.start === null ? "" : `, match at token ${number(document.start)}`;
  return element("div", { class: "document" },
    element("div", { class: "muted" }, `document ${number(document.index)}${place}`),
    marked(document.text, document.spans),
    Object.keys(document.metadata || {}).length ? element("div", { class: "meta" }, JSON.stringify(document.metadata)) : null);
}

function pager(total, exact, onPage) {
  const last = Math.max(0, total - 1);
  const to = Math.min(state.offset + PAGE_SIZE, total);
  const previous = element("button", { type: "button", class: "previous" }, "← previous");
  const next = element("button", { type: "button", class: "next" }, "next →");
  previous.disabled = state.offset <= 0;
  next.disabled = state.offset + PAGE_SIZE > last;
  previous.addEventListener("click", () => onPage(Math.max(0, state.offset - PAGE_SIZE)));
  next.addEventListener("click", () => onPage(state.offset + PAGE_SIZE));
  return element("div", { class: "pager" }, previous,
    element("span", { class: "summary" }, `${total ? state.offset + 1 : 0}–${to} of ${exact ? "" : "at least "}${number(total)} documents`), next);
}

// -- the views ------------------------------------------------------------------------------------
const views = {
  async count() {
    const out = $("count-result");
    const count = await call("count", { text: state.q });
    const rows = [["count", number(count.count)]];
    if (state.q) {
      const each = await call("infgram_probabilities", { text: state.q });
      const ids = each.token_ids;
      const last = ids.length - 1;
      if (last >= 0) {
        const ngram = await call("probability", { prompt_ids: ids.slice(0, last), next_id: ids[last] });
        rows.push([`n-gram probability of the last token (given the ${last} before it)`, probability(ngram.probability)],
          [`∞-gram probability of the last token (suffix of ${each.suffix_lengths[last]} tokens, seen ${number(each.prompt_counts[last])} times)`,
            probability(each.probabilities[last])]);
      }
    }
    show(out, element("table", { id: "count-table" },
      ...rows.map(([name, value]) => element("tr", {}, element("th", {}, name), element("td", { class: "number" }, value)))));
  },

  async next() {
    const out = $("next-result");
    const op = state.infgram ? "infgram_next_tokens" : "next_tokens";
    const reply = await call(op, { prompt: state.q, top_k: 20 });
    const head = state.infgram ? `longest suffix that occurs: ${reply.suffix_length} tokens; ` : "";
    const widest = Math.max(...reply.tokens.map((token) => token.probability), 1e-9);
    show(out, element("p", {}, `${head}the prompt occurs ${number(reply.prompt_count)} times`),
      element("div", { class: "bars" }, ...reply.tokens.map((token) => {
        const bar = element("div", { class: "bar" });
        bar.style.width = `${(100 * token.probability) / widest}%`;
        return element("div", { class: "row" },
          element("span", { class: "label" }, token.id === null ? "⟨end of document⟩" : JSON.stringify(token.text)),
          bar, element("span", { class: "number" }, `${number(token.count)} · ${(100 * token.probability).toFixed(1)}%`));
      })));
  },

  async documents() {
    const out = $("documents-result");
    const reply = await call("documents", { text: state.q, limit: PAGE_SIZE, offset: state.offset, context: 60 });
    show(out, pager(reply.num_documents, reply.num_documents_exact, turnPage), ...reply.documents.map(documentCard));
  },

  async search() {
    const out = $("search-result");
    const echo = $("search-query");
    show(echo);
    const fields = { cnf: state.q, limit: PAGE_SIZE, offset: state.offset, context: 60 };
    if (state.within) fields.within = Number(state.within);
    try {
      const reply = await call("search", fields);
      show(out, element("p", {}, `${number(reply.sites)} match sites`), pager(reply.num_documents, true, turnPage),
        ...reply.documents.map(documentCard));
    } catch (error) {
      if (error.body && Number.isInteger(error.body.position)) underline(echo, state.q, error.body.position);
      throw error;
    }
  },

  async attribute() {
    const out = $("attribute-result");
    show($("attribute-sources"));
    const fields = { text: state.q, context: 40 };
    if (state.min_length) fields.min_length = Number(state.min_length);
    const reply = await call("attribute", fields);
    show(out, element("p", {}, `${reply.spans.length} spans of at least ${reply.min_length} tokens occur verbatim ` +
      "(click one for its sources)"), attributedText(reply));
  },

  async trace() {
    const out = $("trace-result");
    show($("trace-documents"));
    const reply = await call("trace", { text: state.q, prompt: state.prompt });
    show(out, element("p", { id: "trace-summary" }, `${reply.num_kept} of ${reply.num_candidates} spans kept: the rarest of ` +
      `${number(reply.num_units)} ${reply.unit}s, ${reply.spans.length} after merging; documents ranked by BM25 ` +
      `(IDF from the ${reply.idf_source}). Click a span for its documents.`), tracedText(reply));
    showTraceDocuments(reply.spans, "every span");
  },

  async contamination() {
    const out = $("contamination-result");
    const entries = state.q.split("\n").filter((line) => line.trim());
    const rows = [];
    for (const entry of entries) {
      const reply = await call("contamination", { text: entry });
      const example = reply.example ? element("span", { class: "text" }, reply.example.snippet || "") : "";
      rows.push(element("tr", {}, element("td", {}, entry), element("td", { class: `label-${reply.label}` }, reply.label),
        element("td", { class: "number" }, `${reply.found}/${reply.windows} (${(100 * reply.fraction).toFixed(0)}%)`),
        element("td", {}, example)));
    }
    show(out, element("table", {}, element("tr", {}, ...["entry", "label", "windows found", "example"].map((h) => element("th", {}, h))), ...rows));
  },
};

// The query with the character where it fails underlined.
function underline(container, query, position) {
  const characters = Array.from(query);
  const at = Math.min(position, characters.length);
  const fault = characters.slice(at, at + 1).join("") || " ";
  show(container, characters.slice(0, at).join(""), element("span", { class: "fault", title: "the query fails here" }, fault),
    characters.slice(at + 1).join(""));
}

// The text, its attributed spans clickable: a click lists the documents of the spans there.
function attributedText(reply) {
  const characters = Array.from(reply.text);
  const cuts = new Set([0, characters.length]);
  for (const span of reply.spans) { cuts.add(span.character_start); cuts.add(span.character_end); }
  const points = [...cuts].sort((a, b) => a - b);
  const box = element("div", { class: "attributed", id: "attributed" });
  for (let i = 0; i + 1 < points.length; i++) {
    const [start, end] = [points[i], points[i + 1]];
    const covering = reply.spans.filter((span) => span.character_start <= start && span.character_end >= end);
    const piece = characters.slice(start, end).join("");
    if (!covering.length) { box.append(piece); continue; }
    const common = covering.every((span) => span.common);
    const node = element("span", { class: `span${covering.length > 1 ? " deep" : ""}${common ? " common" : ""}` }, piece);
    node.addEventListener("click", () => {
      for (const chosen of box.querySelectorAll(".chosen")) chosen.classList.remove("chosen");
      node.classList.add("chosen");
      showSources(covering);
    });
    box.append(node);
  }
  return box;
}

function showSources(spans) {
  const out = $("attribute-sources");
  show(out, ...spans.map((span) => element("div", {},
    element("h3", {}, `“${span.text}”: ${number(span.count)} occurrences in ${number(span.num_documents)} documents` +
      (span.common ? " (common: no examples)" : "")),
    ...span.documents.map(documentCard))));
}

// The output with its traced spans highlighted by relevance, as OLMoTrace shows them: a click
// lists that span's documents, most relevant first.
function tracedText(reply) {
  const characters = Array.from(reply.text);
  const box = element("div", { class: "attributed traced", id: "traced" });
  let at = 0;
  for (const span of reply.spans) {  // merged spans do not overlap and come in order
    if (span.character_start > at) box.append(characters.slice(at, span.character_start).join(""));
    const node = element("span", { class: `span relevance-${span.relevance}`, title: `${span.relevance} relevance` },
      characters.slice(span.character_start, span.character_end).join(""));
    node.addEventListener("click", () => {
      for (const chosen of box.querySelectorAll(".chosen")) chosen.classList.remove("chosen");
      node.classList.add("chosen");
      showTraceDocuments([span], `“${span.text}”`);
    });
    box.append(node);
    at = span.character_end;
  }
  box.append(characters.slice(at).join(""));
  return box;
}

function showTraceDocuments(spans, what) {
  const seen = new Map();
  for (const span of spans) for (const document of span.documents) if (!seen.has(document.index)) seen.set(document.index, document);
  const ranked = [...seen.values()].sort((a, b) => b.score - a.score || a.index - b.index);
  show($("trace-documents"), element("h3", {}, `${ranked.length} document${ranked.length === 1 ? "" : "s"} of ${what}, most relevant first`),
    ...ranked.map((document) => element("div", { class: `document relevance-${document.relevance}` },
      element("div", { class: "muted" }, `document ${number(document.index)} · BM25 ${document.score.toFixed(2)} · ` +
        `${document.relevance} relevance`),
      marked(document.text, document.spans),
      Object.keys(document.metadata || {}).length ? element("div", { class: "meta" }, JSON.stringify(document.metadata)) : null)));
}

// -- state in the URL -----------------------------------------------------------------------------
function readState() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.tab = views[params.get("tab")] ? params.get("tab") : "count";
  state.index = params.get("index") || state.index;
  state.q = params.get("q") || "";
  state.offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  state.within = params.get("within") || "";
  state.min_length = params.get("min_length") || "";
  state.prompt = params.get("prompt") || "";
  state.infgram = params.get("infgram") === "1";
}

function writeState() {
  const params = new URLSearchParams({ tab: state.tab, q: state.q });
  if (state.index) params.set("index", state.index);
  if (state.offset) params.set("offset", state.offset);
  if (state.within && state.tab === "search") params.set("within", state.within);
  if (state.min_length && state.tab === "attribute") params.set("min_length", state.min_length);
  if (state.infgram && state.tab === "next") params.set("infgram", "1");
  if (state.prompt && state.tab === "trace") params.set("prompt", state.prompt);
  history.replaceState(null, "", "#" + params.toString());
}

const INPUTS = { count: "count-text", next: "next-text", documents: "documents-text", search: "search-text",
  attribute: "attribute-text", trace: "trace-text", contamination: "contamination-text" };

function showTab() {
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === state.tab);
  for (const section of document.querySelectorAll(".tab")) section.classList.toggle("active", section.id === "tab-" + state.tab);
  $(INPUTS[state.tab]).value = state.q;
  $("search-within").value = state.within;
  $("attribute-min-length").value = state.min_length;
  $("next-infgram").checked = state.infgram;
  $("trace-prompt").value = state.prompt;
}

async function run() {
  writeState();
  const status = $("status");
  const out = $(`${state.tab}-result`);
  if (!state.q && state.tab !== "count") return;
  status.textContent = "…";
  try {
    await views[state.tab]();
    status.textContent = "";
  } catch (error) {
    status.textContent = "";
    failure(out, error);
  }
}

function turnPage(offset) {
  state.offset = offset;
  run();
}

async function loadIndexes() {
  const select = $("index");
  try {
    const reply = await call("/v1/indexes");
    show(select, ...reply.indexes.map((entry) => element("option", { value: entry.name }, entry.name)));
    if (!reply.indexes.some((entry) => entry.name === state.index)) state.index = reply.default;
    select.value = state.index;
    const chosen = reply.indexes.find((entry) => entry.name === state.index);
    $("index-info").textContent = chosen && chosen.info
      ? `${number(chosen.info.num_documents)} documents, ${number(chosen.info.num_tokens)} tokens (${chosen.info.tokenizer}, ${chosen.info.index_kind})`
      : (chosen && chosen.error ? chosen.error.message : "");
  } catch (error) {
    $("status").textContent = error.message;
  }
}

function start() {
  readState();
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => {
      state.tab = button.dataset.tab;
      state.offset = 0;
      state.q = $(INPUTS[state.tab]).value;
      showTab();
      writeState();
    });
  }
  for (const tab of Object.keys(INPUTS)) {
    $(`${tab}-form`).addEventListener("submit", (event) => {
      event.preventDefault();
      state.tab = tab;
      state.q = $(INPUTS[tab]).value;
      state.offset = 0;
      state.within = $("search-within").value;
      state.min_length = $("attribute-min-length").value;
      state.infgram = $("next-infgram").checked;
      state.prompt = $("trace-prompt").value;
      run();
    });
  }
  $("index").addEventListener("change", () => { state.index = $("index").value; state.offset = 0; loadIndexes().then(run); });
  $("api-key").addEventListener("change", () => { sessionStorage.setItem("infgram-key", $("api-key").value); loadIndexes().then(run); });
  window.addEventListener("hashchange", () => { readState(); showTab(); run(); });
  showTab();
  loadIndexes().then(() => { if (state.q) run(); else writeState(); });
}

document.addEventListener("DOMContentLoaded", start);
