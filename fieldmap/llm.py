"""The one LLM client: chat completions with structured output over any OpenAI-compatible server
(OpenAI, vLLM, Ollama, the llama.cpp server) through the `openai` package.

Every answer is validated by a pydantic model. An invalid answer gets exactly one repair request
(the validation error sent back); if that fails too, the result is a failure with its reason,
never an empty value. Requests are retried with exponential backoff, honouring Retry-After, on
429, 5xx, timeouts and broken responses, within one deadline for the whole request whatever the server
trickles, honouring Retry-After up to a cap, and not at all once the run's breaker for the endpoint has opened
(fieldmap/llm_guard.py). Answers that passed validation are cached in DuckDB (`llm_cache`), so a re-run or a
resumed run pays for nothing twice; an invalid one is counted with its reason, never stored, so the next run
asks again. Every request is logged with its tokens and cost (`llm_calls`). The API key never leaves the
openai client: reasons and logs are redacted. One attempt, its output format and its failure's reason:
fieldmap/llm_endpoint.py.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, TypeVar

import duckdb
from pydantic import BaseModel

from fieldmap.llm_cache import (
    CachedReply,
    CallRecord,
    LLMUsage,
    cache_forget,
    cache_get,
    cache_put,
    cost_of,
    price_for,
    record,
    request_key,
)
from fieldmap.llm_endpoint import Endpoint, Reply, sendable_schema
from fieldmap.llm_guard import Breakers, deadline
from fieldmap.llm_reply import validate_reply
from fieldmap.settings import Settings

log = logging.getLogger("fieldmap.llm")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
R = TypeVar("R")

MAX_REPAIRABLE = 50_000  # characters: a longer invalid reply is not sent back for repair (it would be sent whole)


@dataclass(frozen=True)
class LLMResult(Generic[M]):
    """A validated value, or the reason there is none (`<kind>: <detail>`)."""

    value: M | None
    failure: str | None = None
    repaired: bool = False


@dataclass(frozen=True)
class _NoReply:
    reason: str
    attempts: int


@dataclass(frozen=True)
class _Answer:
    """One request's outcome: the content (if any), the validated value or the reason."""

    content: str | None
    value: BaseModel | None
    reason: str | None
    key: str = ""


