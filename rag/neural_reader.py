"""The neural reader: the span model (rag/span) reads each hop of a question, the rules around it.

A question is decomposed as before (rag/chain.py: its innermost bracket first, the bridge put in its place), and
each hop's question goes to the span model over that hop's passages, each passage read under its title. The
model's spans are kept when they are of the expected answer type (rag/answer_types.py; a span is typed when
it overlaps one of the rule reader's typed candidates in its sentence); the best by span score over the
passage's no-answer score wins, and its sigmoid is the answer's confidence. Comparisons are answered in code
(rag/comparisons.py): each side is a question of its own, read the same way, and the two values compared.
Open questions ("what do X reveal about Y") and yes/no questions that compare nothing keep the rule reader."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rag.answer_types import CHOICE, DATE, DESCRIPTION, NUMBER, PERSON, PLACE, THING, YES_NO, classify, type_of_focus
from rag.candidates import YEAR, answer_candidates, bare_title, trim
from rag.comparisons import choice_sides, country_of, date_value, decide, same_sides
from rag.reader import QUESTION_WORDS, Reader, question_names
from rag.reading import Evidence, GraphSignals, Reading
from rag.words import content_words, lemma_words

PER_PASSAGE = 5  # spans kept of each passage before the type filter
# a longer passage is read as its sentences closest to the question, up to this many tokens: a 260-token abstract
# costs the model three times a 90-token Wikipedia paragraph, and its answer sits in a sentence that names the question's words
WORD_BUDGET = 120
NATIONALITY = frozenset({"nationality", "citizenship"})
SNAP_WORDS = 3  # a typed span longer than its typed name by more words than this is cut to the name


class NeuralReader(Reader):
    def __init__(self, nlp, span_reader, embedder=None, stored=None, typed_by_rules: bool = False):
        super().__init__(nlp, embedder, stored=stored)
        self.span_reader = span_reader
        self.typed_by_rules = typed_by_rules  # a hop whose answer the rules find typed keeps the rules' answer

    def read(
        self,
        question: str,
        passages: list,
        headings: list[str] | None = None,
        graph: GraphSignals | None = None,
        retrieve=None,
        on_hop=None,
    ) -> Reading:
        """`on_hop`: told each bridge of a chain as it is read; a comparison's sides are read first and come in
        the Reading's `chain` (QueryEngine.ask tells a listener of them after reading)."""
        qtype = classify(question)
        sides = (
            choice_sides(self.nlp, question, qtype.options)
            if qtype.kind == CHOICE
            else same_sides(question)
            if qtype.kind == YES_NO
            else None
        )
        if sides is not None:
            compared = self._compare(sides, passages, headings, graph, retrieve)
            if compared is not None:
                return compared
        return super().read(question, passages, headings, graph, retrieve, on_hop)

    def _compare(self, sides, passages: list, headings, graph, retrieve) -> Reading | None:
        """Each side read as its own question (a chain where it nests a hop, retrieving for it when it can),
        the values compared; None when a side has no value, and the rules read the question whole."""
        readings, values, pool = [], [], list(passages)
        for question in sides.questions:
            read_over = list(pool)
            if retrieve is not None:  # the side's own passages first: the question's top k may hold only one side
                have = {p.chunk_id for p in read_over}
                read_over = [p for p, _ in retrieve(question) if p.chunk_id not in have][:3] + read_over
            reading = super().read(question, read_over, None, graph, retrieve)
            if reading.passages is None:
                reading.passages = read_over
            readings.append(reading)
            values.append(_value(sides.kind, reading.answer))
        outcome = decide(sides, values)
        if outcome is None:
            return None
        merged, evidence = list(passages), []
        for reading in readings:  # one passage list for both sides: [n] renumbered into it
            for e in reading.evidence[:1]:
                passage = reading.passages[e.passage - 1]
                if passage.chunk_id not in {p.chunk_id for p in merged}:
                    merged.append(passage)
                number = next(i for i, p in enumerate(merged, 1) if p.chunk_id == passage.chunk_id)
                evidence.append(Evidence(e.text, number, e.chunk_id, e.doc_id, e.score))
        confidence = min((r.confidence for r in readings if r.confidence is not None), default=None)
        if sides.kind == "same":
            answer, kind = ("yes" if outcome else "no"), YES_NO
        else:
            answer, kind = sides.options[outcome], CHOICE
        return Reading(
            answer,
            kind,
            evidence,
            [(r.answer, r.confidence or 0.0) for r in readings],
            typed=True,
            resolved=" / ".join(sides.questions),
            passages=merged,
            confidence=confidence,
            chain=[(r.answer, e.passage) for r, e in zip(readings, evidence)],
        )

    def _read_flat(
        self,
        question: str,
        passages: list,
        headings: list[str],
        graph: GraphSignals | None,
        named: tuple[str, ...] = (),
    ) -> Reading:
        qtype = classify(question)
        if qtype.kind in (DESCRIPTION, YES_NO, CHOICE) or not passages:
            return super()._read_flat(question, passages, headings, graph, named)
        if qtype.focus in NATIONALITY:  # answered by a nationality or a country, not by any name
            qtype = replace(qtype, kind=PLACE, labels=frozenset({"NORP", "GPE"}))
        if self.typed_by_rules and qtype.kind != THING:
            ruled = super()._read_flat(question, passages, headings, graph, named)
            if ruled.typed and ruled.answer:  # the entity recogniser types the answer: the rules' choice stands
                return ruled
        docs = self.parse([p.chunk_id for p in passages], [p.text for p in passages])
        question_words = content_words(question)
        lemmas = {w for w in lemma_words(self.nlp(question)) if w not in QUESTION_WORDS}
        views = [_View.of(p, doc, lemmas) for p, doc in zip(passages, docs)]
        # a hop is anchored at what it names: read the passages that name the most of the question's names
        names = _names(self.nlp(question))
        anchored = [_anchor(names, p) for p in passages]
        best_anchor = max(anchored)
        named_words = [content_words(n) for n in named]
        scored = []  # (type fit, margin, passage, answer, sentence, probability)
        for found in self.span_reader.spans(as_asked(question), [v.text for v in views], PER_PASSAGE):
            if anchored[found.passage] < best_anchor:
                continue
            view, doc, passage = views[found.passage], docs[found.passage], passages[found.passage]
            where = view.locate(found.start, found.end)
            if where is None:
                continue  # runs across the title and the text, or across two sentences read apart
            start, end = where
            if start < 0:  # inside the title: the passage's first sentence stands as its evidence
                surface = view.text[found.start : found.end]
                sentence = next(iter(doc.sents), None)
                fit = _title_fit(self.nlp, surface, qtype)
            else:
                surface = passage.text[start:end]
                sentence = next((s for s in doc.sents if s.start_char <= start < s.end_char), None)
                fit, typed_surface = (
                    _span_fit(sentence, start, end, qtype, passage.title) if sentence is not None else (0.0, "")
                )
                # a long span around a name of the asked-for type: the name is the answer; but a range of dates (a
                # lifespan) is left whole, for _shape to take the date asked for, not the first (a birth for a death)
                ranged = qtype.kind == DATE and _RANGE.match(trim(surface)) is not None
                if typed_surface and not ranged and len(surface.split()) > len(typed_surface.split()) + SNAP_WORDS:
                    surface = typed_surface
            answer = _shape(trim(surface), qtype, question)
            words = content_words(answer)
            if not words or words <= question_words or any(words <= earlier for earlier in named_words if earlier):
                continue  # repeats the question, as asked or as rewritten, or a bridge read before
            scored.append((fit, found.score - found.null, found.passage, answer, sentence, found.probability))
        if not scored:
            return super()._read_flat(question, passages, headings, graph, named)
        typed = any(s[0] > 0 for s in scored)
        if (
            not typed and qtype.kind != THING
        ):  # none of the model's spans is of the asked-for type: the rules look wider
            return super()._read_flat(question, passages, headings, graph, named)
        pool = [s for s in scored if s[0] > 0] if typed else scored
        # ranked by the span's own probability (the confidence shown), not by its margin over "no answer", which
        # grows with a passage's length: "RXTE" (0.64) over "the pulsar navigation" (0.24) for the instruments of pulsar timing
        pool.sort(key=lambda s: (-s[5], -s[1], s[2]))
        _, margin, number, answer, sentence, probability = pool[0]
        text = sentence.text.strip() if sentence is not None else passages[number].text[:200]
        passage = passages[number]
        evidence = [Evidence(text, number + 1, passage.chunk_id, passage.doc_id, round(margin, 4))]
        candidates = [(c[3], round(c[5], 4)) for c in pool[:5]]
        return Reading(answer, qtype.kind, evidence, candidates, typed=typed, confidence=round(probability, 4))


