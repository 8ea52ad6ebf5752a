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
openai client: reasons and logs are redacted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar
from urllib.parse import urlsplit, urlunsplit

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
from fieldmap.llm_guard import Breakers, deadline, http_client
from fieldmap.llm_reply import (
    MAX_REASON,
    BadResponse,
    connection_cause,
    error_detail,
    read_completion,
    read_stream,
    validate_reply,
)
from fieldmap.settings import Settings

log = logging.getLogger("fieldmap.llm")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
R = TypeVar("R")

# a server that cannot do json_schema says so with one of these (llama.cpp's server: 500)
JSON_SCHEMA_REJECTED = {400, 404, 422, 500, 501}
MAX_FORMAT_PROBES = 3  # json_object probes per client while both formats fail alike (a server that is down)
KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{4,}|Bearer\s+\S+)")
MAX_REPAIRABLE = 50_000  # characters: a longer invalid reply is not sent back for repair (it would be sent whole)
ENDPOINT_FAILURES = {401, 403, 404}  # 4xx that every request to the endpoint would meet (the breaker counts them)


@dataclass(frozen=True)
class LLMResult(Generic[M]):
    """A validated value, or the reason there is none (`<kind>: <detail>`)."""

    value: M | None
    failure: str | None = None
    repaired: bool = False


@dataclass(frozen=True)
class _Reply:
    content: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int


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
        self._secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        import openai  # here, not at import: a process that configures no LLM (a Dagster step) skips its second

        self._openai = openai.OpenAI(
            api_key=self._secret or "no-key",
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout,
            max_retries=0,
            http_client=http_client(settings.llm_timeout),
        )
        self._breaker = (breakers or Breakers(settings.llm_breaker_failures)).of(
            endpoint_name(str(self._openai.base_url))
        )
        self._price = price_for(self.model, settings.llm_prices)
        self._con = con
        self._db_lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_guard = threading.Lock()
        self._format: str | None = None  # json_schema | json_object, once the server has told us
        self._format_probes = 0

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
        self._openai.close()

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
                _Reply(cached.content, 0, 0, 0)
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
    ) -> _Reply | _NoReply:
        """The answer's content and usage, or the reason there is none, after retries, within the deadline."""
        settings, breaker = self._settings, self._breaker
        reason = "error: no attempt made"
        with deadline(settings.llm_deadline) as end:
            for attempt in range(1, settings.llm_max_retries + 2):
                if breaker.open:
                    return _NoReply(breaker.skip() if attempt == 1 else f"{reason}; then {breaker.skip()}", attempt - 1)
                outcome = self._attempt(messages, name, schema, end, on_text)
                if isinstance(outcome, _Reply):
                    breaker.succeeded()
                    return _Reply(outcome.content, outcome.prompt_tokens, outcome.completion_tokens, attempt)
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

    def _attempt(
        self, messages: list[dict], name: str, schema: dict, end: float, on_text=None
    ) -> _Reply | tuple[str, float | None, str]:
        """One HTTP request: the reply, or (reason, seconds the server asked to wait, "retry" | "endpoint" | "never"):
        whether to try again, fail counting it against the endpoint, or fail as this request's own fault.
        With `on_text`, the reply is streamed (read within the same deadline) and its content handed on as it comes."""
        import openai

        try:
            if on_text is None:
                content, prompt_tokens, completion_tokens = read_completion(self._post(messages, name, schema))
            else:
                with self._post(messages, name, schema, stream=True) as streamed:  # closed however it ends
                    content, prompt_tokens, completion_tokens = read_stream(streamed, on_text)
            return _Reply(content, prompt_tokens, completion_tokens, 1)
        except openai.RateLimitError as exc:
            return f"rate_limit: HTTP 429 {self._redact(error_detail(exc))}", _retry_after(exc.response), "retry"
        except openai.APITimeoutError:
            if time.monotonic() >= end:
                return (
                    f"deadline: no complete answer within the {self._settings.llm_deadline:g}s deadline (llm_deadline)",
                    None,
                    "endpoint",
                )
            return f"timeout: no answer within {self._settings.llm_timeout:g}s", None, "retry"
        except openai.APIConnectionError as exc:
            return f"connection: {self._redact(connection_cause(exc))}", None, "retry"
        except openai.APIStatusError as exc:
            if exc.status_code < 500 and exc.status_code not in (408, 409):
                kind = "endpoint" if exc.status_code in ENDPOINT_FAILURES else "never"
                return f"http_{exc.status_code}: {self._redact(error_detail(exc))}", None, kind
            kind = "server_error" if exc.status_code >= 500 else f"http_{exc.status_code}"
            return (
                f"{kind}: HTTP {exc.status_code} {self._redact(error_detail(exc))}",
                _retry_after(exc.response),
                "retry",
            )
        except (json.JSONDecodeError, openai.APIResponseValidationError, BadResponse) as exc:
            return f"bad_response: {self._redact(str(exc))}", None, "retry"
        except openai.APIError as exc:  # an error event in the middle of a stream
            return f"bad_response: {self._redact(str(exc))}", None, "retry"

    def _post(self, messages: list[dict], name: str, schema: dict, stream: bool = False) -> Any:
        """One HTTP request. json_schema first; when a server rejects it, the same request goes
        again with json_object (plus the schema, which llama.cpp turns into a grammar), and if that
        gets past the error, json_object is remembered for this client. `stream`: the reply as chunks."""
        import openai

        common = {
            "model": self.model,
            "messages": messages,
            "temperature": self._settings.llm_temperature,
            "max_tokens": self._settings.llm_max_tokens,
        }
        if stream:
            common |= {"stream": True, "stream_options": {"include_usage": True}}
        as_object = {"type": "json_object", "schema": schema}
        if self._format == "json_object":
            return self._openai.chat.completions.create(**common, response_format=as_object)
        as_schema = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        try:
            response = self._openai.chat.completions.create(**common, response_format=as_schema)
        except openai.APIStatusError as exc:
            if (
                self._format == "json_schema"
                or exc.status_code not in JSON_SCHEMA_REJECTED
                or self._format_probes >= MAX_FORMAT_PROBES
            ):
                raise
            self._format_probes += 1
            try:
                response = self._openai.chat.completions.create(**common, response_format=as_object)
            except openai.APIStatusError as probe:
                if probe.status_code != exc.status_code:  # json_object got past what stopped json_schema
                    self._format = "json_object"
                raise
            self._format = "json_object"
            log.info(
                "%s: the server rejected json_schema (HTTP %d); using json_object with a schema",
                self.step,
                exc.status_code,
            )
            return response
        self._format = "json_schema"
        return response

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

    def _redact(self, text: str) -> str:
        """No key, bearer token or key-like string survives into a reason or a log line."""
        if self._secret:
            text = text.replace(self._secret, "***")
        return KEY_LIKE.sub("***", text)[:MAX_REASON]


