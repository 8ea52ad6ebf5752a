"""The corpus split into shards, each in a DuckDB file of its own, and the shards merged back.

DuckDB admits one writer process per file, so the per-document steps (chunks, structures, triplets)
of one workspace file run one at a time. Split into shards, each shard's steps write
`<shard directory>/<k>.duckdb` (settings.shard_directory, `<workspace>/shards` by default) (the same DDL, filled by the same stage functions), so shards run
in parallel processes; one merge then writes their rows into the workspace's tables, where the
steps after (vectors, synonyms, graph, memory, dashboard) read them as before.

- A document's shard is a stable hash of its id mod the number of shards (not Python's hash(),
  which is salted per process).
- `split_shard` mirrors the workspace's documents of shard k into the shard's file: a document
  that changed or left the shard (removed, or moved by another shard count) loses every row there;
  new ones are copied in, so the stages redo exactly those.
- `merge_shards` replaces, per document, the rows that differ from the shard's (compared as whole
  rows), and leaves equal ones alone: merging twice changes nothing, and a changed document is
  replaced, never duplicated. Entities are recomputed from the merged mentions (refresh_entities),
  so their names and types are the same as one unsharded run's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from corpus.store import CHUNK_DERIVED
from fieldmap.store import connect, delete_document_rows, insert_rows, set_meta, transaction
from kg.store import refresh_entities
from pipelines.fingerprints import LLM_STEPS

# rows the shard steps make, by the step that makes them; a document's chunks changing redoes all
# of CHUNK_DERIVED, in the workspace as in corpus.store.clear_stale (its gists too: the memory step redoes them)
GROUPS = {
    "chunks": ("sentences", "chunks"),
    "structures": ("structures", "aspects"),
    "extractions": ("extractions", "mentions", "triplets", "chunk_parses"),
}
DOCUMENT_COLUMNS = ["doc_id", "title", "text", "source", "date", "year", "content_hash", "metadata", "ingested_at"]
PAGE_COLUMNS = ["doc_id", "page", "start_char", "end_char"]
SHARD_LLM_STEPS = tuple(step for step in LLM_STEPS if step != "memory")  # memory runs after the merge, in the workspace


def shard_of(doc_id: str, shards: int) -> int:
    """The shard of a document: the same on every machine, process and run."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "big") % shards


def shard_path(directory: Path, k: int) -> Path:
    """Shard `k`'s file in the shard directory (settings.shard_directory: <workspace>/shards unless set)."""
    return directory / f"{k}.duckdb"


def split_shard(
    workspace_con: duckdb.DuckDBPyConnection, shard_con: duckdb.DuckDBPyConnection, k: int, shards: int
) -> dict[str, int]:
    """Make the shard's documents (and pages) those of the workspace in shard `k`; returns counts."""
    wanted = {
        d: h
        for d, h in workspace_con.execute("SELECT doc_id, content_hash FROM documents").fetchall()
        if shard_of(d, shards) == k
    }
    held = dict(shard_con.execute("SELECT doc_id, content_hash FROM documents").fetchall())
    gone = sorted(d for d, h in held.items() if wanted.get(d) != h)
    incoming = sorted(d for d in wanted if d not in held or d in gone)
    documents = workspace_con.execute(
        f"SELECT {', '.join(DOCUMENT_COLUMNS)} FROM documents WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [incoming]
    ).fetchall()
    pages = workspace_con.execute(
        f"SELECT {', '.join(PAGE_COLUMNS)} FROM pages WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [incoming]
    ).fetchall()
    with transaction(shard_con):
        delete_document_rows(shard_con, gone)
        insert_rows(shard_con, "documents", DOCUMENT_COLUMNS, documents)
        insert_rows(shard_con, "pages", PAGE_COLUMNS, pages)
    return {"documents": len(wanted), "copied": len(incoming), "dropped": len(gone)}


def open_shard(path: Path) -> duckdb.DuckDBPyConnection:
    """A shard's file, created with the workspace's DDL (no readers' snapshot: only the merge reads it)."""
    return connect(path)