@dataclass
class _View:
    """What the span model reads of a passage: its title, then its text, or of a long text only the sentences that
    share the most words with the question (in their order, WORD_BUDGET words in all), with the way back to the
    passage's characters. In a person's passage (its title a name the entity recogniser labels a person), a sentence
    whose subject is "he" or "she" names that person: a biography says "He was married to ..." after its first
    sentence, and asked for the spouse of its title, the sentence shares the title's words with the question, not
    the relation's ("spouse")."""

    text: str
    pieces: list[tuple[int, int, int]]  # (start in text, end in text, start in the passage; -1 for the title)

    @classmethod
    def of(cls, passage, doc, question_lemmas: set[str]) -> "_View":
        text, pieces = "", []
        if passage.title:
            pieces.append((0, len(passage.title), -1))
            text = passage.title + ". "
        sentences = list(doc.sents)
        if len(doc) > WORD_BUDGET and len(sentences) > 1:
            subject = content_words(bare_title(passage.title or ""))
            # "he" or "she" is the passage's subject only where that subject is a person (a film's plot has its own "he")
            person = bool(subject) and any(e.label_ == "PERSON" and content_words(e.text) == subject for e in doc.ents)

            def shared(sentence) -> int:
                words = lemma_words(sentence)
                if person and any(t.lower_ in ("he", "she") and t.dep_ in ("nsubj", "nsubjpass") for t in sentence):
                    words |= subject  # "He was married to ...": about the passage's subject, which it names so
                return len(question_lemmas & words)

            ranked = sorted(range(len(sentences)), key=lambda i: (-shared(sentences[i]), i))
            kept, words = set(), 0
            for i in ranked:
                if words and words + len(sentences[i]) > WORD_BUDGET:
                    break
                kept.add(i)
                words += len(sentences[i])
            sentences = [s for i, s in enumerate(sentences) if i in kept]
        for sentence in sentences:
            pieces.append((len(text), len(text) + len(sentence.text), sentence.start_char))
            text += sentence.text + " "
        return cls(text, pieces)

    def locate(self, start: int, end: int) -> tuple[int, int] | None:
        """A span of `text` in the passage's characters (negative: in the title), or None across pieces."""
        for first, last, origin in self.pieces:
            if first <= start < last:
                if end > last:
                    return None
                return (
                    (start - first - len(self.text), end - first - len(self.text))
                    if origin < 0
                    else (origin + start - first, origin + end - first)
                )
        return None


