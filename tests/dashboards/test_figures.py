"""Figures: the trace conventions the page's filters rely on, escaping, determinism."""

from __future__ import annotations

import json

from dashboards import figures, trends
from dashboards.growth import GrowthTable, growth_scores
from tests.dashboards.conftest import INJECTION

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_type_colors_are_stable_across_figures():
    one = figures.type_colors(["dataset", "zeta"])
    two = figures.type_colors(["instrument", "alpha", "zeta", "dataset"])
    assert one["dataset"] == two["dataset"] and one["zeta"] == two["zeta"]
    assert list(two) == ["dataset", "instrument", "alpha", "zeta"]  # schema order, then alphabetical
    assert figures.esc(INJECTION) == ESCAPED


def test_types_over_time_has_one_stacked_trace_per_type(small_db):
    axis = trends.time_axis(small_db)
    fig = figures.types_over_time_figure(trends.type_counts_per_period(small_db, axis), axis)
    assert fig.layout.meta == {"time": True}
    assert [t.meta["type"] for t in fig.data] == ["dataset", "method", "object", "instrument"]
    dataset = fig.data[0]
    assert dataset.stackgroup == "types" and list(dataset.x) == list(axis.periods)
    assert list(dataset.y) == [0, 0, 0, 0, 1, 0, 4, 2, 1]


def test_growth_figure_bars_carry_type_and_escaped_names(small_db):
    axis = trends.time_axis(small_db)
    growth = growth_scores(
        small_db, axis, min_documents=2, windows=(("2003", "2007"), ("2009", "2011")), min_window_documents=5
    )
    fig = figures.growth_figure(growth, "falling")
    names = [name for t in fig.data for name in t.y]
    assert ESCAPED in names and INJECTION not in names
    assert {t.meta["type"] for t in fig.data} == {"instrument", "method"}
    assert fig.layout.yaxis.categoryorder == "total descending"
    assert "recent 2009 – 2011 (6 documents)<br>earlier 2003 – 2007 (10 documents)" in fig.layout.title.text


def test_growth_figure_says_why_a_small_window_is_not_ranked(small_db):
    fig = figures.growth_figure(growth_scores(small_db, trends.time_axis(small_db)), "rising")
    assert len(fig.data) == 0
    note = fig.layout.annotations[0].text.replace("<br>", " ")
    assert note.startswith("not ranked: the earlier window has 9 and the recent window has 9 documents, fewer than 30;")
    assert "(9 documents)" in fig.layout.title.text


def test_cooccurrence_network_is_deterministic_and_sized_by_documents(small_db):
    stats = trends.concept_stats(small_db, limit=10)
    pairs = trends.cooccurrences(small_db, top_n=10, min_count=2)
    fig = figures.cooccurrence_figure(stats, pairs)
    assert fig.to_json() == figures.cooccurrence_figure(stats, pairs).to_json()
    edges, nodes = fig.data[0], fig.data[1:]
    assert len(edges.meta["edges"]) == len(pairs) and len(edges.x) == 3 * len(pairs)
    sizes = {c[0]: s for t in nodes for c, s in zip(t.customdata, t.marker.size)}
    assert sizes["galaxies"] > sizes["SDSS"] > sizes["Gaia"]
    assert all(0 <= x <= 1 for t in nodes for x in t.x)


def test_first_appearance_figure_keeps_the_best_supported_per_type(small_db):
    axis = trends.time_axis(small_db)
    rows = trends.first_appearances(small_db, axis, types=["instrument", "dataset"])
    fig = figures.first_appearance_figure(rows, axis, per_type=1)
    assert fig.layout.meta == {"time": True}
    assert {t.meta["type"]: (list(t.x), t.customdata[0][0]) for t in fig.data} == {
        "dataset": (["2007"], "SDSS"),
        "instrument": (["2010"], "Gaia"),
    }


def test_empty_inputs_give_annotated_figures():
    axis = trends.TimeAxis("year", (), 0, 0)
    growth = GrowthTable(None, None, 3, reason="needs dated documents in two windows")
    for fig in (
        figures.types_over_time_figure([], axis),
        figures.growth_figure(growth),
        figures.cooccurrence_figure([], []),
        figures.relations_figure([]),
        figures.concept_table_figure([]),
        figures.first_appearance_figure([], axis),
    ):
        assert len(fig.data) == 0 and len(fig.layout.annotations) == 1
        json.loads(fig.to_json())