def _signatures(con: duckdb.DuckDBPyConnection, prefix: str, table: str) -> dict[str, str]:
    """doc_id -> a digest of all of the document's rows in `table` (every column)."""
    rows = con.execute(
        f"SELECT t.doc_id, md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM {prefix}{table} t GROUP BY t.doc_id"
    ).fetchall()
    return dict(rows)


def merge_shards(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> dict[str, int]:
    """Write the shards' rows into the workspace's tables (see the module's docstring); returns counts."""
    found = {"replaced_chunks": 0, "replaced_structures": 0, "replaced_extractions": 0, "documents": 0}
    health: dict[str, list[dict]] = {step: [] for step in SHARD_LLM_STEPS}
    # the workspace's digests, read once: merging one shard changes only its own documents' rows
    ours = {table: _signatures(con, "", table) for tables in GROUPS.values() for table in tables}
    for path in paths:
        con.execute(f"ATTACH '{path}' AS shard (READ_ONLY)")
        try:
            # documents as the workspace holds them now: a shard not split since a document changed keeps its old rows out
            docs = [
                r[0]
                for r in con.execute(
                    "SELECT doc_id FROM shard.documents JOIN documents USING (doc_id, content_hash)"
                ).fetchall()
            ]
            found["documents"] += len(docs)
            changed = {group: _changed(con, ours, tables, set(docs)) for group, tables in GROUPS.items()}
            with transaction(con):
                _replace(con, changed["chunks"], CHUNK_DERIVED, [t for tables in GROUPS.values() for t in tables])
                for group in ("structures", "extractions"):
                    _replace(con, sorted(set(changed[group]) - set(changed["chunks"])), GROUPS[group], GROUPS[group])
                for table in ("entities", "llm_cache"):  # entities' names and types are set below
                    columns = ", ".join(_columns(con, table))
                    con.execute(
                        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM shard.{table} ON CONFLICT DO NOTHING"
                    )
            for group, ids in changed.items():
                found[f"replaced_{group}"] += len(ids)
            for step in SHARD_LLM_STEPS:
                recorded = con.execute("SELECT value FROM shard.meta WHERE key = ?", [f"llm_health:{step}"]).fetchall()
                health[step] += [json.loads(recorded[0][0])] if recorded else []
        finally:
            con.execute("DETACH shard")
    refresh_entities(con)  # names and types from all the merged mentions; entities no mention names go
    for step, parts in health.items():
        set_meta(con, f"llm_health:{step}", json.dumps(_summed(parts)))
    return found


def _changed(
    con: duckdb.DuckDBPyConnection, ours: dict[str, dict[str, str]], tables: tuple[str, ...], docs: set[str]
) -> list[str]:
    """The shard's documents whose rows in `tables` differ from the workspace's (`ours`: digests by table)."""
    differ: set[str] = set()
    for table in tables:
        theirs = _signatures(con, "shard.", table)
        differ |= {d for d in docs if ours[table].get(d) != theirs.get(d)}
    return sorted(differ)


def _replace(
    con: duckdb.DuckDBPyConnection, doc_ids: list[str], cleared: tuple[str, ...], copied: list[str] | tuple[str, ...]
) -> None:
    if not doc_ids:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _merged AS SELECT unnest(?::VARCHAR[]) AS doc_id", [doc_ids])
    for table in cleared:
        con.execute(f"DELETE FROM {table} WHERE doc_id IN (SELECT doc_id FROM _merged)")
    for table in copied:
        columns = ", ".join(_columns(con, table))
        con.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM shard.{table} WHERE doc_id IN (SELECT doc_id FROM _merged)"
        )
    con.execute("DROP TABLE _merged")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The table's columns by name (a workspace made by an older DDL may hold them in another order)."""
    cursor = con.execute(f"SELECT * FROM {table} LIMIT 0")
    names = [d[0] for d in cursor.description]
    cursor.fetchall()
    return names


def _summed(parts: list[dict]) -> dict:
    """One step's LLM health over the shards: requests and answers added, failures by kind added."""
    failures: dict[str, int] = {}
    for part in parts:
        for kind, n in part.get("failures", {}).items():
            failures[kind] = failures.get(kind, 0) + n
    return {
        "requests": sum(p.get("requests", 0) for p in parts),
        "answered": sum(p.get("answered", 0) for p in parts),
        "failures": failures,
    }
