"""Trend tables on fixture databases whose counts are known by construction (see conftest)."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from dashboards import trends
from dashboards.growth import growth_scores
from fieldmap.store import connect
from tests.dashboards.conftest import INJECTION, Doc, insert_docs

YEARS = tuple(str(y) for y in range(2003, 2012))


def db_with(tmp_path: Path, docs: list[Doc]):
    con = connect(tmp_path / "g.duckdb")
    insert_docs(con, docs)
    return con


@pytest.mark.parametrize(
    "first, last, expected",
    [
        (date(2020, 1, 5), date(2020, 10, 20), "month"),
        (date(2019, 1, 5), date(2020, 7, 20), "month"),  # 18 months: not more than 18
        (date(2019, 1, 5), date(2020, 8, 1), "quarter"),  # 19 months
        (date(2010, 1, 1), date(2016, 1, 1), "quarter"),  # 72 months: not more than 72
        (date(2010, 1, 1), date(2016, 2, 1), "year"),  # 73 months
    ],
)
def test_granularity_follows_the_date_span(tmp_path, first, last, expected):
    con = db_with(tmp_path, [Doc("a", first), Doc("b", last), Doc("c", None)])
    assert trends.choose_granularity(con) == expected


def test_month_axis_fills_gaps_and_leaves_out_undated(tmp_path):
    con = db_with(
        tmp_path, [Doc("a", date(2020, 1, 5)), Doc("b", date(2020, 4, 9)), Doc("c", date(2020, 4, 30)), Doc("u", None)]
    )
    axis = trends.time_axis(con)
    assert axis.granularity == "month"
    assert axis.periods == ("2020-01", "2020-02", "2020-03", "2020-04")
    assert (axis.dated_documents, axis.undated_documents) == (3, 1)
    assert [(r.period, r.documents) for r in trends.documents_per_period(con, axis)] == [
        ("2020-01", 1),
        ("2020-02", 0),
        ("2020-03", 0),
        ("2020-04", 2),
    ]


def test_quarter_labels_cross_years(tmp_path):
    con = db_with(tmp_path, [Doc("a", date(2019, 11, 5)), Doc("b", date(2021, 2, 1))])
    assert trends.choose_granularity(con) == "month"  # 15 months
    axis = trends.time_axis(con, "quarter")
    assert axis.periods == ("2019-Q4", "2020-Q1", "2020-Q2", "2020-Q3", "2020-Q4", "2021-Q1")
    assert [r.documents for r in trends.documents_per_period(con, axis)] == [1, 0, 0, 0, 0, 1]


def test_year_only_documents_count_at_year_granularity_only(tmp_path):
    con = db_with(tmp_path, [Doc("a", date(2010, 5, 1)), Doc("b", date(2011, 3, 1)), Doc("y", None, year=2004)])
    assert trends.choose_granularity(con) == "year"  # the year-only document widens the span
    year_axis = trends.time_axis(con)
    assert year_axis.periods[0] == "2004" and year_axis.undated_documents == 0
    month_axis = trends.time_axis(con, "month")
    assert month_axis.periods[0] == "2010-05" and month_axis.undated_documents == 1
    with pytest.raises(ValueError):
        trends.time_axis(con, "week")


def test_empty_database_gives_empty_tables(empty_db):
    axis = trends.time_axis(empty_db)
    assert axis.periods == () and axis.granularity == "year"
    assert trends.documents_per_period(empty_db, axis) == []
    assert trends.type_counts_per_period(empty_db, axis) == []
    assert trends.first_appearances(empty_db, axis) == []
    growth = growth_scores(empty_db, axis)
    assert growth.rising == [] and growth.falling == [] and not growth.ranked
    assert trends.cooccurrences(empty_db) == [] and trends.relation_counts(empty_db) == []


def test_small_corpus_axis(small_db):
    axis = trends.time_axis(small_db)
    assert axis.granularity == "year" and axis.periods == YEARS
    assert (axis.dated_documents, axis.undated_documents) == (18, 1)


def test_mentions_and_documents_per_period_and_type(small_db):
    axis = trends.time_axis(small_db)
    rows = {(r.period, r.type): (r.mentions, r.documents) for r in trends.type_counts_per_period(small_db, axis)}
    assert len(rows) == len(YEARS) * 4  # object, dataset, method, instrument in every period
    assert all(rows[(y, "object")] == (4, 2) for y in YEARS)  # galaxies: 2 mentions x 2 documents
    assert rows[("2009", "dataset")] == (4, 2)  # SDSS: 3 in d09a + 1 in d09b
    assert rows[("2008", "dataset")] == (0, 0)
    assert rows[("2005", "method")] == (2, 1)
    assert rows[("2010", "instrument")] == (1, 1)
    assert rows[("2011", "instrument")] == (3, 2)  # Gaia: 2 in d11a + 1 in d11b
    # the undated document's mentions are in no period
    assert sum(m for m, _ in rows.values()) == 18 * 2 + 8 + 5 + 4 + 2


def test_first_appearance_period_and_document(small_db):
    axis = trends.time_axis(small_db)
    firsts = {f.name: f for f in trends.first_appearances(small_db, axis)}
    assert firsts["SDSS"].period == "2007" and firsts["SDSS"].first_doc_id == "d07a"
    assert firsts["SDSS"].first_date == date(2007, 3, 15) and firsts["SDSS"].documents == 6  # dated only
    assert firsts["Gaia"].period == "2010" and firsts["Gaia"].type == "instrument"
    assert firsts["galaxies"].period == "2003" and firsts["galaxies"].first_doc_id == "d03a"
    assert firsts[INJECTION].first_title == INJECTION
    new_in_2007 = [f.name for f in trends.first_appearances(small_db, axis) if f.period == "2007"]
    assert new_in_2007 == ["SDSS"]
    assert [f.name for f in trends.first_appearances(small_db, axis, types=["dataset"])] == ["SDSS"]
    assert {f.name for f in trends.first_appearances(small_db, axis, min_documents=4)} == {
        "galaxies",
        "SDSS",
        "old method",
    }


def test_cooccurrence_counts_shared_documents(small_db):
    pairs = {
        frozenset((p.source, p.target)): p.documents for p in trends.cooccurrences(small_db, top_n=10, min_count=1)
    }
    assert pairs[frozenset(("SDSS", "galaxies"))] == 7  # 6 dated + the undated document
    assert pairs[frozenset(("old method", "galaxies"))] == 4
    assert pairs[frozenset(("Gaia", "galaxies"))] == 3
    assert pairs[frozenset(("Gaia", "SDSS"))] == 2  # d10a, d11a
    assert pairs[frozenset(("SDSS", "old method"))] == 1  # d09a
    assert frozenset((INJECTION, "SDSS")) not in pairs
    strong = trends.cooccurrences(small_db, top_n=10, min_count=2)
    assert [p.documents for p in strong] == [7, 4, 3, 2, 2]
    assert all(p.source_id < p.target_id for p in strong)
    # only the top 2 concepts (galaxies 19 documents, SDSS 7) take part
    assert [(p.source, p.target) for p in trends.cooccurrences(small_db, top_n=2, min_count=1)] == [
        ("SDSS", "galaxies")
    ]
    assert {p.source_type for p in trends.cooccurrences(small_db, min_count=1, types=["instrument"])} <= {"instrument"}


def test_top_concepts_per_type_and_stats(small_db):
    ranked = trends.top_concepts_per_type(small_db, per_type=1)
    assert [(r.type, r.name, r.documents, r.mentions) for r in ranked] == [
        ("dataset", "SDSS", 7, 9),
        ("instrument", "Gaia", 3, 4),
        ("method", "old method", 4, 5),
        ("object", "galaxies", 19, 37),
    ]
    instruments = [r.name for r in trends.top_concepts_per_type(small_db, per_type=5) if r.type == "instrument"]
    assert instruments == ["Gaia", INJECTION]
    assert [c.name for c in trends.concept_stats(small_db, limit=2)] == ["galaxies", "SDSS"]


def test_concept_rows_join_first_appearance_and_growth(small_db):
    axis = trends.time_axis(small_db)
    growth = growth_scores(small_db, axis, min_window_documents=5)
    rows = {r.name: r for r in trends.concept_rows(small_db, axis, growth=growth)}
    assert rows["SDSS"].first_period == "2007" and rows["SDSS"].score == pytest.approx(math.log2(3))
    assert rows[INJECTION].score is None and rows[INJECTION].first_title == INJECTION


def test_relation_counts(small_db):
    assert [(r.relation, r.triplets, r.documents) for r in trends.relation_counts(small_db)] == [
        ("observes", 2, 2),
        ("measures", 1, 1),
        ("uses", 1, 1),
    ]


def test_views_for_notebooks(small_db):
    axis = trends.create_views(small_db)
    assert axis.granularity == "year"
    rows = small_db.execute(
        "SELECT mentions, documents FROM fm_type_period WHERE period = '2011' AND type = 'instrument'"
    ).fetchall()
    assert rows == [(3, 2)]
