import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from corpus.loaders import load_corpus, load_file, load_folder, load_jsonl
from corpus.models import Document


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
    corpus.write_text(
        '{"title": "A", "text": "Same text."}\n{"id": "x", "text": "One."}\n{"id": "x", "text": "Two."}\n'
    )
    result = load_corpus([corpus])
    assert result.documents[0].doc_id.startswith("sha1:")
    assert load_corpus([corpus]).documents[0].doc_id == result.documents[0].doc_id
    assert [b.reason.split(",")[0] for b in result.bad] == ["duplicate id"]


def test_missing_path_is_reported(tmp_path: Path):
    result = load_corpus([tmp_path / "nope.jsonl"])
    assert result.bad[0].reason == "no such file or folder"


# ---------------------------------------------------------------- document files (tests/fixtures/docs)

LOADED = {"article.html", "bom.txt", "letter.pdf", "notes.docx", "report.pdf"}


def test_pdf_keeps_its_pages_and_title(fixtures: Path):
    doc = load_file(fixtures / "docs" / "report.pdf").documents[0]
    assert doc.doc_id == "report.pdf" and doc.title == "X-ray surveys of galaxy clusters"
    assert doc.metadata["format"] == "pdf" and doc.metadata["pages"] == 3 and len(doc.page_starts) == 3
    assert [p for p, _, _ in doc.page_ranges()] == [1, 2, 3] and doc.page_ranges()[-1][2] == len(doc.text)
    for phrase, page in [
        ("Sloan Digital Sky Survey", 1),
        ("Chandra X-ray Observatory measures", 2),
        ("tests models of cosmic structure", 2),
        ("Athena mission", 3),
        ("particle acceleration", 3),
    ]:
        assert doc.page_of(doc.text.index(phrase)) == page, phrase
    assert "large-scale structure" in doc.text and "  " not in doc.text


def test_document_files_given_on_their_own_are_one_document_each(fixtures: Path):
    result = load_corpus(
        [fixtures / "docs" / "letter.pdf", fixtures / "docs" / "notes.docx", fixtures / "docs" / "scanned.pdf"]
    )
    assert [(d.doc_id, d.source) for d in result.documents] == [
        ("letter.pdf", str(fixtures / "docs" / "letter.pdf")),
        ("notes.docx", str(fixtures / "docs" / "notes.docx")),
    ]
    assert [(b.doc_id, b.reason.split(":")[0]) for b in result.bad] == [
        ("scanned.pdf", "no text layer in its 1 page(s)")
    ]


def test_html_keeps_the_article_and_its_date_and_drops_the_page_furniture(fixtures: Path):
    doc = load_file(fixtures / "docs" / "article.html").documents[0]
    assert doc.title == "Exoplanet atmospheres with JWST" and doc.date.isoformat() == "2023-04-12"
    assert "near-infrared spectrograph measures absorption" in doc.text and "Retrieval models infer" in doc.text
    for furniture in ("Log in", "Subscribe", "Cookie settings", "Ten facts about comets"):
        assert furniture not in doc.text
    assert doc.page_starts == ()


def test_docx_reads_paragraphs_and_tables_in_order(fixtures: Path):
    doc = load_file(fixtures / "docs" / "notes.docx").documents[0]
    assert doc.title == "Notes on radio interferometry" and doc.metadata["format"] == "docx"
    assert doc.text.index("Very Large Array") < doc.text.index("Self-calibration") < doc.text.index("ALMA 16 km")


def test_broken_files_are_named_in_skipped_with_a_reason_and_the_rest_load(fixtures: Path):
    result = load_folder(fixtures / "docs")
    assert {d.doc_id for d in result.documents} == LOADED
    bad = {b.doc_id or Path(b.source).name: b for b in result.bad}
    assert set(bad) == {
        "encrypted.pdf",
        "scanned.pdf",
        "truncated.pdf",
        "renamed-pdf.txt",
        "nul.txt",
        "make_fixtures.py",
    }
    assert bad["make_fixtures.py"].reason.startswith("not a document file (.py)")  # listed, not silently passed over
    assert bad["encrypted.pdf"].reason.startswith("encrypted PDF")
    assert bad["scanned.pdf"].reason.startswith("no text layer")
    assert bad["truncated.pdf"].reason.startswith("truncated PDF")
    assert bad["renamed-pdf.txt"].reason.startswith("a PDF with a .txt name") and bad["renamed-pdf.txt"].line == 1
    assert bad["nul.txt"].reason.startswith("NUL byte") and bad["nul.txt"].line == 3
    assert str(bad["nul.txt"]).startswith(str(fixtures / "docs" / "nul.txt") + ":3 ")
    assert all(b.source.startswith(str(fixtures / "docs")) for b in result.bad)


