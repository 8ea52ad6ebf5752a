"""Trend tables over the triplet store, as SQL on a DuckDB connection.

Every function reads the fieldmap tables (documents, entities, mentions, triplets) and returns
plain dataclasses; nothing is written, so a read-only connection works. Conventions shared by all:

* A *period* is a sortable label: ``"2007"`` (year), ``"2007-Q3"`` (quarter) or ``"2007-03"``
  (month); lexicographic order is chronological order.
* A document is *dated* when ``documents.date`` is set; at year granularity a document with only
  ``documents.year`` set is dated too. Undated documents are left out of every per-period table
  but still count in the corpus-wide ones (top concepts, co-occurrence, relation counts).
* A *concept* is an entity; its type is ``entities.type`` (a mention whose entity row is missing
  falls back to the mention's own type and text).
* Concept support is measured in distinct documents, so repeating a name inside one abstract does
  not make it more popular.

Rising and falling concepts (growth between two windows of the corpus) are in `dashboards.growth`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from datetime import date
from typing import Any, Iterable

import duckdb

GRANULARITIES = ("year", "quarter", "month")

# a mention with its concept's id, name and type (the entity row wins over the mention's own)
CONCEPT_MENTIONS = """
concept_mentions AS (
    SELECT m.entity_id, m.doc_id, coalesce(e.name, m.text) AS name, coalesce(e.type, m.type) AS type
    FROM mentions m LEFT JOIN entities e ON e.entity_id = m.entity_id
)"""


@dataclass(frozen=True)
class TimeAxis:
    """The corpus's periods: every period from the first dated document to the last, gaps included."""

    granularity: str
    periods: tuple[str, ...]
    dated_documents: int
    undated_documents: int


@dataclass(frozen=True)
class PeriodCount:
    period: str
    documents: int


@dataclass(frozen=True)
class TypePeriodCount:
    period: str
    type: str
    mentions: int
    documents: int


@dataclass(frozen=True)
class ConceptStats:
    """A concept's corpus-wide support (all documents, dated or not)."""

    entity_id: str
    name: str
    type: str
    documents: int
    mentions: int


@dataclass(frozen=True)
class FirstAppearance:
    """The period of a concept's earliest dated document, and that document."""

    entity_id: str
    name: str
    type: str
    period: str
    first_date: date | None
    first_doc_id: str
    first_title: str
    documents: int  # dated documents mentioning the concept


@dataclass(frozen=True)
class CoOccurrence:
    source_id: str
    source: str
    source_type: str
    target_id: str
    target: str
    target_type: str
    documents: int  # documents mentioning both (source_id < target_id)


@dataclass(frozen=True)
class RankedConcept:
    type: str
    rank: int
    entity_id: str
    name: str
    documents: int
    mentions: int


@dataclass(frozen=True)
class ConceptRow:
    """A row of the concept table: support, first appearance and growth score (None when unknown)."""

    entity_id: str
    name: str
    type: str
    documents: int
    mentions: int
    first_period: str | None
    first_title: str | None
    score: float | None


@dataclass(frozen=True)
class RelationCount:
    relation: str
    triplets: int
    documents: int


