"""The dashboard: one self-contained HTML file (plotly.js inlined) plus each figure's data as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboards import figures, page, trends
from dashboards import growth as growth_mod

TIMELINE_TYPES = ("dataset", "instrument")


@dataclass
class Panel:
    """A figure of the page and the rows it was drawn from."""

    name: str
    figure: go.Figure
    rows: list[dict[str, Any]]
    wide: bool = False
    note: str = ""


def collect_panels(
    con: duckdb.DuckDBPyConnection,
    axis: trends.TimeAxis,
    top_concepts: int = 50,
    min_documents: int = 3,
    min_cooccurrence: int = 2,
    max_edges: int = 150,
    min_window_documents: int = growth_mod.MIN_WINDOW_DOCUMENTS,
) -> tuple[list[Panel], list[trends.ConceptRow], growth_mod.GrowthTable]:
    """Every figure of the dashboard, in page order, with the concept table rows and growth table;
    the network draws only the `max_edges` strongest pairs (its data file keeps them all)."""
    growth = growth_mod.growth_scores(con, axis, min_documents=min_documents, min_window_documents=min_window_documents)
    present = {r.type for r in trends.top_concepts_per_type(con, per_type=1)}
    timeline_types = [t for t in TIMELINE_TYPES if t in present] or sorted(present)
    firsts = trends.first_appearances(con, axis, types=timeline_types)
    top = trends.concept_stats(con, limit=top_concepts)
    pairs = trends.cooccurrences(con, top_n=top_concepts, min_count=min_cooccurrence)
    per_period = trends.documents_per_period(con, axis)
    type_rows = trends.type_counts_per_period(con, axis)
    relations = trends.relation_counts(con)
    growth_note = growth_explanation(min_documents, min_window_documents)
    panels = [
        Panel(
            "documents_per_period", figures.documents_per_period_figure(per_period, axis), trends.to_dicts(per_period)
        ),
        Panel("types_over_time", figures.types_over_time_figure(type_rows, axis), trends.to_dicts(type_rows)),
        Panel("rising", figures.growth_figure(growth, "rising"), trends.to_dicts(growth.rising), note=growth_note),
        Panel("falling", figures.growth_figure(growth, "falling"), trends.to_dicts(growth.falling), note=growth_note),
        Panel(
            "first_appearances",
            figures.first_appearance_figure(firsts, axis),
            trends.to_dicts(firsts),
            wide=True,
            note="Each concept at the period of its earliest dated document (hover for that document).",
        ),
        Panel(
            "cooccurrence",
            figures.cooccurrence_figure(top, pairs[:max_edges]),
            trends.to_dicts(pairs),
            wide=True,
            note=f"Among the {top_concepts} concepts in most documents, the {min(max_edges, len(pairs))} strongest "
            f"pairs found together in at least {min_cooccurrence} documents.",
        ),
        Panel("relations", figures.relations_figure(relations), trends.to_dicts(relations)),
    ]
    return panels, trends.concept_rows(con, axis, growth=growth), growth


def growth_explanation(min_documents: int, min_window_documents: int) -> str:
    return (
        f"Score = log2((d_R+1)/(D_R+1)) − log2((d_E+1)/(D_E+1)): d = documents of the window mentioning the "
        f"concept, D = documents of the window. By default the windows are the earlier and the recent half of "
        f"the dated documents by date, so both hold as many documents; pick periods under Compare to choose "
        f"your own. Concepts in at least {min_documents} documents of the two windows; no ranking when a window "
        f"has fewer than {min_window_documents} documents ({growth_mod.WINDOW_REASON})."
    )


def growth_data(
    con: duckdb.DuckDBPyConnection,
    axis: trends.TimeAxis,
    per_period: list[trends.PeriodCount],
    min_documents: int,
    min_window_documents: int,
) -> dict[str, Any]:
    """What the page needs to rank concepts over windows the user picks: documents per period and
    the best-supported concepts' documents per period."""
    return {
        "totals": [r.documents for r in per_period],
        "min_documents": min_documents,
        "min_window_documents": min_window_documents,
        "reason": growth_mod.WINDOW_REASON,
        "concepts": growth_mod.concept_period_counts(con, axis, min_documents),
    }


def write_data(out_dir: Path, panels: list[Panel], concepts: list[trends.ConceptRow], axis: trends.TimeAxis) -> None:
    """`out_dir/data/<figure>.json`: {"name", "rows", "figure"} per panel (rows as dicts, figure as
    plotly JSON, readable with `plotly.io.from_json(json.dumps(d["figure"]))`), plus concepts.json."""
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    table = figures.concept_table_figure(concepts)
    items = [(p.name, p.rows, p.figure) for p in panels] + [("concepts", trends.to_dicts(concepts), table)]
    for name, rows, fig in items:
        text = (
            f'{{"name":{json.dumps(name)},"granularity":{json.dumps(axis.granularity)},'
            f'"rows":{json.dumps(rows, ensure_ascii=False)},"figure":{fig.to_json()}}}'
        )
        (data_dir / f"{name}.json").write_text(text, encoding="utf-8")


def _summary(counts: dict[str, int], axis: trends.TimeAxis) -> str:
    span = f"{axis.periods[0]}–{axis.periods[-1]} by {axis.granularity}" if axis.periods else "no dated documents"
    return (
        f"{counts['documents']} documents ({axis.undated_documents} undated), {counts['entities']} concepts, "
        f"{counts['mentions']} mentions, {counts['triplets']} triplets; {span}"
    )


