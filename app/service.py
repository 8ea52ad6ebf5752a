"""A workspace served to many callers at once: the HTTP API (app/server.py) and the MCP tools share it.

It reads only the published snapshot (fieldmap.snapshot.duckdb, see fieldmap/store.py), so a running server
never blocks `fieldmap run`. Each request looks at the snapshot's stamp (inode, mtime, size, and the graph
file's); when a run has published a newer one, the next request opens it and swaps it in, while requests in
flight finish on the old one, which is closed when the last of them returns: its engines drop their graph,
retrievers and tables, its connection closes, and the memory they held goes back to the operating system
(glibc keeps what the engines' threads freed in its arenas otherwise: a server grew by 85 MB a reload).

A QueryEngine is not safe to share between threads: its retrievers keep per-query state (HippoRAGRetriever's
fact scores between `seeds` and `recognise`), build caches on first use and share one DuckDB connection. So a
generation holds a pool of `size` engines, each on its own cursor of one read-only connection, and a request
borrows one engine for its whole length (BENCHMARKS.md measures the pool against one engine).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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
from fieldmap.dbfile import DAMAGE_SIGNS, DatabaseDamaged
from fieldmap.settings import Settings
from fieldmap.store import check_snapshot, counts, explain_snapshot_error, snapshot_path
from rag.modes import DEFAULT_MODE, MODES

log = logging.getLogger("fieldmap.serve")
SEARCH_MODES = ("hybrid", "dense", "bm25", "hipporag")
RETRY_SECONDS = 5.0  # a snapshot that failed to open (a run was replacing files) is tried again after this
MAX_K = 50  # more passages than this is not a question-answering request
# the longest arguments taken, the same over HTTP and MCP (a 200,000-character question held MCP's one session for 312 s)
MAX_QUESTION = 2000
MAX_NAME = 200  # an entity name searched for
MAX_ID = 1000  # a document or entity id


class Retired(Exception):
    """The generation was closed between being handed out and being borrowed: take the current one."""


class NotBuilt(RuntimeError):
    """No workspace has been built (or published) yet: the server answers 503."""


def check_text(value: str, name: str, limit: int) -> str:
    """`value` as a caller's argument must be: text (no lone surrogate), not blank, at most `limit` characters."""
    if not isinstance(value, str):
        raise ValueError(f"the {name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"the {name} is empty")
    if len(value) > limit:
        raise ValueError(f"the {name} has {len(value):,} characters, more than the {limit:,} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the {name} holds a lone surrogate (U+{ord(value[exc.start]):04X} at character {exc.start + 1}), which is not text"
        ) from None
    return value


def check_k(k: int | None, name: str = "k") -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K):
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_K}, got {k!r}")


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


def _damage(exc: BaseException, snapshot: Path) -> DatabaseDamaged | None:
    """The DatabaseDamaged an error means, with the CLI's line, or None when it means something else."""
    if isinstance(exc, DatabaseDamaged):
        return exc
    if isinstance(exc, duckdb.Error) and any(sign.lower() in str(exc).lower() for sign in DAMAGE_SIGNS):
        found = explain_snapshot_error(exc, snapshot)
        return found if isinstance(found, DatabaseDamaged) else DatabaseDamaged(str(found))
    return None


class Generation:
    """One published snapshot, opened: a read-only connection and a pool of engines, each on its own cursor."""

    def __init__(self, settings: Settings, snapshot: Path, stamp: Stamp, size: int):
        from rag.engine import QueryEngine

        self.stamp = stamp
        check_snapshot(snapshot)  # damage is reported as the CLI reports it, before anything answers from it
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
        self._engines.clear()
        self.con.close()
        release_memory()


