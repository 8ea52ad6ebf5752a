"""Query-time LLM calls are cached in the workspace and counted in `fieldmap status`."""

import shutil

from fieldmap.llm_cache import QUERY_CACHE, llm_status
from fieldmap.store import connect
from rag.engine import QueryEngine
from tests.conftest import make_settings
from tests.llm.fault_server import FaultServer


def test_an_answer_asked_twice_is_paid_for_once_and_counted(built_workspace, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(built_workspace.workspace, workspace)
    server = FaultServer()
    try:
        settings = make_settings(
            workspace,
            *built_workspace.corpus,
            openai_base_url=server.start(),
            llm_model="test-model",
            llm_timeout=2.0,
            llm_max_retries=1,
            llm_backoff_base=0.05,
            llm_examples=0,
        )
        for _ in range(2):
            engine = QueryEngine(settings)
            try:
                engine.ask("What are binary pulsars?", mode="dense", k=3)
            finally:
                engine.close()
        sent = server.count()
    finally:
        server.stop()
    assert (workspace / QUERY_CACHE).exists()
    con = connect(settings.duckdb_path, read_only=True)
    status = llm_status(con)
    con.close()
    assert sent >= 1 and status["query_llm_calls"] == sent  # the second question was answered by the cache
    assert status["query_llm_cache_hits"] >= 1 and status["llm_calls"] == 0  # the pipeline's own figures apart
