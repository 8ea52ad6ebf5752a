"""An LLM outage, then recovery: the run says so and fails, spaCy stands in, the LLM redoes it later."""

import json
import socket

import pytest

from fieldmap.store import connect
from pipelines.run import asset_metadata, check_results, run_pipeline
from tests.conftest import make_settings
from tests.llm.fault_server import FaultServer

TEXTS = {
    "a": "The telescope observed distant galaxies. The galaxies host bright quasars.",
    "b": "A radio telescope mapped nearby galaxies. Their hydrogen traces dark matter.",
}
FAST = {
    "llm_model": "test-model",
    "llm_timeout": 0.5,
    "llm_max_retries": 1,
    "llm_backoff_base": 0.05,
    "llm_backoff_max": 0.2,
    "llm_concurrency": 2,
    "llm_examples": 0,
}


def _nothing_listens() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # closed again: connections are refused


def _settings(monkeypatch, workspace, corpus, base_url):
    # the same values in the environment and the settings object, whichever the pipeline's resource reads
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    for key, value in FAST.items():
        monkeypatch.setenv(f"FIELDMAP_{key.upper()}", str(value))
    return make_settings(workspace, corpus, openai_base_url=base_url, **FAST)


def _extractions(settings):
    con = connect(settings.duckdb_path, read_only=True)
    try:
        rows = con.execute("SELECT status, method, count(*) FROM extractions GROUP BY ALL ORDER BY ALL").fetchall()
        entities = con.execute("SELECT count(*) FROM entities").fetchall()[0][0]
    finally:
        con.close()
    return rows, entities


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": k, "title": f"Doc {k}", "text": v}) + "\n" for k, v in TEXTS.items()))
    return path


def test_an_outage_fails_the_run_with_offline_rows_then_the_llm_redoes_them(tmp_path, corpus, monkeypatch):
    settings = _settings(monkeypatch, tmp_path / "ws", corpus, _nothing_listens())
    down = run_pipeline(settings)
    assert not down.success  # every LLM request failed: the run says so and exits non-zero
    assert check_results(down)["llm_answered"] is False
    triplets = asset_metadata(down)["triplets"]
    assert triplets["failed"] == triplets["chunks_extracted"] == triplets["fallback_offline"] == 2
    rows, entities = _extractions(settings)
    assert rows == [("fallback", "spacy", 2)] and entities > 0  # the graph is not left empty
    assert asset_metadata(down)["graph"]["entities"] == entities

    server = FaultServer()
    try:
        settings = _settings(monkeypatch, tmp_path / "ws", corpus, server.start())
        up = run_pipeline(settings)
    finally:
        server.stop()
    assert up.success and check_results(up)["llm_answered"] is True
    assert asset_metadata(up)["triplets"]["retried"] == 2
    rows, _ = _extractions(settings)
    assert rows == [("ok", "llm:test-model", 2)]
