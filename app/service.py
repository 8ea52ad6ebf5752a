"""A workspace served to many callers at once: the HTTP API (app/server.py) and the MCP tools share it.

It reads only the published snapshot (fieldmap.snapshot.duckdb, see fieldmap/store.py), so a running server
never blocks `fieldmap run`. Each request looks at the snapshot's stamp (inode, mtime, size, and the graph
file's); when a run has published a newer one, the next request opens it and swaps it in, while requests in
flight finish on the old one, which is closed when the last of them returns.

A QueryEngine is not safe to share between threads: its retrievers keep per-query state (HippoRAGRetriever's
fact scores between `seeds` and `recognise`), build caches on first use and share one DuckDB connection. So a
generation holds a pool of `size` engines, each on its own cursor of one read-only connection, and a request
borrows one engine for its whole length (BENCHMARKS.md measures the pool against one engine).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb

from app import lookup
from fieldmap.settings import Settings
from fieldmap.store import counts, snapshot_path
from rag.modes import DEFAULT_MODE

log = logging.getLogger("fieldmap.serve")
SEARCH_MODES = ("hybrid", "dense", "bm25", "hipporag")
RETRY_SECONDS = 5.0  # a snapshot that failed to open (a run was replacing files) is tried again after this
MAX_K = 50  # more passages than this is not a question-answering request


class Retired(Exception):
    """The generation was closed between being handed out and being borrowed: take the current one."""


class NotBuilt(RuntimeError):
    """No workspace has been built (or published) yet: the server answers 503."""


Stamp = tuple[int, int, int, int]


def _warm(engine) -> None:
    """Build every retriever and the linker now, so no request pays for it and no two threads race to."""
    for mode in SEARCH_MODES:
        engine.retriever(mode)
    engine.linker
    engine.embedder.load()  # a local model loads on first use: here, not in the first request


def _open_snapshot(snapshot: Path) -> duckdb.DuckDBPyConnection:
    """The snapshot attached read-only to a database instance of its own. duckdb.connect(path) would reuse the
    process's open instance of that path, which still reads the replaced file: a reload would see old rows."""
    con = duckdb.connect(":memory:")
    con.execute("ATTACH ? AS workspace (READ_ONLY)", [str(snapshot)])
    con.execute("USE workspace")
    return con


def _cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    cursor = con.cursor()
    cursor.execute("USE workspace")  # a cursor starts on the instance's default (in-memory) database
    return cursor