def _panel_html(panel: Panel) -> str:
    note = f'<p class="fm-note">{page.escape(panel.note)}</p>' if panel.note else ""
    wide = " fm-wide" if panel.wide else ""
    return f'<section class="fm-card{wide}"><div class="fm-plot" id="fig-{panel.name}"></div>{note}</section>'


def _page_data(panels: list[Panel], axis: trends.TimeAxis, colors: dict[str, str], growth: dict[str, Any]) -> str:
    """The JSON the page script reads: periods, types and their colours, every figure and the
    per-period counts for user-picked growth windows (escaped for a <script>)."""
    figs = ",".join(f'{{"name":{json.dumps(p.name)},"figure":{p.figure.to_json()}}}' for p in panels)
    return page.script_json(
        f'{{"periods":{json.dumps(list(axis.periods))},"types":{json.dumps(list(colors))},'
        f'"colors":{json.dumps(colors)},"growth":{json.dumps(growth, ensure_ascii=False)},'
        f'"figures":[{figs}]}}'
    )


def _plotly_script() -> str:
    js = get_plotlyjs()
    return "<script>" + js.replace("</script", "<\\/script") + "</script>\n"


def _window_indices(axis: trends.TimeAxis, growth: growth_mod.GrowthTable | None) -> list[int] | None:
    """The axis positions of the growth windows' first and last documents (earlier, then recent)."""
    if growth is None or growth.earlier is None or growth.recent is None:
        return None
    index = {p: i for i, p in enumerate(axis.periods)}
    found = [
        index.get(_period_label(value, axis.granularity))
        for w in (growth.earlier, growth.recent)
        for value in (w.first, w.last)
    ]
    return None if None in found else found


def _period_label(value: str, granularity: str) -> str:
    """'2008-05-10' (or a period label already) as the axis label at this granularity."""
    if len(value) < 10:
        return value
    if granularity == "year":
        return value[:4]
    return value[:7] if granularity == "month" else f"{value[:4]}-Q{(int(value[5:7]) - 1) // 3 + 1}"


def render(
    title: str,
    counts: dict[str, int],
    axis: trends.TimeAxis,
    panels: list[Panel],
    concepts: list[trends.ConceptRow],
    growth: dict[str, Any] | None = None,
    growth_table: growth_mod.GrowthTable | None = None,
) -> str:
    """The page HTML; a corpus with no documents gets a 'no data yet' page without plots."""
    subtitle = _summary(counts, axis)
    if counts["documents"] == 0:
        body = (
            '<div class="fm-empty" id="fm-no-data">No data yet: the database has no documents. '
            "Ingest a corpus and run the extraction, then build the dashboard again.</div>"
        )
        return page.document(title, subtitle, body)
    colors = figures.type_colors([c.type for c in concepts])
    filters = (
        f'<div class="fm-filters">{page.type_filters(colors)}{page.period_filters(axis.periods)}'
        f"{page.window_filters(axis.periods, _window_indices(axis, growth_table))}"
        f'<span class="fm-note">Types filter the concept charts and the table; periods filter the charts with a time axis; '
        f"Compare picks the windows of the rising and falling concepts.</span></div>"
    )
    table = (
        f'<section class="fm-card fm-wide"><div class="fm-filters" style="position:static">'
        f'<input type="search" id="fm-search" placeholder="Search concepts…" aria-label="search concepts">'
        f'<span id="fm-count" class="fm-note"></span></div>'
        f'<div id="fm-table-wrap">{page.concept_table(concepts)}</div></section>'
    )
    grid = '<div class="fm-grid">' + "".join(_panel_html(p) for p in panels) + table + "</div>"
    scripts = (
        _plotly_script()
        + f'<script type="application/json" id="fm-data">{_page_data(panels, axis, colors, growth or {})}</script>\n'
        + f"<script>{page.SCRIPT}</script>\n"
    )
    return page.document(title, subtitle, filters + grid, tail_scripts=scripts)


def build_dashboard(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    title: str = "fieldmap",
    *,
    granularity: str | None = None,
    top_concepts: int = 50,
    min_documents: int = 3,
    min_cooccurrence: int = 2,
    max_edges: int = 150,
    min_window_documents: int = growth_mod.MIN_WINDOW_DOCUMENTS,
) -> Path:
    """Write `out_dir/index.html` (self-contained: plotly.js inlined, no network needed; type and
    period filters, window selects for the rising/falling charts and a concept search that work in
    the page; no concept ranked on a window under `min_window_documents` documents) and `out_dir/data/<figure>.json`;
    return the index.html path. An empty database gives a page saying there is no data yet."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    axis = trends.time_axis(con, granularity)
    panels, concepts, growth_table = collect_panels(
        con, axis, top_concepts, min_documents, min_cooccurrence, max_edges, min_window_documents
    )
    write_data(out_dir, panels, concepts, axis)
    growth = growth_data(con, axis, trends.documents_per_period(con, axis), min_documents, min_window_documents)
    index = out_dir / "index.html"
    page_html = render(title, trends.corpus_counts(con), axis, panels, concepts, growth, growth_table)
    index.write_text(page_html, encoding="utf-8")
    return index
