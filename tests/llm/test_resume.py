"""A run killed during extraction and started again pays for no request that had succeeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fieldmap.store import connect
from tests.llm.conftest import fault_settings, prepared_workspace, write_corpus

REPO = Path(__file__).resolve().parents[2]


def _worker(workspace: Path, corpus: Path, base_url: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.llm.extract_worker", str(workspace), str(corpus), base_url]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_during_extraction_then_resume_repeats_no_successful_call(tmp_path, fault_server):
    texts = {f"doc-{n}": f"The telescope observes galaxies of kind {n}. They are bright." for n in range(6)}
    corpus = write_corpus(tmp_path / "corpus.jsonl", texts)
    settings = fault_settings(tmp_path / "ws", fault_server.base_url, corpus)
    prepared_workspace(settings).close()
    fault_server.latency = 0.3  # slow enough to kill mid-run

    first = _worker(settings.workspace, corpus, fault_server.base_url)
    deadline = time.monotonic() + 60
    while fault_server.count() < 3:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the worker made no calls"
        time.sleep(0.05)
    time.sleep(0.1)  # let the worker record the third answer
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    con = connect(settings.duckdb_path)
    paid_before_kill = {
        k for (k,) in con.execute("SELECT cache_key FROM llm_calls WHERE NOT cached AND status = 'ok'").fetchall()
    }
    assert con.execute("SELECT count(*) FROM extractions").fetchall() == [(0,)]  # the batch never committed
    con.close()
    assert len(paid_before_kill) >= 2
    answered_before = fault_server.count()

    second = _worker(settings.workspace, corpus, fault_server.base_url)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "extracted 6 failed 0" in out

    con = connect(settings.duckdb_path)
    repeated = con.execute(
        "SELECT cache_key FROM llm_calls WHERE NOT cached AND status = 'ok' GROUP BY cache_key HAVING count(*) > 1"
    ).fetchall()
    assert repeated == []  # no successful request was paid for twice
    cached = {k for (k,) in con.execute("SELECT cache_key FROM llm_calls WHERE cached").fetchall()}
    assert cached == paid_before_kill  # the resumed run took exactly those from the cache
    assert con.execute("SELECT status, count(*) FROM extractions GROUP BY status").fetchall() == [("ok", 6)]
    assert con.execute("SELECT count(*), count(DISTINCT mention_id) FROM mentions").fetchall()[0] == (
        12,
        12,
    )  # telescope, galaxies
    con.close()
    # the server answered the remaining chunks only (plus at most the request the kill interrupted)
    assert fault_server.count() - answered_before <= 6 - len(paid_before_kill) + 1
    assert "cached" in err  # the worker logs cache hits, never the key