# Checked by pydantic after the answer, never sent: llama.cpp's server turns a string's maxLength
# into a grammar of that many optional characters, fails to parse it and then dies with SIGSEGV
# (GistReply's 1,200 did); OpenAI's strict json_schema rejects these keywords too.
UNSENT_KEYWORDS = {"minLength", "maxLength", "pattern"}


def sendable_schema(schema: Any) -> Any:
    """The JSON schema without the keywords in UNSENT_KEYWORDS, at any depth (property names kept)."""
    if isinstance(schema, dict):
        # a keyword has a number or a string; a property of the same name has a schema (a dict)
        return {
            key: sendable_schema(value)
            for key, value in schema.items()
            if key not in UNSENT_KEYWORDS or isinstance(value, dict)
        }
    if isinstance(schema, list):
        return [sendable_schema(item) for item in schema]
    return schema


def request_key_for(settings: Settings, messages: list[dict], response_model: type[BaseModel]) -> str:
    """The cache key of a request as LLMClient sends it (the dry run looks answers up by it)."""
    parameters = {
        "schema": response_model.model_json_schema(),
        "temperature": settings.llm_temperature,
        "max_tokens": settings.llm_max_tokens,
    }
    return request_key(settings.llm_model, messages, parameters)


def _retry_after(response: Any) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, or Retry-After in seconds or as a date)."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            return max((parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def endpoint_name(base_url: str) -> str:
    """The endpoint as a line may show it: no user, password or query string."""
    parts = urlsplit(base_url)
    return urlunsplit(
        (
            parts.scheme,
            parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc,
            parts.path,
            "",
            "",
        )
    )


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
