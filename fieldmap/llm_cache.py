"""What the LLM client keeps in DuckDB: the response cache (`llm_cache`), the call log
(`llm_calls`), prices, and the usage summaries that `fieldmap status` and the assets report."""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb

# USD per 1M tokens (prompt, completion); a model not listed (local servers) costs 0.
# Settings.llm_prices adds to or overrides this, e.g. in fieldmap.toml:
#   [fieldmap.llm_prices]
#   "my-model" = [0.10, 0.40]
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}
DATED_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini


def price_for(model: str, overrides: dict[str, list[float]] | None = None) -> tuple[float, float]:
    """(prompt, completion) USD per 1M tokens: exact name, else its undated name, else 0."""
    table = {**PRICES, **{name: (float(p[0]), float(p[1])) for name, p in (overrides or {}).items()}}
    for name in (model, DATED_SNAPSHOT.sub("", model)):
        if name in table:
            return table[name]
    return (0.0, 0.0)


def cost_of(price: tuple[float, float], prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def request_key(model: str, messages: list[dict], parameters: dict) -> str:
    """The cache key: model + messages + parameters (output schema, temperature, max_tokens)."""
    payload = json.dumps(
        {"model": model, "messages": messages, "parameters": parameters}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    content: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class CallRecord:
    """One llm_calls row."""

    step: str
    model: str
    cache_key: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cached: bool
    status: str  # ok | invalid | error
    reason: str | None
    final: bool  # False for an invalid answer that a repair request followed
    attempts: int
    seconds: float


CALL_COLUMNS = [
    "step",
    "model",
    "cache_key",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "cached",
    "status",
    "reason",
    "final",
    "attempts",
    "seconds",
]


def cache_get(con: duckdb.DuckDBPyConnection, key: str) -> CachedReply | None:
    rows = con.execute(
        "SELECT content, prompt_tokens, completion_tokens FROM llm_cache WHERE cache_key = ?", [key]
    ).fetchall()
    return CachedReply(*rows[0]) if rows else None


def cache_put(con: duckdb.DuckDBPyConnection, key: str, model: str, reply: CachedReply) -> None:
    """A validated reply under `key` (kept if one is there already)."""
    con.execute(
        "INSERT INTO llm_cache (cache_key, model, content, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [key, model, reply.content, reply.prompt_tokens, reply.completion_tokens],
    )


def cache_forget(con: duckdb.DuckDBPyConnection | None, key: str) -> None:
    """Drop a cached reply that no longer validates (caches written before only valid replies were kept)."""
    if con is not None:
        con.execute("DELETE FROM llm_cache WHERE cache_key = ?", [key])


def cache_keys_present(con: duckdb.DuckDBPyConnection, keys: list[str]) -> set[str]:
    if not keys or not has_llm_tables(con):
        return set()
    rows = con.execute(
        "SELECT cache_key FROM llm_cache WHERE cache_key IN (SELECT unnest(?::VARCHAR[]))", [keys]
    ).fetchall()
    return {r[0] for r in rows}


def record(con: duckdb.DuckDBPyConnection, call: CallRecord, reply: CachedReply | None = None) -> None:
    """The call row, and the response when it is new, in one transaction: a crash keeps both or neither."""
    con.execute("BEGIN TRANSACTION")
    try:
        if reply is not None:
            con.execute(
                "INSERT INTO llm_cache (cache_key, model, content, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [call.cache_key, call.model, reply.content, reply.prompt_tokens, reply.completion_tokens],
            )
        con.execute(
            f"INSERT INTO llm_calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})",
            [getattr(call, name) for name in CALL_COLUMNS],
        )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def reason_kind(reason: str | None) -> str:
    """The category of a reason written as `<kind>: <detail>`."""
    return (reason or "unknown").split(":", 1)[0].strip() or "unknown"


@dataclass
class LLMUsage:
    """What one client did in this process: the figures an asset puts in its metadata."""

    calls: int = 0  # requests sent to the server (a request with retries counts once)
    cache_hits: int = 0
    offline: int = 0  # requests not sent: the endpoint had gone offline in this run (fieldmap/llm_guard.py)
    attempts: int = 0  # HTTP requests, retries included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)  # reason kind -> items that failed
    answered: int = 0  # requests that got a valid answer (from the server or the cache)

    def add(self, call: CallRecord) -> None:
        self.answered += call.status == "ok"
        self.cache_hits += call.cached
        self.calls += not call.cached and call.attempts > 0
        self.offline += not call.cached and call.attempts == 0
        self.attempts += call.attempts
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        self.cost += call.cost
        if call.status != "ok" and call.final:
            kind = reason_kind(call.reason)
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def as_metadata(self) -> dict:
        return {
            "llm_calls": self.calls,
            "llm_cache_hits": self.cache_hits,
            "llm_retries": self.attempts - self.calls,
            "llm_prompt_tokens": self.prompt_tokens,
            "llm_completion_tokens": self.completion_tokens,
            "llm_cost_usd": round(self.cost, 6),
            "llm_failures": dict(sorted(self.failures.items())),
            "llm_not_sent_offline": self.offline,
        }

    def health(self) -> dict:
        """What the run's outage check reads: requests made, how many were answered, failures by kind."""
        return {
            "requests": self.calls + self.cache_hits + self.offline,
            "answered": self.answered,
            "failures": dict(sorted(self.failures.items())),
        }

    @property
    def all_failed(self) -> bool:
        return self.calls + self.cache_hits + self.offline > 0 and self.answered == 0


def has_llm_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """False for a workspace made before the LLM tables existed (opened read-only, no DDL ran)."""
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('llm_cache', 'llm_calls')"
    ).fetchall()
    return rows[0][0] == 2


QUERY_CACHE = (
    "queries.duckdb"  # beside fieldmap.duckdb: query-time LLM cache and calls (readers never write the pipeline's file)
)


@contextmanager
def query_cache(workspace: Path, enabled: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The connection `fieldmap ask` caches and logs its LLM calls through, or None without an LLM
    or while another process holds the file (DuckDB allows one writer; that query goes uncached)."""
    if not enabled:
        yield None
        return
    from fieldmap.store import connect

    try:
        con = connect(Path(workspace) / QUERY_CACHE)
    except duckdb.Error:
        yield None
        return
    try:
        yield con
    finally:
        con.close()


def _figures(con: duckdb.DuckDBPyConnection) -> tuple[tuple, dict[str, int]]:
    figures = (0, 0, 0, 0, 0, 0.0)
    failures: dict[str, int] = {}
    if has_llm_tables(con):
        figures = con.execute(
            """SELECT count(*) FILTER (WHERE NOT cached AND attempts > 0), count(*) FILTER (WHERE cached),
                      coalesce(sum(attempts) FILTER (WHERE NOT cached), 0) - count(*) FILTER (WHERE NOT cached AND attempts > 0),
                      coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), coalesce(sum(cost), 0)
               FROM llm_calls"""
        ).fetchall()[0]
        for step, reason in con.execute("SELECT step, reason FROM llm_calls WHERE status <> 'ok' AND final").fetchall():
            key = f"{step}: {reason_kind(reason)}"
            failures[key] = failures.get(key, 0) + 1
    return figures, failures


def _query_figures(con: duckdb.DuckDBPyConnection) -> dict:
    """The query-time figures, from the query cache beside the database `con` has open."""
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    cache = Path(path[0][0]).parent / QUERY_CACHE if path and path[0][0] else None
    figures, failures = (0, 0, 0, 0, 0, 0.0), {}
    if cache is not None and cache.exists():
        try:
            queries = duckdb.connect(str(cache), read_only=True)
        except duckdb.Error:  # an `ask` is writing it right now
            return {"query_llm_calls": None}
        try:
            figures, failures = _figures(queries)
        finally:
            queries.close()
    calls, hits, _, prompt, completion, cost = figures
    return {
        "query_llm_calls": calls,
        "query_llm_cache_hits": hits,
        "query_llm_tokens": int(prompt + completion),
        "query_llm_cost_usd": round(float(cost), 6),
        "query_llm_failures": dict(sorted(failures.items())),
    }


def llm_status(con: duckdb.DuckDBPyConnection) -> dict:
    """The workspace's LLM figures for `fieldmap status`: calls, cache hits, retries, tokens, cost,
    and failures by step and reason kind (a request whose repair also failed counts once), then the
    same for query-time calls (`fieldmap ask`, answered from their own cache when asked again)."""
    (calls, hits, retries, prompt, completion, cost), failures = _figures(con)
    return {
        "llm_calls": calls,
        "llm_cache_hits": hits,
        "llm_retries": int(retries),
        "llm_prompt_tokens": int(prompt),
        "llm_completion_tokens": int(completion),
        "llm_tokens": int(prompt + completion),
        "llm_cost_usd": round(float(cost), 6),
        "llm_failures": dict(sorted(failures.items())),
        **_query_figures(con),
    }
