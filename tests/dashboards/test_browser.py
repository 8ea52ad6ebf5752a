"""The built dashboard in headless Chromium: every figure renders, injected names do not run, and
the type/period filters and the concept search work in the page.

Needs /usr/bin/chromium (Debian: `apt-get update && apt-get install -y chromium`); without it
these tests fail rather than skip."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from dashboards import build_dashboard
from tests.dashboards.conftest import Doc, insert_docs

pytestmark = pytest.mark.browser

FIGURES = [
    "documents_per_period",
    "types_over_time",
    "rising",
    "falling",
    "first_appearances",
    "cooccurrence",
    "relations",
]
PAYLOADS = [
    "</script><script>document.title='PWNED'</script>",
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">",
    "<script>alert(1)</script>",
]
# defined before anything else on the probed page, so an injected alert() would be recorded
ALERT_TRAP = (
    "<script>window.alert = function () { document.documentElement.setAttribute('data-pwned', 'alert'); };</script>"
)
# runs after the page script: records what is drawn, then drives the filters and the search
PROBE = """<script>
setTimeout(function () {
  function figs() {
    var out = {};
    document.querySelectorAll(".fm-plot").forEach(function (el) {
      out[el.id.slice(4)] = (el.data || []).map(function (t) { return {type: (t.meta || {}).type, n: (t.x || []).length}; });
    });
    return out;
  }
  function visibleRows() {
    return Array.prototype.filter.call(document.querySelectorAll("#fm-concepts tbody tr"),
      function (tr) { return tr.style.display !== "none"; }).map(function (tr) { return tr.getAttribute("data-name"); });
  }
  var result = {before: figs(), rowsBefore: visibleRows().length};
  var box = document.querySelector('input.fm-type[data-type="dataset"]');
  box.checked = false; box.dispatchEvent(new Event("change"));
  var from = document.getElementById("fm-from");
  from.selectedIndex = 6; from.dispatchEvent(new Event("change"));
  var search = document.getElementById("fm-search");
  search.value = "GAIA"; search.dispatchEvent(new Event("input"));
  setTimeout(function () {
    result.after = figs();
    result.rowsAfter = visibleRows();
    document.body.setAttribute("data-probe", JSON.stringify(result));
  }, 300);
}, 300);
</script>"""


def chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "headless Chromium is needed for the browser tests but /usr/bin/chromium is missing; "
        "install it with: apt-get update && apt-get install -y chromium"
    )


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The page's DOM after scripts ran (5 s of virtual time)."""
    profile = tmp_path / f"profile-{page.stem}"
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,2000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def pwned(dom: str) -> bool:
    """Whether a payload ran: it marks the <html> element (the payload text itself shows escaped)."""
    return re.search(r"<html[^>]*\sdata-pwned=", dom) is not None


@pytest.fixture
def dashboard(small_db, tmp_path) -> Path:
    insert_docs(
        small_db,
        [
            Doc(f"evil{i}", date(2011, 6, 1), p, [(p, "dataset", 1), ("SDSS", "dataset", 1)])
            for i, p in enumerate(PAYLOADS)
        ],
    )
    return build_dashboard(small_db, tmp_path / "dash", title="fieldmap test", min_window_documents=5)


def test_every_figure_renders_and_no_payload_runs(dashboard, tmp_path):
    dom = dump_dom(dashboard, tmp_path)
    rendered = re.findall(r'<div class="fm-plot js-plotly-plot" id="fig-(\w+)"', dom)
    assert rendered == FIGURES, f"rendered plots: {rendered}"
    assert dom.count('class="main-svg"') >= 2 * len(FIGURES)
    assert re.search(r"<title>fieldmap test</title>", dom)
    assert not pwned(dom)
    assert "PWNED" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)


