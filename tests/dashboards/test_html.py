"""build_dashboard on real DuckDB files: a self-contained page, safe escaping, data files, sizes."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import plotly.io as pio
import pytest
from plotly.offline import get_plotlyjs

from dashboards import build_dashboard
from dashboards.page import script_json
from fieldmap.store import connect
from tests.dashboards.conftest import INJECTION, Doc, insert_docs, insert_synthetic

FIGURES = [
    "documents_per_period",
    "types_over_time",
    "rising",
    "falling",
    "first_appearances",
    "cooccurrence",
    "relations",
]
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
BREAKOUT = "</script><script>document.title='PWNED'</script>"
VOID = {"meta", "input", "br", "img", "hr", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class TagChecker(HTMLParser):
    """Fails on a closing tag that does not match the innermost open element."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def check_well_formed(text: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert checker.stack == [], f"unclosed: {checker.stack}"
    assert text.startswith("<!DOCTYPE html>")
    return checker


def page_data(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="fm-data">(.*?)</script>', text, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


@pytest.fixture
def built(small_db, tmp_path) -> tuple[Path, str]:
    # the small corpus has 18 dated documents: windows of 9, so the minimum per window is lowered
    index = build_dashboard(small_db, tmp_path / "dash", title="Field <map>", min_window_documents=5)
    return index, index.read_text(encoding="utf-8")


def test_page_is_self_contained_with_one_container_per_figure(built, tmp_path):
    index, text = built
    assert index == tmp_path / "dash" / "index.html" and index.is_file()
    assert get_plotlyjs() in text  # plotly.js inlined
    assert not re.search(r"<script[^>]*\bsrc=", text) and '<script src="http' not in text
    assert not re.search(r"<link[^>]*href=", text)
    assert text.count('class="fm-plot"') == len(FIGURES)
    for name in FIGURES:
        assert text.count(f'id="fig-{name}"') == 1
    data = page_data(text)
    assert [f["name"] for f in data["figures"]] == FIGURES
    assert data["periods"] == [str(y) for y in range(2003, 2012)]
    assert data["types"] == ["dataset", "method", "object", "instrument"]
    assert check_well_formed(text).scripts == 3  # plotly.js, the data, the page script
    assert "<title>Field &lt;map&gt;</title>" in text


def test_filters_and_searchable_table_are_in_the_page(built):
    _, text = built
    for typ in ("dataset", "method", "object", "instrument"):
        assert f'class="fm-type" data-type="{typ}" checked' in text
    assert re.search(r'<select id="fm-from"[^>]*><option selected>2003</option>', text)
    assert re.search(r'<select id="fm-to"[^>]*>.*<option selected>2011</option></select>', text)
    assert 'id="fm-search"' in text
    rows = re.findall(r'<tr data-type="([^"]*)" data-name="([^"]*)">', text)
    assert ("dataset", "sdss") in rows and len(rows) == 5


def test_injected_names_and_titles_appear_only_escaped(built):
    _, text = built
    assert INJECTION not in text
    assert "<script>alert" not in text
    # shown escaped as the concept's name and as its first document's title in the table
    assert re.search(
        rf'<td class="" data-v="[^"]*">{re.escape(ESCAPED)}</td>.*<td class="" data-v="[^"]*">{re.escape(ESCAPED)}</td>',
        text,
    )
    # in the figures the name is HTML-escaped text (plotly shows the entities as characters)
    growth = next(f for f in page_data(text)["figures"] if f["name"] == "cooccurrence")["figure"]
    assert any(ESCAPED in json.dumps(trace.get("customdata")) for trace in growth["data"])


def test_script_breakout_name_cannot_close_the_script(small_db, tmp_path):
    insert_docs(small_db, [Doc("evil", date(2011, 6, 1), BREAKOUT, [(BREAKOUT, "dataset", 1), ("SDSS", "dataset", 1)])])
    text = build_dashboard(small_db, tmp_path / "evil").read_text(encoding="utf-8")
    assert BREAKOUT not in text and "</script><script>" not in text
    assert check_well_formed(text).scripts == 3
    assert "document.title=&#x27;PWNED&#x27;" in text  # the table shows it, escaped
    assert any(BREAKOUT.replace("<", "&lt;").replace(">", "&gt;") in json.dumps(f) for f in page_data(text)["figures"])


def test_script_json_escapes_markup():
    assert script_json({"a": "</script>&\u2028"}) == '{"a":"\\u003c/script\\u003e\\u0026\\u2028"}'
    assert json.loads(script_json({"a": "</script>&"})) == {"a": "</script>&"}


def test_data_files_hold_rows_and_figures(built):
    index, _ = built
    data_dir = index.parent / "data"
    assert sorted(p.stem for p in data_dir.glob("*.json")) == sorted(FIGURES + ["concepts"])
    per_period = json.loads((data_dir / "documents_per_period.json").read_text(encoding="utf-8"))
    assert per_period["granularity"] == "year"
    assert [(r["period"], r["documents"]) for r in per_period["rows"]] == [(str(y), 2) for y in range(2003, 2012)]
    rising = json.loads((data_dir / "rising.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in rising["rows"]] == ["Gaia", "SDSS"]
    firsts = json.loads((data_dir / "first_appearances.json").read_text(encoding="utf-8"))
    assert {r["name"]: r["period"] for r in firsts["rows"]} == {INJECTION: "2006", "SDSS": "2007", "Gaia": "2010"}
    fig = pio.from_json(json.dumps(rising["figure"]))
    assert [t.name for t in fig.data] == ["dataset", "instrument"]


def test_window_selects_counts_and_the_minimum_are_on_the_page(small_db, tmp_path):
    text = build_dashboard(small_db, tmp_path / "default").read_text(encoding="utf-8")
    for select in ("fm-e-from", "fm-e-to", "fm-r-from", "fm-r-to"):
        assert f'<select id="{select}"' in text
    data = page_data(text)
    assert data["growth"]["totals"] == [2] * 9 and data["growth"]["min_window_documents"] == 30
    assert {c["name"] for c in data["growth"]["concepts"]} == {"galaxies", "SDSS", "old method", "Gaia"}
    rising = next(f for f in data["figures"] if f["name"] == "rising")["figure"]
    assert rising["data"] == [] and "(9 documents)" in rising["layout"]["title"]["text"]
    assert "not ranked: the earlier window has 9" in rising["layout"]["annotations"][0]["text"].replace("<br>", " ")
    assert "no ranking when a window has fewer than 30 documents" in text


def test_empty_database_gives_a_valid_no_data_page(empty_db, tmp_path):
    index = build_dashboard(empty_db, tmp_path / "empty")
    text = index.read_text(encoding="utf-8")
    check_well_formed(text)
    assert "No data yet" in text and 'class="fm-plot"' not in text
    rows = json.loads((index.parent / "data" / "rising.json").read_text(encoding="utf-8"))["rows"]
    assert rows == []


def test_documents_without_mentions_still_render(tmp_path):
    con = connect(tmp_path / "bare.duckdb")
    insert_docs(con, [Doc("a", date(2020, 1, 1)), Doc("b", date(2020, 3, 1))])
    text = build_dashboard(con, tmp_path / "bare").read_text(encoding="utf-8")
    check_well_formed(text)
    assert text.count('class="fm-plot"') == len(FIGURES)
    assert "No dated mentions yet" in text


@pytest.mark.slow
def test_benchmark_sized_corpus_builds_fast_and_small(tmp_path):
    con = connect(tmp_path / "big.duckdb")
    insert_synthetic(con)  # 1,000 documents, 30,000 mentions, ~14k concepts, 5,000 triplets
    started = time.perf_counter()
    index = build_dashboard(con, tmp_path / "big")
    elapsed = time.perf_counter() - started
    size = index.stat().st_size
    print(f"build_dashboard: {elapsed:.2f} s, index.html {size / 1e6:.2f} MB")
    assert elapsed < 20
    assert size < 10_000_000
    text = index.read_text(encoding="utf-8")
    assert text.count('class="fm-plot"') == len(FIGURES) and INJECTION not in text
    assert len(re.findall(r"<tr data-type=", text)) <= 9 * 100


def test_builds_from_a_read_only_connection(tmp_path):
    path = tmp_path / "ro.duckdb"
    con = connect(path)
    insert_docs(
        con,
        [
            Doc("a", date(2020, 1, 1), concepts=[("x", "task", 1)]),
            Doc("b", date(2020, 5, 1), concepts=[("x", "task", 2)]),
        ],
    )
    con.close()
    ro = connect(path, read_only=True)
    text = build_dashboard(ro, tmp_path / "ro").read_text(encoding="utf-8")
    assert page_data(text)["periods"] == ["2020-01", "2020-02", "2020-03", "2020-04", "2020-05"]
    ro.close()