def to_dicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Dataclass rows as JSON-ready dicts (dates become ISO strings)."""
    out = []
    for row in rows:
        item = asdict(row) if is_dataclass(row) else dict(row)
        out.append({k: (v.isoformat() if isinstance(v, date) else v) for k, v in item.items()})
    return out


# ---------------------------------------------------------------- periods


def _check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    return granularity


def period_sql(granularity: str) -> tuple[str, str]:
    """(expression, condition) giving the period label of a `documents` row and whether it has one."""
    if _check_granularity(granularity) == "year":
        year = "coalesce(year(date), year)"
        return f"lpad(CAST({year} AS VARCHAR), 4, '0')", f"{year} IS NOT NULL"
    if granularity == "quarter":
        return "strftime(date, '%Y') || '-Q' || CAST(quarter(date) AS VARCHAR)", "date IS NOT NULL"
    return "strftime(date, '%Y-%m')", "date IS NOT NULL"


def _doc_period_cte(granularity: str) -> str:
    expr, cond = period_sql(granularity)
    return f"doc_period AS (SELECT doc_id, {expr} AS period FROM documents WHERE {cond})"


def choose_granularity(con: duckdb.DuckDBPyConnection) -> str:
    """'year' when the dated documents span more than 6 years (72 months), 'quarter' when more
    than 18 months, else 'month'. A corpus with years but no dates, or no dates at all, gets 'year'."""
    lo, hi = con.execute("SELECT min(date), max(date) FROM documents").fetchall()[0]
    if lo is None:
        return "year"
    months = (hi.year * 12 + hi.month) - (lo.year * 12 + lo.month)
    years_only = con.execute("SELECT min(year), max(year) FROM documents WHERE date IS NULL").fetchall()[0]
    if years_only[0] is not None:  # year-only documents widen the span
        months = max(months, (max(hi.year, years_only[1]) - min(lo.year, years_only[0])) * 12)
    if months > 72:
        return "year"
    return "quarter" if months > 18 else "month"


def _period_range(first: str, last: str, granularity: str) -> list[str]:
    """Every period label from first to last inclusive."""
    if granularity == "year":
        return [f"{y:04d}" for y in range(int(first), int(last) + 1)]
    step = 3 if granularity == "quarter" else 1

    def index(label: str) -> int:
        y, rest = label.split("-")
        return int(y) * 12 + ((int(rest[1:]) - 1) * 3 if granularity == "quarter" else int(rest) - 1)

    out = []
    for i in range(index(first), index(last) + 1, step):
        y, m = divmod(i, 12)
        out.append(f"{y:04d}-Q{m // 3 + 1}" if granularity == "quarter" else f"{y:04d}-{m + 1:02d}")
    return out


def time_axis(con: duckdb.DuckDBPyConnection, granularity: str | None = None) -> TimeAxis:
    """The periods of the corpus at the given (or chosen) granularity; no periods if nothing is dated."""
    granularity = _check_granularity(granularity or choose_granularity(con))
    expr, cond = period_sql(granularity)
    lo, hi, dated, total = con.execute(
        f"SELECT min({expr}) FILTER ({cond}), max({expr}) FILTER ({cond}), count(*) FILTER ({cond}), count(*) FROM documents"
    ).fetchall()[0]
    periods = tuple(_period_range(lo, hi, granularity)) if lo is not None else ()
    return TimeAxis(granularity, periods, dated, total - dated)


# ---------------------------------------------------------------- per-period counts


def documents_per_period(con: duckdb.DuckDBPyConnection, axis: TimeAxis) -> list[PeriodCount]:
    """Dated documents per period, one row for every period of the axis (zeros included)."""
    rows = dict(
        con.execute(
            f"WITH {_doc_period_cte(axis.granularity)} SELECT period, count(*) FROM doc_period GROUP BY 1"
        ).fetchall()
    )
    return [PeriodCount(p, rows.get(p, 0)) for p in axis.periods]


def type_counts_per_period(con: duckdb.DuckDBPyConnection, axis: TimeAxis) -> list[TypePeriodCount]:
    """Mentions and distinct documents per (period, concept type), over dated documents; every type
    seen in a dated document gets a row in every period (zeros included), ordered by period, type."""
    rows = con.execute(
        f"""WITH {_doc_period_cte(axis.granularity)}, {CONCEPT_MENTIONS}
        SELECT dp.period, cm.type, count(*), count(DISTINCT cm.doc_id)
        FROM concept_mentions cm JOIN doc_period dp ON dp.doc_id = cm.doc_id GROUP BY 1, 2"""
    ).fetchall()
    found = {(p, t): (m, d) for p, t, m, d in rows}
    types = sorted({t for _, t in found})
    return [TypePeriodCount(p, t, *found.get((p, t), (0, 0))) for p in axis.periods for t in types]


# ---------------------------------------------------------------- concepts


def concept_stats(
    con: duckdb.DuckDBPyConnection, limit: int | None = None, types: Iterable[str] | None = None
) -> list[ConceptStats]:
    """Concepts by distinct documents (then mentions, name, id), optionally of some types only."""
    where, params = _types_filter(types)
    sql = f"""WITH {CONCEPT_MENTIONS}
        SELECT entity_id, any_value(name), any_value(type), count(DISTINCT doc_id) AS docs, count(*) AS n
        FROM concept_mentions {where} GROUP BY entity_id
        ORDER BY docs DESC, n DESC, any_value(name), entity_id"""
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [ConceptStats(*row) for row in con.execute(sql, params).fetchall()]


def _types_filter(types: Iterable[str] | None) -> tuple[str, list[Any]]:
    if types is None:
        return "", []
    return "WHERE type IN (SELECT unnest(?::VARCHAR[]))", [list(types)]


def top_concepts_per_type(con: duckdb.DuckDBPyConnection, per_type: int = 20) -> list[RankedConcept]:
    """The `per_type` concepts of each type with the most distinct documents (ties: more mentions,
    then name), ranked from 1; ordered by type then rank."""
    rows = con.execute(
        f"""WITH {CONCEPT_MENTIONS},
        stats AS (SELECT entity_id, any_value(name) AS name, any_value(type) AS type,
                         count(DISTINCT doc_id) AS docs, count(*) AS n FROM concept_mentions GROUP BY entity_id),
        ranked AS (SELECT type, row_number() OVER (PARTITION BY type ORDER BY docs DESC, n DESC, name, entity_id) AS rank,
                          entity_id, name, docs, n FROM stats)
        SELECT * FROM ranked WHERE rank <= ? ORDER BY type, rank""",
        [int(per_type)],
    ).fetchall()
    return [RankedConcept(*row) for row in rows]


def first_appearances(
    con: duckdb.DuckDBPyConnection, axis: TimeAxis, types: Iterable[str] | None = None, min_documents: int = 1
) -> list[FirstAppearance]:
    """Each concept's first period (its earliest dated document's period) with that document
    (earliest date, then doc_id), for concepts in at least `min_documents` dated documents;
    ordered by period, then more documents first, then name."""
    where, params = _types_filter(types)
    rows = con.execute(
        f"""WITH {_doc_period_cte(axis.granularity)}, {CONCEPT_MENTIONS},
        dated AS (SELECT cm.entity_id, cm.name, cm.type, cm.doc_id, dp.period, d.date, d.title,
                         dp.period || '|' || coalesce(CAST(d.date AS VARCHAR), '') || '|' || d.doc_id AS sort_key
                  FROM concept_mentions cm JOIN doc_period dp ON dp.doc_id = cm.doc_id
                  JOIN documents d ON d.doc_id = cm.doc_id)
        SELECT entity_id, any_value(name), any_value(type), min(period), min(date),
               arg_min(doc_id, sort_key), arg_min(title, sort_key), count(DISTINCT doc_id) AS docs
        FROM dated {where} GROUP BY entity_id HAVING count(DISTINCT doc_id) >= ?
        ORDER BY min(period), docs DESC, any_value(name), entity_id""",
        params + [int(min_documents)],
    ).fetchall()
    return [FirstAppearance(*row) for row in rows]


def cooccurrences(
    con: duckdb.DuckDBPyConnection, top_n: int = 50, min_count: int = 2, types: Iterable[str] | None = None
) -> list[CoOccurrence]:
    """Pairs among the `top_n` concepts (by `concept_stats` order) that share at least `min_count`
    documents, counted in documents (dated or not); each pair once with source_id < target_id,
    ordered by count descending, then ids."""
    where, params = _types_filter(types)
    rows = con.execute(
        f"""WITH {CONCEPT_MENTIONS},
        top AS (SELECT entity_id, any_value(name) AS name, any_value(type) AS type FROM concept_mentions {where}
                GROUP BY entity_id ORDER BY count(DISTINCT doc_id) DESC, count(*) DESC, any_value(name), entity_id LIMIT ?),
        dc AS (SELECT DISTINCT cm.entity_id, cm.doc_id FROM concept_mentions cm JOIN top ON top.entity_id = cm.entity_id)
        SELECT a.entity_id, ta.name, ta.type, b.entity_id, tb.name, tb.type, count(*) AS n
        FROM dc a JOIN dc b ON a.doc_id = b.doc_id AND a.entity_id < b.entity_id
        JOIN top ta ON ta.entity_id = a.entity_id JOIN top tb ON tb.entity_id = b.entity_id
        GROUP BY ALL HAVING count(*) >= ? ORDER BY n DESC, a.entity_id, b.entity_id""",
        params + [int(top_n), int(min_count)],
    ).fetchall()
    return [CoOccurrence(*row) for row in rows]


def concept_rows(
    con: duckdb.DuckDBPyConnection, axis: TimeAxis, per_type: int = 100, growth: Any = None
) -> list[ConceptRow]:
    """The top `per_type` concepts of every type (see `top_concepts_per_type`) with their first
    period and first document title (None if only in undated documents) and growth score (from a
    `dashboards.growth.GrowthTable`; None if unscored); ordered by documents, mentions, name."""
    firsts = {f.entity_id: f for f in first_appearances(con, axis)}
    scores = growth.scores if growth else {}
    rows = []
    for c in top_concepts_per_type(con, per_type):
        first = firsts.get(c.entity_id)
        rows.append(
            ConceptRow(
                c.entity_id,
                c.name,
                c.type,
                c.documents,
                c.mentions,
                first.period if first else None,
                first.first_title if first else None,
                scores.get(c.entity_id),
            )
        )
    return sorted(rows, key=lambda r: (-r.documents, -r.mentions, r.name, r.entity_id))


def relation_counts(con: duckdb.DuckDBPyConnection) -> list[RelationCount]:
    """Triplets and distinct documents per relation type, most triplets first (ties: name)."""
    rows = con.execute(
        "SELECT relation, count(*) AS n, count(DISTINCT doc_id) FROM triplets GROUP BY relation ORDER BY n DESC, relation"
    ).fetchall()
    return [RelationCount(*row) for row in rows]


def corpus_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of the tables the dashboard reads."""
    tables = ("documents", "entities", "mentions", "triplets")
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}


def create_views(con: duckdb.DuckDBPyConnection, granularity: str | None = None) -> TimeAxis:
    """Temporary views for notebooks: `fm_doc_period(doc_id, period)`, `fm_concept_mentions(entity_id,
    doc_id, name, type)` and `fm_type_period(period, type, mentions, documents)`. Returns the axis used."""
    axis = time_axis(con, granularity)
    expr, cond = period_sql(axis.granularity)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW fm_doc_period AS SELECT doc_id, {expr} AS period FROM documents WHERE {cond}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW fm_concept_mentions AS WITH {CONCEPT_MENTIONS} SELECT * FROM concept_mentions"
    )
    con.execute(
        """CREATE OR REPLACE TEMP VIEW fm_type_period AS
        SELECT dp.period, cm.type, count(*) AS mentions, count(DISTINCT cm.doc_id) AS documents
        FROM fm_concept_mentions cm JOIN fm_doc_period dp ON dp.doc_id = cm.doc_id GROUP BY 1, 2"""
    )
    return axis
