from fieldmap.store import connect, delete_document_rows
from kg.store import pending_chunks, refresh_entities, write_extractions
from tests.kg.conftest import chunk_text


def _seed(con, doc_id: str, text: str) -> None:
    from corpus.chunking import chunk_document
    from corpus.models import Document
    from corpus.store import sync_documents, write_chunks

    doc = Document(doc_id, "title", text, "src")
    sync_documents(con, [doc], [], [])
    write_chunks(con, [chunk_document(doc, 200, 1)])


def test_extractions_merge_entities_by_name_and_leave_nothing_pending(tmp_path, extractor):
    con = connect(tmp_path / "db.duckdb")
    _seed(con, "a", "The Chandra telescope observed the Crab Nebula.")
    _seed(con, "b", "Radio emission from the Crab Nebula was mapped by the VLA.")
    pending = pending_chunks(con)
    assert [c.chunk_id for c in pending] == ["a#0", "b#0"]
    write_extractions(con, extractor.extract(pending), [], "spacy")
    refresh_entities(con)
    assert pending_chunks(con) == []
    crab = con.execute("SELECT count(DISTINCT e.entity_id), count(*) FROM entities e JOIN mentions m USING (entity_id) WHERE e.norm_name = 'crab nebula'").fetchall()
    assert crab == [(1, 2)]
    rows = con.execute("SELECT m.doc_id, m.chunk_id, m.sent_index, d.text[m.start_char + 1 : m.end_char] = m.text FROM mentions m JOIN documents d USING (doc_id)").fetchall()
    assert all(ok for *_, ok in rows)
    assert con.execute("SELECT count(*) FROM triplets WHERE subject_id NOT IN (SELECT entity_id FROM entities)").fetchall() == [(0,)]


def test_deleting_a_document_keeps_shared_entities_and_drops_its_own(tmp_path, extractor):
    con = connect(tmp_path / "db.duckdb")
    _seed(con, "a", "The Chandra telescope observed the Crab Nebula.")
    _seed(con, "b", "Radio emission from the Crab Nebula was mapped by the VLA.")
    write_extractions(con, extractor.extract(pending_chunks(con)), [], "spacy")
    delete_document_rows(con, ["a"])
    names = {r[0] for r in con.execute("SELECT norm_name FROM entities").fetchall()}
    assert "crab nebula" in names and "chandra telescope" not in names
    for table in ("documents", "chunks", "sentences", "mentions", "triplets", "extractions"):
        assert con.execute(f"SELECT count(*) FROM {table} WHERE doc_id = 'a'").fetchall() == [(0,)]
