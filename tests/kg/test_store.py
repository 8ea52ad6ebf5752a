from fieldmap.store import connect, delete_document_rows
from kg.store import pending_chunks, refresh_entities, write_extractions


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
    crab = con.execute(
        "SELECT count(DISTINCT e.entity_id), count(*) FROM entities e JOIN mentions m USING (entity_id) WHERE e.norm_name = 'crab nebula'"
    ).fetchall()
    assert crab == [(1, 2)]
    rows = con.execute(
        "SELECT m.doc_id, m.chunk_id, m.sent_index, d.text[m.start_char + 1 : m.end_char] = m.text FROM mentions m JOIN documents d USING (doc_id)"
    ).fetchall()
    assert all(ok for *_, ok in rows)
    assert con.execute(
        "SELECT count(*) FROM triplets WHERE subject_id NOT IN (SELECT entity_id FROM entities)"
    ).fetchall() == [(0,)]


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


def _tied(con, order: list[tuple[str, str, float]]) -> tuple[str, str]:
    """Mentions of one entity inserted in `order` ((text, type, score) each); the entity's name and type."""
    from kg.extract import Extraction, Mention

    mentions = [
        Mention(text, 10 * n, 10 * n + len(text), 0, "submillimeter array", "ner", None, type_, score)
        for n, (text, type_, score) in enumerate(order)
    ]
    con.execute("DELETE FROM mentions; DELETE FROM extractions; DELETE FROM entities")
    write_extractions(con, [Extraction("a#0", "a", mentions)], [], "spacy")
    refresh_entities(con)
    return con.execute("SELECT name, type FROM entities").fetchall()[0]


def test_an_entity_named_by_tied_mentions_gets_the_same_name_and_type_whatever_the_order(tmp_path):
    con = connect(tmp_path / "db.duckdb")
    _seed(con, "a", "The Submillimeter Array (SMA) observed the disk. The SMA saw dust.")
    order = [
        ("SMA", "instrument", 0.6),
        ("Submillimeter Array", "object", 0.4),
        ("SMA", "object", 0.4),
        ("Submillimeter Array", "instrument", 0.6),
    ]
    found = {_tied(con, order[i:] + order[:i]) for i in range(len(order))} | {_tied(con, order[::-1])}
    assert found == {("Submillimeter Array", "instrument")}  # 2-2 ties: the longer name, the higher summed score


def test_a_retried_chunk_replaces_its_rows_and_an_entity_left_without_mentions_goes(tmp_path, extractor):
    con = connect(tmp_path / "db.duckdb")
    _seed(con, "a", "The Chandra telescope observed the Crab Nebula.")
    chunk = pending_chunks(con)
    write_extractions(con, extractor.extract(chunk), [], "spacy", "fallback", {"a#0": "connection_error: refused"})
    assert pending_chunks(con) == [] and pending_chunks(con, ("failed", "fallback")) == chunk
    replaced = extractor.extract(chunk)
    replaced[0].mentions = [m for m in replaced[0].mentions if m.norm_name == "crab nebula"]
    replaced[0].relations = []
    write_extractions(con, replaced, [], "llm:test")
    refresh_entities(con)
    assert con.execute("SELECT status, method FROM extractions").fetchall() == [("ok", "llm:test")]
    assert {r[0] for r in con.execute("SELECT norm_name FROM entities").fetchall()} == {"crab nebula"}
    assert con.execute("SELECT count(*) FROM triplets").fetchall() == [(0,)]
