import numpy as np
import pytest

from rag.index import EmbedderMismatch, VectorStore


class TinyEmbedder:
    """A deterministic bag-of-letters embedder: real code, small enough to reason about in a test."""

    name = "letters"
    dim = 26

    def passages(self, texts):
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    vectors[row, ord(char) - 97] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    queries = passages


def test_dense_fulltext_and_deletes(tmp_path):
    embedder = TinyEmbedder()
    table = VectorStore(str(tmp_path / "lance"), embedder).table("chunks")
    texts = ["black hole accretion disk", "galaxy cluster x-ray gas", "radio telescope array survey"]
    rows = [{"id": f"c{i}", "doc_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(texts)]
    table.add(rows, embedder.passages(texts))
    table.build_fulltext("text")
    assert table.count() == 3 and table.ids() == {"c0", "c1", "c2"}
    assert table.dense(embedder.queries(["radio telescope array"])[0], 1)[0][0] == "c2"
    assert [cid for cid, _ in table.fulltext("cluster", 5)] == ["c1"]
    table.delete_docs(["d1"])
    assert table.ids() == {"c0", "c2"} and table.fulltext("cluster", 5) == []
    ids, matrix = table.matrix()
    assert sorted(ids) == ["c0", "c2"] and matrix.shape == (2, 26)


def test_opening_an_index_with_another_embedder_is_a_clear_error(tmp_path):
    VectorStore(str(tmp_path / "lance"), TinyEmbedder())

    class Other(TinyEmbedder):
        name = "other"

    with pytest.raises(EmbedderMismatch, match="built with embedder letters .*this run uses other"):
        VectorStore(str(tmp_path / "lance"), Other())


def test_the_synonym_index_on_the_entity_table_leaves_dense_search_exact(tmp_path):
    from fieldmap.store import connect
    from rag.steps import sync_synonyms
    from tests.kg.test_synonyms import _clustered_vectors

    class Fixed:  # the vectors are given; nothing is embedded
        name, dim = "fixed", 384

    vectors = _clustered_vectors(1000, seed=3)
    store = VectorStore(str(tmp_path / "lance"), Fixed())
    table = store.table("entities")
    table.add([{"id": f"e{i:04d}", "doc_id": "", "text": ""} for i in range(len(vectors))], vectors)
    con = connect(tmp_path / "db.duckdb")
    assert sync_synonyms(con, store, 100, 0.8, ann_min_entities=2000).method == "exact"  # 1,000 x 1,000 < 2,000^2
    con.execute("DELETE FROM synonym_scanned").fetchall()
    report = sync_synonyms(con, store, 100, 0.8, ann_min_entities=500)
    assert report.method == "IVF_HNSW_SQ" and report.scanned == 1000
    assert [index.index_type for index in table.lance_table().list_indices()] == ["IvfHnswSq"]
    for row in (0, 500, 999):  # the entity linker's search still compares every vector
        similarities = vectors @ vectors[row]
        found = [int(eid[1:]) for eid, _ in table.dense(vectors[row], 20)]
        assert np.allclose(
            similarities[found], np.sort(similarities)[::-1][:20], atol=1e-5
        )  # the true top 20, in order


def test_a_table_left_half_created_by_a_killed_run_is_made_again(tmp_path):
    embedder = TinyEmbedder()
    store = VectorStore(str(tmp_path / "lance"), embedder)
    (tmp_path / "lance" / "entities.lance" / "_versions").mkdir(parents=True)  # a directory, no committed version
    table = store.table("entities")
    assert "entities" in store.db.list_tables().tables and table.ids() == set()
    counts = table.sync({"e1": {"id": "e1", "doc_id": "", "text": "pulsar"}}, "text", "text", 8)
    assert counts.added == 1 and table.ids() == {"e1"}
