"""Offline, schema-typed extraction with spaCy: entity mentions from noun chunks and named
entities, relations from the dependency parse (subject-verb-object and noun-preposition-noun).

A candidate mention is a noun chunk trimmed to the concept it names: determiners, numbers,
adverbs, comparatives and the writer's qualifiers ("significant", "possible", "new", "observed")
come off the front, so "the highest magnetic field strength" is the mention "magnetic field
strength". Named entities add only what no noun chunk covers, unless the schema types their label.
Scholarly discourse ("this paper", "our results"), bare words that only refer back ("the model"),
units and citations are not mentions. A parenthesised acronym after a mention ("supernova remnant
(SNR)") makes the acronym an alias: its mentions in that document (within one extract call) get the
long form's normalised name, so they merge with it and share its type. A lone everyday word no head
word types ("peak", "accuracy"), or a name below the typer's similarity floor, is dropped with the
relations that used it (when the schema's default type is a catch-all, the lone word takes it)."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace
from typing import Iterator

from fieldmap.embedders import Embedder
from fieldmap.nlp import PARALLEL_MIN, forked
from kg.lexicon import (
    ACRONYM,
    BARE,
    BRACKETS,
    DESIGNATION_TAIL,
    DIMENSIONAL,
    DISCOURSE,
    LEADING_POS,
    LEADING_TAGS,
    LINK_PREPS,
    MATH,
    MEASURE,
    OBJECTS,
    QUALIFIERS,
    SKIP_NER,
    SUBJECTS,
    UNITS,
)
from kg.normalize import normalize_name
from kg.typing import Typer
from schemas import Schema


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

    def __init__(
        self,
        schema: Schema,
        nlp,
        embedder: Embedder | None,
        max_words: int = 8,
        min_similarity: float = 0.0,
        processes: int = 1,
    ):
        self.schema = schema
        self.nlp = nlp
        self.processes = processes  # spaCy worker processes for parse_all on large inputs
        self.embedder = embedder
        self.typer = Typer(schema, embedder, min_similarity)
        self.max_words = max_words
        self.typed_labels = {label for t in schema.entity_types for label in t.ner_labels}
        # A default type with head words of its own (science's object) is not a catch-all, so a lone
        # everyday word no rule types is not a concept; a catch-all default (general's concept) takes it.
        self.drop_lone_words = bool(schema.entity_type(schema.default_type).head_words)

    def parse_all(self, chunks: list[ChunkText]) -> Iterator:
        """The parses of `chunks`, in order, lazily: in `processes` spaCy workers when there are at
        least PARALLEL_MIN of them (a worker costs a model load), else in this process."""
        texts = (c.text for c in chunks)
        if self.processes > 1 and len(chunks) >= PARALLEL_MIN:
            return forked(self.nlp.pipe(texts, batch_size=32, n_process=self.processes))
        return self.nlp.pipe(texts, batch_size=64)

    def extract(self, chunks: list[ChunkText], parsed: list | None = None) -> list[Extraction]:
        """Mentions and relations of `chunks`; `parsed` (their spaCy docs, from parse_all) if already parsed."""
        if parsed is None:
            parsed = list(self.nlp.pipe([c.text for c in chunks], batch_size=64))
        aliases: dict[str, dict[str, str]] = {}  # per document: acronym -> long form's normalised name
        lone: set[tuple[str, int]] = set()  # (doc_id, start) of mentions that are one everyday word
        extractions = [
            self._extract_one(chunk, doc, aliases.setdefault(chunk.doc_id, {}), lone)
            for chunk, doc in zip(chunks, parsed)
        ]
        for extraction in extractions:  # an acronym defined later in the document still counts
            doc_aliases = aliases[extraction.doc_id]
            for mention in extraction.mentions:
                mention.norm_name = doc_aliases.get(mention.norm_name, mention.norm_name)
        # everything below is decided per document (a name, its label, whether it is a lone word), never across the
        # batch, so a document's mentions do not depend on which documents share its batch (a shard, a later run)
        mentions = [(e.doc_id, m) for e in extractions for m in e.mentions]
        not_lone = {(d, m.norm_name) for d, m in mentions if (d, m.start) not in lone}
        self._type_mentions(
            mentions, {(d, m.norm_name) for d, m in mentions} - not_lone if self.drop_lone_words else set()
        )
        return [_without_untyped(e) for e in extractions]

    def _extract_one(self, chunk: ChunkText, parsed, aliases: dict[str, str], lone: set[tuple[str, int]]) -> Extraction:
        extraction = Extraction(chunk.chunk_id, chunk.doc_id)
        by_root: dict[int, int] = {}
        covered: set[int] = set()  # token indices inside noun-chunk mentions
        ends: dict[int, Mention] = {}  # last token index -> mention, for acronym definitions
        spans = [(span, "noun_chunk", None) for span in parsed.noun_chunks]
        spans += [
            (ent, "ner", ent.label_)
            for ent in parsed.ents
            if ent.label_ in self.typed_labels or ent.label_ not in SKIP_NER
        ]
        seen: set[tuple[int, int]] = set()
        entity_ends = {ent[-1].i: ent.label_ for ent in parsed.ents if ent.label_ in self.typed_labels}
        skipped = {
            i
            for ent in parsed.ents
            if ent.label_ in SKIP_NER and ent.label_ not in self.typed_labels and not ent.text[:1].islower()
            for i in range(ent.start, ent.end)
        }
        for span, origin, label in spans:
            tokens = self._concept_tokens(span)
            if tokens is None or (
                origin == "ner" and label not in self.typed_labels and any(t.i in covered for t in tokens)
            ):
                continue  # an entity label the schema does not type adds only what no noun chunk covers
            if origin == "noun_chunk":  # the label of a named entity the chunk ends with ("psychologist Carl Rogers")
                label = entity_ends.get(tokens[-1].i)
                if all(t.i in skipped for t in tokens):
                    continue  # within a date or a person's name the schema does not type
            mention = self._mention(chunk, tokens, origin, label)
            if mention is None or (mention.start, mention.end) in seen:
                continue
            seen.add((mention.start, mention.end))
            if origin == "noun_chunk":
                covered.update(t.i for t in tokens)
            root = span.root.i if tokens[0].i <= span.root.i <= tokens[-1].i else tokens[-1].i
            by_root.setdefault(root, len(extraction.mentions))
            ends[tokens[-1].i] = mention
            if (
                len(tokens) == 1
                and label is None
                and (tokens[0].is_lower or (tokens[0].is_sent_start and tokens[0].is_title))
            ):
                lone.add((chunk.doc_id, mention.start))  # one everyday word (not a name, acronym or designation)
            extraction.mentions.append(mention)
        _collect_aliases(parsed, ends, aliases)
        extraction.relations = self._relations(parsed, by_root, extraction.mentions)
        return extraction

    def _concept_tokens(self, span) -> list | None:
        """The span's tokens trimmed to the concept it names, or None when nothing nameable is left."""
        if span.root.pos_ == "PRON":
            return None
        tokens = _bracket_segment(list(span), span.root)
        commas = [n for n, t in enumerate(tokens[:-1]) if t.text == "," and t.i < span.root.i]
        if commas:  # "a slightly evolved, late G type star": a list of qualifiers ends at the last comma
            tokens = tokens[commas[-1] + 1 :]
        while tokens and _leading_noise(tokens):
            tokens = tokens[1:]
        if any(t.lower_ == "et" for t in tokens) and any(t.lower_ in ("al", "al.") for t in tokens):
            return None  # "Burke et al.": a citation
        while tokens and tokens[-1].pos_ in ("PUNCT", "PART", "SPACE"):
            tokens = tokens[:-1]
        if not tokens or len(tokens) > self.max_words:
            return None
        doc = span.doc
        while (
            tokens[-1].i + 1 < len(doc)
            and not tokens[-1].whitespace_
            and any(c.isdigit() for c in tokens[-1].text)
            and DESIGNATION_TAIL.fullmatch(doc[tokens[-1].i + 1].text)
        ):
            tokens = tokens + [doc[tokens[-1].i + 1]]  # the tokeniser splits "G1.9+0.3" into "G1.9" "+0.3"
        return tokens

    def _mention(self, chunk: ChunkText, tokens: list, origin: str, label: str | None) -> Mention | None:
        text = chunk.text[tokens[0].idx : tokens[-1].idx + len(tokens[-1])]
        if any(c in MATH for c in text) or not any(c.isalpha() for c in text) or "et al" in text:
            return None
        if all(t.is_stop or not any(c.isalpha() for c in t.text) for t in tokens):
            return None
        head = tokens[-1]
        norm = normalize_name(text, head.lemma_ if head.tag_ in ("NNS", "NNPS") else None)
        last = norm.rsplit(" ", 1)[-1]
        if len(norm) < 2:
            return None
        if label not in self.typed_labels:  # a typed entity ("January 1960") is not filtered as a common noun phrase
            if norm in BARE or last in DISCOURSE or last in UNITS or _is_measure(last):
                return None
            if head.like_num and not (len(tokens) > 1 and tokens[-2].text.isupper()):
                return None  # "year 5", "model 2"; but "NGC 4258" is a name
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
                        relations.append(
                            Relation(si, oi, self.schema.relation_for_verb(lemma), predicate, mentions[si].sent_index)
                        )

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

    def _type_mentions(self, mentions: list[tuple[str, Mention]], lone_words: set[tuple[str, str]]) -> None:
        """Rules first; the rest by similarity, except lone common words (`lone_words`, by document and name): with
        no head word for them they are everyday language ("peak", "sum", "accuracy") and stay untyped, as do
        names below the typer's similarity floor; untyped mentions are dropped later. A rule reads the NER label
        of the name in its own document. Every name is embedded once here, because the entity index needs the
        vectors anyway (the memoising embedder hands them on)."""
        labels = {(d, m.norm_name): m.ner_label for d, m in mentions if m.ner_label}
        keys = list(dict.fromkeys((d, m.norm_name) for d, m in mentions))
        by_rules = {key: self.typer.by_rules(key[1], labels.get(key)) for key in keys}
        for key in lone_words:  # a suffix alone does not make a lone word a concept ("simplicity")
            if by_rules[key] is not None and by_rules[key].rule == "suffix":
                by_rules[key] = None
        embedded = list(dict.fromkeys(key[1] for key in keys if by_rules[key] is not None or key not in lone_words))
        vectors = self.embedder.passages(embedded) if self.embedder is not None and embedded else None
        untyped = list(dict.fromkeys(key[1] for key in keys if by_rules[key] is None and key not in lone_words))
        rows = {name: row for row, name in enumerate(embedded)}
        guesses = self.typer.by_similarity(
            untyped, vectors[[rows[name] for name in untyped]] if vectors is not None and untyped else None
        )
        by_similarity = dict(zip(untyped, guesses))
        for doc_id, mention in mentions:
            key = (doc_id, mention.norm_name)
            guess = by_rules[key] or (by_similarity.get(mention.norm_name) if key not in lone_words else None)
            mention.type, mention.type_score = (guess.type, guess.score) if guess is not None else ("", 0.0)