def test_a_byte_order_mark_is_dropped_in_text_and_jsonl(fixtures: Path, tmp_path: Path):
    doc = load_file(fixtures / "docs" / "bom.txt").documents[0]
    assert doc.title == "Notes with a byte-order mark" and doc.text == "The Hubble Space Telescope observes quasars."
    corpus = tmp_path / "bom.jsonl"
    corpus.write_bytes('\ufeff{"id": "a", "text": "One."}\n{"id": "b", "text": "Two."}\n'.encode("utf-8"))
    result = load_jsonl(corpus)
    assert [d.doc_id for d in result.documents] == ["a", "b"] and not result.bad


def test_a_damaged_docx_and_an_empty_html_page_are_skipped(tmp_path: Path):
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "blank.html").write_text("<html><body><script>var x = 1;</script></body></html>")
    (tmp_path / "fine.md").write_text("# Fine\nA fine note.\n")
    result = load_folder(tmp_path)
    assert [d.doc_id for d in result.documents] == ["fine.md"]
    reasons = {b.doc_id: b.reason for b in result.bad}
    assert reasons["bad.docx"].startswith("cannot parse as DOCX: BadZipFile")
    assert reasons["blank.html"] == "no text in the HTML page"


def test_symlink_loops_dangling_links_and_fifos_are_reported_and_the_walk_goes_on(tmp_path: Path):
    folder = tmp_path / "c"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "deep.txt").write_text("Deep text.")
    (folder / "good.txt").write_text("Good text.")
    (folder / "sub" / "back").symlink_to(folder, target_is_directory=True)  # a folder loop
    (folder / "self.txt").symlink_to(folder / "self.txt")  # a file that points at itself
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    os.mkfifo(folder / "pipe.txt")  # reading it would block forever
    result = load_folder(folder)
    assert sorted(d.doc_id for d in result.documents) == ["good.txt", "sub/deep.txt"]
    reasons = {Path(b.source).name: b.reason for b in result.bad}
    assert reasons["back"].startswith("symlink loop: leads back to")
    assert reasons["self.txt"].startswith("symlink loop")
    assert reasons["gone.txt"].startswith("broken symlink")
    assert reasons["pipe.txt"].startswith("not a regular file")


