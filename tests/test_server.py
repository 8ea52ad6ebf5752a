"""`fieldmap serve` in a subprocess on a loopback port, hit with httpx: the endpoints, 20 concurrent asks,
the 4xx and 503 answers, and a newer snapshot picked up without a restart."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from fieldmap.store import connect
from tests.conftest import FIXTURES, make_settings

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 180
QUESTIONS = [
    ("What do X-ray observations reveal about galaxy clusters?", "memorag"),
    ("How are jellyfish galaxies classified?", "hipporag"),
    ("What is ram-pressure stripping?", "hybrid"),
    ("Which simulations are used?", "dense"),
    ("pulsar timing", "bm25"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def comparable(answer: dict) -> dict:
    """An answer without its timings (the only part that may differ between two runs)."""
    return {key: value for key, value in answer.items() if key != "timings_ms"}


class Server:
    """`fieldmap serve` in a subprocess; every request first checks that the process is still alive."""

    def __init__(self, workspace: Path, tmp_path: Path, concurrency: int = 4):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDMAP_", "OPENAI_"))}
        env["PYTHONPATH"] = str(REPO)
        command = [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--workspace",
            str(workspace),
            "--port",
            str(self.port),
            "--concurrency",
            str(concurrency),
        ]
        with open(self.log, "wb") as log:  # cwd without a fieldmap.toml: the settings are the defaults
            self.process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.base, timeout=300)

    def alive(self) -> None:
        assert self.process.poll() is None, f"fieldmap serve exited with {self.process.returncode}:\n{self.output()}"

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        self.alive()
        response = self.client.request(method, path, **kwargs)
        self.alive()
        return response

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            self.alive()
            try:
                self.client.get("/openapi.json")
                return
            except httpx.TransportError:
                time.sleep(0.5)
        raise AssertionError(f"fieldmap serve did not answer within {STARTUP_TIMEOUT}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-20000:] if self.log.exists() else ""

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(built_workspace, tmp_path_factory):
    server = Server(built_workspace.workspace, tmp_path_factory.mktemp("serve"))
    try:
        server.wait_until_up()
        yield server
        server.alive()  # it must have survived every test of the module
    finally:
        server.stop()


def test_health_counts_the_workspace(server, built_workspace):
    health = server.get("/health")
    assert health.status_code == 200, health.text
    con = connect(built_workspace.duckdb_path, read_only=True)
    try:
        documents, entities = con.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM entities)"
        ).fetchall()[0]
    finally:
        con.close()
    assert health.json()["counts"]["documents"] == documents == 20
    assert health.json()["counts"]["entities"] == entities > 0
    assert set(server.get("/openapi.json").json()["paths"]) >= {
        "/ask",
        "/search",
        "/documents/{doc_id}",
        "/entities",
        "/entities/{entity_id}",
        "/health",
    }


def test_ask_returns_what_ask_json_returns(server, built_workspace):
    from rag.engine import QueryEngine

    engine = QueryEngine(built_workspace)
    try:
        expected = engine.ask(QUESTIONS[0][0], mode="memorag", k=3).to_dict()
    finally:
        engine.close()
    reply = server.post("/ask", json={"question": QUESTIONS[0][0], "mode": "memorag", "k": 3})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert comparable(answer) == comparable(expected)
    assert answer["answer"] and answer["citations"] and len(answer["passages"]) <= 3
    assert {c["chunk_id"] for c in answer["citations"]} <= {p["chunk_id"] for p in answer["passages"]}


def test_twenty_concurrent_asks_equal_the_sequential_answers(server):
    requests = [QUESTIONS[i % len(QUESTIONS)] for i in range(20)]
    sequential = {}
    for question, mode in QUESTIONS:
        reply = server.post("/ask", json={"question": question, "mode": mode})
        assert reply.status_code == 200, reply.text
        sequential[(question, mode)] = comparable(reply.json())

    def ask(item):
        question, mode = item
        with httpx.Client(base_url=server.base, timeout=300) as client:  # a client (connection) per caller
            return item, client.post("/ask", json={"question": question, "mode": mode})

    with ThreadPoolExecutor(len(requests)) as pool:
        replies = list(pool.map(ask, requests))
    server.alive()
    for item, reply in replies:
        assert reply.status_code == 200, reply.text
        assert comparable(reply.json()) == sequential[item], item


def test_search_documents_and_entities(server, built_workspace):
    found = server.get("/search", params={"q": "jellyfish galaxies", "mode": "bm25", "k": 3}).json()
    assert found["mode"] == "bm25" and 1 <= len(found["results"]) <= 3
    top = found["results"][0]
    assert "jellyfish" in top["text"].lower()

    document = server.get(f"/documents/{quote(top['doc_id'], safe='')}")
    assert document.status_code == 200, document.text
    assert document.json()["doc_id"] == top["doc_id"] and top["chunk_id"] in {
        c["chunk_id"] for c in document.json()["chunks"]
    }

    entities = server.get("/entities", params={"q": "jellyfish"}).json()["entities"]
    assert entities and all("jellyfish" in e["name"].lower() for e in entities)
    entity_id = entities[0]["entity_id"]
    entity = server.get(f"/entities/{quote(entity_id, safe='')}").json()
    assert entity["entity_id"] == entity_id and entity["mentions"] == entities[0]["mentions"]
    assert entity["facts"] and all(entity_id in (f["subject_id"], f["object_id"]) for f in entity["facts"])
    neighbours = {n["entity_id"] for n in entity["neighbours"]}
    assert neighbours == {
        f["object_id"] if f["subject_id"] == entity_id else f["subject_id"] for f in entity["facts"]
    } - {entity_id}
    con = connect(built_workspace.duckdb_path, read_only=True)
    try:
        by_year = con.execute(
            "SELECT d.year, count(DISTINCT d.doc_id) FROM mentions m JOIN documents d USING (doc_id) WHERE m.entity_id = ? GROUP BY 1 ORDER BY 1",
            [entity_id],
        ).fetchall()
    finally:
        con.close()
    assert [(row["year"], row["documents"]) for row in entity["documents_by_year"]] == by_year


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/ask", {"question": ""}, 422),
        ("POST", "/ask", {"question": "   "}, 422),
        ("POST", "/ask", {"question": "galaxies?", "mode": "telepathy"}, 422),
        ("POST", "/ask", {"question": "galaxies?", "k": 0}, 422),
        ("POST", "/ask", {"question": "galaxies?", "k": 51}, 422),
        ("POST", "/ask", {}, 422),
        ("GET", "/search?q=galaxies&mode=memorag", None, 422),
        ("GET", "/search?q=&mode=dense", None, 422),
        ("GET", "/search?q=galaxies&k=1000", None, 422),
        ("GET", "/documents/no-such-document", None, 404),
        ("GET", "/entities/e:0000000000000000", None, 404),
        ("GET", "/entities?q=", None, 422),
    ],
)
def test_bad_requests_get_a_clear_4xx(server, method, path, body, status):
    reply = server.request(method, path, json=body) if body is not None else server.request(method, path)
    assert reply.status_code == status, reply.text
    assert reply.json()["detail"]
    if status == 404:
        assert "no document" in reply.json()["detail"] or "no entity" in reply.json()["detail"]


@pytest.mark.slow
def test_503_until_built_then_a_newer_snapshot_without_restart(built_workspace, tmp_path):
    workspace = tmp_path / "ws"
    server = Server(workspace, tmp_path, concurrency=2)
    try:
        server.wait_until_up()
        for method, path, body in (
            ("GET", "/health", None),
            ("POST", "/ask", {"question": "galaxies?"}),
            ("GET", "/entities?q=galaxy", None),
        ):
            reply = server.request(method, path, json=body)
            assert reply.status_code == 503, reply.text
            assert "fieldmap run" in reply.json()["detail"]

        staging = tmp_path / "staging"  # appears at once, as a finished run would leave it
        shutil.copytree(built_workspace.workspace, staging)
        staging.rename(workspace)
        before = server.get("/health")
        assert before.status_code == 200 and before.json()["counts"]["documents"] == 20
        new_ids = [
            json.loads(line)["id"]
            for line in (FIXTURES / "arxiv-5-more.jsonl").read_text().splitlines()
            if line.strip()
        ]
        assert server.get(f"/documents/{quote(new_ids[0], safe='')}").status_code == 404

        from pipelines.run import run_pipeline

        settings = make_settings(workspace, Path(built_workspace.corpus[0]), FIXTURES / "arxiv-5-more.jsonl")
        assert run_pipeline(settings).success
        after = server.get("/health").json()
        assert after["counts"]["documents"] == 25 and after["snapshot_stamp"] != before.json()["snapshot_stamp"]
        assert server.get(f"/documents/{quote(new_ids[0], safe='')}").status_code == 200
        for mode in ("bm25", "dense"):  # the new document's full-text index and vectors are searched
            hits = server.get(
                "/search", params={"q": "receiver control for the Submillimeter Array", "mode": mode, "k": 1}
            ).json()["results"]
            assert [hit["doc_id"] for hit in hits] == [new_ids[0]], mode
    finally:
        server.stop()
