"""Assign a schema type to a candidate span: head-word rules, then spaCy's NER label, then the
similarity of the span to each type's definition and examples under the embedder."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fieldmap.embedders import Embedder
from schemas import Schema


@dataclass(frozen=True)
class TypeGuess:
    type: str
    score: float
    rule: str  # head | ner | similarity | default


class Typer:
    def __init__(self, schema: Schema, embedder: Embedder | None, min_similarity: float = 0.0):
        self.schema = schema
        self.embedder = embedder
        self.min_similarity = min_similarity
        self._heads: dict[str, str] = {}
        for entity_type in schema.entity_types:
            for word in entity_type.head_words:
                self._heads.setdefault(word, entity_type.name)
        self._ner = {label: t.name for t in schema.entity_types for label in t.ner_labels}
        self._type_vectors = None
        if embedder is not None:
            texts = [f"{t.name}: {t.description}. Examples: {', '.join(t.examples)}" for t in schema.entity_types]
            self._type_vectors = embedder.passages(texts)

    def by_rules(self, norm_name: str, ner_label: str | None) -> TypeGuess | None:
        words = norm_name.split()
        if not words:
            return None
        for candidate in (norm_name, " ".join(words[-2:]), words[-1]):
            if candidate in self._heads:
                return TypeGuess(self._heads[candidate], 1.0, "head")
        if ner_label and ner_label in self._ner:
            return TypeGuess(self._ner[ner_label], 0.9, "ner")
        return None

    def by_similarity(self, names: list[str], vectors: np.ndarray | None) -> list[TypeGuess]:
        """Nearest type definition for each name; the default type when there is no embedder."""
        if self._type_vectors is None or vectors is None or not len(names):
            return [TypeGuess(self.schema.default_type, 0.0, "default") for _ in names]
        similarities = vectors @ self._type_vectors.T
        best = similarities.argmax(axis=1)
        guesses = []
        for row, index in enumerate(best):
            score = float(similarities[row, index])
            if score < self.min_similarity:
                guesses.append(TypeGuess(self.schema.default_type, score, "default"))
            else:
                guesses.append(TypeGuess(self.schema.entity_types[index].name, score, "similarity"))
        return guesses
