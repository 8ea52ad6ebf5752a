"""The LLM client against a misbehaving OpenAI-compatible server on loopback: timeouts, 429 with
Retry-After, 500s, malformed content, broken bodies. Real DuckDB, real HTTP, real openai client."""

from __future__ import annotations

import json
import logging
import time

from corpus.llm_structurize import LLMStructurizer
from corpus.steps import structure_pending
from fieldmap.llm import LLMClient, request_key_for
from fieldmap.llm_cache import llm_status
from kg.llm_extract import LLMExtractor
from kg.steps import extract_pending
from kg.store import pending_chunks, retry_failed
from pipelines.llm_estimate import estimate_run
from schemas import load_schema
from tests.llm.conftest import fault_settings, prepared_workspace, write_corpus

SENTENCE = "The telescope observes distant galaxies in the infrared."
FAULTS = ["TIMEOUTONCE", "RATELIMITONCE", "TRUNCATEDONCE", "BADBODYONCE", "BADJSONONCE", "SERVERERROR", "BADJSONALWAYS"]


def _corpus(tmp_path, markers):
    texts = {
        f"doc-{m.lower()}": f"{SENTENCE} This record carries {m} as its cue. Galaxies are bright." for m in markers
    }
    texts["doc-plain"] = f"{SENTENCE} Nothing odd happens here. Galaxies are bright."
    return write_corpus(tmp_path / "corpus.jsonl", texts)


def _extractor(settings, con, schema=None):
    schema = schema or load_schema("science")
    return LLMExtractor(schema, LLMClient(settings, con, "triplets"), examples=[])