def _names(parsed) -> set[str]:
    """The question's names (rag/reader.py's question_names) with its capitalised words after the first: a title's
    words are a name whatever the small parser tags them ("Past" of "Woman Without a Past" is a noun to it, and
    without it "Woman Without a Face" named as much of the question)."""
    return question_names(parsed) | content_words(" ".join(t.text for t in parsed[1:] if t.is_title))


def _anchor(names: set[str], passage) -> int:
    """How many of the question's names the passage names, one more when its title is one of them: the article about
    the hop's subject ("The Last Coupon" for its director) before another that mentions it (a remake's, whose
    playwright the model took for the director)."""
    title = content_words(bare_title(passage.title or ""))
    return len(names & (content_words(passage.title) | content_words(passage.text))) + bool(title and title <= names)


_WHICH_OF = re.compile(r"^which (?P<noun>[\w\-]+(?: [\w\-]+)?) of (?P<owner>.+?)(?:'s?)?\s*\??$")


def as_asked(question: str) -> str:
    """A chain's bracket as a person would ask it, for the span model, which learnt from SQuAD's questions: "which
    director of The Last Coupon" -> "Who is the director of The Last Coupon?" (read as it was, the model took the
    playwright); other questions as they are."""
    match = _WHICH_OF.match(question)
    if match is None:
        return question
    noun = match.group("noun")
    wh = "Who" if type_of_focus(noun.split()[-1].lower()) == PERSON else "What"
    return f"{wh} is the {noun} of {match.group('owner')}?"


