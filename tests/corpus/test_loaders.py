from pathlib import Path

from corpus.loaders import load_corpus, load_folder, load_jsonl


def test_arxiv_records_keep_source_id_title_text_and_date(fixtures: Path):
    result = load_jsonl(fixtures / "arxiv-20.jsonl")
    assert len(result.documents) == 20 and not result.bad
    first = result.documents[0]
    assert first.doc_id == "http://arxiv.org/abs/hep-ph/0511217v3"
    assert first.title.startswith("Trust but verify")
    assert first.text.startswith("This article is based on")
    assert first.date.isoformat() == "2005-11-17"
    assert first.metadata["authors"] == ["Scott A. Hughes"]


def test_bad_records_are_named_by_file_line_and_reason_and_the_rest_load(fixtures: Path):
    result = load_jsonl(fixtures / "bad" / "records.jsonl")
    assert [d.doc_id for d in result.documents] == ["good-1", "good-2"]
    reasons = {(b.line, b.doc_id): b.reason for b in result.bad}
    assert reasons[(2, "empty-1")] == "empty text"
    assert reasons[(3, None)].startswith("malformed JSON")
    assert reasons[(4, None)].startswith("not UTF-8")
    assert reasons[(5, "notext-1")].startswith("no text field")
    assert all(b.source.endswith("records.jsonl") for b in result.bad)
    assert "records.jsonl:3" in str(next(b for b in result.bad if b.line == 3))


def test_folder_of_text_files_uses_relative_paths_as_ids(fixtures: Path):
    result = load_folder(fixtures / "folder")
    by_id = {d.doc_id: d for d in result.documents}
    assert set(by_id) == {"notes.md", "report.txt"}
    assert by_id["notes.md"].title == "Notes on quasars"
    assert by_id["report.txt"].title == "report"
    bad = {b.doc_id: b.reason for b in result.bad}
    assert bad["empty.txt"] == "empty text"
    assert bad["latin1.txt"].startswith("not UTF-8")


def test_records_without_id_get_a_content_hash_id_and_duplicates_are_reported(tmp_path: Path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"title": "A", "text": "Same text."}\n{"id": "x", "text": "One."}\n{"id": "x", "text": "Two."}\n')
    result = load_corpus([corpus])
    assert result.documents[0].doc_id.startswith("sha1:")
    assert load_corpus([corpus]).documents[0].doc_id == result.documents[0].doc_id
    assert [b.reason.split(",")[0] for b in result.bad] == ["duplicate id"]


def test_missing_path_is_reported(tmp_path: Path):
    result = load_corpus([tmp_path / "nope.jsonl"])
    assert result.bad[0].reason == "no such file or folder"
