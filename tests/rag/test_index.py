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
