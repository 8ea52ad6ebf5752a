"""`fieldmap` end to end through its console script, as a user runs it."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES

FIELDMAP = [str(Path(sys.executable).parent / "fieldmap")]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(FIELDMAP + list(args), cwd=cwd, capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_run_then_ask_status_and_dashboard(tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    with open(corpus, "ab") as handle:
        handle.write(b'{"id": "broken", "text": \n')  # a malformed line must be listed, not fatal
    workspace = tmp_path / "ws"

    run = _run("run", "--workspace", str(workspace), "--corpus", str(corpus), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "corpus.jsonl:21" in run.stderr and "malformed JSON" in run.stderr

    ask = _run("ask", "--workspace", str(workspace), "--json", "Can storage rings detect a relic gravitational-wave background?", cwd=tmp_path)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert set(answer) >= {"question", "answer", "citations", "passages"}
    assert answer["passages"][0]["doc_id"] == "http://arxiv.org/abs/gr-qc/0210091v7"
    assert set(answer["passages"][0]) >= {"doc_id", "chunk_id", "title", "score", "text"}
    assert answer["citations"] and set(answer["citations"][0]) >= {"doc_id", "chunk_id", "title"}
    assert {c["chunk_id"] for c in answer["citations"]} <= {p["chunk_id"] for p in answer["passages"]}

    status = _run("status", "--workspace", str(workspace), "--json", cwd=tmp_path)
    counts = json.loads(status.stdout)
    assert counts["documents"] == 20 and counts["skipped"] == 1
    assert counts["vectors"] == counts["chunks"] > 0
    assert all(counts[k] > 0 for k in ("entities", "mentions", "triplets"))

    dashboard = _run("dashboard", "--workspace", str(workspace), cwd=tmp_path)
    assert dashboard.returncode == 0, dashboard.stderr
    assert Path(dashboard.stdout.strip()).is_file()

    human = _run("ask", "--workspace", str(workspace), "What are binary pulsars?", cwd=tmp_path)
    assert human.returncode == 0 and human.stdout.startswith("Q: What are binary pulsars?") and "[1]" in human.stdout

    _readers_and_the_writer_do_not_block_each_other(workspace, counts, tmp_path)


def _readers_and_the_writer_do_not_block_each_other(workspace: Path, counts: dict, tmp_path: Path) -> None:
    # a writer in another process holds DuckDB's lock mid-transaction: readers still answer, from the last snapshot
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(workspace / "fieldmap.duckdb")], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert holder.stdout.readline().strip() == "holding the write lock"
        status = _run("status", "--workspace", str(workspace), "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["documents"] == counts["documents"]  # the half-done delete is not seen
        ask = _run("ask", "--workspace", str(workspace), "--json", "What are binary pulsars?", cwd=tmp_path)
        assert ask.returncode == 0, ask.stderr
        assert json.loads(ask.stdout)["citations"]
    finally:
        holder.kill()
        holder.wait()
    # and a reader held open here does not stop a run in another process
    from fieldmap.store import connect

    reader = connect(workspace / "fieldmap.duckdb", read_only=True)
    try:
        again = _run("run", "--workspace", str(workspace), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert reader.execute("SELECT count(*) FROM documents").fetchall() == [(counts["documents"],)]
    finally:
        reader.close()


HOLD_WRITER = """
import sys, time
from fieldmap.store import connect
con = connect(sys.argv[1])
con.execute("BEGIN TRANSACTION")
con.execute("DELETE FROM documents")
print("holding the write lock", flush=True)
time.sleep(300)
"""


def test_asking_an_empty_workspace_is_a_clear_error(tmp_path: Path):
    result = _run("ask", "--workspace", str(tmp_path / "nothing"), "anything?", cwd=tmp_path)
    assert result.returncode == 2
    assert "run `fieldmap run` first" in result.stderr


def test_delete_by_source_id_removes_the_document_everywhere(tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        '{"id": "http://arxiv.org/abs/x1", "title": "Crab", "text": "The Chandra telescope observed the Crab Nebula. The Crab Nebula hosts a pulsar."}\n'
        '{"id": "http://arxiv.org/abs/x2", "title": "Radio", "text": "Radio emission from the Crab Nebula was mapped by the Very Large Array."}\n'
    )
    workspace = str(tmp_path / "ws")
    assert _run("run", "--workspace", workspace, "--corpus", str(corpus), cwd=tmp_path).returncode == 0
    deleted = _run("delete", "--workspace", workspace, "http://arxiv.org/abs/x1", cwd=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted: http://arxiv.org/abs/x1" in deleted.stdout
    counts = json.loads(_run("status", "--workspace", workspace, "--json", cwd=tmp_path).stdout)
    assert counts["documents"] == 1 and counts["vectors"] == counts["chunks"] == 1
    again = _run("run", "--workspace", workspace, cwd=tmp_path)  # the workspace remembers its corpus; x1 stays deleted
    assert again.returncode == 0 and json.loads(_run("status", "--workspace", workspace, "--json", cwd=tmp_path).stdout)["documents"] == 1
