"""A small OpenAI-compatible chat server on loopback that misbehaves on cue (stdlib only).

A request's behaviour is chosen by a marker word in its user messages (put it in a document's
text): TIMEOUTONCE, RATELIMITONCE, TRUNCATEDONCE, BADBODYONCE, BADJSONONCE and BADCOVERAGEONCE
misbehave on the first request that carries them and answer well afterwards; SERVERERROR,
BADJSONALWAYS and BADCOVERAGEALWAYS always misbehave; KEYECHO answers 401 with the caller's
Authorization header in the body (as a careless server might). Everything else gets a valid answer:
an extraction naming "galaxies", "telescope" and "unicorns" (not in the text), a structure with
one aspect over all numbered sentences, or an answer citing passage 1.

A request with `"stream": true` gets its answer as server-sent chunks (chunked transfer encoding, a few characters
of content a chunk, the usage last when `stream_options.include_usage` asks); there TRUNCATEDONCE sends part of the
answer's chunks, then closes the connection mid-body.

`mode`, when set, answers every request alike whatever its markers: "garbage" (200 with `garbage_chars`
characters that are no JSON), "error500", "retry_after" (429 with Retry-After: `retry_after`), "trickle"
(200 headers, then one byte of the body every `trickle_seconds`, for `trickle_bytes` bytes).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKERS = (
    "TIMEOUTONCE",
    "RATELIMITONCE",
    "TRUNCATEDONCE",
    "BADBODYONCE",
    "BADJSONONCE",
    "BADCOVERAGEONCE",
    "SERVERERROR",
    "BADJSONALWAYS",
    "BADCOVERAGEALWAYS",
    "KEYECHO",
)
STREAM_CHARS = 5  # content characters a streamed chunk carries
EXTRACTION = {
    "entities": [
        {"name": "galaxies", "type": "object"},
        {"name": "telescope", "type": "instrument"},
        {"name": "unicorns", "type": "object"},
    ],
    "triplets": [{"subject": "telescope", "relation": "observes", "predicate": "observes", "object": "galaxies"}],
}


@dataclass
class Received:
    marker: str | None
    status: int | None  # None while it is being answered
    at: float
    body_sha: str
    format: str  # json_schema | json_object | none
    stream: bool = False


@dataclass
class FaultServer:
    stall_seconds: float = 2.0  # how long TIMEOUTONCE keeps the caller waiting
    latency: float = 0.0  # added to every answer
    reject_json_schema: bool = False  # answer json_schema with HTTP 500, as llama.cpp's server does
    mode: str | None = None  # garbage | error500 | retry_after | trickle: every request, markers or not
    garbage_chars: int = 1_000_000
    retry_after: str = "3600"
    trickle_seconds: float = 1.0
    trickle_bytes: int = 600
    received: list[Received] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"fault": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, marker: str | None = None, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self.received
                if (marker is None or r.marker == marker) and (status is None or r.status == status)
            )

    def first_time(self, marker: str) -> bool:
        with self._lock:
            self._seen[marker] = self._seen.get(marker, 0) + 1
            return self._seen[marker] == 1


class _Handler(BaseHTTPRequestHandler):
    fault: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = json.loads(body)
        users = " ".join(m["content"] for m in request["messages"] if m["role"] == "user")
        marker = next((m for m in MARKERS if m in users), None)
        response_format = request.get("response_format") or {}
        kind = response_format.get("type", "none")
        schema = (response_format.get("json_schema") or {}).get("schema") or response_format.get("schema") or {}
        # recorded on arrival, before it is answered: a client holding an answer finds its request in `received`
        # (recorded after answering, the reply could reach a test first under load); the status once answered
        received = Received(
            marker, None, time.monotonic(), hashlib.sha256(body).hexdigest(), kind, bool(request.get("stream"))
        )
        with self.fault._lock:
            self.fault.received.append(received)
        if self.fault.latency:
            time.sleep(self.fault.latency)
        status = self._answer(request, marker, kind, schema)
        with self.fault._lock:
            received.status = status

    def _answer(self, request: dict, marker: str | None, kind: str, schema: dict) -> int:
        fault = self.fault
        if fault.mode is not None:
            return self._misbehave(request, fault)
        if kind == "json_schema" and fault.reject_json_schema:
            return self._send(
                500, {"error": {"message": "Input should be 'text' or 'json_object'", "type": "internal_server_error"}}
            )
        if marker == "KEYECHO":
            return self._send(
                401, {"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}"}}
            )
        if marker == "SERVERERROR":
            return self._send(500, {"error": {"message": "the model crashed"}})
        if marker in ("TIMEOUTONCE", "RATELIMITONCE", "TRUNCATEDONCE", "BADBODYONCE") and fault.first_time(marker):
            if marker == "TIMEOUTONCE":
                time.sleep(fault.stall_seconds)
                return self._send(200, _completion(request, _valid_content(request, schema)))
            if marker == "RATELIMITONCE":
                return self._send(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"})
            if marker == "TRUNCATEDONCE" and request.get("stream"):
                return self._stream(request, _valid_content(request, schema), cut=True)
            if marker == "TRUNCATEDONCE":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "4000")
                self.end_headers()
                self.wfile.write(b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess')
                self.wfile.flush()
                self.close_connection = True
                return 200
            return self._send_raw(200, b'{"id": "chatcmpl-1", "choices": [{"index": 0,,,')
        content = _valid_content(request, schema)
        if marker == "BADJSONALWAYS" or (marker == "BADJSONONCE" and fault.first_time(marker)):
            content = "Sure! Here are the entities: galaxies, telescope"
        elif marker == "BADCOVERAGEALWAYS" or (marker == "BADCOVERAGEONCE" and fault.first_time(marker)):
            # no aspect at all: a coverage fault that fitting the ranges to the sentences cannot mend
            content = json.dumps({"scope": "A test text", "aspects": []})
        if request.get("stream"):
            return self._stream(request, content)
        return self._send(200, _completion(request, content))

    def _stream(self, request: dict, content: str, cut: bool = False) -> int:
        """`content` as chat.completion.chunk events, STREAM_CHARS characters each; `cut`: stop two thirds in and
        close the connection without ending the body."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        whole = _completion(request, content)
        base = {
            "id": whole["id"],
            "object": "chat.completion.chunk",
            "created": whole["created"],
            "model": whole["model"],
        }
        pieces = [content[i : i + STREAM_CHARS] for i in range(0, len(content), STREAM_CHARS)]
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": whole["usage"]})
        try:
            for number, event in enumerate(events):
                if cut and number > len(events) * 2 // 3:
                    self.close_connection = True
                    return 200
                data = f"data: {json.dumps(event)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(b"data: [DONE]\n\n"), b"data: [DONE]\n\n"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return 200

    def _misbehave(self, request: dict, fault: FaultServer) -> int:
        if fault.mode == "garbage":
            return self._send(200, _completion(request, "Sure! " + "garbage " * (fault.garbage_chars // 8)))
        if fault.mode == "error500":
            return self._send(500, {"error": {"message": "the model crashed"}})
        if fault.mode == "retry_after":
            return self._send(
                429, {"error": {"message": "come back later"}}, headers={"Retry-After": fault.retry_after}
            )
        assert fault.mode == "trickle", fault.mode
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(fault.trickle_bytes + 10))
            self.end_headers()
            for _ in range(fault.trickle_bytes):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(fault.trickle_seconds)
        except (BrokenPipeError, ConnectionResetError):  # the caller gave up: what the deadline is for
            pass
        self.close_connection = True
        return 200

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> int:
        try:
            return self._send_raw(status, json.dumps(payload).encode(), headers)
        except (BrokenPipeError, ConnectionResetError):  # the caller timed out or was killed
            self.close_connection = True
            return status

    def _send_raw(self, status: int, data: bytes, headers: dict | None = None) -> int:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status


def _valid_content(request: dict, schema: dict) -> str:
    if "answer" in schema.get("properties", {}):  # an answer over numbered passages (rag/answer.py AnswerReply)
        return json.dumps({"answer": "It is said in the first passage.", "citations": [1]})
    if "scope" in schema.get("properties", {}):
        last_text = [
            m["content"] for m in request["messages"] if m["role"] == "user" and m["content"].startswith("Title:")
        ][-1]
        count = len(re.findall(r"^\d+\. ", last_text, flags=re.MULTILINE))
        return json.dumps(
            {"scope": "A test text", "aspects": [{"title": "Everything", "first": 1, "last": count, "sub_aspects": []}]}
        )
    return json.dumps(EXTRACTION)


def _completion(request: dict, content: str) -> dict:
    prompt_chars = sum(len(m["content"]) for m in request["messages"])
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(content) // 4,
            "total_tokens": prompt_chars // 4 + len(content) // 4,
        },
    }
