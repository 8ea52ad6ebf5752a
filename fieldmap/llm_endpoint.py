"""One request to an OpenAI-compatible server, through the `openai` package: the structured-output format
(json_schema first; json_object with the schema where a server rejects it, remembered per endpoint), the schema as
sent, and the outcome of one attempt: the reply, or its reason with the wait the server asked for and whether to
try again. fieldmap/llm_reply.py reads the reply; fieldmap/llm.py retries, caches and validates. The API key
never leaves the openai client: reasons are redacted.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fieldmap.llm_guard import http_client
from fieldmap.llm_reply import MAX_REASON, BadResponse, connection_cause, error_detail, read_completion, read_stream
from fieldmap.settings import Settings

log = logging.getLogger("fieldmap.llm")

# a server that cannot do json_schema says so with one of these (llama.cpp's server: 500)
JSON_SCHEMA_REJECTED = {400, 404, 422, 500, 501}
MAX_FORMAT_PROBES = 3  # json_object probes per client while both formats fail alike (a server that is down)
KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{4,}|Bearer\s+\S+)")
ENDPOINT_FAILURES = {401, 403, 404}  # 4xx that every request to the endpoint would meet (the breaker counts them)


@dataclass(frozen=True)
class Reply:
    content: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int


class Endpoint:
    """The server one LLMClient talks to: its openai client and the output format it takes."""

    def __init__(self, settings: Settings, step: str):
        self.model = settings.llm_model
        self.step = step
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
        self._format: str | None = None  # json_schema | json_object, once the server has told us
        self._format_probes = 0

    @property
    def name(self) -> str:
        """The endpoint as a line may show it (endpoint_name): the breaker's key."""
        return endpoint_name(str(self._openai.base_url))

    def close(self) -> None:
        self._openai.close()

    def attempt(
        self, messages: list[dict], name: str, schema: dict, end: float, on_text=None
    ) -> Reply | tuple[str, float | None, str]:
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
            return Reply(content, prompt_tokens, completion_tokens, 1)
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
