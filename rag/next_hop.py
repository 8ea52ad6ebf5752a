"""Iterative retrieval for one hop (as IRCoT, arXiv 2212.10509, without an LLM): the passage of the
next hop, retrieved for the question its bridge rewrites, in the last place of the top passages.

A compositional question ("Who is the spouse of the director of Jump for Glory?") names its first hop
and only describes the next one. PPR reaches the bridge entity (Raoul Walsh) from the first hop's
passage, but its mass then spreads over every passage that mentions him; the one about his spouse is
not preferred, and on MuSiQue many such passages rank below 30. The reader (rag/chain.py) reads the
bridge from the top passages and rewrites the question ("Who is the spouse of Raoul Walsh?"), a
one-hop question whose best passage is the next hop. When the top `size` passages already hold that
passage, the hop is covered and nothing moves; otherwise it takes the last place of the top `size`,
and the passages from there on shift down by one.

The offline answer reader does not read this list: it reads the graph retriever's top passages and
follows the chain itself, appending what each rewritten question retrieves (rag/chain.py), which
holds this passage too. Read from the top instead, the passages in a new order changed 2 of 100
MuSiQue answers, both for the worse. An LLM, which follows no chain, reads this list.

Why only the rewritten question's first passage, and only when it is new: on MuSiQue's tune half,
adding its first passage whatever the top held, or checking its first 2 or 3 against the top,
displaced gold passages that were already there (BENCHMARKS.md, "The next hop's passage").
"""

from __future__ import annotations

from typing import Callable

from rag.retrievers import Hit

Rewrite = Callable[
    [str, list[Hit], object], "str | None"
]  # (question, its top hits, the graph retriever) -> the rewritten question, or None


def place_next_hop(hits: list[Hit], found: Hit | None, size: int) -> list[Hit]:
    """The hits with `found` in place `size` unless the first `size` already hold it; each place keeps
    its score, so the scores still descend; the list keeps its length."""
    if found is None or len(hits) < size or any(h.chunk_id == found.chunk_id for h in hits[:size]):
        return hits
    rest = [h for h in hits[size - 1 :] if h.chunk_id != found.chunk_id]
    moved = hits[: size - 1] + [found] + rest
    return [Hit(h.chunk_id, place.score) for h, place in zip(moved, hits)]


class NextHopRetriever:
    """A hipporag retriever whose top `size` passages end with the next hop's passage (see above).
    Its other attributes are the graph retriever's (PPR mass, the graph, the linker)."""

    name = "hipporag"

    def __init__(self, graph, rewrite: Rewrite, size: int):
        self.graph, self.rewrite, self.size = graph, rewrite, size

    def retrieve(self, query: str, k: int, reorder: bool = True) -> list[Hit]:
        """`reorder` False: PPR's own list (for callers that fuse or extend lists themselves)."""
        if not reorder:
            return self.graph.retrieve(query, k, reorder=False)
        hits = self.graph.retrieve(query, max(k, self.size))
        if len(hits) < self.size:
            return hits[:k]
        rewritten = self.rewrite(query, hits[: self.size], self.graph)
        if not rewritten or rewritten == query:
            return hits[:k]
        found = self.graph.retrieve(rewritten, 1, reorder=False)
        return place_next_hop(hits, found[0] if found else None, self.size)[:k]

    def __getattr__(self, name: str):
        return getattr(self.graph, name)
