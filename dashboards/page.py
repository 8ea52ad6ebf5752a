"""The dashboard page's static parts: CSS, the filter script, and HTML fragments.

Everything user-supplied goes through `escape` (HTML text and attributes) or `script_json` (JSON
inside a <script> element), so no name or title can close an element or start a script.
"""

from __future__ import annotations

import html
import json
from typing import Any, Iterable, Sequence

from dashboards.trends import ConceptRow

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #1f3b57; color: #fff; padding: 14px 24px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; opacity: .85; font-size: 14px; }
main { padding: 16px 24px; }
.fm-filters { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 10px 14px; margin-bottom: 14px;
  display: flex; flex-wrap: wrap; gap: 18px; align-items: center; font-size: 14px; position: sticky; top: 0; z-index: 5; }
.fm-filters label { margin-right: 10px; white-space: nowrap; }
.fm-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 3px; }
.fm-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; }
.fm-card { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 6px; min-width: 0; }
.fm-wide { grid-column: 1 / -1; }
.fm-note { font-size: 13px; color: #555; margin: 4px 8px; }
.fm-empty { background: #fff; border: 1px dashed #aab; border-radius: 6px; padding: 40px; text-align: center; font-size: 18px; }
#fm-table-wrap { max-height: 560px; overflow: auto; }
table.fm-table { border-collapse: collapse; width: 100%; font-size: 13px; }
.fm-table th, .fm-table td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }
.fm-table th { position: sticky; top: 0; background: #eef1f5; cursor: pointer; }
.fm-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
#fm-search { padding: 5px 8px; width: 280px; font-size: 14px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("fm-data").textContent);
  var periodIndex = {};
  DATA.periods.forEach(function (p, i) { periodIndex[p] = i; });
  var state = { types: {}, from: 0, to: DATA.periods.length - 1, query: "" };
  DATA.types.forEach(function (t) { state.types[t] = true; });
  var POINT_KEYS = ["x", "y", "text", "customdata", "hovertext"];

  function clone(o) { return JSON.parse(JSON.stringify(o)); }
  function typeShown(t) { return state.types[t] === true; }
  function periodShown(p) {
    var i = periodIndex[p];
    return i === undefined || (i >= state.from && i <= state.to);
  }
  // keep the points i of a trace for which keep(i) is true, in every per-point array
  function keepPoints(trace, keep) {
    var n = Array.isArray(trace.x) ? trace.x.length : 0, idx = [];
    for (var i = 0; i < n; i++) { if (keep(i)) { idx.push(i); } }
    function pick(a) { return idx.map(function (j) { return a[j]; }); }
    POINT_KEYS.forEach(function (k) { if (Array.isArray(trace[k]) && trace[k].length === n) { trace[k] = pick(trace[k]); } });
    if (trace.marker) {
      ["size", "color"].forEach(function (k) {
        if (Array.isArray(trace.marker[k]) && trace.marker[k].length === n) { trace.marker[k] = pick(trace.marker[k]); }
      });
    }
  }
  function filteredData(fig) {
    var time = fig.layout && fig.layout.meta && fig.layout.meta.time, out = [];
    fig.data.forEach(function (src) {
      var meta = src.meta || {};
      if (meta.type !== undefined && !typeShown(meta.type)) { return; }
      var trace = clone(src);
      if (meta.edges) {
        var segs = meta.edges.map(function (e) { return typeShown(e[0]) && typeShown(e[1]); });
        keepPoints(trace, function (i) { return segs[Math.floor(i / 3)]; });
      }
      if (time) { var xs = trace.x.slice(); keepPoints(trace, function (i) { return periodShown(xs[i]); }); }
      out.push(trace);
    });
    return out;
  }
  function draw(first) {
    DATA.figures.forEach(function (f) {
      var el = document.getElementById("fig-" + f.name);
      if (!el) { return; }
      var call = first ? Plotly.newPlot : Plotly.react;
      call(el, filteredData(f.figure), clone(f.figure.layout), { responsive: true, displaylogo: false });
    });
  }
  function filterTable() {
    var q = state.query, shown = 0, rows = document.querySelectorAll("#fm-concepts tbody tr");
    rows.forEach(function (tr) {
      var ok = typeShown(tr.getAttribute("data-type")) && (q === "" || tr.getAttribute("data-name").indexOf(q) !== -1);
      tr.style.display = ok ? "" : "none";
      if (ok) { shown++; }
    });
    var c = document.getElementById("fm-count");
    if (c) { c.textContent = shown + " of " + rows.length + " concepts"; }
  }
  function sortTable(col, numeric) {
    var body = document.querySelector("#fm-concepts tbody");
    var th = document.querySelectorAll("#fm-concepts th")[col];
    var dir = th.getAttribute("data-dir") === "desc" ? 1 : -1;
    th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      if (numeric) { x = x === "" ? -Infinity : parseFloat(x); y = y === "" ? -Infinity : parseFloat(y); }
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function readFilters() {
    document.querySelectorAll("input.fm-type").forEach(function (cb) { state.types[cb.getAttribute("data-type")] = cb.checked; });
    var from = document.getElementById("fm-from"), to = document.getElementById("fm-to");
    if (from && to) {
      state.from = Math.min(from.selectedIndex, to.selectedIndex);
      state.to = Math.max(from.selectedIndex, to.selectedIndex);
    }
  }
  // ---- rising and falling concepts over the windows the user picks (same formula as dashboards/growth.py)
  var G = DATA.growth || {}, ORIGINAL = {};
  DATA.figures.forEach(function (f) { if (f.name === "rising" || f.name === "falling") { ORIGINAL[f.name] = clone(f.figure); } });
  function esc(t) { return String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  function windowIndex() {
    var ids = ["fm-e-from", "fm-e-to", "fm-r-from", "fm-r-to"], out = [];
    for (var i = 0; i < ids.length; i++) { var s = document.getElementById(ids[i]); if (!s) { return null; } out.push(s.selectedIndex); }
    return out;
  }
  function sumRange(pairs, a, b) {
    var n = 0;
    pairs.forEach(function (p) { if (p[0] >= a && p[0] <= b) { n += p[1]; } });
    return n;
  }
  function pickedGrowth(w) {
    var res = {rising: [], falling: [], reason: ""};
    var totals = G.totals.map(function (n, i) { return [i, n]; });
    res.earlier = {first: DATA.periods[w[0]], last: DATA.periods[w[1]], documents: sumRange(totals, w[0], w[1])};
    res.recent = {first: DATA.periods[w[2]], last: DATA.periods[w[3]], documents: sumRange(totals, w[2], w[3])};
    if (!(w[0] <= w[1] && w[1] < w[2] && w[2] <= w[3])) { res.reason = "the earlier window must end before the recent one starts"; return res; }
    var small = [["earlier", res.earlier], ["recent", res.recent]].filter(function (x) { return x[1].documents < G.min_window_documents; });
    if (small.length) {
      res.reason = "not ranked: " + small.map(function (x) { return "the " + x[0] + " window has " + x[1].documents; }).join(" and ")
        + " documents, fewer than " + G.min_window_documents + "; " + G.reason;
      return res;
    }
    var DE = res.earlier.documents, DR = res.recent.documents, scored = [];
    G.concepts.forEach(function (c) {
      var e = sumRange(c.counts, w[0], w[1]), r = sumRange(c.counts, w[2], w[3]);
      if (r + e < G.min_documents) { return; }
      scored.push({name: c.name, type: c.type, r: r, e: e, score: Math.log2((r + 1) / (DR + 1)) - Math.log2((e + 1) / (DE + 1))});
    });
    function order(sign) { return function (a, b) { return sign * (b.score - a.score) || (b.r + b.e) - (a.r + a.e) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0); }; }
    res.rising = scored.filter(function (g) { return g.score > 0; }).sort(order(1)).slice(0, 20);
    res.falling = scored.filter(function (g) { return g.score < 0; }).sort(order(-1)).slice(0, 20);
    return res;
  }
  function label(win) {
    return esc(win.first === win.last ? win.first : win.first + " – " + win.last) + " (" + win.documents + " documents)";
  }
  function growthFigure(direction, res) {
    var fig = clone(ORIGINAL[direction]), items = res[direction];
    fig.layout.title.text = "Top " + direction + " concepts<br><sup>recent " + label(res.recent) + "<br>earlier " + label(res.earlier) + "</sup>";
    fig.layout.annotations = [];
    fig.layout.height = Math.max(320, 150 + 22 * items.length);
    var message = res.reason || (items.length ? "" : "No " + direction + " concepts with at least " + G.min_documents + " documents");
    fig.data = [];
    if (message) {
      fig.layout.annotations = [{text: esc(message).replace(/(.{60,}?) /g, "$1<br>"), showarrow: false, x: 0.5, y: 0.5,
                                 xref: "paper", yref: "paper", font: {size: 15}}];
      fig.layout.xaxis = {visible: false}; fig.layout.yaxis = {visible: false};
      return fig;
    }
    DATA.types.forEach(function (t) {
      var own = items.filter(function (g) { return g.type === t; });
      if (!own.length) { return; }
      fig.data.push({type: "bar", orientation: "h", name: esc(t), meta: {type: t}, marker: {color: DATA.colors[t]},
        x: own.map(function (g) { return Math.round(g.score * 1e4) / 1e4; }), y: own.map(function (g) { return esc(g.name); }),
        customdata: own.map(function (g) { return [g.r, res.recent.documents, g.e, res.earlier.documents]; }),
        hovertemplate: "%{y}<br>score %{x:.2f}<br>recent %{customdata[0]}/%{customdata[1]} docs<br>earlier %{customdata[2]}/%{customdata[3]} docs<extra></extra>"});
    });
    fig.layout.xaxis = {title: {text: "growth score (log2 share ratio)"}};
    fig.layout.yaxis = {type: "category", categoryorder: direction === "rising" ? "total ascending" : "total descending", automargin: true};
    return fig;
  }
  function applyWindows(picked) {
    var w = picked ? windowIndex() : null, res = w ? pickedGrowth(w) : null;
    DATA.figures.forEach(function (f) {
      if (ORIGINAL[f.name]) { f.figure = res ? growthFigure(f.name, res) : clone(ORIGINAL[f.name]); }
    });
    var note = document.getElementById("fm-window-note");
    if (note) { note.textContent = res ? "your windows" : "halves of the documents by date"; }
  }
  ["fm-e-from", "fm-e-to", "fm-r-from", "fm-r-to"].forEach(function (id) {
    var s = document.getElementById(id);
    if (s) { s.addEventListener("change", function () { applyWindows(true); draw(false); }); }
  });
  var halves = document.getElementById("fm-halves");
  if (halves) { halves.addEventListener("click", function () { applyWindows(false); draw(false); }); }

  function update() { readFilters(); draw(false); filterTable(); }
  function setAll(on) { document.querySelectorAll("input.fm-type").forEach(function (cb) { cb.checked = on; }); update(); }

  document.querySelectorAll("input.fm-type").forEach(function (cb) { cb.addEventListener("change", update); });
  ["fm-from", "fm-to"].forEach(function (id) { var s = document.getElementById(id); if (s) { s.addEventListener("change", update); } });
  var all = document.getElementById("fm-all"), none = document.getElementById("fm-none");
  if (all) { all.addEventListener("click", function () { setAll(true); }); }
  if (none) { none.addEventListener("click", function () { setAll(false); }); }
  var search = document.getElementById("fm-search");
  if (search) { search.addEventListener("input", function () { state.query = search.value.trim().toLowerCase(); filterTable(); }); }
  document.querySelectorAll("#fm-concepts th").forEach(function (th, i) {
    th.addEventListener("click", function () { sortTable(i, th.getAttribute("data-numeric") === "1"); });
  });
  draw(true);
  filterTable();
})();
"""


def escape(text: object) -> str:
    """HTML-escaped text, safe in element content and quoted attributes."""
    return html.escape("" if text is None else str(text), quote=True)


def script_json(data: Any | str) -> str:
    """JSON (an object, or text that already is JSON) safe inside a <script> element: <, >, & and
    the JS line separators become \\u escapes, so no string can close the element."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, esc)
    return text


def type_filters(colors: dict[str, str]) -> str:
    """One checkbox per type (with its colour), plus all/none buttons."""
    boxes = "".join(
        f'<label><input type="checkbox" class="fm-type" data-type="{escape(t)}" checked>'
        f'<span class="fm-swatch" style="background:{escape(c)}"></span>{escape(t)}</label>'
        for t, c in colors.items()
    )
    return (
        f'<div><strong>Types</strong> {boxes}<button type="button" id="fm-all">all</button> '
        f'<button type="button" id="fm-none">none</button></div>'
    )


def period_filters(periods: Sequence[str]) -> str:
    """From/to selects over the periods (the whole range selected)."""
    if not periods:
        return ""

    def select(name: str, chosen: int) -> str:
        opts = "".join(
            f"<option{' selected' if i == chosen else ''}>{escape(p)}</option>" for i, p in enumerate(periods)
        )
        return f'<select id="fm-{name}" aria-label="{name}">{opts}</select>'

    return f"<div><strong>Periods</strong> {select('from', 0)} to {select('to', len(periods) - 1)}</div>"


def window_filters(periods: Sequence[str], chosen: Sequence[int] | None = None) -> str:
    """Earlier and recent window selects for the rising/falling charts, preset to `chosen` (indices
    of earlier from/to and recent from/to: the periods of the median split), else the first and
    last third; the charts show the median split until a select is changed."""
    if len(periods) < 2:
        return ""
    last, third = len(periods) - 1, max(1, len(periods) // 3)
    chosen = list(chosen) if chosen else [0, third - 1, last - third + 1, last]

    def select(name: str, pick: int) -> str:
        opts = "".join(f"<option{' selected' if i == pick else ''}>{escape(p)}</option>" for i, p in enumerate(periods))
        return f'<select id="fm-{name}" aria-label="{name.replace("-", " ")}">{opts}</select>'

    names = ("e-from", "e-to", "r-from", "r-to")
    e_from, e_to, r_from, r_to = (select(n, i) for n, i in zip(names, chosen))
    return (
        f"<div><strong>Compare</strong> earlier {e_from}–{e_to} with recent {r_from}–{r_to} "
        f'<button type="button" id="fm-halves">halves</button> <span class="fm-note" id="fm-window-note">'
        f"halves of the documents by date</span></div>"
    )


def concept_table(rows: Iterable[ConceptRow]) -> str:
    """The searchable, sortable concept table (rows carry data-type and a lowercased data-name)."""
    head = [
        ("concept", 0),
        ("type", 0),
        ("documents", 1),
        ("mentions", 1),
        ("first seen", 0),
        ("first document", 0),
        ("growth", 1),
    ]
    ths = "".join(f'<th data-numeric="{n}">{escape(h)}</th>' for h, n in head)
    body = []
    for r in rows:
        score = "" if r.score is None else f"{r.score:+.2f}"
        cells = [
            (r.name, r.name.lower(), ""),
            (r.type, r.type, ""),
            (r.documents, r.documents, "num"),
            (r.mentions, r.mentions, "num"),
            (r.first_period or "", r.first_period or "", ""),
            (r.first_title or "", r.first_title or "", ""),
            (score, "" if r.score is None else f"{r.score:.6f}", "num"),
        ]
        tds = "".join(f'<td class="{cls}" data-v="{escape(v)}">{escape(shown)}</td>' for shown, v, cls in cells)
        body.append(f'<tr data-type="{escape(r.type)}" data-name="{escape(r.name.lower())}">{tds}</tr>')
    return (
        f'<table class="fm-table" id="fm-concepts"><thead><tr>{ths}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def document(title: str, subtitle: str, body: str, head_scripts: str = "", tail_scripts: str = "") -> str:
    """A complete HTML5 document."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n{head_scripts}</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>\n<main>\n{body}\n</main>\n"
        f"{tail_scripts}</body>\n</html>\n"
    )
