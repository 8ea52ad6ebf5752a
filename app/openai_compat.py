"""An OpenAI-compatible chat endpoint, so any chat front end that speaks that API can ask fieldmap.

    GET  /v1/models             one model per served workspace (that the key may read): its id is the workspace name
    POST /v1/chat/completions   the last user message is asked of the workspace named by `model`; with
                                `stream: true` the reply comes as server-sent events (chat.completion.chunk),
                                the LLM's answer as it writes it, then the rest of the reply

The reply's text is fieldmap's answer, its evidence sentences with their [n] citations, and a sources list
("[n] title (doc id)"); the same answer as `fieldmap ask --json` gives it comes in the extra field `fieldmap`
(on the completion, and on the last chunk of a stream).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.auth import allows
from app.progress import ask_events
from rag.modes import DEFAULT_MODE, MODES

STREAM_WORDS = 4  # words per content chunk of a stream, for a reply made at once
REPLACED = "\n\n(The answer above was replaced by this one.)\n\n"  # after text sent that the answer given is not


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return " ".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields fieldmap reads; the rest of OpenAI's (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = {"extra": "allow"}

    model: str = Field(max_length=64)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    mode: Literal[MODES] = DEFAULT_MODE  # type: ignore[valid-type]  # fieldmap's own: the retrieval mode
    k: int | None = Field(None, ge=1, le=50)


def answer_text(answer: dict) -> str:
    """An answer as a chat reply: the answer, its evidence with [n], then the sources [n] points to."""
    parts = []
    evidence = answer.get("evidence") or []
    if answer.get("answer") and not (answer.get("answer_type") == "description" and evidence):
        cited = sorted({e["passage"] for e in evidence})
        marks = "".join(f" [{n}]" for n in cited) if "[" not in answer["answer"] else ""
        parts.append(answer["answer"] + marks)
    elif not evidence:
        parts.append("No answer was found in the documents.")
    if evidence:
        parts.append("\n".join(f"- {e['text']} [{e['passage']}]" for e in evidence))
    for flag in answer.get("flags") or []:
        parts.append(f"Note: {flag}")
    cited = {e["passage"] for e in evidence} | {
        n
        for n, p in enumerate(answer.get("passages") or [], 1)
        if p["chunk_id"] in {c["chunk_id"] for c in answer.get("citations") or []}
    }
    sources = [
        f"[{n}] {p['title'] or p['doc_id']} ({p['doc_id']})"
        for n, p in enumerate(answer.get("passages") or [], 1)
        if n in cited
    ]
    if sources:
        parts.append("Sources:\n" + "\n".join(sources))
    return "\n\n".join(parts)


def structured(answer: dict) -> dict:
    """The answer's structured part for the `fieldmap` field: what the text says, in fields."""
    keys = (
        "question",
        "answer",
        "answer_type",
        "evidence",
        "citations",
        "passages",
        "mode",
        "retrieval",
        "flags",
        "confidence",
    )
    return {key: answer.get(key) for key in keys}


def _question(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user" and message.text().strip():
            return message.text().strip()[:2000]
    raise HTTPException(400, "no user message with text to answer")


def add_openai_routes(front: FastAPI) -> None:
    def allowed(request: Request) -> list[str]:
        names = request.scope.get("fieldmap.workspaces", frozenset())
        return [name for name in front.state.apps if allows(names, name)]

    @front.get("/v1/models", summary="One model per workspace this key may read")
    async def models(request: Request) -> dict:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "fieldmap"} for name in allowed(request)
            ],
        }

    @front.post("/v1/chat/completions", summary="Ask the workspace named by `model` the last user message")
    async def chat(request: Request, body: ChatRequest):
        if body.model not in front.state.apps:
            raise HTTPException(404, f"no model {body.model!r}: GET /v1/models lists them")
        if body.model not in allowed(request):
            raise HTTPException(403, "this key may not read that workspace")
        service = front.state.apps[body.model].state.service
        question = _question(body)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.stream:
            answer = await run_in_threadpool(service.ask, question, body.mode, body.k)
            text = answer_text(answer)
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": len(question.split()),
                    "completion_tokens": len(text.split()),
                    "total_tokens": len(question.split()) + len(text.split()),
                },
                "fieldmap": structured(answer),
            }

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        async def events():
            """The LLM's answer text as it arrives (rag/streaming.py's `token` events by the LLM); the rest of the
            reply (citations, evidence, sources) once the answer is made. A reader's answer is made at once: its
            reply goes out a few words a chunk. Text once sent stays sent: when the LLM's reply is redone or
            replaced (a `reset`), nothing more goes out live, and the answer given follows under REPLACED
            unless the text sent begins it."""
            yield chunk({"role": "assistant", "content": ""})  # at once: the client knows the request is taken
            sent, live = "", True
            async for name, data in ask_events(service, question, body.mode, body.k):
                if name == "error":  # the stream has started: the error goes in it
                    yield f"data: {json.dumps({'error': {'message': str(data), 'type': type(data).__name__}})}\n\n"
                    return
                if name == "token" and data["by"] == "llm" and live:
                    sent += data["text"]
                    yield chunk({"content": data["text"]})
                elif name == "reset" and sent:
                    live = False
                elif name == "done":
                    text = answer_text(data)
                    if not sent:
                        words = text.split(" ")
                        for i in range(0, len(words), STREAM_WORDS):
                            piece = " ".join(words[i : i + STREAM_WORDS])
                            yield chunk({"content": piece if i == 0 else " " + piece})
                    elif text != sent:
                        yield chunk({"content": text[len(sent) :] if text.startswith(sent) else REPLACED + text})
                    yield chunk({}, "stop", fieldmap=structured(data))
                    yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