def _leading_noise(tokens: list) -> bool:
    """Whether the first token is a determiner, number, adverb, comparative or qualifier to trim."""
    first = tokens[0]
    if len(tokens) > 1 and (tokens[1].tag_ == "HYPH" or tokens[1].text == "-") and not first.whitespace_:
        return False  # "high-resolution", "non-Gaussian": a compound, not a qualifier
    if (
        first.pos_ in LEADING_POS
        or (first.pos_ == "NUM" and first.like_num)
        or not any(c.isalpha() for c in first.text)
    ):
        return True  # but "2MASS" is a name, not a number
    qualifier = first.pos_ in ("ADJ", "VERB", "ADV") and (
        first.lower_ in QUALIFIERS or (first.lower_ in DIMENSIONAL and len(tokens) == 2)
    )
    if first.tag_ in LEADING_TAGS or qualifier:  # as a noun the word is part of the name ("current sheet")
        # capitalised words belong to names ("Very Large Array"), unless only the sentence start made them so
        return first.is_lower or (first.is_sent_start and (len(tokens) == 1 or tokens[1].is_lower))
    return False


def _is_measure(word: str) -> bool:
    """A number with its unit written as one word: "6-cm", "20cm", "10GeV"."""
    match = MEASURE.fullmatch(word)
    return match is not None and match.group(1) in UNITS


