"""Link a query to entities of the graph: exact normalised names (noun phrases, then word n-grams of the
query), then nearest entity vectors."""
from __future__ import annotations

import numpy as np

from kg.normalize import EDGE_PUNCT, normalize_name
from rag.index import VectorTable


class EntityLinker:
    def __init__(self, norm_to_entity: dict[str, str], entities: VectorTable, nlp, top_k: int = 5, min_similarity: float = 0.6):
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

    def ngrams(self, query: str, max_words: int = 6) -> dict[str, float]:
        """Entities whose normalised name is a run of up to max_words words of the query (the lexical
        match spaCy's phrase boundaries miss: "Journal of Psychotherapy Integration" inside a longer
        chunk), score 1. A run must hold a word that is neither a stop word nor shorter than 3 letters."""
        words = [w.strip(EDGE_PUNCT) for w in query.lower().split()]
        words = [w for w in words if w]
        found: dict[str, float] = {}
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + max_words) + 1):
                run = words[start:end]
                if not any(len(w) > 2 and w not in self.nlp.Defaults.stop_words for w in run):
                    continue
                for candidate in {" ".join(run), normalize_name(" ".join(run))}:
                    entity_id = self.norm_to_entity.get(candidate)
                    if entity_id is not None:
                        found[entity_id] = 1.0
        return found

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
