"""The first two of PPR's top passages as the first two hops of a chain (issue 13).

A multi-hop question is answered by a chain of passages: hop 1 is about an entity the question names,
and hop 2 is about the bridge entity that hop 1 mentions. A passage's topic is the entity its
document's title names exactly (a Wikipedia-style qualifier in parentheses dropped: "Kassel",
"Humboldt Peak (Colorado)"). Within PPR's top passages (already in their fused order):

- named_first: the best passage whose topic the question names goes first (it is hop 1; PPR's mass
  and the dense similarity both also favour passages that merely mention the question's entities);
- chain_second: the best remaining passage chain-linked to the first goes second: its topic is
  mentioned in the first, or the first's topic is mentioned in it (the bridge, in either direction).

Neither rule moves a passage into or out of the reordered set, so Recall@5 stays PPR's; a passage
without a topic, or a question naming none, leaves the fused order as it is.

- chain_fill: the last place of the set goes to the best passage, among it and the next ones (to twice
  the set's size), that is chain-linked to one of the first two: the hop after them, which PPR's mass
  (spread over every entity the seeds reach) may rank just below the set. This one does change the set.
"""

from __future__ import annotations

import re

import numpy as np

from kg.normalize import normalize_name
from rag.mentions import Mentions

QUALIFIER = re.compile(r"\s*\([^)]*\)")


def topic_vertices(
    titles: dict[str, str], passage_ids: list[str], norm_to_entity: dict[str, str], entity_vertex: dict[str, int]
) -> np.ndarray:
    """Per passage vertex, the entity vertex its title names exactly (qualifiers in parentheses
    dropped), or -1 when the title names no entity of the graph."""
    out = np.full(len(passage_ids), -1, dtype=np.int64)
    for i, chunk_id in enumerate(passage_ids):
        name = normalize_name(QUALIFIER.sub(" ", titles.get(chunk_id) or ""))
        vertex = entity_vertex.get(norm_to_entity.get(name, ""), -1) if name else -1
        out[i] = vertex
    return out


def mentions_vertex(mentions: Mentions, passage: int, entity_vertex: int) -> bool:
    """Whether the passage has a mention edge to the entity vertex."""
    row = mentions.by_passage.indices[mentions.by_passage.indptr[passage] : mentions.by_passage.indptr[passage + 1]]
    return entity_vertex >= 0 and bool(np.any(row == entity_vertex - mentions.n_passages))


def chain_linked(mentions: Mentions, topic: np.ndarray, a: int, b: int) -> bool:
    """Whether one passage mentions the other's topic (the bridge entity of a two-hop chain)."""
    return mentions_vertex(mentions, a, int(topic[b])) or mentions_vertex(mentions, b, int(topic[a]))


def chain_order(
    head: list[int], topic: np.ndarray, named: set[int], mentions: Mentions, named_first: bool, chain_second: bool
) -> list[int]:
    """The head (passage vertices in fused order) with hop 1 first and its chain-linked passage second."""
    order = list(head)
    if named_first:
        about = next((v for v in order if topic[v] >= 0 and int(topic[v]) in named), None)
        if about is not None:
            order.remove(about)
            order.insert(0, about)
    if chain_second and len(order) > 2:
        linked = next((v for v in order[1:] if chain_linked(mentions, topic, order[0], v)), None)
        if linked is not None:
            order.remove(linked)
            order.insert(1, linked)
    return order


def chain_fill(order: list[int], topic: np.ndarray, mentions: Mentions, size: int) -> list[int]:
    """The order with its size-th place given to the first passage from there to 2 x size that is
    chain-linked to one of the first two (the linked ones of that window first, each in its order)."""
    window = order[size - 1 : 2 * size]
    linked = [v for v in window if any(chain_linked(mentions, topic, a, v) for a in order[:2])]
    return order[: size - 1] + linked + [v for v in order[size - 1 :] if v not in linked]
