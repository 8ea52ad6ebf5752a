"""VectorTable.sync embeds a text once: a row whose text the table already holds under another id takes that vector."""

import numpy as np

from rag.index import VectorStore
from tests.rag.test_index import TinyEmbedder


class Counting(TinyEmbedder):
    """The bag-of-letters embedder, remembering every text it was asked to embed."""

    def __init__(self):
        self.seen: list[str] = []

    def passages(self, texts):
        self.seen += list(texts)
        return super().passages(texts)


def test_a_text_already_embedded_under_another_id_is_not_embedded_again(tmp_path):
    embedder = Counting()
    table = VectorStore(str(tmp_path / "lance"), embedder).table("chunks")
    first = {
        "d1#0": {"doc_id": "d1", "text": "black hole accretion disk"},
        "d1#1": {"doc_id": "d1", "text": "radio telescope array"},
    }
    assert table.sync(first, "text", "text", 4096).added == 2
    embedder.seen.clear()
    # the document comes back under a new id with one chunk unchanged and one new; the old id is gone
    again = {
        "d2#0": {"doc_id": "d2", "text": "black hole accretion disk"},
        "d2#1": {"doc_id": "d2", "text": "galaxy cluster gas"},
    }
    counts = table.sync(again, "text", "text", 4096)
    assert embedder.seen == ["galaxy cluster gas"]
    assert (counts.added, counts.reused, counts.removed, counts.total) == (2, 1, 2, 2)
    ids, matrix = table.matrix()
    vectors = dict(zip(ids, matrix))
    assert np.allclose(vectors["d2#0"], TinyEmbedder().passages(["black hole accretion disk"])[0])
    assert np.allclose(vectors["d2#1"], TinyEmbedder().passages(["galaxy cluster gas"])[0])


def test_windowed_sync_keeps_each_row_with_its_own_vector(tmp_path):
    embedder = Counting()
    table = VectorStore(str(tmp_path / "lance"), embedder).table("entities")
    texts = [f"{'x' * (n % 7)} entity {chr(97 + n % 26)}" for n in range(50)]
    wanted = {f"e{n}": {"doc_id": "", "text": t} for n, t in enumerate(texts)}
    table.sync(wanted, "text", "text", 16)
    ids, matrix = table.matrix()
    expected = TinyEmbedder().passages([wanted[i]["text"] for i in ids])
    assert np.allclose(matrix, expected) and sorted(ids) == sorted(wanted)
