"""The shard step on a Ray cluster (settings.engine = "ray"): one Ray task per shard, the merge by the driver.

The driver (the process running the pipeline) reads each shard's documents and pages from the workspace's
snapshot and hands them to the shard's task, so workers need no access to the workspace: only the shard
directory (settings.shard_directory), which every node must reach (a shared volume or mount). A task fills a
copy of its shard's file under a name of its own (`<k>.duckdb.<id>.partial`) and renames it over `<k>.duckdb`
when every step is done, so a task killed mid-write leaves a partial file that nothing reads; Ray runs the task
again (max_retries) from the last whole file. The merge (pipelines/shards.py) then reads the whole files, in the
driver, the one writer of the workspace.

Ray is imported here only, when engine = "ray" runs: the local engine never loads it. A worker process keeps
spaCy and the embedder loaded between the shards it runs (their loaders cache per process), so tasks need no
actors to keep models warm.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb
from pydantic import SecretStr

from fieldmap.llm_guard import Breakers
from fieldmap.progress import Progress, silent
from fieldmap.settings import Settings
from fieldmap.store import connect, insert_rows
from pipelines.shards import DOCUMENT_COLUMNS, PAGE_COLUMNS, open_shard, shard_of, shard_path, split_shard
from pipelines.stages import shard_stages

TASK_RETRIES = 3  # a shard's task runs again when its worker or node dies, up to this many times
PARTIAL = ".partial"


class RayUnavailable(RuntimeError):
    """The Ray cluster named by settings.ray_address cannot be joined (the message says which and why)."""


def run_shards(settings: Settings, progress: Progress = silent) -> dict[int, dict]:
    """Every shard brought up to date by a Ray task; shard -> what shard_stages returned. Raises the first
    task's error after its retries (the shard files of the others are whole and kept)."""
    try:
        import ray
    except ImportError as exc:  # an extra: the local engine and the demo do without it
        raise RayUnavailable("engine = ray needs Ray: pip install 'fieldmap[ray]' (ray==2.60.0)") from exc

    directory = settings.shard_directory
    directory.mkdir(parents=True, exist_ok=True)
    remove_partials(directory)  # left by tasks killed in an earlier pass
    inputs = shard_inputs(settings)
    joined = _join(ray, settings)
    try:
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(build_shard)
        pending = {
            task.remote(settings.serialised(), settings.openai_api_key, k, *inputs[k]): k
            for k in range(settings.shards)
        }
        found: dict[int, dict] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            found[pending.pop(done[0])] = ray.get(done[0])
            progress("shards (ray)", len(found), settings.shards)
        remove_partials(directory)  # every task is done: what is left was written by one that died
        return dict(sorted(found.items()))
    finally:
        if joined:
            ray.shutdown()


def _join(ray, settings: Settings) -> bool:
    """Connect this process to the cluster unless it already is; whether it joined here (and so leaves after)."""
    if ray.is_initialized():
        return False
    where = settings.ray_address or "a Ray started in this process"
    try:
        if (settings.ray_address or "").startswith("ray://"):  # Ray Client: the cluster's options are the cluster's
            ray.init(address=settings.ray_address, logging_level="WARNING")
        else:
            ray.init(
                address=settings.ray_address, include_dashboard=False, log_to_driver=False, logging_level="WARNING"
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot join the Ray cluster at {where}: {' '.join(str(exc).split())}") from exc
    return True


def shard_inputs(settings: Settings) -> dict[int, tuple[list[tuple], list[tuple]]]:
    """Shard -> (its documents' rows, their pages' rows), from the workspace's readers' snapshot."""
    con = connect(settings.duckdb_path, read_only=True)
    try:
        # in the workspace's own order, as split_shard reads them there: the order the steps batch chunks in (an
        # embedding in bfloat16 depends on the other texts of its batch)
        documents = con.execute(f"SELECT {', '.join(DOCUMENT_COLUMNS)} FROM documents").fetchall()
        pages = con.execute(f"SELECT {', '.join(PAGE_COLUMNS)} FROM pages").fetchall()
    finally:
        con.close()
    found: dict[int, tuple[list, list]] = {k: ([], []) for k in range(settings.shards)}
    for row in documents:
        found[shard_of(row[0], settings.shards)][0].append(row)
    for row in pages:
        found[shard_of(row[0], settings.shards)][1].append(row)
    return found


def build_shard(
    settings_json: str, api_key: SecretStr | None, k: int, documents: list[tuple], pages: list[tuple]
) -> dict:
    """Shard `k`'s file brought up to date with these documents (what a Ray task runs, in a worker of any node):
    the steps fill a partial copy, renamed over the shard's file only when they are all done."""
    settings = Settings.restore(settings_json, api_key)
    final = shard_path(settings.shard_directory, k)
    partial = final.with_name(f"{final.name}.{uuid.uuid4().hex}{PARTIAL}")
    try:
        _copy_database(final, partial)
        source = _documents_database(documents, pages)
        shard = open_shard(partial)
        try:
            split = split_shard(source, shard, k, settings.shards)
            source.close()
            found = shard_stages(shard, settings, split, silent, Breakers(settings.llm_breaker_failures))
        finally:
            shard.close()
        os.replace(partial, final)
    finally:
        for leftover in (partial, _wal(partial)):
            leftover.unlink(missing_ok=True)
    return found


def remove_partials(directory: Path) -> list[Path]:
    """Delete the partial files (and their WALs) of tasks that died; returns what was deleted."""
    gone = sorted(p for p in directory.glob(f"*{PARTIAL}*") if p.is_file())
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def _documents_database(documents: list[tuple], pages: list[tuple]) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the workspace's DDL holding these documents and pages (split_shard's source)."""
    con = connect(":memory:")
    insert_rows(con, "documents", DOCUMENT_COLUMNS, documents)
    insert_rows(con, "pages", PAGE_COLUMNS, pages)
    return con


def _copy_database(source: Path, target: Path) -> None:
    if source.exists():
        shutil.copyfile(source, target)
        if _wal(source).exists():  # a local run killed before its checkpoint
            shutil.copyfile(_wal(source), _wal(target))


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")