def release_memory() -> None:
    """Collect what the closed generation left in reference cycles and hand the free memory back to the OS
    (malloc_trim, where the C library is glibc; elsewhere a no-op)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


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
        self._damaged: tuple[Stamp, DatabaseDamaged] | None = (
            None  # the snapshot found damaged, until a run publishes another
        )

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
        if self._damaged is not None and stamp == self._damaged[0]:
            raise self._damaged[1]
        if generation is not None and (stamp is None or stamp == generation.stamp or self._failed_recently(stamp)):
            return generation
        if stamp is None:
            raise NotBuilt(
                f"no workspace built at {self.settings.workspace}: run `fieldmap run --workspace {self.settings.workspace}` first"
            )
        # one request opens the new snapshot; the others go on with the old one meanwhile (or wait if there is none)
        if not self._reloading.acquire(blocking=generation is None):
            return generation
        try:
            return self._reload()
        finally:
            self._reloading.release()

    def _failed_recently(self, stamp: Stamp) -> bool:
        """Whether opening this very snapshot failed less than RETRY_SECONDS ago (no retry on every request)."""
        return (
            self._failed is not None and self._failed[0] == stamp and time.monotonic() - self._failed[1] < RETRY_SECONDS
        )

    def _reload(self) -> Generation:
        stamp, old = self._stamp(), self._generation
        if old is not None and (stamp is None or stamp == old.stamp):
            return old  # another request reloaded it meanwhile
        if stamp is None:
            raise NotBuilt(f"no workspace built at {self.settings.workspace}")
        try:
            fresh = Generation(self.settings, self.snapshot, stamp, self.size)
        except Exception as exc:  # damaged; or a run is replacing files right now, or the workspace is half built
            damage = _damage(exc, self.snapshot)
            if damage is not None:  # nothing answers from it, not even the generation opened before
                self._mark_damaged(stamp, damage)
                raise damage from exc
            if old is not None:
                log.warning("keeping the snapshot served so far: the newer one did not open (%s)", exc)
                self._failed = (stamp, time.monotonic())
                return old
            raise NotBuilt(
                f"the workspace at {self.settings.workspace} is not readable yet ({exc}); try again when the run ends"
            ) from exc
        with self._swap:
            self._generation, self._damaged = fresh, None
        if old is not None:
            old.retire()
        return fresh

    def _mark_damaged(self, stamp: Stamp | None, exc: DatabaseDamaged) -> None:
        log.error("%s", exc)
        with self._swap:
            old, self._generation, self._damaged = self._generation, None, (stamp, exc)
        if old is not None:
            old.retire()

    def damaged(self, exc: BaseException) -> DatabaseDamaged | None:
        """The snapshot's damage when a request's error means it (a block DuckDB could not read), else None;
        from then on every request is answered with it, until a run publishes the snapshot again."""
        damage = _damage(exc, self.snapshot)
        if damage is not None and damage is not exc:
            self._mark_damaged(self._stamp(), damage)
        return damage

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
        """What is served; DatabaseDamaged when the snapshot no longer matches its stamp (checked on every call)."""
        try:
            check_snapshot(self.snapshot)
        except DatabaseDamaged as exc:
            self._mark_damaged(self._stamp(), exc)
            raise
        except FileNotFoundError:
            pass  # not published yet: current() says so
        with self._generation_cursor() as (generation, cursor):
            stored, stamp = counts(cursor), generation.stamp
        return {
            "status": "ok",
            "workspace": str(self.settings.workspace),
            "snapshot_stamp": stamp[1],
            "engines": self.size,
            "embedder": self.settings.embedder,
            "counts": stored,
        }

    def ask(self, question: str, mode: str = DEFAULT_MODE, k: int | None = None, on_event=None) -> dict:
        """`on_event(name, data)`: told of the answer as it is made, from this thread (rag/streaming.py)."""
        check_text(question, "question", MAX_QUESTION)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        check_k(k)
        with self._engine() as engine:
            return engine.ask(question, mode=mode, k=k, on_event=on_event).to_dict()

    def search(self, query: str, mode: str = "hybrid", k: int = 5) -> dict:
        check_text(query, "query", MAX_QUESTION)
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
        check_k(k)
        with self._engine() as engine:
            hits = engine.retriever(mode).retrieve(query, k)
            passages = engine.passages([(h.chunk_id, float(h.score)) for h in hits])
        return {"query": query, "mode": mode, "k": k, "results": [vars(p) for p in passages]}

    def document(self, doc_id: str) -> dict:
        check_text(doc_id, "document id", MAX_ID)
        with self._cursor() as cursor:
            return lookup.document(cursor, doc_id)

    def entities(self, query: str, limit: int = 20) -> dict:
        check_text(query, "query", MAX_NAME)
        check_k(limit, "limit")
        with self._cursor() as cursor:
            return {"query": query, "entities": lookup.search_entities(cursor, query.strip(), limit)}

    def entity(self, entity_id: str) -> dict:
        check_text(entity_id, "entity id", MAX_ID)
        with self._cursor() as cursor:
            return lookup.entity(cursor, entity_id)

    def read(self, function, *args):
        """`function(cursor, *args)` on a cursor of the served snapshot (the web app's own look-ups, app/explore.py)."""
        with self._cursor() as cursor:
            return function(cursor, *args)