def test_every_chunk_is_extracted_or_failed_with_its_reason_and_nothing_twice(tmp_path, fault_server):
    # three chunks' one-off faults can come in a row across the concurrent calls: the breaker (tests/llm/test_guard.py)
    # would open on them, and this test is about each chunk's own retries
    settings = fault_settings(
        tmp_path / "ws", fault_server.base_url, _corpus(tmp_path, FAULTS), llm_breaker_failures=100
    )
    con = prepared_workspace(settings)
    chunks = {c.doc_id: c for c in pending_chunks(con)}
    extractor = _extractor(settings, con)
    started = time.monotonic()
    report = extract_pending(con, extractor)
    assert time.monotonic() - started < 30

    rows = dict(
        (doc, (status, reason))
        for doc, status, reason in con.execute("SELECT doc_id, status, reason FROM extractions").fetchall()
    )
    assert set(rows) == set(chunks)  # every chunk has its row: extracted or failed
    failed = {doc: reason for doc, (status, reason) in rows.items() if status == "failed"}
    assert set(failed) == {"doc-servererror", "doc-badjsonalways"}
    assert (
        failed["doc-servererror"].startswith("server_error: HTTP 500")
        and "after 3 attempts" in failed["doc-servererror"]
    )
    assert failed["doc-badjsonalways"].startswith("invalid_output:")
    assert report.failed == 2 and report.chunks == len(chunks)

    # each recovered fault cost exactly the retries or the repair it needed
    def calls_for(doc_id):
        key = request_key_for(settings, extractor.messages(chunks[doc_id]), extractor.model)
        return con.execute("SELECT status, attempts, final FROM llm_calls WHERE cache_key = ?", [key]).fetchall()

    for doc in ("doc-timeoutonce", "doc-ratelimitonce", "doc-truncatedonce", "doc-badbodyonce"):
        assert calls_for(doc) == [("ok", 2, True)], doc
    assert calls_for("doc-plain") == [("ok", 1, True)]
    assert calls_for("doc-badjsononce") == [("invalid", 1, False)]  # the repair request has its own key
    assert calls_for("doc-servererror") == [("error", 3, True)]
    statuses = con.execute("SELECT status, final, count(*) FROM llm_calls GROUP BY ALL ORDER BY ALL").fetchall()
    assert statuses == [("error", True, 1), ("invalid", False, 2), ("invalid", True, 1), ("ok", True, 6)]

    # Retry-After: 1 was honoured although the backoff would have waited 0.05 s
    times = [r.at for r in fault_server.received if r.marker == "RATELIMITONCE"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95

    # the ok chunks hold the aligned mentions once; "unicorns" is not in the text: dropped and counted
    per_chunk = con.execute(
        "SELECT chunk_id, count(*), count(DISTINCT (start_char, end_char)) FROM mentions GROUP BY chunk_id"
    ).fetchall()
    assert len(per_chunk) == 6 and all(
        n == distinct == 3 for _, n, distinct in per_chunk
    )  # telescope, galaxies, Galaxies
    assert extractor.spans_dropped == 6 and extractor.triplets_dropped == 0
    assert con.execute(
        "SELECT count(*), count(DISTINCT (chunk_id, subject_id, relation, object_id)) FROM triplets"
    ).fetchall() == [(6, 6)]
    metadata = extractor.metadata()
    assert metadata["llm_failures"] == {"invalid_output": 1, "server_error": 1}
    assert metadata["failed_chunks_by_reason"] == {"invalid_output": 1, "server_error": 1}
    assert metadata["llm_retries"] == 4 + 2 and metadata["llm_calls"] == 10 and metadata["llm_cache_hits"] == 0

    # only valid replies are cached: the 6 answers, and BADJSONONCE's repaired one under its first request's key too
    cached = [content for (content,) in con.execute("SELECT content FROM llm_cache").fetchall()]
    assert len(cached) == 7 and not any(content.startswith("Sure!") for content in cached)

    # the next run takes up the failed chunks only, and asks the server again for both: an invalid answer is
    # never replayed from the cache (BADJSONALWAYS: its answer and its repair), nor a 500 (SERVERERROR)
    before = fault_server.count()
    assert retry_failed(con) == 2
    again = _extractor(settings, con)
    report = extract_pending(con, again)
    assert report.chunks == report.retried == 2
    assert again.client.usage.cache_hits == 0
    # BADJSONALWAYS 2 requests; SERVERERROR three attempts, each followed by a json_object probe until this fresh client
    # has seen the server accept json_schema (BADJSONALWAYS' answer, which may come first)
    assert 2 + 3 <= fault_server.count() - before <= 2 + 6
    status = llm_status(con)
    assert status["llm_failures"] == {"triplets: invalid_output": 2, "triplets: server_error": 2}
    assert status["llm_cache_hits"] == 0 and status["llm_calls"] == 13
    con.close()


def test_json_schema_rejected_once_then_json_object_for_the_rest(tmp_path, fault_server):
    fault_server.reject_json_schema = True
    texts = {f"doc-{n}": f"{SENTENCE} Record number {n}." for n in range(4)}
    settings = fault_settings(
        tmp_path / "ws", fault_server.base_url, write_corpus(tmp_path / "four.jsonl", texts), llm_concurrency=1
    )
    con = prepared_workspace(settings)
    report = extract_pending(con, _extractor(settings, con))
    assert report.failed == 0 and report.chunks == 4
    formats = [r.format for r in fault_server.received]
    assert formats == ["json_schema", "json_object", "json_object", "json_object", "json_object"]
    con.close()


def test_structures_retry_coverage_once_then_fall_back_offline(tmp_path, fault_server):
    texts = {
        "doc-ok": "Galaxies are bright. The telescope sees them. We count them.",
        "doc-badcoverageonce": "Galaxies are bright. BADCOVERAGEONCE is here. We count them.",
        "doc-badcoveragealways": "Galaxies are bright. BADCOVERAGEALWAYS is here. We count them.",
        "doc-servererror": "Galaxies are bright. SERVERERROR is here. We count them.",
    }
    settings = fault_settings(tmp_path / "ws", fault_server.base_url, write_corpus(tmp_path / "c.jsonl", texts))
    con = prepared_workspace(settings)
    structurizer = LLMStructurizer(LLMClient(settings, con, "structures"))
    assert structure_pending(con, structurizer=structurizer) == 4
    methods = dict(con.execute("SELECT doc_id, method FROM structures").fetchall())
    assert methods == {
        "doc-ok": "llm:test-model",
        "doc-badcoverageonce": "llm:test-model",
        "doc-badcoveragealways": "offline",
        "doc-servererror": "offline",
    }
    aspects = con.execute("SELECT sent_start, sent_end FROM aspects WHERE doc_id = 'doc-badcoverageonce'").fetchall()
    assert aspects == [(0, 3)]
    assert structurizer.metadata()["structured_offline_after_llm_failure"] == {"invalid_output": 1, "server_error": 1}
    reasons = [r for (r,) in con.execute("SELECT reason FROM llm_calls WHERE status = 'invalid'").fetchall()]
    assert len(reasons) == 3 and all("must cover sentences 1 to 3" in r for r in reasons)
    con.close()


def test_the_api_key_appears_in_no_log_row_reason_or_file(tmp_path, fault_server, caplog):
    secret = "sk-test-Zq81SecretKeyThatMustNotLeak"
    texts = {"doc-keyecho": f"{SENTENCE} KEYECHO.", "doc-servererror": f"{SENTENCE} SERVERERROR."}
    settings = fault_settings(
        tmp_path / "ws", fault_server.base_url, write_corpus(tmp_path / "c.jsonl", texts), openai_api_key=secret
    )
    con = prepared_workspace(settings)
    extractor = _extractor(settings, con)
    with caplog.at_level(logging.DEBUG):
        extract_pending(con, extractor)
    reasons = (
        con.execute("SELECT reason FROM extractions").fetchall()
        + con.execute("SELECT reason FROM llm_calls").fetchall()
    )
    assert any("http_401" in r for (r,) in reasons)  # the server did echo it back
    con.close()
    assert fault_server.count("KEYECHO", 401) == 1
    texts_seen = [caplog.text, repr(reasons), repr(extractor.metadata()), repr(settings), str(settings.public_dict())]
    assert not any(secret in text or secret[8:] in text for text in texts_seen)
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes() and secret[8:].encode() not in path.read_bytes(), path


def test_dry_run_counts_pending_work_and_what_the_cache_already_answers(tmp_path, fault_server):
    settings = fault_settings(tmp_path / "ws", fault_server.base_url, _corpus(tmp_path, []))
    fresh = estimate_run(settings)
    assert not settings.duckdb_path.exists()  # the estimate writes nothing
    structures, triplets, memory = fresh.steps
    assert (structures.items, structures.calls, triplets.items, triplets.calls) == (1, 1, 1, 1)
    assert (memory.step, memory.items, memory.calls) == ("memory", 1, 1) and memory.prompt_tokens > 20  # the gist
    assert triplets.prompt_tokens > 100 and triplets.completion_tokens > 0 and triplets.cost == 0.0
    assert fault_server.count() == 0

    con = prepared_workspace(settings)
    extract_pending(con, _extractor(settings, con))
    con.execute("DELETE FROM extractions")  # as if the run had died before writing its batch
    con.close()
    resumed = estimate_run(settings)
    assert (resumed.steps[1].items, resumed.steps[1].cached, resumed.steps[1].calls) == (1, 1, 0)
    priced = estimate_run(settings.model_copy(update={"llm_model": "gpt-4o-mini"}))
    assert priced.steps[1].cost > 0 and "gpt-4o-mini" in priced.lines()[0]


def test_eval_extraction_in_llm_mode_scores_the_llm_counts_failures_and_caches_its_calls(
    tmp_path, fault_server, monkeypatch
):
    from app.cli import main
    from fieldmap.store import connect

    annotations = tmp_path / "annotations.jsonl"
    records = [
        "The <instrument>telescope</instrument> observes distant <object>galaxies</object> in the infrared.",
        "This record carries BADJSONALWAYS as its cue.",
    ]  # the server never answers it with valid JSON
    annotations.write_text(
        "".join(
            json.dumps({"title": "T", "abstract": "", "tagged_abstract": t, "tagged_phrases": {}}) + "\n"
            for t in records
        )
    )
    monkeypatch.setenv("OPENAI_BASE_URL", fault_server.base_url)
    monkeypatch.setenv("FIELDMAP_LLM_MODEL", "test-model")
    monkeypatch.setenv("FIELDMAP_LLM_CONCURRENCY", "1")
    workspace, out = tmp_path / "ws", tmp_path / "scores.json"
    args = [
        "eval",
        "extraction",
        "--workspace",
        str(workspace),
        "--annotations",
        str(annotations),
        "--mode",
        "llm",
        "--json",
        str(out),
        "--schema",
        "science",
    ]
    assert main(args) == 0
    scores = json.loads(out.read_text())
    assert scores["mode"] == "llm"
    assert scores["micro"]["exact"]["f1"] == 1.0  # both names found; "unicorns" is not in the text, so it is dropped
    assert (
        scores["chunks"] == 2 and scores["failed_chunks"] == 1 and scores["failures_by_reason"] == {"invalid_output": 1}
    )
    sent = len(fault_server.received)
    assert sent == 3  # one answer, one invalid answer and its repair
    con = connect(workspace / "fieldmap.duckdb", read_only=True)
    assert sorted(con.execute("SELECT step, status, cached FROM llm_calls").fetchall()) == [
        ("eval_extraction", "invalid", False),
        ("eval_extraction", "invalid", False),
        ("eval_extraction", "ok", False),
    ]
    con.close()
    assert (
        main(args) == 0
    )  # again: the valid answer from the workspace's cache, the invalid one asked again (never cached)
    assert len(fault_server.received) == sent + 2
    assert json.loads(out.read_text()) == scores
