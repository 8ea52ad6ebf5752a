"""The entry point's whole Settings reach every asset; the API key reaches the LLM calls and nothing Dagster stores."""

import json
import os
from pathlib import Path

import dagster as dg
from dagster._serdes import serialize_value

import fieldmap
from corpus.chunking import chunk_document
from corpus.models import Document
from fieldmap.store import connect
from pipelines.run import run_pipeline
from tests.conftest import FIXTURES, make_settings
from tests.llm.fault_server import FaultServer, _Handler

KEY = "sk-robust-test-0123456789abcdef"


def _corpus(tmp_path: Path, n: int = 2) -> Path:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(line + "\n" for line in (FIXTURES / "arxiv-20.jsonl").read_text().splitlines()[:n]))
    return corpus


def _stored_documents(workspace: Path) -> list[Document]:
    con = connect(workspace / "fieldmap.duckdb", read_only=True)
    try:
        return [
            Document(*row, "")
            for row in con.execute("SELECT doc_id, title, text FROM documents ORDER BY doc_id").fetchall()
        ]
    finally:
        con.close()


def _chunk_count(workspace: Path) -> int:
    con = connect(workspace / "fieldmap.duckdb", read_only=True)
    try:
        return con.execute("SELECT count(*) FROM chunks").fetchall()[0][0]
    finally:
        con.close()


def test_overrides_given_to_the_api_reach_the_assets(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./fieldmap.toml, no developer's variables
    for name in [n for n in os.environ if n.startswith(("FIELDMAP_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    workspace = fieldmap.open(tmp_path / "ws", corpus=[str(_corpus(tmp_path))], chunk_size=40)
    metadata = workspace.build()
    documents = _stored_documents(tmp_path / "ws")
    expected = sum(len(chunk_document(d, 40, 1)[1]) for d in documents)
    assert expected > sum(len(chunk_document(d, 200, 1)[1]) for d in documents)
    assert metadata["chunks"]["chunks_total"] == _chunk_count(tmp_path / "ws") == expected


class _KeyRecorder(_Handler):
    def do_POST(self) -> None:
        self.fault.authorizations.append(self.headers.get("Authorization"))
        super().do_POST()


def test_the_api_key_reaches_the_llm_calls_but_no_dagster_record(tmp_path: Path):
    server = FaultServer()
    base_url = server.start()
    server.authorizations = []
    server._httpd.RequestHandlerClass = type("Handler", (_KeyRecorder,), {"fault": server})
    home = tmp_path / "dagster"
    home.mkdir()
    try:
        settings = make_settings(
            tmp_path / "ws",
            _corpus(tmp_path),
            openai_base_url=base_url,
            openai_api_key=KEY,
            llm_model="test-model",
            llm_timeout=5.0,
            llm_max_retries=1,
            llm_backoff_base=0.05,
            llm_examples=0,
            chunk_size=120,
        )
        with dg.DagsterInstance.local_temp(str(home)) as instance:
            result = run_pipeline(settings, instance=instance)
            assert result.success
            run = instance.get_run_by_id(result.run_id)
            stored = [
                serialize_value(run),
                serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
                serialize_value(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)),
            ]
            stored += [
                serialize_value(r.event_log_entry)
                for r in instance.get_records_for_run(result.run_id, limit=100_000).records
            ]
    finally:
        server.stop()
    assert server.authorizations and set(server.authorizations) == {
        f"Bearer {KEY}"
    }  # the key reached the assets' LLM calls
    everything = "\n".join(stored)
    assert '\\"chunk_size\\": 120' in everything or '"chunk_size":120' in everything.replace(
        "\\", ""
    )  # the settings are in Dagster's records
    assert KEY not in everything
    for path in [*home.rglob("*"), *(tmp_path / "ws").rglob("*")]:  # nor in any file the run wrote
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
    assert json.loads(settings.serialised())["chunk_size"] == 120 and KEY not in settings.serialised()