def _bracket_segment(tokens: list, root) -> list:
    """A span cut by an unbalanced bracket or quote ("(ATCA) radio-continuum observation", "SNR) G1.9",
    'gravity" black holes') keeps the run that holds its root; a balanced "(ATCA)" inside a name stays."""
    quotes = [n for n, t in enumerate(tokens) if t.text in ('"', "“", "”", "''", "``")]
    if len(quotes) % 2:
        cut = quotes[0]
        tokens = tokens[cut + 1 :] if tokens[cut].i < root.i else tokens[:cut]
    depth, balanced = 0, True
    for token in tokens:
        if token.text in BRACKETS:
            depth += 1
        elif token.text in BRACKETS.values():
            depth -= 1
            balanced = balanced and depth >= 0
    if balanced and depth == 0 and tokens and tokens[0].text not in BRACKETS:
        return tokens
    runs, current = [], []
    for token in tokens:
        if token.text in BRACKETS or token.text in BRACKETS.values():
            runs.append(current)
            current = []
        else:
            current.append(token)
    runs.append(current)
    runs = [run for run in runs if run]
    return next((run for run in runs if run[0].i <= root.i <= run[-1].i), runs[-1] if runs else [])


def _collect_aliases(parsed, ends: dict, aliases: dict[str, str]) -> None:
    """ "long form (ACR)": ACR (and its plural) becomes an alias of the mention just before the bracket,
    when the acronym's letters appear in order in the long form and its first letter starts a word."""
    for token in parsed[:-2]:
        if token.text != "(" or parsed[token.i + 2].text != ")":
            continue
        acronym = parsed[token.i + 1].text
        long_form = ends.get(token.i - 1)
        if long_form is None or not ACRONYM.fullmatch(acronym) or sum(c.isupper() for c in acronym) < 2:
            continue
        if _abbreviates(acronym, long_form.text):
            key = acronym.lower()
            aliases.setdefault(key, long_form.norm_name)
            aliases.setdefault(key + "s", long_form.norm_name)