class Generation:
    """One published snapshot, opened: a read-only connection and a pool of engines, each on its own cursor."""

    def __init__(self, settings: Settings, snapshot: Path, stamp: Stamp, size: int):
        from rag.engine import QueryEngine

        self.stamp = stamp
        self.con = _open_snapshot(snapshot)
        self._pool: queue.Queue = queue.Queue()
        self._engines = []
        self._lock = threading.Lock()
        self._borrowed = 0
        self._retired = False
        self._closed = False  # set under the lock by whoever closes it; no borrowing after
        try:
            for _ in range(size):
                engine = QueryEngine(settings, con=_cursor(self.con))
                _warm(engine)
                self._engines.append(engine)
                self._pool.put(engine)
        except BaseException:
            self._close()
            raise

    def _borrow(self) -> None:
        with self._lock:
            if self._closed:
                raise Retired
            self._borrowed += 1

    @contextmanager
    def engine(self) -> Iterator:
        self._borrow()
        engine = self._pool.get()
        try:
            yield engine
        finally:
            self._pool.put(engine)
            self._release()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for a look-up (DuckDB connections are not shared between threads; cursors are cheap)."""
        self._borrow()
        cursor = _cursor(self.con)
        try:
            yield cursor
        finally:
            cursor.close()
            self._release()

    def retire(self) -> None:
        """A newer snapshot replaced this one: close it once no request uses it."""
        with self._lock:
            self._retired = True
            idle = self._borrowed == 0 and not self._closed
            self._closed = self._closed or idle
        if idle:
            self._close()

    def _release(self) -> None:
        with self._lock:
            self._borrowed -= 1
            idle = self._retired and self._borrowed == 0 and not self._closed
            self._closed = self._closed or idle
        if idle:
            self._close()

    def _close(self) -> None:
        for engine in self._engines:
            engine.close()
        self.con.close()


@dataclass
class Service:
    settings: Settings
    size: int = 1  # engines per snapshot: as many requests as run at once

    def __post_init__(self) -> None:
        self.snapshot = snapshot_path(self.settings.duckdb_path)
        self._generation: Generation | None = None
        self._reloading = threading.Lock()
        self._swap = threading.Lock()
        self._failed: tuple[Stamp, float] | None = None

    def _stamp(self) -> Stamp | None:
        """What identifies the published workspace; None while none is (the snapshot or the graph is missing)."""
        try:
            db, graph = os.stat(self.snapshot), os.stat(self.settings.graph_path)
        except FileNotFoundError:
            return None
        return (db.st_ino, db.st_mtime_ns, db.st_size, graph.st_mtime_ns)

    def current(self) -> Generation:
        """The generation of the newest published snapshot, opening it when it changed."""
        stamp, generation = self._stamp(), self._generation
        if generation is not None and (stamp is None or stamp == generation.stamp or self._failed_recently(stamp)):
            return generation
        if stamp is None:
            raise NotBuilt(f"no workspace built at {self.settings.workspace}: run `fieldmap run --workspace {self.settings.workspace}` first")
        # one request opens the new snapshot; the others go on with the old one meanwhile (or wait if there is none)
        if not self._reloading.acquire(blocking=generation is None):
            return generation
        try:
            return self._reload()
        finally:
            self._reloading.release()

    def _failed_recently(self, stamp: Stamp) -> bool:
        """Whether opening this very snapshot failed less than RETRY_SECONDS ago (no retry on every request)."""
        return self._failed is not None and self._failed[0] == stamp and time.monotonic() - self._failed[1] < RETRY_SECONDS

    def _reload(self) -> Generation:
        stamp, old = self._stamp(), self._generation
        if old is not None and (stamp is None or stamp == old.stamp):
            return old  # another request reloaded it meanwhile
        if stamp is None:
            raise NotBuilt(f"no workspace built at {self.settings.workspace}")
        try:
            fresh = Generation(self.settings, self.snapshot, stamp, self.size)
        except Exception as exc:  # a run is replacing files right now, or the workspace is half built
            if old is not None:
                log.warning("keeping the snapshot served so far: the newer one did not open (%s)", exc)
                self._failed = (stamp, time.monotonic())
                return old
            raise NotBuilt(f"the workspace at {self.settings.workspace} is not readable yet ({exc}); try again when the run ends") from exc
        with self._swap:
            self._generation = fresh
        if old is not None:
            old.retire()
        return fresh

    def close(self) -> None:
        if self._generation is not None:
            self._generation.retire()
            self._generation = None

    @contextmanager
    def _engine(self) -> Iterator:
        while True:
            generation = self.current()
            try:
                with generation.engine() as engine:
                    yield engine
                return
            except Retired:
                continue  # a reload closed it just now: the next current() is the new one

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._generation_cursor() as (_, cursor):
            yield cursor

    @contextmanager
    def _generation_cursor(self) -> Iterator[tuple[Generation, duckdb.DuckDBPyConnection]]:
        while True:
            generation = self.current()
            try:
                with generation.cursor() as cursor:
                    yield generation, cursor
                return
            except Retired:
                continue

    # what the HTTP API and the MCP tools offer

    def health(self) -> dict:
        with self._generation_cursor() as (generation, cursor):
            stored, stamp = counts(cursor), generation.stamp
        return {"status": "ok", "workspace": str(self.settings.workspace), "snapshot_stamp": stamp[1],
                "engines": self.size, "embedder": self.settings.embedder, "counts": stored}

    def ask(self, question: str, mode: str = DEFAULT_MODE, k: int | None = None) -> dict:
        _check_k(k)
        with self._engine() as engine:
            return engine.ask(question, mode=mode, k=k).to_dict()

    def search(self, query: str, mode: str = "hybrid", k: int = 5) -> dict:
        if not query.strip():
            raise ValueError("the query is empty")
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
        _check_k(k)
        with self._engine() as engine:
            hits = engine.retriever(mode).retrieve(query, k)
            passages = engine.passages([(h.chunk_id, float(h.score)) for h in hits])
        return {"query": query, "mode": mode, "k": k, "results": [vars(p) for p in passages]}

    def document(self, doc_id: str) -> dict:
        with self._cursor() as cursor:
            return lookup.document(cursor, doc_id)

    def entities(self, query: str, limit: int = 20) -> dict:
        if not query.strip():
            raise ValueError("the query is empty")
        _check_k(limit, "limit")
        with self._cursor() as cursor:
            return {"query": query, "entities": lookup.search_entities(cursor, query.strip(), limit)}

    def entity(self, entity_id: str) -> dict:
        with self._cursor() as cursor:
            return lookup.entity(cursor, entity_id)

    def read(self, function, *args):
        """`function(cursor, *args)` on a cursor of the served snapshot (the web app's own look-ups, app/explore.py)."""
        with self._cursor() as cursor:
            return function(cursor, *args)


def _check_k(k: int | None, name: str = "k") -> None:
    if k is not None and not 1 <= k <= MAX_K:
        raise ValueError(f"{name} must be between 1 and {MAX_K}, got {k}")