def test_a_file_that_fails_to_read_is_reported_and_the_rest_load(tmp_path: Path):
    (tmp_path / "good.txt").write_text("Good text.")
    (tmp_path / "mem.txt").symlink_to("/proc/self/mem")  # open works, read raises EIO, even for root
    result = load_folder(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good.txt"]
    assert [(b.doc_id, b.reason) for b in result.bad] == [("mem.txt", "cannot read: Input/output error")]


UNREADABLE_PROBE = """
import json, os, sys
from pathlib import Path
from corpus.formats import read_document
from corpus.loaders import load_folder
read_document(Path("x.txt"), b"warm up")  # every import done while the interpreter's files are readable
if os.geteuid() == 0:
    os.setgid(65534); os.setuid(65534)  # nobody: chmod 000 means something again
result = load_folder(Path(sys.argv[1]))
print(json.dumps({"docs": [d.doc_id for d in result.documents], "bad": [[b.doc_id, b.reason] for b in result.bad]}))
"""


def test_a_chmod_000_file_is_reported_as_unreadable_and_the_rest_load():
    folder = Path(tempfile.mkdtemp(prefix="fieldmap-unreadable-"))
    try:
        folder.chmod(0o755)
        (folder / "good.txt").write_text("Good text.")
        secret = folder / "secret.txt"
        secret.write_text("Secret text.")
        secret.chmod(0)
        (folder / "locked").mkdir(mode=0)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        out = subprocess.run(
            [sys.executable, "-c", UNREADABLE_PROBE, str(folder)],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        found = json.loads(out.stdout)
        assert found["docs"] == ["good.txt"]
        assert found["bad"] == [
            [None, "cannot list folder: Permission denied"],
            ["secret.txt", "cannot read: Permission denied"],
        ]
    finally:
        (folder / "locked").chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.slow
def test_a_folder_of_pdfs_html_and_docx_indexes_in_one_run_with_pages_on_pdf_triplets(fixtures: Path, tmp_path: Path):
    from fieldmap.store import connect
    from pipelines.run import run_pipeline
    from tests.conftest import make_settings

    folder = tmp_path / "reports"
    folder.mkdir()
    for name in ("report.pdf", "letter.pdf", "article.html", "notes.docx", "truncated.pdf"):
        shutil.copy(fixtures / "docs" / name, folder / name)
    settings = make_settings(tmp_path / "ws", folder)
    assert run_pipeline(settings).success
    con = connect(settings.duckdb_path, read_only=True)
    try:
        docs = {r[0] for r in con.execute("SELECT doc_id FROM documents").fetchall()}
        skipped = con.execute("SELECT source, reason FROM skipped").fetchall()
        pdf_triplets = con.execute("SELECT count(*) FROM triplets WHERE doc_id LIKE '%.pdf'").fetchall()[0][0]
        paged = con.execute(
            """SELECT tp.page, s.name, t.relation, o.name, d.text[se.start_char + 1 : se.end_char]
               FROM triplet_pages tp JOIN triplets t USING (triplet_id) JOIN entities s ON s.entity_id = t.subject_id
               JOIN entities o ON o.entity_id = t.object_id JOIN documents d ON d.doc_id = t.doc_id
               JOIN sentences se ON se.doc_id = t.doc_id AND se.sent_index = t.sent_index
               WHERE t.doc_id = 'report.pdf'"""
        ).fetchall()
        with_page = dict(con.execute("SELECT doc_id LIKE '%.pdf', count(*) FROM triplet_pages GROUP BY 1").fetchall())
        mention_pages = con.execute(
            "SELECT count(*), count(mp.page) FROM mentions m LEFT JOIN mention_pages mp USING (mention_id) WHERE m.doc_id = 'report.pdf'"
        ).fetchall()[0]
        chunk_pages = con.execute(
            "SELECT first_page, last_page FROM chunk_pages WHERE doc_id = 'report.pdf'"
        ).fetchall()
    finally:
        con.close()
    assert docs == {"report.pdf", "letter.pdf", "article.html", "notes.docx"}
    assert [(Path(s).name, r.split(":")[0]) for s, r in skipped] == [("truncated.pdf", "truncated PDF")]
    assert pdf_triplets > 0 and len(paged) > 0
    assert with_page == {True: pdf_triplets}  # every PDF triplet has its page, no other triplet has one
    assert {page for page, *_ in paged} >= {1, 2}
    pages_of = {"Chandra": 2, "Sloan": 1, "Athena": 3}
    for page, subject, relation, obj, sentence in paged:
        for word, expected in pages_of.items():
            if word in sentence:
                assert page == expected, (subject, relation, obj, sentence)
    assert mention_pages[0] > 0 and mention_pages[0] == mention_pages[1]  # every mention has its page
    assert min(f for f, _ in chunk_pages) == 1 and max(last for _, last in chunk_pages) == 3


def test_pages_are_stored_replaced_and_deleted_with_their_document(fixtures: Path, tmp_path: Path):
    from corpus.store import delete_documents, sync_documents
    from fieldmap.store import connect

    con = connect(tmp_path / "p.duckdb")
    try:
        pdf = load_file(fixtures / "docs" / "report.pdf")
        sync_documents(con, pdf.documents, [], [])
        rows = con.execute("SELECT page, start_char, end_char FROM pages ORDER BY page").fetchall()
        doc = pdf.documents[0]
        assert rows == doc.page_ranges() and rows[0][1] == 0 and rows[-1][2] == len(doc.text)
        assert all(a[2] == b[1] for a, b in zip(rows, rows[1:]))  # contiguous: every character has one page
        shorter = Document(doc.doc_id, doc.title, doc.text[: rows[1][2]], doc.source, None, {}, doc.page_starts[:2])
        sync_documents(con, [shorter], [], [])  # changed: its pages are replaced, not added to
        assert con.execute("SELECT count(*) FROM pages").fetchall()[0][0] == 2
        delete_documents(con, [doc.doc_id])
        assert con.execute("SELECT count(*) FROM pages").fetchall()[0][0] == 0
    finally:
        con.close()