def test_filters_and_search_refilter_in_the_page(dashboard, tmp_path):
    html = dashboard.read_text(encoding="utf-8")
    probed = dashboard.with_name("probed.html")
    probed.write_text(
        html.replace("<head>", "<head>" + ALERT_TRAP, 1).replace("</body>", PROBE + "</body>", 1), encoding="utf-8"
    )
    dom = dump_dom(probed, tmp_path)
    assert not pwned(dom)
    match = re.search(r'data-probe="([^"]*)"', dom)
    assert match, "the probe did not finish"
    result = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    before, after = result["before"], result["after"]
    assert [t["n"] for t in before["documents_per_period"]] == [9]
    assert [t["n"] for t in after["documents_per_period"]] == [3]  # 2009-2011
    assert "dataset" in {t["type"] for t in before["types_over_time"]}
    assert {t["type"] for t in after["types_over_time"]} == {"method", "object", "instrument"}
    assert all(t["n"] == 3 for t in after["types_over_time"])
    assert {t["type"] for t in before["rising"]} == {"dataset", "instrument"}
    assert {t["type"] for t in after["rising"]} == {"instrument"}
    edges_before, edges_after = before["cooccurrence"][0]["n"], after["cooccurrence"][0]["n"]
    assert 0 < edges_after < edges_before  # edges touching a dataset are gone
    assert result["rowsBefore"] == 7  # 5 concepts of the small corpus + 2 new payload names
    assert result["rowsAfter"] == ["gaia"]


WINDOW_PROBE = """<script>
setTimeout(function () {
  function pick(w) {
    ["fm-e-from", "fm-e-to", "fm-r-from", "fm-r-to"].forEach(function (id, i) {
      var s = document.getElementById(id); s.selectedIndex = w[i]; s.dispatchEvent(new Event("change"));
    });
  }
  function rising() {
    var el = document.getElementById("fig-rising");
    var names = [];
    (el.data || []).forEach(function (t) { t.y.forEach(function (y, i) { names.push([y, t.x[i]]); }); });
    names.sort(function (a, b) { return b[1] - a[1]; });
    return {names: names.map(function (n) { return n[0]; }), title: el.layout.title.text,
            note: ((el.layout.annotations || [])[0] || {}).text || ""};
  }
  var result = {initial: rising()};
  pick(%s);
  setTimeout(function () {
    result.picked = rising();
    pick(%s);
    setTimeout(function () {
      result.calendar = rising();
      document.getElementById("fm-halves").click();
      setTimeout(function () { result.halves = rising(); document.body.setAttribute("data-probe", JSON.stringify(result)); }, 200);
    }, 200);
  }, 200);
}, 300);
</script>"""


def test_windows_picked_in_the_page_rank_as_python_does_and_small_ones_are_refused(skewed_db, tmp_path):
    from dashboards import trends
    from dashboards.growth import growth_scores

    axis = trends.time_axis(skewed_db)
    index = build_dashboard(skewed_db, tmp_path / "skewed")
    periods = list(axis.periods)
    picked = [periods.index(p) for p in ("1995", "2007", "2008", "2008")]
    calendar = [periods.index(p) for p in ("1995", "2014", "2015", "2023")]
    probed = index.with_name("windows.html")
    probed.write_text(
        index.read_text(encoding="utf-8").replace("</body>", WINDOW_PROBE % (picked, calendar) + "</body>", 1),
        encoding="utf-8",
    )
    dom = dump_dom(probed, tmp_path)
    match = re.search(r'data-probe="([^"]*)"', dom)
    assert match, "the probe did not finish"
    result = json.loads(
        match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )
    halves = growth_scores(skewed_db, axis)
    expected = growth_scores(skewed_db, axis, windows=(("1995", "2007"), ("2008", "2008")))
    assert result["initial"]["names"] == [g.name for g in halves.rising]
    assert "(500 documents)" in result["initial"]["title"]
    assert result["picked"]["names"] == [g.name for g in expected.rising]
    assert f"recent 2008 ({expected.recent.documents} documents)" in result["picked"]["title"]
    assert result["calendar"]["names"] == []
    assert "not ranked: the recent window has 3 documents" in result["calendar"]["note"].replace("<br>", " ")
    assert result["halves"] == result["initial"]


def test_screenshot_of_the_skewed_dashboard(skewed_db, tmp_path):
    index = build_dashboard(skewed_db, tmp_path / "shot")
    shot = tmp_path / "shot.png"
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile-shot'}",
        "--window-size=1280,1400",
        "--virtual-time-budget=5000",
        f"--screenshot={shot}",
        index.as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