def _span_fit(sentence, start: int, end: int, qtype, title: str) -> tuple[float, str]:
    """The best type fit of the rule reader's candidates in the sentence that overlap the span, and that candidate."""
    if qtype.kind == THING:
        return 1.0, ""
    doc = sentence.doc
    best, surface = 0.0, ""
    for text, fit, first, last in answer_candidates(sentence, qtype, title if sentence.start == 0 else ""):
        if fit > best and doc[first].idx < end and doc[last - 1].idx + len(doc[last - 1]) > start:
            best, surface = fit, text
    if best == 0.0 and qtype.kind == PERSON:  # the small model labels many a director's name ORG or PRODUCT
        best, surface = _misnamed_person(doc, start, end, surface)
    if best == 0.0 and qtype.kind == DATE and YEAR.search(doc.text[start:end]):
        best = 0.5
    if best == 0.0 and qtype.kind == NUMBER and any(ch.isdigit() for ch in doc.text[start:end]):
        best = 0.5
    return best, surface


MISNAMED = frozenset({"ORG", "PRODUCT", "WORK_OF_ART", "FAC", "EVENT"})


def _misnamed_person(doc, start: int, end: int, surface: str) -> tuple[float, str]:
    """A "who" span that is a capitalised name of two to four words the entity recogniser labelled as a thing
    ("directed by Maxwell Shane": ORG, "Marcel Varnel": PRODUCT): half a person's fit, so the model's choice stands
    against a lower-ranked name that is labelled a person (the film's star). Nationalities and places stay out."""
    for ent in doc.ents:
        if ent.label_ in MISNAMED and ent.start_char < end and ent.end_char > start and 2 <= len(ent) <= 4:
            if all(t.is_title or t.text in {".", "-"} or (len(t.text) <= 2 and t.text[:1].isupper()) for t in ent):
                return 0.5, ent.text
    return 0.0, surface


def _title_fit(nlp, surface: str, qtype) -> float:
    if qtype.kind == THING:
        return 1.0
    return 1.0 if any(ent.label_ in qtype.labels for ent in nlp(surface).ents) else 0.0


_RANGE = re.compile(r"^(?P<first>.*?\b(?:1\d{3}|20\d{2}))\s*[–—-]+\s*(?P<last>.*\b(?:1\d{3}|20\d{2}))$")
_END_WORDS = re.compile(r"\b(die|died|death|end|ended|close|closed|dissolved)\b", re.I)


def _shape(answer: str, qtype, question: str = "") -> str:
    """ "what year" asks for the year of "7 December 1988"; "how many islands" is answered "14", not "14 islands";
    "when was X born" the first date of "(17 August 1878 – September 1952)", "when did X die" the last."""
    if qtype.kind == DATE:
        dates = _RANGE.match(answer)
        if dates:
            answer = dates.group("last" if _END_WORDS.search(question) else "first").strip()
    if qtype.focus == "year":
        years = YEAR.findall(answer)
        if years:
            return years[0]
    if qtype.kind == NUMBER and qtype.focus and answer.lower().endswith(" " + qtype.focus):
        return answer[: -len(qtype.focus) - 1]
    return answer


def _value(kind: str, answer: str):
    if not answer:
        return None
    if kind == "date":
        return date_value(answer)
    return country_of(answer)
