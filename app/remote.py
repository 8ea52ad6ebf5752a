"""A running `fieldmap serve` answers `fieldmap ask` for its workspaces: a new process would spend seconds
importing torch, LanceDB and spaCy and loading models before the first retrieval; the server has them loaded.

The server leaves `serving.json` in each workspace it serves (its address, its pid, a fingerprint of its
settings) and removes it when it stops. `fieldmap ask` sends the question there when the file names a live
process with the settings `ask` would use, and otherwise (no server, other settings, it does not answer) asks
in process. Only the standard library here: this runs before anything heavy is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

SERVING_FILE = "serving.json"
TIMEOUT_SECONDS = 120


def fingerprint(settings) -> str:
    """What must match for the server's answer to be the one `ask` would give."""
    return hashlib.sha256(settings.model_dump_json(exclude={"corpus", "workspace"}).encode()).hexdigest()[:16]


def announce(settings, url: str, keys_required: bool) -> Path:
    """serving.json in the workspace; nothing where it cannot be written (a workspace not built yet, read-only)."""
    path = Path(settings.workspace) / SERVING_FILE
    record = {"url": url, "pid": os.getpid(), "settings": fingerprint(settings), "keys": keys_required}
    try:
        path.write_text(json.dumps(record), encoding="utf-8")
    except OSError:
        pass
    return path


def withdraw(path: Path) -> None:
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ask_server(settings, question: str, mode: str, k: int | None, key: str | None = None) -> dict | None:
    """The answer of the server serving this workspace with these settings; None when there is none to ask."""
    try:
        record = json.loads((Path(settings.workspace) / SERVING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not _alive(int(record.get("pid", 0)))
        or record.get("settings") != fingerprint(settings)
        or (record.get("keys") and not key)
    ):
        return None
    body = json.dumps({"question": question, "mode": mode, "k": k}).encode()
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    request = urllib.request.Request(record["url"] + "/ask", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as error:
        if error.code in (400, 422):  # the question itself is wrong: asking in process would say the same
            detail = json.loads(error.read() or b"{}").get("detail", error.reason)
            raise ValueError(detail if isinstance(detail, str) else json.dumps(detail)) from None
        return None  # 401/403/503...: ask in process
    except (OSError, ValueError):
        return None
