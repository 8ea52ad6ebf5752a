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

import errno
import fcntl
import os
import shutil
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb

from fieldmap.dbfile import (
    DatabaseDamaged,
    WorkspaceBusy,
    explain,
    file_stamp,
    header_problem,
    open_checked,
    stamp_problem,
    write_stamp,
)

# every table that holds rows of a document, in the order they are cleared
DOCUMENT_TABLES = (
    "chunk_parses",
    "triplets",
    "mentions",
    "extractions",
    "gists",
    "gist_clusters",
    "aspects",
    "structures",
    "chunks",
    "sentences",
    "pages",
    "documents",
)


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A writable connection with the tables created, or a read-only one (on the newest snapshot)."""
    path = Path(path)
    if read_only:
        return _reader(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = open_checked(path, False, rebuild_hint(path))
    try:
        con.execute(resources.files("schemas").joinpath("ddl.sql").read_text(encoding="utf-8"))
    except duckdb.Error as exc:  # a damaged file DuckDB opened lazily
        con.close()
        raise explain(exc, path, rebuild_hint(path)) from exc
    return con


def rebuild_hint(path: Path) -> str:
    """What to do about a damaged or foreign workspace database, in one line."""
    return f"delete the workspace {path.parent} (or restore it from a backup) and run `fieldmap run` to rebuild it"


def _republish(snapshot: Path) -> str:
    return f"run `fieldmap run` to publish the snapshot again (or delete {snapshot})"


@contextmanager
def workspace_lock(workspace: Path) -> Iterator[None]:
    """One pipeline run at a time per workspace: a second one stops at once with one line naming the first.
    A POSIX record lock, like DuckDB's own: forked workers (spaCy's) do not inherit it, and it goes
    with the process, so a run killed with -9 leaves nothing to clean up."""
    workspace.mkdir(parents=True, exist_ok=True)
    with open(workspace / "run.lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise WorkspaceBusy(
                f"another `fieldmap run` (process {holder}) holds the workspace {workspace}: wait for it to finish"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


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
    if _newer(snapshot, path) and not _has_wal(path) and stamp_problem(snapshot) is None:
        return snapshot  # nothing written since the last copy, and the copy is whole
    con.execute("CHECKPOINT")
    partial = snapshot.with_name(snapshot.name + ".tmp")
    shutil.copyfile(path, partial)
    stamp = file_stamp(partial)
    os.replace(partial, snapshot)
    write_stamp(snapshot, stamp)
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
    problem = header_problem(path) if path.exists() else None
    if problem:  # the snapshot may be whole, but the workspace's next run would fail: say so now
        raise DatabaseDamaged(f"{path} is damaged ({problem}); {rebuild_hint(path)}")
    if _newer(snapshot, path):
        return _open_snapshot(snapshot)
    try:  # written without a snapshot since (or never snapshotted): the file itself, if no one writes it
        return open_checked(path, True, rebuild_hint(path))
    except WorkspaceBusy:
        if snapshot.exists():
            return _open_snapshot(snapshot)
        raise WorkspaceBusy(
            f"{path} is being written by another process and has no snapshot yet; try again when the step ends"
        ) from None


def republish_if_damaged(path: Path) -> bool:
    """Publish the readers' snapshot again when it no longer matches its stamp (what `fieldmap run`
    does first, so its own reads before the pipeline starts do not meet the damaged copy)."""
    snapshot = snapshot_path(path)
    if not path.exists() or not snapshot.exists() or stamp_problem(snapshot) is None:
        return False
    with writer(path):
        pass
    return True


def _open_snapshot(snapshot: Path) -> duckdb.DuckDBPyConnection:
    """The snapshot, after checking it against the stamp its publisher wrote."""
    check_snapshot(snapshot)
    return open_checked(snapshot, True, _republish(snapshot))


def check_snapshot(snapshot: Path) -> None:
    """DatabaseDamaged, with the line every reader (the CLI, the servers) shows, when the readers' snapshot does
    not match its stamp or is no whole DuckDB file."""
    problem = stamp_problem(snapshot) or header_problem(snapshot)
    if problem:
        raise DatabaseDamaged(f"the readers' snapshot {snapshot} is damaged ({problem}); {_republish(snapshot)}")


def explain_snapshot_error(exc: duckdb.Error, snapshot: Path) -> Exception:
    """A DuckDB error on the readers' snapshot as the one line a reader shows (DatabaseDamaged when it means damage)."""
    return explain(exc, snapshot, _republish(snapshot))


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
    con.execute(
        "DELETE FROM synonyms WHERE entity_a NOT IN (SELECT entity_id FROM entities) OR entity_b NOT IN (SELECT entity_id FROM entities)"
    )
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


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple], on_conflict: str = ""
) -> None:
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
