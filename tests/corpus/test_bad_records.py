"""Records that cannot sink a load or a run: a 5 MB record is cut at the document limit and indexed up to it, a line
nested 1,000 deep is a bad record naming its file and line, and the good records of the same file are stored."""

from __future__ import annotations

import json
from pathlib import Path

from corpus.loaders import Limits, load_corpus, load_folder, load_jsonl
from fieldmap.store import connect
from pipelines.run import asset_metadata, run_pipeline
from tests.conftest import FIXTURES, make_settings

FIVE_MB = 5 * 1024 * 1024


def prose(chars: int) -> str:
    """Real abstracts (the arXiv fixture) one after another, to `chars` characters."""
    abstracts = [
        json.loads(line)["summary"] for line in (FIXTURES / "arxiv-20.jsonl").read_text().splitlines() if line.strip()
    ]
    text = " ".join(abstracts)
    return (text + " ") * (chars // (len(text) + 1)) + text[: chars % (len(text) + 1)]


def deep_line(levels: int) -> str:
    return '{"id": "deep", "text": "Deep.", "extra": ' + "[" * levels + "]" * levels + "}"


def bad_file(path: Path) -> Path:
    """2 good records, a 5 MB one and a line nested 1,000 deep (lines 1 to 4)."""
    lines = [
        json.dumps(
            {
                "id": "good-1",
                "title": "Pulsars",
                "text": "Radio telescopes time millisecond pulsars to detect gravitational waves.",
            }
        ),
        json.dumps({"id": "huge", "title": "A huge record", "text": prose(FIVE_MB)}),
        deep_line(1000),
        json.dumps(
            {"id": "good-2", "title": "Clusters", "text": "X-ray observations reveal hot gas in galaxy clusters."}
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_nesting_over_the_limit_is_a_bad_record_named_by_file_and_line(tmp_path):
    corpus = tmp_path / "nested.jsonl"
    corpus.write_text(
        "\n".join([deep_line(1000), deep_line(63), deep_line(64), json.dumps({"id": "ok", "text": "Fine."})]) + "\n"
    )
    result = load_jsonl(corpus, max_depth=64)  # line 2: the record is 64 levels deep with its own object; line 3: 65
    assert [d.doc_id for d in result.documents] == ["deep", "ok"]
    assert [(b.line, b.reason) for b in result.bad] == [
        (1, "JSON nested deeper than 64 levels (max_json_depth)"),
        (3, "JSON nested deeper than 64 levels (max_json_depth)"),
    ]
    assert str(result.bad[0]).startswith(f"{corpus}:1: ")


def test_a_long_document_is_cut_at_the_limit_and_listed_with_its_size(tmp_path):
    loaded = load_corpus([bad_file(tmp_path / "corpus.jsonl")], Limits(max_chars=100_000))
    huge = next(d for d in loaded.documents if d.doc_id == "huge")
    assert 99_000 <= len(huge.text) <= 100_000 and prose(FIVE_MB).startswith(huge.text)
    assert [(c.line, c.doc_id) for c in loaded.cut] == [(2, "huge")]
    assert (
        loaded.cut[0].reason
        == f"{len(prose(FIVE_MB)):,} characters: indexed up to the first {len(huge.text):,} (max_document_chars is 100,000)"
    )
    assert [b.line for b in loaded.bad] == [3]
    raised = load_corpus(
        [tmp_path / "corpus.jsonl"], Limits.of(make_settings(tmp_path / "ws", max_document_chars=200_000))
    )
    assert (
        199_000 <= len(next(d for d in raised.documents if d.doc_id == "huge").text) <= 200_000
    )  # the setting raises it


def test_every_file_a_folder_holds_but_does_not_read_is_listed(tmp_path):
    (tmp_path / "notes.txt").write_text("Notes on quasars.")
    (tmp_path / "more.jsonl").write_text(json.dumps({"id": "x", "text": "A record."}) + "\n")
    (tmp_path / "figure.png").write_bytes(b"\x89PNG")
    result = load_folder(tmp_path)
    assert [d.doc_id for d in result.documents] == ["notes.txt"]
    reasons = {Path(b.source).name: b.reason for b in result.bad}
    assert reasons == {
        "more.jsonl": "a .jsonl file inside a folder is not read: name it on its own with --corpus",
        "figure.png": "not a document file (.png): a folder's documents are .docx, .htm, .html, .markdown, .md, .pdf, .txt",
    }


def test_a_5_mb_record_and_a_1000_deep_line_do_not_sink_the_run(tmp_path):
    corpus = bad_file(tmp_path / "corpus.jsonl")
    # a small limit keeps the test to seconds; the default's peak RSS on this file is in BENCHMARKS.md ("One bad record")
    settings = make_settings(tmp_path / "ws", corpus, max_document_chars=20_000)
    result = run_pipeline(settings)
    assert result.success
    con = connect(settings.duckdb_path, read_only=True)
    try:
        lengths = dict(con.execute("SELECT doc_id, length(text) FROM documents").fetchall())
        skipped = con.execute("SELECT line, doc_id, reason FROM skipped ORDER BY line").fetchall()
        chunked = dict(con.execute("SELECT doc_id, max(end_char) FROM chunks GROUP BY doc_id").fetchall())
        mentioned = {d for (d,) in con.execute("SELECT DISTINCT doc_id FROM mentions").fetchall()}
        chunks = con.execute("SELECT count(*) FROM chunks").fetchall()[0][0]
    finally:
        con.close()
    assert set(lengths) == {"good-1", "good-2", "huge"} and 19_000 <= lengths["huge"] <= 20_000
    assert [(line, doc_id) for line, doc_id, _ in skipped] == [(2, "huge"), (3, None)]
    assert (
        skipped[0][2].startswith(f"{len(prose(FIVE_MB)):,} characters: indexed up to the first")
        and "max_json_depth" in skipped[1][2]
    )
    assert chunked.keys() == lengths.keys() and chunked["huge"] <= lengths["huge"]  # indexed up to the cut
    assert mentioned == set(lengths)
    assert (
        asset_metadata(result)["vector_index"]["chunk_vectors"] == chunks
    )  # every chunk searchable, the good ones too

    again = run_pipeline(settings)  # idempotent: nothing new, nothing changed, the same two listed
    documents = asset_metadata(again)["documents"]
    assert again.success and (documents["new"], documents["changed"], documents["skipped"]) == (0, 0, 2)