def _abbreviates(acronym: str, long_form: str) -> bool:
    letters = [c.lower() for c in acronym if c.isalnum()]
    words = re.split(r"[\s\-/]+", long_form.lower())
    if not letters or not any(w.startswith(letters[0]) for w in words):
        return False
    text = " ".join(words[next(i for i, w in enumerate(words) if w.startswith(letters[0])) :])
    position = 0
    for letter in letters:
        position = text.find(letter, position)
        if position < 0:
            return False
        position += 1
    return True


def _without_untyped(extraction: Extraction) -> Extraction:
    """The extraction without the mentions the typer left untyped, relations re-indexed (and none
    left between an acronym and its long form, which now share a name)."""
    mentions = extraction.mentions
    kept = {old: new for new, old in enumerate(i for i, m in enumerate(mentions) if m.type)}
    relations = [
        replace(r, subject=kept[r.subject], object=kept[r.object])
        for r in extraction.relations
        if r.subject in kept and r.object in kept and mentions[r.subject].norm_name != mentions[r.object].norm_name
    ]
    return Extraction(extraction.chunk_id, extraction.doc_id, [m for m in mentions if m.type], relations)


def _with_conjuncts(token) -> list:
    found = [token]
    for child in token.children:
        if child.dep_ == "conj":
            found.extend(_with_conjuncts(child))
    return found
