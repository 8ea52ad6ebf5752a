"""Who may reach what on `fieldmap serve`: API keys, the Host header and the size of a request body.

Keys come from a file (`--keys FILE`) or the environment (FIELDMAP_API_KEYS, read by the CLI), one entry a line
(`;` also separates entries in the environment):

    # key            workspaces it may read (a comma list, or * for all)
    s3cr3t-key-a = physics, astro
    s3cr3t-key-b = *

A request carries its key as `Authorization: Bearer KEY` (what OpenAI clients send); a GET may carry it in the
`fieldmap_key` cookie instead, so that links the web app opens (the trend dashboard) work. No key or an unknown
one gets 401, a key for another workspace 403. A presented key is hashed and compared with every stored hash in
constant time (hmac.compare_digest, no early exit); keys are never logged nor echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import socket
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import unquote

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "localhost.localdomain", "ip6-localhost"}
DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: a question, or a chat history of a few hundred turns
KEY_COOKIE = "fieldmap_key"
ALL = "*"
# what anyone may fetch: the web app's shell (it holds no data) and the API's description
PUBLIC_PATHS = {"/", "/favicon.ico", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
PUBLIC_PREFIXES = ("/static/",)


class KeyFileError(ValueError):
    """A keys file or FIELDMAP_API_KEYS entry that cannot be read (the message never holds the key)."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass
class Keys:
    """API keys, each allowed a set of workspaces ("*": all). Only the keys' SHA-256 digests are kept."""

    entries: list[tuple[bytes, frozenset[str]]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, origin: str) -> "Keys":
        keys = cls()
        for number, line in enumerate(re.split(r"[\n;]", text), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, _, allowed = line.partition("=")
            key = key.strip()
            names = frozenset(n.strip() for n in (allowed or ALL).split(",") if n.strip())
            if len(key) < 8 or any(c.isspace() for c in key):  # the line number, never the key, names the fault
                raise KeyFileError(f"{origin}: entry {number}: a key must be at least 8 characters without spaces")
            if not names:
                raise KeyFileError(f"{origin}: entry {number}: no workspace after '='")
            keys.entries.append((_digest(key), names))
        return keys

    @classmethod
    def load(cls, path: str | Path | None = None, environment: str | None = None) -> "Keys":
        keys = cls()
        if path is not None:
            keys.entries += cls.parse(Path(path).read_text(encoding="utf-8"), str(path)).entries
        if environment:
            keys.entries += cls.parse(environment, "FIELDMAP_API_KEYS").entries
        return keys

    def __bool__(self) -> bool:
        return bool(self.entries)

    def workspaces_of(self, presented: str | None) -> frozenset[str] | None:
        """The workspaces a presented key may read; None when it matches no key. Every stored digest is
        compared, in constant time each, whatever matched before."""
        if not presented:
            return None
        digest = _digest(presented)
        found: frozenset[str] | None = None
        for stored, names in self.entries:
            if hmac.compare_digest(stored, digest):
                found = names
        return found


def allows(names: frozenset[str], workspace: str) -> bool:
    return ALL in names or workspace in names


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: list[str] | None = None) -> set[str]:
    """Host names a request may name: loopback names, the bound address, this machine's name and `extra`
    (--allow-host). Any IP literal is also accepted (see host_allowed): DNS rebinding needs a domain name."""
    names = {n.lower() for n in LOOPBACK_NAMES | {bind, socket.gethostname(), socket.getfqdn()} | set(extra or [])}
    return {n for n in names if n and n not in ("0.0.0.0", "::")}


def host_allowed(host_header: str | None, allowed: set[str]) -> bool:
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host in allowed:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def presented_key(scope: dict) -> str | None:
    """The key of a request: its bearer token, or (GET/HEAD only) the fieldmap_key cookie."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    if scope.get("method") in ("GET", "HEAD") and "cookie" in headers:
        cookie = SimpleCookie()
        try:
            cookie.load(headers["cookie"])
        except Exception:  # noqa: BLE001 - a malformed cookie header is no key
            return None
        if KEY_COOKIE in cookie:
            return unquote(cookie[KEY_COOKIE].value)
    return None


async def _reply(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware in front of everything: the Host header, the body cap, then the key.

    `workspace_of(path)` says which workspace a path reads (None: none in particular, e.g. /v1/models; the
    endpoint checks the key's workspaces itself through scope["fieldmap.workspaces"])."""

    def __init__(self, app, keys: Keys, hosts: set[str], workspace_of, max_body: int = DEFAULT_MAX_BODY):
        self.app = app
        self.keys = keys
        self.hosts = hosts
        self.workspace_of = workspace_of
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        if not host_allowed(headers.get(b"host", b"").decode("latin-1"), self.hosts):
            return await _reply(
                send, 400, "this server does not answer to that Host name (start it with --allow-host NAME)"
            )
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _reply(send, 413, f"the request body is over {self.max_body} bytes")
        path = scope["path"]
        if not (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)) and self.keys:
            names = self.keys.workspaces_of(presented_key(scope))
            if names is None:
                return await _reply(
                    send,
                    401,
                    "an API key is needed: send it as 'Authorization: Bearer KEY'",
                    [(b"www-authenticate", b"Bearer")],
                )
            workspace = self.workspace_of(path)
            if workspace is not None and not allows(names, workspace):
                return await _reply(send, 403, "this key may not read that workspace")
        else:
            names = frozenset({ALL})  # no keys: every workspace to every caller (loopback, or --insecure)
        scope = dict(scope, **{"fieldmap.workspaces": names})
        return await self.app(scope, *self._capped(receive, send))

    def _capped(self, receive, send):
        """A body is counted as it arrives (a chunked one has no Content-Length): past the cap the caller gets
        a 413 at once, the app sees the client gone, and whatever it still sends is dropped."""
        seen, started, replied = 0, False, False

        async def capped_receive():
            nonlocal seen, replied
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    if not started and not replied:
                        replied = True
                        await _reply(send, 413, f"the request body is over {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message):
            nonlocal started
            if replied:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        return capped_receive, tracked_send
