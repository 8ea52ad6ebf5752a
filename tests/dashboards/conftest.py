"""Fixture databases for the dashboard tests: real DuckDB files built with INSERTs into the
fieldmap tables (fieldmap.store.connect applies schemas/ddl.sql)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from fieldmap.store import connect

INJECTION = "<script>alert(1)</script>"


@dataclass
class Doc:
    doc_id: str
    date: date | None
    title: str = ""
    # (concept name, type, number of mentions in this document)
    concepts: list[tuple[str, str, int]] = field(default_factory=list)
    year: int | None = None  # defaults to date.year


def entity_id(name: str) -> str:
    return "e:" + hashlib.sha1(name.lower().encode("utf-8")).hexdigest()[:16]


def insert_docs(con: duckdb.DuckDBPyConnection, docs: list[Doc]) -> None:
    """Documents, one chunk each, entities (first type seen wins; existing ones are kept) and their mentions."""
    types: dict[str, tuple[str, str]] = {}
    doc_rows, mention_rows = [], []
    for doc in docs:
        year = doc.year if doc.year is not None else (doc.date.year if doc.date else None)
        doc_rows.append(
            (
                doc.doc_id,
                doc.title or f"Title of {doc.doc_id}",
                f"text of {doc.doc_id}",
                "fixture.jsonl",
                doc.date,
                year,
                "h:" + doc.doc_id,
            )
        )
        pos = 0
        for name, typ, n in doc.concepts:
            types.setdefault(entity_id(name), (name, typ))
            for _ in range(n):
                mention_rows.append(
                    (
                        f"{doc.doc_id}:c0:{pos}",
                        entity_id(name),
                        doc.doc_id,
                        f"{doc.doc_id}:c0",
                        0,
                        pos,
                        pos + len(name),
                        name,
                        typ,
                        0.9,
                        "ner",
                    )
                )
                pos += len(name) + 1
    insert_rows(con, "documents", ("doc_id", "title", "text", "source", "date", "year", "content_hash"), doc_rows)
    insert_rows(
        con,
        "entities",
        ("entity_id", "name", "norm_name", "type"),
        [(eid, name, name.lower(), typ) for eid, (name, typ) in types.items()],
        verb="INSERT OR IGNORE",
    )
    insert_rows(
        con,
        "mentions",
        (
            "mention_id",
            "entity_id",
            "doc_id",
            "chunk_id",
            "sent_index",
            "start_char",
            "end_char",
            "text",
            "type",
            "type_score",
            "origin",
        ),
        mention_rows,
    )


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], rows: list[tuple], verb: str = "INSERT"
) -> None:
    """One INSERT ... SELECT unnest(column lists) statement (executemany is slow in DuckDB)."""
    if not rows:
        return
    lists = [list(col) for col in zip(*rows)]
    selects = ", ".join(f"unnest(${i + 1}) AS c{i}" for i in range(len(columns)))
    con.execute(f"{verb} INTO {table} ({', '.join(columns)}) SELECT {selects}", lists)


def insert_triplets(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str]]) -> None:
    """(doc_id, subject name, relation, object name) triplets."""
    columns = (
        "triplet_id",
        "doc_id",
        "chunk_id",
        "sent_index",
        "subject_id",
        "relation",
        "predicate",
        "object_id",
        "subject_mention_id",
        "object_mention_id",
        "origin",
    )
    insert_rows(
        con,
        "triplets",
        columns,
        [
            (f"{d}:c0:0:{i}", d, f"{d}:c0", 0, entity_id(s), rel, rel, entity_id(o), f"{d}:c0:0", f"{d}:c0:1", "dep")
            for i, (d, s, rel, o) in enumerate(rows)
        ],
    )


def small_corpus() -> list[Doc]:
    """18 dated documents, two per year 2003-2011, plus one undated document.

    galaxies (object)   every document, 2 mentions each
    SDSS (dataset)      first in 2007 (d07a); also d09a, d09b, d10a, d10b, d11a and the undated doc
    old method (method) d03a, d04a, d05a, d09a
    INJECTION (instrument) d06a, d07b
    Gaia (instrument)   d10a, d11a, d11b (first in 2010)
    The title of d06a is INJECTION (so it is the first document of INJECTION).
    """
    extra = {
        "d07a": [("SDSS", "dataset", 1)],
        "d09a": [("SDSS", "dataset", 3), ("old method", "method", 1)],
        "d09b": [("SDSS", "dataset", 1)],
        "d10a": [("SDSS", "dataset", 1), ("Gaia", "instrument", 1)],
        "d10b": [("SDSS", "dataset", 1)],
        "d11a": [("SDSS", "dataset", 1), ("Gaia", "instrument", 2)],
        "d11b": [("Gaia", "instrument", 1)],
        "d03a": [("old method", "method", 1)],
        "d04a": [("old method", "method", 1)],
        "d05a": [("old method", "method", 2)],
        "d06a": [(INJECTION, "instrument", 1)],
        "d07b": [(INJECTION, "instrument", 1)],
    }
    docs = []
    for year in range(2003, 2012):
        for half, month in (("a", 3), ("b", 9)):
            doc_id = f"d{year % 100:02d}{half}"
            title = INJECTION if doc_id == "d06a" else ""
            docs.append(Doc(doc_id, date(year, month, 15), title, [("galaxies", "object", 2)] + extra.get(doc_id, [])))
    docs.append(Doc("undated", None, "An undated note", [("galaxies", "object", 1), ("SDSS", "dataset", 1)]))
    return docs


@pytest.fixture
def small_db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path / "small.duckdb")
    insert_docs(con, small_corpus())
    insert_triplets(
        con,
        [
            ("d09a", "SDSS", "uses", "galaxies"),
            ("d10a", "Gaia", "observes", "galaxies"),
            ("d11a", "Gaia", "observes", "galaxies"),
            ("d11a", "SDSS", "measures", "galaxies"),
        ],
    )
    yield con
    con.close()


@pytest.fixture
def empty_db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path / "empty.duckdb")
    yield con
    con.close()


TYPES = ["model", "task", "dataset", "field", "modality", "method", "object", "property", "instrument"]


RELATIONS = ["uses", "studies", "measures", "observes", "part_of", "produces", "related_to"]


def insert_synthetic(
    con: duckdb.DuckDBPyConnection, n_docs: int = 1000, mentions_per_doc: int = 30, seed: int = 7
) -> None:
    """A benchmark-sized random corpus (1,000 docs: ~30k mentions, ~15k concepts, ~5k triplets):
    half the mentions from a Zipf-like head of 2,000 concepts, half from a long tail; dates over
    2000-2024, every 50th document undated, and a few hostile names and titles."""
    rng = random.Random(seed)
    head = [1.0 / (i + 1) ** 0.9 for i in range(2000)]

    def name(i: int) -> str:
        return INJECTION if i == 1 else (f"concept {i} <b>&amp;" if i % 997 == 0 else f"concept {i}")

    docs, triplets = [], []
    for d in range(n_docs):
        when = None if d % 50 == 0 else date(2000 + rng.randrange(25), rng.randrange(1, 13), rng.randrange(1, 29))
        picks = rng.choices(range(2000), weights=head, k=mentions_per_doc // 2)
        picks += [rng.randrange(2000, 42000) for _ in range(mentions_per_doc - len(picks))]
        counts: dict[int, int] = {}
        for p in picks:
            counts[p] = counts.get(p, 0) + 1
        docs.append(
            Doc(
                f"doc{d:05d}",
                when,
                INJECTION if d == 3 else f"Abstract {d}",
                [(name(i), TYPES[i % len(TYPES)], n) for i, n in counts.items()],
            )
        )
        ids = list(counts)
        triplets += [
            (f"doc{d:05d}", name(rng.choice(ids)), rng.choice(RELATIONS), name(rng.choice(ids))) for _ in range(5)
        ]
    insert_docs(con, docs)
    insert_triplets(con, triplets)


def skewed_corpus(seed: int = 11) -> list[Doc]:
    """Like the demo's arXiv sample: 1,000 documents, 700 of them from 2008, 3 after 2014.

    galaxies            every document
    fast radio bursts   rising inside the bulk: 1 in 10 documents before 2008-07-01, 1 in 2 after
    old catalogue       falling: 1 in 2 before 2008-07-01, 1 in 10 after
    jellyfish galaxies  2 of the 3 documents after 2014, and 2 documents of 2001: noise the
                        calendar split (the last third of 1995-2023) would rank first
    """
    rng = random.Random(seed)
    when = [date(1995 + i % 13, 1 + i % 12, 1 + i % 28) for i in range(250)]  # 1995-2007
    when += [date(2008, 1, 1) + timedelta(days=int(i * 365 / 700)) for i in range(700)]  # 2008
    when += [date(2009 + i % 6, 1 + i % 12, 10) for i in range(47)]  # 2009-2014
    when += [date(2015, 5, 1), date(2019, 3, 1), date(2023, 2, 1)]
    docs = []
    for i, day in enumerate(when):
        late = day >= date(2008, 7, 1)
        concepts = [("galaxies", "object", 1)]
        if rng.random() < (0.5 if late else 0.1):
            concepts.append(("fast radio bursts", "object", 1))
        if rng.random() < (0.1 if late else 0.5):
            concepts.append(("old catalogue", "dataset", 1))
        if day.year >= 2015 and day.year != 2019 or (day.year == 2001 and day.month in (2, 3)):
            concepts.append(("jellyfish galaxies", "object", 1))
        docs.append(Doc(f"s{i:04d}", day, concepts=concepts))
    return docs


@pytest.fixture
def skewed_db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path / "skewed.duckdb")
    insert_docs(con, skewed_corpus())
    yield con
    con.close()
