"""Offline, schema-typed extraction with spaCy: entity mentions from noun chunks and named
entities, relations from the dependency parse (subject-verb-object and noun-preposition-noun)."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from fieldmap.embedders import Embedder
from kg.normalize import normalize_name
from kg.typing import Typer
from schemas import Schema

SKIP_NER = {"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "TIME"}
GENERIC = {
    "paper", "work", "result", "study", "studies", "analysis", "case", "cases", "way", "order", "number", "part",
    "fact", "terms", "term", "respect", "addition", "contrast", "example", "use", "presence", "basis", "lack",
    "kind", "type", "types", "level", "levels", "range", "set", "lot", "end", "time", "times", "one", "ones",
    "question", "issue", "problem", "point", "points", "aspect", "evidence", "detail", "details", "discussion",
}
SUBJECTS = {"nsubj", "nsubjpass", "csubj"}
OBJECTS = {"dobj", "attr", "oprd", "dative"}
LINK_PREPS = {"of", "in", "for", "from", "with", "on", "by", "at", "to", "into", "within", "between", "around", "near"}


@dataclass(frozen=True)
class ChunkText:
    """The part of a chunk its extractor owns (overlap with the previous chunk is skipped)."""

    chunk_id: str
    doc_id: str
    text: str
    offset: int  # document offset of text[0]
    sentence_starts: tuple[int, ...]  # document offsets of the owned sentences
    first_sentence: int  # document index of the first owned sentence


@dataclass
class Mention:
    text: str
    start: int  # document character offsets
    end: int
    sent_index: int
    norm_name: str
    origin: str  # ner | noun_chunk
    ner_label: str | None = None
    type: str = ""
    type_score: float = 0.0


@dataclass(frozen=True)
class Relation:
    subject: int  # indices into Extraction.mentions
    object: int
    relation: str
    predicate: str
    sent_index: int


@dataclass
class Extraction:
    chunk_id: str
    doc_id: str
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)


class SpacyExtractor:
    method = "spacy"

    def __init__(self, schema: Schema, nlp, embedder: Embedder | None, max_words: int = 8, min_similarity: float = 0.0):
        self.schema = schema
        self.nlp = nlp
        self.embedder = embedder
        self.typer = Typer(schema, embedder, min_similarity)
        self.max_words = max_words

    def extract(self, chunks: list[ChunkText]) -> list[Extraction]:
        extractions = []
        for chunk, parsed in zip(chunks, self.nlp.pipe([c.text for c in chunks], batch_size=64)):
            extractions.append(self._extract_one(chunk, parsed))
        self._type_mentions([m for e in extractions for m in e.mentions])
        return extractions

    def _extract_one(self, chunk: ChunkText, parsed) -> Extraction:
        extraction = Extraction(chunk.chunk_id, chunk.doc_id)
        by_root: dict[int, int] = {}
        spans = [(span, "noun_chunk", None) for span in parsed.noun_chunks]
        spans += [(ent, "ner", ent.label_) for ent in parsed.ents if ent.label_ not in SKIP_NER]
        seen: set[tuple[int, int]] = set()
        for span, origin, label in spans:
            mention = self._mention(chunk, span, origin, label)
            if mention is None or (mention.start, mention.end) in seen:
                continue
            seen.add((mention.start, mention.end))
            by_root.setdefault(span.root.i, len(extraction.mentions))
            extraction.mentions.append(mention)
        extraction.relations = self._relations(parsed, by_root, extraction.mentions)
        return extraction

    def _mention(self, chunk: ChunkText, span, origin: str, label: str | None) -> Mention | None:
        tokens = list(span)
        while tokens and (tokens[0].pos_ in ("DET", "PRON", "PUNCT", "NUM", "ADP", "CCONJ") or tokens[0].lower_ in ("our", "new")):
            tokens = tokens[1:]
        while tokens and tokens[-1].pos_ in ("PUNCT", "PART"):
            tokens = tokens[:-1]
        if not tokens or span.root.pos_ == "PRON" or len(tokens) > self.max_words:
            return None
        text = chunk.text[tokens[0].idx : tokens[-1].idx + len(tokens[-1])]
        if any(c in text for c in "$\\{}=") or not any(c.isalpha() for c in text):
            return None
        if all(t.is_stop or not t.is_alpha for t in tokens):
            return None
        head = tokens[-1]
        norm = normalize_name(text, head.lemma_ if head.tag_ in ("NNS", "NNPS") else None)
        if len(norm) < 2 or norm in GENERIC:
            return None
        start = chunk.offset + tokens[0].idx
        sent = chunk.first_sentence + max(bisect.bisect_right(chunk.sentence_starts, start) - 1, 0)
        return Mention(text, start, start + len(text), sent, norm, origin, label)

    def _relations(self, parsed, by_root: dict[int, int], mentions: list[Mention]) -> list[Relation]:
        relations: list[Relation] = []
        seen: set[tuple[int, str, int]] = set()

        def add(subject_token, predicate: str, lemma: str, object_token) -> None:
            for s in _with_conjuncts(subject_token):
                for o in _with_conjuncts(object_token):
                    si, oi = by_root.get(s.i), by_root.get(o.i)
                    if si is None or oi is None or si == oi or mentions[si].norm_name == mentions[oi].norm_name:
                        continue
                    key = (si, predicate, oi)
                    if key not in seen:
                        seen.add(key)
                        relations.append(Relation(si, oi, self.schema.relation_for_verb(lemma), predicate, mentions[si].sent_index))

        for token in parsed:
            if token.pos_ in ("VERB", "AUX"):
                subjects = [c for c in token.children if c.dep_ in SUBJECTS]
                agents = [g for c in token.children if c.dep_ == "agent" for g in c.children if g.dep_ == "pobj"]
                objects = [c for c in token.children if c.dep_ in OBJECTS]
                preps = [(c, g) for c in token.children if c.dep_ == "prep" for g in c.children if g.dep_ == "pobj"]
                passive = any(c.dep_ == "nsubjpass" for c in subjects)
                lemma = token.lemma_.lower()
                if passive and agents:
                    for a in agents:
                        for s in subjects:
                            add(a, lemma, lemma, s)
                    continue
                for s in subjects:
                    for o in objects:
                        add(s, lemma, lemma, o)
                    for prep, pobj in preps:
                        add(s, f"{lemma} {prep.lower_}", lemma, pobj)
                if not subjects or all(s.pos_ == "PRON" for s in subjects):
                    # "we use X to measure Y": relate the verb's object to its prepositional objects
                    for o in objects:
                        for prep, pobj in preps:
                            add(o, f"{lemma} {prep.lower_}", lemma, pobj)
            elif token.i in by_root:
                for prep in (c for c in token.children if c.dep_ == "prep" and c.lower_ in LINK_PREPS):
                    for pobj in (g for g in prep.children if g.dep_ == "pobj"):
                        add(token, prep.lower_, prep.lower_, pobj)
        return relations

    def _type_mentions(self, mentions: list[Mention]) -> None:
        """Rules first; the rest by similarity. Every name is embedded once here, because the
        entity index needs the vectors anyway (the memoising embedder hands them on)."""
        names = list(dict.fromkeys(m.norm_name for m in mentions))
        vectors = self.embedder.passages(names) if self.embedder is not None and names else None
        by_similarity = dict(zip(names, self.typer.by_similarity(names, vectors)))
        for mention in mentions:
            guess = self.typer.by_rules(mention.norm_name, mention.ner_label) or by_similarity[mention.norm_name]
            mention.type, mention.type_score = guess.type, guess.score


def _with_conjuncts(token) -> list:
    found = [token]
    for child in token.children:
        if child.dep_ == "conj":
            found.extend(_with_conjuncts(child))
    return found
