"""`fieldmap run` end to end against a real local model: the llama.cpp server with SmolLM2-135M.

The model is weak, so each document and chunk may come out either way; what must hold is that
every one is either done by the LLM and schema-conforming, or listed with the reason it failed,
that tokens are counted, and that a second pass over the same requests pays for none of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from fieldmap.store import connect, delete_document_rows
from schemas import load_schema
from tests.conftest import FIXTURES
from tests.llm.conftest import LOCAL_LLM

pytestmark = pytest.mark.llm
FIELDMAP = [sys.executable, "-m", "app.cli"]  # this checkout's CLI, installed or not
MODEL = LOCAL_LLM["llm_model"]


def _fieldmap(*args: str, cwd: Path, base_url) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "OPENAI_BASE_URL": str(base_url)}
    if os.environ.get("PYTHONPATH"):  # a worktree run on a shared venv: the CLI runs the code under test
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update({f"FIELDMAP_{name.upper()}": str(value) for name, value in LOCAL_LLM.items()})
    return subprocess.run([*FIELDMAP, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def local_run(llama_server, tmp_path_factory):
    """Three abstracts through `fieldmap run` with the LLM configured (after a dry run)."""
    root = tmp_path_factory.mktemp("llm-run")
    shutil.copy(FIXTURES / "llm-3.jsonl", root / "corpus.jsonl")
    args = ("--workspace", str(root / "ws"), "--corpus", str(root / "corpus.jsonl"))
    dry = _fieldmap("run", *args, "--dry-run", cwd=root, base_url=llama_server)
    started = time.monotonic()
    run = _fieldmap("run", *args, cwd=root, base_url=llama_server)
    seconds = time.monotonic() - started
    status = _fieldmap("status", "--workspace", str(root / "ws"), "--json", cwd=root, base_url=llama_server)
    return {"root": root, "args": args, "dry": dry, "run": run, "seconds": seconds, "status": status}


def _unanswered(workspace: Path) -> list[tuple[str, str]]:
    """(step, reason) of every request the server gave no answer to (connection refused, timeout, 5xx)."""
    con = duckdb.connect(str(workspace / "fieldmap.duckdb"), read_only=True)
    rows = con.execute("SELECT step, reason FROM llm_calls WHERE status = 'error' ORDER BY step").fetchall()
    con.close()
    return rows


def test_every_request_was_answered_by_a_live_server(local_run, llama_server):
    """The weak model may answer badly, but it must answer: an unanswered request means the server
    died or hung, which is a failure here, not a fallback to accept."""
    assert local_run["run"].returncode == 0, local_run["run"].stderr[-3000:]
    llama_server.check()
    assert _unanswered(local_run["root"] / "ws") == []


def test_the_server_keeps_the_weights_out_of_amx_and_repack_buffers(local_run, llama_server):
    """tests/llm/llama_server.py turns llama.cpp's extra buffer types off: the weights load into the
    plain CPU buffer, never into AMX (SIGILL on some Intel Xeons) or repacked ones."""
    buffers = llama_server.weight_buffers()
    assert buffers and not buffers & {"AMX", "CPU_REPACK"}, buffers
    assert (
        llama_server.extra_buffer_types_seen() == set()
    )  # not even considered (the plain server names CPU_REPACK here)


def test_dry_run_estimates_before_anything_is_spent(local_run):
    dry = local_run["dry"]
    assert dry.returncode == 0, dry.stderr
    assert f"dry run with {MODEL}" in dry.stdout
    assert (
        "structures: 3 pending, 0 cached, 3 calls" in dry.stdout
        and "triplets: 3 pending, 0 cached, 3 calls" in dry.stdout
    )


def test_every_document_and_chunk_is_done_by_the_llm_or_listed_with_its_reason(local_run):
    run = local_run["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "llm_calls=" in run.stderr  # the assets' metadata as `fieldmap run` prints it
    con = connect(local_run["root"] / "ws" / "fieldmap.duckdb", read_only=True)
    schema = load_schema("science")
    failures = {
        step: n
        for step, n in con.execute(
            "SELECT step, count(*) FROM llm_calls WHERE status <> 'ok' AND final GROUP BY step"
        ).fetchall()
    }

    methods = dict(con.execute("SELECT doc_id, method FROM structures").fetchall())
    assert len(methods) == 3 and set(methods.values()) <= {f"llm:{MODEL}", "offline"}
    assert failures.get("structures", 0) == sum(
        m == "offline" for m in methods.values()
    )  # each fallback has its reason
    for doc_id, n_sentences in con.execute("SELECT doc_id, count(*) FROM sentences GROUP BY doc_id").fetchall():
        tops = con.execute(
            "SELECT sent_start, sent_end FROM aspects WHERE doc_id = ? AND parent_index IS NULL ORDER BY sent_start",
            [doc_id],
        ).fetchall()
        assert tops[0][0] == 0 and tops[-1][1] == n_sentences and all(a[1] == b[0] for a, b in zip(tops, tops[1:]))

    outcomes = con.execute("SELECT chunk_id, status, reason, method FROM extractions").fetchall()
    assert len(outcomes) == con.execute("SELECT count(*) FROM chunks").fetchall()[0][0]
    # a chunk the LLM failed on is extracted by spaCy instead ("fallback", with the LLM's reason) or listed as failed
    assert all(method == f"llm:{MODEL}" for _, status, _, method in outcomes if status == "ok")
    failed = [(chunk, reason, method) for chunk, status, reason, method in outcomes if status in ("failed", "fallback")]
    assert all(reason and ":" in reason for _, reason, _ in failed)
    assert all(method == "spacy" for chunk, status, _, method in outcomes if status == "fallback")
    assert failures.get("triplets", 0) >= len(failed)  # each one's final failed call is logged (a re-run asks again)
    by_llm = {chunk for chunk, status, _, _ in outcomes if status == "ok"}
    for chunk, text, start, end, doc_text, mention_type, origin in con.execute(
        "SELECT m.chunk_id, m.text, m.start_char, m.end_char, d.text, m.type, m.origin FROM mentions m JOIN documents d USING (doc_id)"
    ).fetchall():
        assert (
            doc_text[start:end] == text and mention_type in schema.type_names and (origin == "llm") == (chunk in by_llm)
        )
    relations = {r.name for r in schema.relation_types}
    assert all(r in relations for (r,) in con.execute("SELECT DISTINCT relation FROM triplets").fetchall())
    ok_chunks = [chunk for chunk, status, _, _ in outcomes if status == "ok"]
    if ok_chunks:  # an ok chunk is never an empty one
        with_mentions = {c for (c,) in con.execute("SELECT DISTINCT chunk_id FROM mentions").fetchall()}
        assert set(ok_chunks) <= with_mentions
    con.close()


def test_status_shows_calls_tokens_and_failures_by_reason(local_run):
    status = json.loads(local_run["status"].stdout)
    assert status["llm_calls"] >= 6 and status["llm_cache_hits"] == 0
    assert status["llm_prompt_tokens"] > 1000 and status["llm_completion_tokens"] > 50
    assert status["llm_cost_usd"] == 0.0  # a local model
    assert all(
        re.fullmatch(r"[a-z_]+: [a-z_0-9]+", key) and n > 0 for key, n in status["llm_failures"].items()
    )  # "<step>: <kind>"
    assert not any(
        key.split(": ")[1] in {"connection", "timeout", "server_error", "bad_response"}
        for key in status["llm_failures"]
    )
    con = duckdb.connect(str(local_run["root"] / "ws" / "fieldmap.duckdb"), read_only=True)
    paid = con.execute(
        "SELECT count(*) FROM llm_calls WHERE NOT cached AND status <> 'error' AND prompt_tokens = 0"
    ).fetchall()[0][0]
    con.close()
    assert paid == 0  # every answered request has its token counts


def test_the_same_requests_again_are_answered_from_the_cache(local_run, llama_server):
    """Every document replaced by itself (as after `--corpus` edits): all rows go, every request
    is asked again, and the cache answers each one that had a valid answer (an invalid one is never
    cached: the server is asked again, so a reply that failed once cannot fail every run after)."""
    root, first = local_run["root"], json.loads(local_run["status"].stdout)
    con = connect(root / "ws" / "fieldmap.duckdb")
    doc_ids = [d for (d,) in con.execute("SELECT doc_id FROM documents").fetchall()]
    mentions_before = con.execute("SELECT count(*) FROM mentions").fetchall()[0][0]
    cached_keys = {k for (k,) in con.execute("SELECT cache_key FROM llm_cache").fetchall()}
    first_run_ended = con.execute("SELECT max(called_at) FROM llm_calls").fetchall()[0][0]
    delete_document_rows(con, doc_ids)
    con.close()
    assert _unanswered(root / "ws") == []  # every first request had an answer
    again = _fieldmap("run", *local_run["args"], cwd=root, base_url=llama_server)
    assert again.returncode == 0, again.stderr[-3000:]
    status = json.loads(
        _fieldmap("status", "--workspace", str(root / "ws"), "--json", cwd=root, base_url=llama_server).stdout
    )
    con = duckdb.connect(str(root / "ws" / "fieldmap.duckdb"), read_only=True)
    rerun = con.execute("SELECT cache_key, cached FROM llm_calls WHERE called_at > ?", [first_run_ended]).fetchall()
    con.close()
    assert rerun and all(
        cached == (key in cached_keys) for key, cached in rerun
    )  # answered from the cache exactly when it held a valid reply
    assert status["llm_cache_hits"] == sum(cached for _, cached in rerun) > 0
    assert status["llm_calls"] - first["llm_calls"] == sum(
        not cached for _, cached in rerun
    )  # only the invalid ones were asked again
    assert status["mentions"] == mentions_before


def test_memorag_with_the_llm_gives_clues_and_an_answer_citing_retrieved_passages(local_run, llama_server):
    root = local_run["root"]
    ask = _fieldmap(
        "ask",
        "--workspace",
        str(root / "ws"),
        "--json",
        "--mode",
        "memorag",
        "What do rotation curves reveal about the mass of spiral galaxies?",
        cwd=root,
        base_url=llama_server,
    )
    assert ask.returncode == 0, ask.stderr[-3000:]
    answer = json.loads(ask.stdout)
    assert answer["mode"] == "memorag" and answer["passages"] and "clues" in answer["timings_ms"]
    assert all(len(clue.split()) > 3 for clue in answer["clues"])
    if answer["method"] == f"llm:{MODEL}":  # the model answered: its tokens are counted, a bad citation is flagged
        assert answer["tokens"]["prompt"] > 0
        assert all(
            flag.startswith(("citation ", "claim ", "the answer cites no passage")) for flag in answer["flags"]
        ), answer["flags"]
    else:  # the model answered but its answer failed validation: the reason is shown and the offline reader's answer stands in
        assert answer["method"] == "reader" and any(
            flag.startswith("LLM answer failed: invalid_output") for flag in answer["flags"]
        ), answer["flags"]
        assert answer["citations"]
    assert {c["chunk_id"] for c in answer["citations"]} <= {p["chunk_id"] for p in answer["passages"]}
    con = duckdb.connect(str(root / "ws" / "fieldmap.duckdb"), read_only=True)
    stored = {cid for (cid,) in con.execute("SELECT chunk_id FROM chunks").fetchall()}
    gists = dict(con.execute("SELECT method, count(*) FROM gists GROUP BY method").fetchall())
    con.close()
    assert {p["chunk_id"] for p in answer["passages"]} <= stored
    assert sum(gists.values()) == 3 and set(gists) <= {
        f"llm:{MODEL}",
        "offline",
    }  # a gist per document, by the LLM or its fallback
