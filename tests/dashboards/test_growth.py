"""Rising and falling concepts over windows of comparable size (dashboards/growth.py)."""

from __future__ import annotations

import math

import pytest

from dashboards import trends
from dashboards.growth import MIN_WINDOW_DOCUMENTS, concept_period_counts, growth_score, growth_scores
from tests.dashboards.conftest import INJECTION, entity_id

YEARS = tuple(str(y) for y in range(2003, 2012))


def test_median_split_gives_equal_windows_and_matches_the_formula_by_hand(small_db):
    axis = trends.time_axis(small_db)
    growth = growth_scores(small_db, axis, min_documents=3, min_window_documents=5)
    # 18 dated documents, two a year: d03a..d07a (9) against d07b..d11b (9); the undated one is in neither
    assert (growth.earlier.first, growth.earlier.last, growth.earlier.documents) == ("2003-03-15", "2007-03-15", 9)
    assert (growth.recent.first, growth.recent.last, growth.recent.documents) == ("2007-09-15", "2011-09-15", 9)
    assert growth.ranked and growth.method == "median"
    by_name = {g.name: g for g in growth.rising + growth.falling}
    sdss = by_name["SDSS"]  # d07a earlier; d09a, d09b, d10a, d10b, d11a recent
    assert (sdss.recent_documents, sdss.earlier_documents) == (5, 1)
    assert sdss.score == pytest.approx(math.log2(6 / 10) - math.log2(2 / 10))
    assert sdss.recent_share == pytest.approx(5 / 9) and sdss.earlier_share == pytest.approx(1 / 9)
    assert by_name["Gaia"].score == pytest.approx(math.log2(4 / 10) - math.log2(1 / 10))  # absent before: finite
    assert by_name["old method"].score == pytest.approx(-1.0)
    assert [g.name for g in growth.rising] == ["Gaia", "SDSS"] and [g.name for g in growth.falling] == ["old method"]
    assert growth.scores[entity_id("galaxies")] == pytest.approx(0.0)
    assert entity_id(INJECTION) not in growth.scores  # 2 documents < min_documents


def test_period_windows_the_user_picks(small_db):
    axis = trends.time_axis(small_db)
    growth = growth_scores(small_db, axis, windows=(("2003", "2005"), ("2009", "2011")), min_window_documents=5)
    assert growth.method == "periods" and (growth.earlier.documents, growth.recent.documents) == (6, 6)
    assert growth.earlier.label == "2003 – 2005 (6 documents)"
    scores = {g.name: g.score for g in growth.rising + growth.falling}
    assert scores == pytest.approx({"SDSS": math.log2(6), "Gaia": 2.0, "old method": -1.0})
    with pytest.raises(ValueError, match="ordered"):
        growth_scores(small_db, axis, windows=(("2009", "2011"), ("2003", "2005")))
    with pytest.raises(ValueError, match="not on the year axis"):
        growth_scores(small_db, axis, windows=(("1990", "2005"), ("2009", "2011")))


def test_no_ranking_on_windows_too_small_to_support_it(small_db):
    axis = trends.time_axis(small_db)
    growth = growth_scores(small_db, axis)  # 9 and 9 documents, fewer than the default minimum
    assert MIN_WINDOW_DOCUMENTS == 30 and not growth.ranked
    assert growth.rising == [] and growth.falling == [] and growth.scores == {}
    assert growth.reason.startswith(
        "not ranked: the earlier window has 9 and the recent window has 9 documents, fewer than 30"
    )
    assert (growth.earlier.documents, growth.recent.documents) == (9, 9)  # the counts are still reported


def test_minimum_support_and_top(small_db):
    axis = trends.time_axis(small_db)
    looser = growth_scores(small_db, axis, min_documents=2, min_window_documents=5)
    assert entity_id(INJECTION) in looser.scores  # d06a earlier, d07b recent: 0 change
    assert [g.name for g in growth_scores(small_db, axis, min_documents=2, top=1, min_window_documents=5).rising] == [
        "Gaia"
    ]
    assert growth_scores(small_db, axis, min_documents=10, min_window_documents=5).rising == []


def test_skewed_corpus_compares_halves_inside_the_crowded_year_and_ranks_the_real_trends(skewed_db):
    axis = trends.time_axis(skewed_db)
    assert axis.periods[0] == "1995" and axis.periods[-1] == "2023"
    growth = growth_scores(skewed_db, axis)
    assert (growth.earlier.documents, growth.recent.documents) == (500, 500)
    assert growth.earlier.last.startswith("2008-") and growth.recent.first.startswith("2008-")
    assert [g.name for g in growth.rising][:1] == ["fast radio bursts"]
    assert [g.name for g in growth.falling][:1] == ["old catalogue"]
    assert "jellyfish galaxies" not in [g.name for g in growth.rising[:5]]
    # the calendar split of the old dashboard (the last 29 // 3 = 9 years, 2015-2023) holds 3 documents
    calendar = growth_scores(skewed_db, axis, windows=(("1995", "2014"), ("2015", "2023")))
    assert calendar.recent.documents == 3 and not calendar.ranked and calendar.rising == []
    assert "the recent window has 3 documents, fewer than 30" in calendar.reason


def test_concept_period_counts_feed_the_page(small_db):
    axis = trends.time_axis(small_db)
    rows = {r["name"]: r for r in concept_period_counts(small_db, axis, min_documents=3)}
    assert set(rows) == {"galaxies", "SDSS", "old method", "Gaia"}
    assert rows["Gaia"]["counts"] == [[YEARS.index("2010"), 1], [YEARS.index("2011"), 2]]
    assert sum(n for _, n in rows["SDSS"]["counts"]) == 6  # dated documents only
    assert list(rows)[0] == "galaxies"  # most documents first
    assert len(concept_period_counts(small_db, axis, min_documents=1, limit=2)) == 2


def test_growth_score_formula():
    assert growth_score(5, 9, 1, 9) == pytest.approx(math.log2(3))
    assert growth_score(0, 10, 0, 10) == 0.0
    assert growth_score(1, 1, 0, 0) == pytest.approx(0.0)
