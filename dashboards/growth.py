"""Rising and falling concepts: how a concept's share of documents moved from an earlier window of
the corpus to a recent one.

The windows hold comparable numbers of documents. By default the dated documents, ordered by date
(then id), are cut at their median: the earlier half against the recent half, whatever the calendar
says (a corpus with 700 of 1,000 documents in one year is cut inside that year, not at the last
third of the calendar span, which would hold a handful). The user may instead name two ranges of
periods (`windows=(("2003", "2005"), ("2009", "2011"))`, or the selects on the dashboard page).

No concept is ranked unless both windows hold at least `min_window_documents` documents
(MIN_WINDOW_DOCUMENTS, 30): see WINDOW_REASON. For a dated document with only a year, its date is
taken as 1 July of that year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb

from dashboards.trends import CONCEPT_MENTIONS, TimeAxis, period_sql

MIN_WINDOW_DOCUMENTS = 30
WINDOW_REASON = (
    "below 30 documents one document moves a concept's share of the window by more than 3 points, "
    "so a concept in 2 of 3 late documents would outrank one in 300 of 900: the ranking would "
    "follow single documents"
)


@dataclass(frozen=True)
class Window:
    """A span of the corpus: its first and last document dates (or period labels) and its size."""

    first: str
    last: str
    documents: int

    @property
    def label(self) -> str:
        span = self.first if self.first == self.last else f"{self.first} – {self.last}"
        return f"{span} ({self.documents} documents)"


@dataclass(frozen=True)
class Growth:
    entity_id: str
    name: str
    type: str
    recent_documents: int
    earlier_documents: int
    recent_share: float
    earlier_share: float
    score: float


@dataclass(frozen=True)
class GrowthTable:
    """Rising (score > 0, highest first) and falling (score < 0, lowest first) concepts, the two
    windows compared, and `reason` (empty when ranked) saying why nothing was ranked."""

    earlier: Window | None
    recent: Window | None
    min_documents: int
    min_window_documents: int = MIN_WINDOW_DOCUMENTS
    method: str = "median"  # median: halves of the dated documents by date | periods: the user's ranges
    reason: str = ""
    rising: list[Growth] = field(default_factory=list)
    falling: list[Growth] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict, repr=False)  # entity_id -> score, every scored concept

    @property
    def ranked(self) -> bool:
        return not self.reason

    @property
    def recent_total(self) -> int:
        return self.recent.documents if self.recent else 0

    @property
    def earlier_total(self) -> int:
        return self.earlier.documents if self.earlier else 0


def growth_score(recent_docs: int, recent_total: int, earlier_docs: int, earlier_total: int) -> float:
    """log2((d_R + 1) / (D_R + 1)) - log2((d_E + 1) / (D_E + 1)): the log2 ratio of add-one-smoothed
    shares, where d = documents of the window mentioning the concept and D = documents of the window.
    +1 means the share doubled, 0 no change; a concept absent before gets a finite score."""
    return math.log2((recent_docs + 1) / (recent_total + 1)) - math.log2((earlier_docs + 1) / (earlier_total + 1))


def _median_split() -> tuple[str, list]:
    """doc_window(doc_id, w, wat): the earlier half ('E', the first floor(n/2) by date then id) and the
    recent half ('R') of the dated documents."""
    return (
        """doc_window AS (
        SELECT doc_id, CASE WHEN rn <= n // 2 THEN 'E' ELSE 'R' END AS w, wat FROM (
            SELECT doc_id, wat, row_number() OVER (ORDER BY wat, doc_id) AS rn, count(*) OVER () AS n
            FROM (SELECT doc_id, coalesce(date, make_date(year, 7, 1)) AS wat FROM documents
                  WHERE date IS NOT NULL OR year IS NOT NULL)))""",
        [],
    )


def _period_split(axis: TimeAxis, windows: tuple[tuple[str, str], tuple[str, str]]) -> tuple[str, list]:
    """doc_window(doc_id, w, wat) for the user's period ranges (earlier, recent); `wat` is the period."""
    (e_from, e_to), (r_from, r_to) = windows
    for label in (e_from, e_to, r_from, r_to):
        if label not in axis.periods:
            raise ValueError(
                f"period {label!r} is not on the {axis.granularity} axis ({axis.periods[:1]}…{axis.periods[-1:]})"
            )
    if not (e_from <= e_to < r_from <= r_to):
        raise ValueError(f"windows must be ordered and apart: earlier {e_from}..{e_to}, recent {r_from}..{r_to}")
    expr, cond = period_sql(axis.granularity)
    return (
        f"""doc_window AS (
        SELECT doc_id, CASE WHEN period BETWEEN ? AND ? THEN 'E' ELSE 'R' END AS w, period AS wat FROM (
            SELECT doc_id, {expr} AS period FROM documents WHERE {cond})
        WHERE period BETWEEN ? AND ? OR period BETWEEN ? AND ?)""",
        [e_from, e_to, e_from, e_to, r_from, r_to],
    )


