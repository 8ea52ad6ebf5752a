"""Link a query to entities of the graph: exact normalised names (noun phrases, then word n-grams of the
query), then nearest entity vectors."""

from __future__ import annotations

import numpy as np

from kg.normalize import normalize_name
from rag.index import VectorTable


class EntityLinker:
    def __init__(
        self, norm_to_entity: dict[str, str], entities: VectorTable, nlp, top_k: int = 5, min_similarity: float = 0.6
    ):
        self.norm_to_entity = norm_to_entity
        self.entities = entities
        self.nlp = nlp
        self.top_k = top_k
        self.min_similarity = min_similarity

    def phrases(self, query: str) -> list[str]:
        """Normalised noun chunks and named entities of the query."""
        parsed = self.nlp(query)
        found = []
        for span in list(parsed.noun_chunks) + list(parsed.ents):
            tokens = [t for t in span if not (t.is_stop or t.is_punct)]
            if not tokens:
                continue
            head = tokens[-1]
            text = parsed.text[tokens[0].idx : head.idx + len(head)]
            norm = normalize_name(text, head.lemma_ if head.tag_ in ("NNS", "NNPS") else None)
            if norm and norm not in found:
                found.append(norm)
        return found

    def exact(self, phrases: list[str]) -> dict[str, float]:
        """Entities named exactly by a phrase, score 1."""
        return {self.norm_to_entity[p]: 1.0 for p in phrases if p in self.norm_to_entity}

    def nearest(self, phrases: list[str]) -> dict[str, float]:
        """Entities whose name vector is within min_similarity of a phrase without an exact match: cosine."""
        scores: dict[str, float] = {}
        unmatched = [p for p in phrases if p not in self.norm_to_entity]
        if unmatched and self.entities.count():
            for vector in self.entities.store.embedder.queries(unmatched):
                for entity_id, similarity in self.entities.dense(vector, self.top_k):
                    if similarity >= self.min_similarity:
                        scores[entity_id] = max(scores.get(entity_id, 0.0), similarity)
        return scores

    def link(self, query: str, query_vector: np.ndarray) -> dict[str, float]:
        """Entity ids with a link score in [0, 1]: 1.0 for an exact name, cosine for a near one."""
        phrases = self.phrases(query)
        return self.nearest(phrases) | self.exact(phrases)
