"""The DuckDB file: connections, the DDL, transactions, whole-document deletes and counts.

DuckDB lets one process open a file for writing and then no other process may open it at all, so
readers (`fieldmap ask`, the notebook, `fieldmap status`) never open the workspace's database:
every writer publishes a snapshot copy beside it when it finishes (`writer`), and read-only
connections open the newest snapshot. A reader therefore neither fails while a run writes nor
blocks the next run; it sees the database as the last finished step left it.

Stage-specific reads and writes live beside their stage (corpus/store.py, kg/store.py); this is
only what every stage shares.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb

# every table that holds rows of a document, in the order they are cleared
DOCUMENT_TABLES = ("triplets", "mentions", "extractions", "gists", "gist_clusters", "aspects", "structures", "chunks", "sentences", "pages", "documents")


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A writable connection with the tables created, or a read-only one (on the newest snapshot)."""
    path = Path(path)
    if read_only:
        return _reader(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(resources.files("schemas").joinpath("ddl.sql").read_text(encoding="utf-8"))
    return con


def snapshot_path(path: Path | str) -> Path:
    """Where readers find the copy of the database at `path`: fieldmap.duckdb -> fieldmap.snapshot.duckdb."""
    path = Path(path)
    return path.with_name(f"{path.stem}.snapshot{path.suffix}")


@contextmanager
def writer(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The writable connection of one step; on success the readers' snapshot is published."""
    con = connect(path)
    try:
        yield con
        publish_snapshot(con, Path(path))
    finally:
        con.close()


def publish_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Checkpoint, copy the file while `con` still holds the write lock (so no one writes
    meanwhile), and swap the copy in atomically; readers holding the old snapshot keep it."""
    snapshot = snapshot_path(path)
    if _newer(snapshot, path) and not _has_wal(path):
        return snapshot  # nothing written since the last copy
    con.execute("CHECKPOINT")
    partial = snapshot.with_name(snapshot.name + ".tmp")
    shutil.copyfile(path, partial)
    os.replace(partial, snapshot)
    return snapshot


def _newer(snapshot: Path, path: Path) -> bool:
    """Whether the snapshot exists and was written after the database file last changed."""
    return snapshot.exists() and (not path.exists() or snapshot.stat().st_mtime_ns > path.stat().st_mtime_ns)


def _has_wal(path: Path) -> bool:
    wal = path.with_name(path.name + ".wal")
    return wal.exists() and wal.stat().st_size > 0


def _reader(path: Path) -> duckdb.DuckDBPyConnection:
    snapshot = snapshot_path(path)
    if not path.exists() and not snapshot.exists():
        raise FileNotFoundError(f"no fieldmap database at {path}: run `fieldmap run` first")
    if _newer(snapshot, path):
        return duckdb.connect(str(snapshot), read_only=True)
    try:  # written without a snapshot since (or never snapshotted): the file itself, if no one writes it
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        if snapshot.exists():
            return duckdb.connect(str(snapshot), read_only=True)
        raise RuntimeError(f"{path} is being written by another process and has no snapshot yet; try again when the step ends") from exc


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a crash inside leaves the database as it was before."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def delete_document_rows(con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> None:
    """Remove every row of these documents; entities left with no mention go too."""
    if not doc_ids:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _gone AS SELECT unnest(?::VARCHAR[]) AS doc_id", [doc_ids])
    for table in DOCUMENT_TABLES:
        con.execute(f"DELETE FROM {table} WHERE doc_id IN (SELECT doc_id FROM _gone)")
    con.execute("DELETE FROM entities WHERE entity_id NOT IN (SELECT DISTINCT entity_id FROM mentions)")
    con.execute("DELETE FROM synonym_scanned WHERE entity_id NOT IN (SELECT entity_id FROM entities)")
    con.execute("DELETE FROM synonyms WHERE entity_a NOT IN (SELECT entity_id FROM entities) OR entity_b NOT IN (SELECT entity_id FROM entities)")
    con.execute("DROP TABLE _gone")


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])


COUNTED = {
    "documents": "SELECT count(*) FROM documents",
    "chunks": "SELECT count(*) FROM chunks",
    "structures": "SELECT count(*) FROM structures",
    "entities": "SELECT count(*) FROM entities",
    "mentions": "SELECT count(*) FROM mentions",
    "triplets": "SELECT count(*) FROM triplets",
    "extraction_failures": "SELECT count(*) FROM extractions WHERE status = 'failed'",
    "skipped": "SELECT count(*) FROM skipped",
}


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {name: con.execute(sql).fetchall()[0][0] for name, sql in COUNTED.items()}


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple], on_conflict: str = "") -> None:
    """Bulk insert through Arrow (executemany is row-at-a-time and slow in DuckDB)."""
    if not rows:
        return
    import pyarrow as pa

    batch = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
    con.register("_incoming", batch)
    try:
        names = ", ".join(columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _incoming {on_conflict}")
    finally:
        con.unregister("_incoming")
