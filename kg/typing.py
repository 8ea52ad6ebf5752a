"""Assign a schema type to a candidate span: head-word rules, catalogue designations, spaCy's NER
label, then the similarity of the span to each type's prototypes (its definition, examples and
head words) under the embedder. A span not similar enough to any type gets no type."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fieldmap.embedders import Embedder
from schemas import Schema

DESIGNATION = re.compile(r"(?=.*[0-9])(?=.*[a-z])[a-z0-9][a-z0-9.+\-−*]*")  # "m31", "xo-5b", "g1.9+0.3", "1e"
NOT_DESIGNATION = re.compile(r"[0-9]+d|.*_.*|pp?\.[0-9].*")  # "3d", "h_0", "p.1572"
DISCIPLINE = "field"  # a schema type of this name names disciplines: its head words type whole names only


@dataclass(frozen=True)
class TypeGuess:
    type: str
    score: float
    rule: str  # head | suffix | designation | ner | similarity | default


class Typer:
    """Rules, then nearest prototypes.

    Head words match the whole name, its last two words, then its last word (or the last part of a
    hyphenated one), so "power spectrum" can be a property while "spectrum" is a modality; a head
    word written "-ity" matches as a suffix. A discipline's word types a bare name
    ("cosmology" is a field) but not a modified one ("inflationary cosmology" is typed by the other
    types' head words, here model). A name shaped like a catalogue designation ("W51", "XO-5b")
    gets the type whose examples are most often shaped like one.

    Similarity: a type's score is the mean of its `top_k` most similar prototypes (its definition,
    examples and head words, each embedded alone). A name below `min_similarity` for every type gets
    no type. Otherwise the schema's default type is kept unless another type scores at least
    `default_margin` more: short names sit close to several definitions, and on the kg-for-science
    annotations a near tie was right less often than the default (object, the commonest type)."""

    def __init__(
        self,
        schema: Schema,
        embedder: Embedder | None,
        min_similarity: float = 0.0,
        top_k: int = 3,
        default_margin: float = 0.1,
    ):
        self.schema = schema
        self.embedder = embedder
        self.min_similarity = min_similarity
        self.top_k = top_k
        self.default_margin = default_margin
        self._default_index = schema.type_names.index(schema.default_type)
        self._whole: dict[str, str] = {}
        self._heads: dict[str, str] = {}
        words = {t.name: [w for w in t.head_words if not w.startswith("-")] for t in schema.entity_types}
        for entity_type in sorted(schema.entity_types, key=lambda t: t.name != DISCIPLINE):
            for word in words[entity_type.name]:
                self._whole.setdefault(word, entity_type.name)
        for entity_type in sorted(schema.entity_types, key=lambda t: t.name == DISCIPLINE):
            for word in words[entity_type.name]:
                self._heads.setdefault(word, entity_type.name)
        # a head word written "-ity" is a suffix: the last word ending so ("viscosity") has the type
        self._suffixes = sorted(
            ((w[1:], t.name) for t in schema.entity_types for w in t.head_words if w.startswith("-") and len(w) > 1),
            key=lambda pair: -len(pair[0]),
        )
        self._ner = {label: t.name for t in schema.entity_types for label in t.ner_labels}
        shaped = {t.name: sum(_is_designation(e.lower().split()) for e in t.examples) for t in schema.entity_types}
        self._designation_type = max(shaped, key=shaped.get) if any(shaped.values()) else None
        self._prototype_vectors = None
        if embedder is not None:
            texts, owners = [], []
            for index, entity_type in enumerate(schema.entity_types):
                for text in dict.fromkeys([entity_type.description, *entity_type.examples, *words[entity_type.name]]):
                    texts.append(text)
                    owners.append(index)
            self._prototype_vectors = embedder.passages(texts)
            self._owners = np.array(owners)
        # a discipline is named by its words ("physics", "-ology"), not by resembling one: "physical process" is no field
        self._similar_types = [
            i for i, t in enumerate(schema.entity_types) if t.name != DISCIPLINE or len(schema.entity_types) == 1
        ]

    def by_rules(self, norm_name: str, ner_label: str | None) -> TypeGuess | None:
        words = norm_name.split()
        if not words:
            return None
        if norm_name in self._whole:
            return TypeGuess(self._whole[norm_name], 1.0, "head")
        for candidate in (" ".join(words[-2:]), words[-1], *_singulars(words[-1])):
            if candidate in self._heads:
                return TypeGuess(self._heads[candidate], 1.0, "head")
        last = words[-1].rsplit("-", 1)[-1]  # "radio-continuum" is a kind of continuum
        if last != words[-1] and last in self._heads:
            return TypeGuess(self._heads[last], 1.0, "head")
        for suffix, type_name in self._suffixes:
            if last.endswith(suffix) and len(last) > len(suffix) + 2:
                return TypeGuess(type_name, 0.95, "suffix")
        if self._designation_type is not None and _is_designation(words):
            return TypeGuess(self._designation_type, 0.95, "designation")
        if ner_label and ner_label in self._ner:
            return TypeGuess(self._ner[ner_label], 0.9, "ner")
        return None

    def by_similarity(self, names: list[str], vectors: np.ndarray | None) -> list[TypeGuess | None]:
        """The nearest type for each name (the default type unless another is clearly nearer), None
        below min_similarity; the default type when there is no embedder (nothing to judge by)."""
        if self._prototype_vectors is None or vectors is None or not len(names):
            return [TypeGuess(self.schema.default_type, 0.0, "default") for _ in names]
        similarities = vectors @ self._prototype_vectors.T
        scores = np.full((len(names), len(self.schema.entity_types)), -1.0, dtype=np.float32)
        for index in self._similar_types:
            columns = similarities[:, self._owners == index]
            if columns.shape[1]:
                scores[:, index] = -np.sort(-columns, axis=1)[:, : self.top_k].mean(axis=1)
        best = scores.argmax(axis=1)
        guesses: list[TypeGuess | None] = []
        for row, index in enumerate(best):
            if scores[row, index] < self.min_similarity:
                guesses.append(None)
                continue
            if scores[row, index] - scores[row, self._default_index] < self.default_margin:
                index = self._default_index
            guesses.append(TypeGuess(self.schema.entity_types[index].name, float(scores[row, index]), "similarity"))
        return guesses


def _singulars(word: str) -> list[str]:
    """Singular guesses for a plural the tagger did not lemmatise ("bursts" read as a verb)."""
    if word.endswith("ies") and len(word) > 4:
        return [word[:-3] + "y"]
    if word.endswith("es") and len(word) > 4:
        return [word[:-2], word[:-1]]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return [word[:-1]]
    return []


def _is_designation(words: list[str]) -> bool:
    """A catalogue-style name: its last word mixes letters and digits ("xo-5b"), or is a number after
    a short letter prefix ("ngc 4258")."""
    if not words or NOT_DESIGNATION.fullmatch(words[-1]):
        return False
    if DESIGNATION.fullmatch(words[-1]):
        return True
    return (
        len(words) >= 2
        and re.fullmatch(r"[0-9][0-9.+\-−]*", words[-1]) is not None
        and re.fullmatch(r"[a-z]{1,5}", words[-2]) is not None
    )
