"""Reading an OpenAI-compatible server's reply: the completion's content and usage, its validation by a pydantic
model, and the one-line detail of an HTTP or connection error (fieldmap/llm_endpoint.py sends, fieldmap/llm.py
retries)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    import openai

MAX_REASON = 300  # characters of a reason kept in llm_calls and logs


class BadResponse(Exception):
    pass


def read_completion(response: Any) -> tuple[str, int, int]:
    """Content and token counts of a chat completion; BadResponse when it is not one."""
    choices = getattr(response, "choices", None)
    message = getattr(choices[0], "message", None) if isinstance(choices, list) and choices else None
    if message is None:
        raise BadResponse(f"not a chat completion: {str(response)[:80]!r}")
    usage = getattr(response, "usage", None)
    return (
        getattr(message, "content", None) or "",
        getattr(usage, "prompt_tokens", 0) or 0,
        getattr(usage, "completion_tokens", 0) or 0,
    )


def read_stream(chunks: Iterable[Any], on_text: Callable[[str | None], None]) -> tuple[str, int, int]:
    """Content and token counts of a streamed chat completion, each piece of content handed to `on_text` as it
    arrives (`on_text(None)` first: a new reply begins, whatever an earlier attempt sent is void); BadResponse
    when a chunk is not a completion chunk. The usage comes in the last chunk where the server sends it
    (`stream_options.include_usage`), else the counts are 0."""
    on_text(None)
    parts: list[str] = []
    prompt_tokens = completion_tokens = 0
    for chunk in chunks:
        choices = getattr(chunk, "choices", None)
        if not isinstance(choices, list):
            raise BadResponse(f"not a chat completion chunk: {str(chunk)[:80]!r}")
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
            completion_tokens = getattr(usage, "completion_tokens", 0) or 0
        delta = getattr(choices[0], "delta", None) if choices else None
        text = getattr(delta, "content", None) if delta is not None else None
        if text:
            parts.append(text)
            on_text(text)
    return "".join(parts), prompt_tokens, completion_tokens


def validate_reply(
    content: str, response_model: type[BaseModel], context: dict | None
) -> tuple[BaseModel | None, str | None]:
    """The validated value, or None and the validation errors in one line (a fenced answer is unfenced first)."""
    text = content.strip()
    if text.startswith("```"):  # a fenced answer from a server without structured output
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    if not text:
        return None, "the answer is empty"
    try:
        return response_model.model_validate_json(text, context=context), None
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors(include_url=False)[:5]
        ]
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        return None, ("; ".join(problems) + more)[:MAX_REASON]


def error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message") if isinstance(error, dict) else error
    if message:
        return str(message).strip().splitlines()[0]
    return exc.response.reason_phrase or ""


def connection_cause(exc: openai.APIConnectionError) -> str:
    cause = exc.__cause__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