class LLMClient:
    """Structured chat for one pipeline step. `con` is the caller's DuckDB writer: the client writes
    cache and call rows through it, serialised by a lock, so the caller must not use `con`
    while a `map` over this client is running."""

    def __init__(
        self, settings: Settings, con: duckdb.DuckDBPyConnection | None, step: str, breakers: Breakers | None = None
    ):
        """`breakers`: the run's, shared by its steps' clients (a client of its own by default)."""
        self.model = settings.llm_model
        self.step = step
        self.usage = LLMUsage()
        self._settings = settings
        self._endpoint = Endpoint(settings, step)
        self._breaker = (breakers or Breakers(settings.llm_breaker_failures)).of(self._endpoint.name)
        self._price = price_for(self.model, settings.llm_prices)
        self._con = con
        self._db_lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_guard = threading.Lock()

    @property
    def method(self) -> str:
        return f"llm:{self.model}"

    def complete(
        self,
        messages: list[dict],
        response_model: type[M],
        repair: str,
        context: dict | None = None,
        on_text: Callable[[str | None], None] | None = None,
    ) -> LLMResult[M]:
        """Ask, validate with `response_model` (`context` goes to its validators), repair once.

        `repair` is the follow-up message for an invalid answer; `$error` in it is replaced by the
        validation error. With `on_text`, the reply is requested as a stream and each piece of its content is
        handed to `on_text` as it arrives; `on_text(None)` says a new reply begins (a retry, the repair request, or
        a cached reply, which comes whole), so what came before is void. The result is the same as without it."""
        first = self._request(messages, response_model, context, repair_follows=True, on_text=on_text)
        if first.value is not None:
            return LLMResult(first.value)
        if first.content is None:  # no answer at all (after retries): nothing to repair
            return LLMResult(None, first.reason)
        follow_up = [
            *messages,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": repair.replace("$error", first.reason or "")},
        ]
        second = self._request(follow_up, response_model, context, repair_follows=False, on_text=on_text)
        if second.value is not None:  # the valid answer stands for the first request too: a re-run asks neither
            self._cache_put(first.key, second.content or "")
            return LLMResult(second.value, repaired=True)
        return LLMResult(None, second.reason)

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`work` over `items`, at most settings.llm_concurrency at a time, results in order."""
        items = list(items)
        workers = max(1, min(self._settings.llm_concurrency, len(items)))
        if workers == 1:
            return [work(item) for item in items]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm")
        try:
            return list(pool.map(work, items))
        finally:  # on an error or Ctrl-C, start nothing new; let running requests record themselves
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._endpoint.close()

    @property
    def offline(self) -> str | None:
        """The line saying the endpoint went offline in this run, or None."""
        return self._breaker.reason

    # one request: cache, send, validate, record

    def _request(
        self,
        messages: list[dict],
        response_model: type[BaseModel],
        context: dict | None,
        repair_follows: bool,
        on_text: Callable[[str | None], None] | None = None,
    ) -> _Answer:
        schema = sendable_schema(response_model.model_json_schema())
        key = request_key_for(self._settings, messages, response_model)
        with self._key_lock(key):  # the same request in two threads is paid for once
            started = time.perf_counter()
            cached, answer = self._cached_answer(key, response_model, context)
            if cached and on_text is not None:  # a cached reply comes whole, at once
                on_text(None)
                on_text(cached.content)
            reply = (
                Reply(cached.content, 0, 0, 0)
                if cached
                else self._send(messages, response_model.__name__, schema, on_text)
            )
            tokens = (0, 0)
            if isinstance(reply, _NoReply):
                answer = _Answer(None, None, reply.reason, key)
            elif answer is None:
                value, error = validate_reply(reply.content, response_model, context)
                if value is None and len(reply.content) > MAX_REPAIRABLE and repair_follows:
                    error = f"a reply of {len(reply.content):,} characters, too long to send back for repair ({error})"
                    repair_follows = False
                answer = _Answer(
                    reply.content if repair_follows else None,
                    value,
                    None if value is not None else f"invalid_output: {error}",
                    key,
                )
                tokens = (reply.prompt_tokens, reply.completion_tokens)
            status = "ok" if answer.value is not None else ("error" if isinstance(reply, _NoReply) else "invalid")
            call = CallRecord(
                self.step,
                self.model,
                key,
                tokens[0],
                tokens[1],
                cost_of(self._price, *tokens),
                cached is not None,
                status,
                answer.reason,
                final=not (status == "invalid" and repair_follows),
                attempts=reply.attempts,
                seconds=round(time.perf_counter() - started, 3),
            )
            fresh = (
                CachedReply(reply.content, *tokens) if answer.value is not None and cached is None else None
            )  # only valid replies
            self._record(call, fresh)
        return answer

    def _cached_answer(
        self, key: str, response_model: type[BaseModel], context: dict | None
    ) -> tuple[CachedReply | None, _Answer | None]:
        """A cached reply and its validated answer; a cached reply that does not validate (a cache written
        before only valid replies were kept) is forgotten, so the request goes to the server again."""
        cached = self._cache_get(key)
        if cached is None:
            return None, None
        value, _ = validate_reply(cached.content, response_model, context)
        if value is None:
            with self._db_lock:
                cache_forget(self._con, key)
            return None, None
        return cached, _Answer(cached.content, value, None, key)

    def _send(
        self, messages: list[dict], name: str, schema: dict, on_text: Callable[[str | None], None] | None = None
    ) -> Reply | _NoReply:
        """The answer's content and usage, or the reason there is none, after retries, within the deadline."""
        settings, breaker = self._settings, self._breaker
        reason = "error: no attempt made"
        with deadline(settings.llm_deadline) as end:
            for attempt in range(1, settings.llm_max_retries + 2):
                if breaker.open:
                    return _NoReply(breaker.skip() if attempt == 1 else f"{reason}; then {breaker.skip()}", attempt - 1)
                outcome = self._endpoint.attempt(messages, name, schema, end, on_text)
                if isinstance(outcome, Reply):
                    breaker.succeeded()
                    return Reply(outcome.content, outcome.prompt_tokens, outcome.completion_tokens, attempt)
                reason, wait, retry = outcome
                if wait is not None and wait > settings.llm_retry_after_max:
                    reason = f"{reason}: asked to wait {wait:g}s, over the {settings.llm_retry_after_max:g}s cap (llm_retry_after_max)"
                    breaker.failed(reason, at_once=True)
                    return _NoReply(reason, attempt)
                if retry != "never":
                    breaker.failed(reason)
                if retry != "retry" or attempt > settings.llm_max_retries:
                    return _NoReply(reason if retry != "retry" else f"{reason} (after {attempt} attempts)", attempt)
                delay = (
                    wait
                    if wait is not None
                    else min(settings.llm_backoff_base * 2 ** (attempt - 1), settings.llm_backoff_max)
                )
                if time.monotonic() + delay >= end:
                    return _NoReply(
                        f"deadline: {reason}, and no time for attempt {attempt + 1} within the {settings.llm_deadline:g}s deadline (llm_deadline)",
                        attempt,
                    )
                log.info("%s: retry %d in %.2fs after %s", self.step, attempt, delay, reason)
                breaker.wait(delay)
        return _NoReply(reason, settings.llm_max_retries + 1)

    # bookkeeping

    def _cache_get(self, key: str) -> CachedReply | None:
        if self._con is None:
            return None
        with self._db_lock:
            return cache_get(self._con, key)

    def _cache_put(self, key: str, content: str) -> None:
        if self._con is not None:
            with self._db_lock:
                cache_put(self._con, key, self.model, CachedReply(content, 0, 0))

    def _record(self, call: CallRecord, fresh: CachedReply | None) -> None:
        with self._db_lock:
            self.usage.add(call)
            if self._con is not None:
                record(self._con, call, fresh)
        level = logging.INFO if call.status == "ok" or not call.final else logging.WARNING
        log.log(
            level,
            "%s %s: %s%s, %d+%d tokens, %d attempts%s",
            self.step,
            self.model,
            call.status,
            " (cached)" if call.cached else "",
            call.prompt_tokens,
            call.completion_tokens,
            call.attempts,
            f": {call.reason}" if call.reason else "",
        )

    def _key_lock(self, key: str) -> threading.Lock:
        with self._key_locks_guard:
            return self._key_locks.setdefault(key, threading.Lock())


def request_key_for(settings: Settings, messages: list[dict], response_model: type[BaseModel]) -> str:
    """The cache key of a request as LLMClient sends it (the dry run looks answers up by it)."""
    parameters = {
        "schema": response_model.model_json_schema(),
        "temperature": settings.llm_temperature,
        "max_tokens": settings.llm_max_tokens,
    }
    return request_key(settings.llm_model, messages, parameters)


@contextmanager
def llm_client(
    settings: Settings, con: duckdb.DuckDBPyConnection | None, step: str, breakers: Breakers | None = None
) -> Iterator[LLMClient | None]:
    """A client for `step` when an LLM is configured (settings.llm_enabled), else None; closed after.
    `breakers`: the run's (LLMClient)."""
    if not settings.llm_enabled:
        yield None
        return
    client = LLMClient(settings, con, step, breakers)
    try:
        yield client
    finally:
        client.close()
