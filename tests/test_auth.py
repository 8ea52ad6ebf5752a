"""Keys, workspaces, the Host header and the body cap (app/auth.py, app/workspaces.py), in process: two
workspaces "a" and "b" served from the session's built workspace, keys for each and for both."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.auth import KeyFileError, Keys, host_allowed
from app.workspaces import Served, check_bind, create_front, parse_workspace

KEY_A, KEY_B, KEY_ALL = "key-for-a-0123456789", "key-for-b-0123456789", "key-for-all-0123456789"
KEYS = f"{KEY_A} = a\n# a comment\n{KEY_B} = b\n{KEY_ALL} = *\n"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(built_workspace):
    served = [Served("a", built_workspace), Served("b", built_workspace)]
    app = create_front(served, concurrency=1, keys=Keys.parse(KEYS, "test"), max_body=10_000)
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def test_a_key_reads_its_workspace_and_not_the_other(client):
    assert client.get("/w/a/health", headers=bearer(KEY_A)).status_code == 200
    # workspace B with A's key
    denied = client.get("/w/b/health", headers=bearer(KEY_A))
    assert denied.status_code == 403 and "may not" in denied.json()["detail"]
    assert (
        client.post("/w/b/ask", json={"question": "pulsar timing", "mode": "bm25"}, headers=bearer(KEY_A)).status_code
        == 403
    )
    assert client.get("/w/b/entities?q=galaxy", headers=bearer(KEY_B)).status_code == 200
    assert client.get("/w/a/health", headers=bearer(KEY_ALL)).status_code == 200
    assert client.get("/w/b/health", headers=bearer(KEY_ALL)).status_code == 200


def test_no_key_or_a_wrong_one_gets_401(client):
    for headers in ({}, bearer("not-a-key-at-all"), bearer(KEY_A + "x"), {"Authorization": KEY_A}):
        reply = client.get("/w/a/health", headers=headers)
        assert reply.status_code == 401, headers
        assert reply.headers["www-authenticate"] == "Bearer"
        assert KEY_A not in reply.text
    assert client.get("/v1/models").status_code == 401
    # the page itself and its files hold no data: anyone may load them (it then asks for a key)
    assert client.get("/").status_code == 200 and client.get("/static/app.js").status_code == 200


def test_models_list_the_workspaces_of_the_key(client):
    assert [m["id"] for m in client.get("/v1/models", headers=bearer(KEY_A)).json()["data"]] == ["a"]
    assert [m["id"] for m in client.get("/v1/models", headers=bearer(KEY_ALL)).json()["data"]] == ["a", "b"]
    chat = {"model": "b", "messages": [{"role": "user", "content": "pulsar timing"}]}
    assert client.post("/v1/chat/completions", json=chat, headers=bearer(KEY_A)).status_code == 403


def test_a_cookie_key_serves_a_get_only(client):
    client.cookies.set("fieldmap_key", KEY_A)
    try:
        assert client.get("/w/a/health").status_code == 200
        assert client.get("/w/b/health").status_code == 403
        assert (
            client.post("/w/a/ask", json={"question": "pulsar timing"}).status_code == 401
        )  # no cross-site POST by cookie
    finally:
        client.cookies.clear()


def test_several_workspaces_have_no_unprefixed_routes(client):
    assert client.get("/health", headers=bearer(KEY_ALL)).status_code in (403, 404)


def test_the_host_header_must_name_this_server(client):
    reply = client.get("/w/a/health", headers={**bearer(KEY_A), "Host": "evil.example"})
    assert reply.status_code == 400 and len(reply.content) < 200
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "10.1.2.3:8000"):  # an IP literal cannot be rebound
        assert client.get("/w/a/health", headers={**bearer(KEY_A), "Host": host}).status_code == 200, host
    assert not host_allowed("evil.example:80", {"localhost"}) and not host_allowed(None, {"localhost"})


def test_a_large_body_gets_a_small_413(client):
    big = b'{"question": "' + b"x" * 50_000 + b'"}'
    reply = client.post("/w/a/ask", content=big, headers={**bearer(KEY_A), "Content-Type": "application/json"})
    assert reply.status_code == 413 and len(reply.content) < 200

    def chunked():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 1000

    reply = client.post("/w/a/ask", content=chunked(), headers={**bearer(KEY_A), "Content-Type": "application/json"})
    assert reply.status_code == 413 and len(reply.content) < 200


def test_a_422_does_not_echo_the_body(client):
    reply = client.post("/w/a/ask", json={"question": "q" * 5000}, headers=bearer(KEY_A))
    assert reply.status_code == 422
    assert "q" * 100 not in reply.text and len(reply.content) < 1000


def test_keys_are_compared_whole_and_parsed_without_being_echoed(tmp_path):
    keys = Keys.parse(KEYS, "test")
    assert keys.workspaces_of(KEY_A) == frozenset({"a"}) and keys.workspaces_of(KEY_ALL) == frozenset({"*"})
    assert (
        keys.workspaces_of(KEY_A[:-1]) is None and keys.workspaces_of("") is None and keys.workspaces_of(None) is None
    )
    assert KEY_A not in repr(keys)  # only digests are kept
    with pytest.raises(KeyFileError) as error:
        Keys.parse("short = a", "keys.txt")
    assert "short" not in str(error.value) and "entry 1" in str(error.value)
    path = tmp_path / "keys.txt"
    path.write_text(f"{KEY_A} = a\n")
    both = Keys.load(path, f"{KEY_B}=b;{KEY_ALL}")
    assert [both.workspaces_of(k) for k in (KEY_A, KEY_B, KEY_ALL)] == [
        frozenset({"a"}),
        frozenset({"b"}),
        frozenset({"*"}),
    ]


def test_binding_beyond_loopback_needs_keys_or_insecure():
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(ValueError, match="without API keys"):
            check_bind(host, Keys(), insecure=False)
        check_bind(host, Keys(), insecure=True)
        check_bind(host, Keys.parse(KEYS, "test"), insecure=False)
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, Keys(), insecure=False)


def test_workspace_specs():
    assert parse_workspace("physics=/data/ph") == ("physics", "/data/ph")
    assert parse_workspace("/tmp/.fieldmap") == ("fieldmap", "/tmp/.fieldmap")
    with pytest.raises(ValueError):
        parse_workspace("bad name=/x")


def test_one_workspace_keeps_the_present_routes(built_workspace):
    app = create_front([Served("demo", built_workspace)], concurrency=1)
    with TestClient(app, base_url="http://localhost:8000") as single:
        assert single.get("/health").json()["counts"] == single.get("/w/demo/health").json()["counts"]
        assert "/ask" in single.get("/openapi.json").json()["paths"]
        assert [m["id"] for m in single.get("/v1/models").json()["data"]] == ["demo"]  # no keys on loopback: open