def growth_scores(
    con: duckdb.DuckDBPyConnection,
    axis: TimeAxis,
    min_documents: int = 3,
    top: int = 20,
    windows: tuple[tuple[str, str], tuple[str, str]] | None = None,
    min_window_documents: int = MIN_WINDOW_DOCUMENTS,
) -> GrowthTable:
    """Rising and falling concepts between the earlier and the recent window (the median split of
    the dated documents, or the given period ranges); see `growth_score`. Only concepts in at least
    `min_documents` documents of the two windows are scored; `rising` holds the `top` highest
    scores > 0, `falling` the `top` lowest < 0 (ties: more documents, then name). Nothing is ranked
    (and `reason` says why) when a window has fewer than `min_window_documents` documents."""
    cte, params = _period_split(axis, windows) if windows else _median_split()
    found = {
        w: Window(str(lo), str(hi), n)
        for w, lo, hi, n in con.execute(
            f"WITH {cte} SELECT w, min(wat), max(wat), count(*) FROM doc_window GROUP BY w", params
        ).fetchall()
    }
    earlier, recent = found.get("E"), found.get("R")
    if windows:  # name the ranges as picked, even where their first or last periods hold no document
        (e_from, e_to), (r_from, r_to) = windows
        earlier = Window(e_from, e_to, earlier.documents if earlier else 0)
        recent = Window(r_from, r_to, recent.documents if recent else 0)
    base = dict(
        min_documents=min_documents,
        min_window_documents=min_window_documents,
        method="periods" if windows else "median",
    )
    reason = _window_problem(earlier, recent, min_window_documents)
    if reason:
        return GrowthTable(earlier, recent, reason=reason, **base)
    rows = con.execute(
        f"""WITH {cte}, {CONCEPT_MENTIONS}
        SELECT cm.entity_id, any_value(cm.name), any_value(cm.type),
               count(DISTINCT cm.doc_id) FILTER (dw.w = 'R'), count(DISTINCT cm.doc_id) FILTER (dw.w = 'E')
        FROM concept_mentions cm JOIN doc_window dw ON dw.doc_id = cm.doc_id
        GROUP BY cm.entity_id HAVING count(DISTINCT cm.doc_id) >= ?""",
        params + [int(min_documents)],
    ).fetchall()
    d_r, d_e = recent.documents, earlier.documents
    scored = [
        Growth(eid, name, typ, r, e, r / d_r, e / d_e, growth_score(r, d_r, e, d_e)) for eid, name, typ, r, e in rows
    ]
    rising = sorted(
        (g for g in scored if g.score > 0),
        key=lambda g: (-g.score, -(g.recent_documents + g.earlier_documents), g.name),
    )
    falling = sorted(
        (g for g in scored if g.score < 0), key=lambda g: (g.score, -(g.recent_documents + g.earlier_documents), g.name)
    )
    return GrowthTable(
        earlier,
        recent,
        rising=rising[:top],
        falling=falling[:top],
        scores={g.entity_id: g.score for g in scored},
        **base,
    )


def _window_problem(earlier: Window | None, recent: Window | None, minimum: int) -> str:
    if earlier is None or recent is None:
        return "needs dated documents in two windows"
    small = [(name, w) for name, w in (("earlier", earlier), ("recent", recent)) if w.documents < minimum]
    if not small:
        return ""
    which = " and ".join(f"the {name} window has {w.documents}" for name, w in small)
    return f"not ranked: {which} documents, fewer than {minimum}; {WINDOW_REASON}"


def concept_period_counts(
    con: duckdb.DuckDBPyConnection, axis: TimeAxis, min_documents: int = 3, limit: int = 400
) -> list[dict]:
    """For ranking in the page over windows the user picks: the `limit` concepts in most dated
    documents (at least `min_documents`), each with its documents per period as sparse
    [[period index, documents], ...] pairs."""
    expr, cond = period_sql(axis.granularity)
    index = {p: i for i, p in enumerate(axis.periods)}
    rows = con.execute(
        f"""WITH doc_period AS (SELECT doc_id, {expr} AS period FROM documents WHERE {cond}), {CONCEPT_MENTIONS},
        per AS (SELECT cm.entity_id, any_value(cm.name) AS name, any_value(cm.type) AS type, dp.period,
                       count(DISTINCT cm.doc_id) AS docs
                FROM concept_mentions cm JOIN doc_period dp ON dp.doc_id = cm.doc_id GROUP BY cm.entity_id, dp.period),
        tot AS (SELECT entity_id, sum(docs) AS total FROM per GROUP BY entity_id HAVING sum(docs) >= ?
                ORDER BY total DESC, entity_id LIMIT ?)
        SELECT p.entity_id, any_value(p.name), any_value(p.type), list([p.period, CAST(p.docs AS VARCHAR)] ORDER BY p.period)
        FROM per p JOIN tot USING (entity_id) GROUP BY p.entity_id ORDER BY any_value(tot.total) DESC, p.entity_id""",
        [int(min_documents), int(limit)],
    ).fetchall()
    return [
        {"id": eid, "name": name, "type": typ, "counts": [[index[p], int(n)] for p, n in counts]}
        for eid, name, typ, counts in rows
    ]
