"""`fieldmap` end to end through its console script, as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FIXTURES, build_here

FIELDMAP = [sys.executable, "-m", "app.cli"]  # this checkout's CLI, installed or not


def _env(cwd: Path, **extra: str) -> dict[str, str]:
    """A clean environment (no developer's FIELDMAP_*/OPENAI_*); PYTHONPATH kept, so a worktree tests its own code."""
    kept = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return {"PATH": "/usr/bin:/bin", "HOME": str(cwd), **kept, **extra}


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        FIELDMAP + list(args), cwd=cwd, capture_output=True, text=True, timeout=600, env=_env(cwd, **env)
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    """The command failed and said why in exactly one line on stderr."""
    assert result.returncode != 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_run_then_ask_status_and_dashboard(tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURES / "arxiv-20.jsonl", corpus)
    with open(corpus, "ab") as handle:
        handle.write(b'{"id": "broken", "text": \n')  # a malformed line must be listed, not fatal
    workspace = tmp_path / "ws"

    run = _run("run", "--workspace", str(workspace), "--corpus", str(corpus), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "corpus.jsonl:21" in run.stderr and "malformed JSON" in run.stderr

    ask = _run(
        "ask",
        "--workspace",
        str(workspace),
        "--json",
        "Can storage rings detect a relic gravitational-wave background?",
        cwd=tmp_path,
    )
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
        [sys.executable, "-c", HOLD_WRITER, str(workspace / "fieldmap.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert holder.stdout.readline().strip() == "holding the write lock"
        busy = _one_error_line(_run("run", "--workspace", str(workspace), cwd=tmp_path))
        assert f"another process (process {holder.pid}) is writing {workspace / 'fieldmap.duckdb'}" in busy
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
    build_here(tmp_path / "ws", corpus)  # delete, status and the second run through the console script
    deleted = _run("delete", "--workspace", workspace, "http://arxiv.org/abs/x1", cwd=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted: http://arxiv.org/abs/x1" in deleted.stdout
    counts = json.loads(_run("status", "--workspace", workspace, "--json", cwd=tmp_path).stdout)
    assert counts["documents"] == 1 and counts["vectors"] == counts["chunks"] == 1
    again = _run("run", "--workspace", workspace, cwd=tmp_path)  # the workspace remembers its corpus; x1 stays deleted
    assert (
        again.returncode == 0
        and json.loads(_run("status", "--workspace", workspace, "--json", cwd=tmp_path).stdout)["documents"] == 1
    )


def test_an_unknown_variable_or_a_missing_config_is_one_line_and_debug_shows_the_traceback(tmp_path: Path):
    typo = _one_error_line(_run("status", "--workspace", str(tmp_path / "ws"), cwd=tmp_path, FIELDMAP_CHUNK_SIZ="50"))
    assert typo == "error: unknown environment variable FIELDMAP_CHUNK_SIZ; did you mean FIELDMAP_CHUNK_SIZE?"
    missing = _one_error_line(
        _run("run", "--workspace", str(tmp_path / "ws"), "--config", str(tmp_path / "missing.toml"), cwd=tmp_path)
    )
    assert missing == f"error: config file {tmp_path / 'missing.toml'} does not exist"
    (tmp_path / "fieldmap.toml").write_text("[fieldmap]\nchunk_sise = 50\n")  # ./fieldmap.toml is read when present
    key = _one_error_line(_run("status", cwd=tmp_path))
    assert key == "error: unknown setting 'chunk_sise' in fieldmap.toml; did you mean 'chunk_size'?"
    (tmp_path / "fieldmap.toml").unlink()
    debug = _run("--debug", "status", "--workspace", str(tmp_path / "ws"), cwd=tmp_path, FIELDMAP_CHUNK_SIZ="50")
    assert (
        debug.returncode == 2
        and "Traceback (most recent call last)" in debug.stderr
        and debug.stderr.strip().endswith("did you mean FIELDMAP_CHUNK_SIZE?")
    )
    assert not (tmp_path / "ws").exists()


def test_run_honours_config_and_a_concurrent_second_run_is_one_line(tmp_path: Path):
    from corpus.chunking import chunk_document
    from corpus.models import Document

    corpus = tmp_path / "corpus.jsonl"
    records = [json.loads(line) for line in (FIXTURES / "arxiv-20.jsonl").read_text().splitlines()[:3]]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = tmp_path / "small-chunks.toml"
    config.write_text("[fieldmap]\nchunk_size = 50\n")
    workspace = tmp_path / "ws"
    first = subprocess.Popen(
        FIELDMAP + ["run", "--workspace", str(workspace), "--corpus", str(corpus), "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        lock = workspace / "run.lock"
        while first.poll() is None and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.1)
        second = _one_error_line(_run("run", "--workspace", str(workspace), "--corpus", str(corpus), cwd=tmp_path))
        assert f"another `fieldmap run` (process {first.pid}) holds the workspace {workspace}" in second
        _, stderr = first.communicate(timeout=900)
    finally:
        first.kill()
    assert first.returncode == 0, stderr

    from fieldmap.store import connect

    reader = connect(workspace / "fieldmap.duckdb", read_only=True)
    documents = [
        Document(*row, str(corpus)) for row in reader.execute("SELECT doc_id, title, text FROM documents").fetchall()
    ]
    reader.close()
    assert len(documents) == 3
    with_50 = sum(len(chunk_document(d, 50, 1)[1]) for d in documents)
    assert with_50 > sum(len(chunk_document(d, 200, 1)[1]) for d in documents)
    counts = json.loads(_run("status", "--workspace", str(workspace), "--json", cwd=tmp_path).stdout)
    assert counts["chunks"] == counts["vectors"] == with_50


def _copy_workspace(settings, tmp_path: Path) -> Path:
    """A copy of the session's built workspace (mtimes kept: the snapshot stays newer than the database)."""
    return Path(shutil.copytree(settings.workspace, tmp_path / "ws"))


def test_a_truncated_database_is_one_line_with_the_way_out_in_every_command(built_workspace, tmp_path: Path):
    workspace = _copy_workspace(built_workspace, tmp_path)
    database = workspace / "fieldmap.duckdb"
    os.truncate(database, database.stat().st_size // 2)
    # readers answer from the published snapshot, which is whole; the run that would write the file says it is damaged
    status = _run("status", "--workspace", str(workspace), "--json", cwd=tmp_path)
    assert status.returncode == 0 and json.loads(status.stdout)["documents"] == 20, status.stderr
    run = _run("run", "--workspace", str(workspace), cwd=tmp_path)
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert run.returncode != 0 and len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "the database is damaged" in errors[0] and f"delete the workspace {workspace}" in errors[0], errors[0]


def test_a_corrupt_snapshot_is_one_line_and_a_run_publishes_it_again(built_workspace, tmp_path: Path):
    workspace = _copy_workspace(built_workspace, tmp_path)
    snapshot = workspace / "fieldmap.snapshot.duckdb"
    with open(snapshot, "r+b") as handle:  # same size, different bytes near the end
        handle.seek(snapshot.stat().st_size - 5000)
        handle.write(b"\xff" * 100)
    for command in (["status"], ["ask", "What are binary pulsars?"], ["dashboard"]):
        line = _one_error_line(_run(*command, "--workspace", str(workspace), cwd=tmp_path))
        assert f"snapshot {snapshot} is damaged (its content differs from what was published)" in line, command
        assert "run `fieldmap run` to publish the snapshot again" in line
    again = _run("run", "--workspace", str(workspace), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "republished the damaged snapshot" in again.stderr
    status = _run("status", "--workspace", str(workspace), "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["documents"] == 20


def test_a_changed_indexing_setting_is_reported_before_the_run(built_workspace, tmp_path: Path):
    workspace = _copy_workspace(built_workspace, tmp_path)
    dry = _run(
        "run",
        "--dry-run",
        "--workspace",
        str(workspace),
        cwd=tmp_path,
        FIELDMAP_CHUNK_SIZE="50",
        FIELDMAP_SCHEMA_NAME="general",
    )
    assert dry.returncode == 0, dry.stderr
    assert "changed chunk_size is 50 now; the 20 stored documents were indexed with 200" in dry.stderr
    assert "changed schema is general (" in dry.stderr
    same = _run("run", "--dry-run", "--workspace", str(workspace), cwd=tmp_path)
    assert same.returncode == 0 and "changed" not in same.stderr


def test_k_out_of_range_and_a_file_as_workspace_are_one_sentence_each(tmp_path: Path):
    for k in ("0", "-1", "1000"):
        line = _one_error_line(_run("ask", "--workspace", str(tmp_path / "ws"), "-k", k, "galaxies?", cwd=tmp_path))
        assert line == f"error: -k must be a whole number from 1 to 50, got {k}", line  # what the API and MCP accept
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("not a workspace")
    line = _one_error_line(
        _run("run", "--workspace", str(not_a_folder), "--corpus", str(FIXTURES / "arxiv-5-more.jsonl"), cwd=tmp_path)
    )
    assert (
        line
        == f"error: the workspace {not_a_folder} is a file, not a folder: name a folder (it is created when missing)."
    ), line
    assert "Errno" not in line
