"""The offline reader: a short answer with its supporting sentence for a factoid question, a few
cited evidence sentences across passages for an open one.

Factoid candidates are the spaCy entities (and, for untyped "what" questions, noun chunks) of the
retrieved passages' sentences. Each candidate occurrence is scored by a small linear combination of
features in [0, 1] (weights in `Weights`, reasons beside them):

  type       its NER label fits the expected answer type (answer_types.classify); half when only its
             head word is the question's focus noun ("... County" for "which county")
  sentence   share of the question's content words found in its sentence and the passage's heading
             (title, or scope and aspect with the structure on)
  window     share of them within WINDOW tokens of the candidate
  rank       1 / (passage rank + 1): the retriever's order
  ppr        its entity vertex's Personalized PageRank mass from the same retrieval, over the best
             candidate's mass
  proximity  1 / graph distance (hops) from the entities the question names
  support    share of the passages that mention it

A candidate whose words all occur in the question repeats it and is dropped; in a chain, so is one
inside the question as first asked or inside a bridge already read ("the sibling of the performer of
Decade" is not Neil Young, the performer). Yes/no questions answer
"yes" when one sentence holds nearly all the question's content words, else "no"; "A or B?"
questions answer with the option the passages support (by the comparative's date or number when
there is one). Everything is deterministic: ties break by passage, then sentence, then text.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from rag.answer_types import CHOICE, DESCRIPTION, YES_NO, QuestionType, classify
from rag.candidates import answer_candidates, trim
from rag.chain import next_question, read_chain
from rag.compare import comparative, first_value, pick
from rag.reading import Evidence, GraphSignals, NoGraph, Reading
from rag.words import WORD, content_words, lemma_words

QUESTION_WORDS = frozenset({"be", "do", "have"})  # lemmas of auxiliaries that only shape the question
NEGATION = frozenset("not no never neither nor none n't".split())
WINDOW = 8  # tokens either side of a candidate that count as its neighbourhood
# open questions: only the sentences with the most question words are embedded (0: all). Embedding
# all (~45 of 5 abstracts) made the reader's p95 ~470 ms on the demo; 12 gave p95 214 ms with the same
# first evidence sentence on all 60 benchmark questions and the same answer on 58 (16: 58, 8: 55) (BENCHMARKS.md)
EMBEDDED = 12


@dataclass(frozen=True)
class Weights:
    # the two direct signals weigh most: the right kind of thing, in a sentence about the question
    type: float = 1.0
    sentence: float = 1.0
    # the question's words close around the candidate, within its sentence: sharper than the sentence
    window: float = 0.5
    # the retrieval's and the graph's evidence, as priors: a quarter each, so together they can
    # decide between candidates of equal fit but not outvote a sentence that matches the question
    rank: float = 0.25
    ppr: float = 0.25
    proximity: float = 0.25
    # mentioned by several passages: a tie-breaker more than a signal
    support: float = 0.25


@dataclass
class _Sentence:
    passage: int  # 0-based
    index: int
    text: str
    span: object  # the spaCy Span
    words: set[str]


class Reader:
    """Reads passages (with optional headings) and answers; `nlp` is fieldmap.nlp.english()."""

    def __init__(
        self,
        nlp,
        embedder=None,
        weights: Weights = Weights(),
        max_evidence: int = 3,
        cache_size: int = 512,
        stored=None,
    ):
        self.nlp = nlp
        self.embedder = embedder
        self.weights = weights
        self.max_evidence = max_evidence
        self._parsed: OrderedDict[str, object] = OrderedDict()
        self.cache_size = cache_size
        self.stored = stored  # {key: text} -> {key: doc} of the parses kept at indexing (kg/parses.py), or None

    def parse(self, keys: list[str], texts: list[str]) -> list:
        """spaCy docs of the texts, cached by key (a chunk id) so a passage is parsed once; a parse
        kept at indexing is read instead of parsing."""
        missing = {k: t for k, t in zip(keys, texts) if k not in self._parsed}
        if missing and self.stored is not None:
            for key, doc in self.stored(missing).items():
                self._parsed[key] = doc
                del missing[key]
        for key, doc in zip(missing, self.nlp.pipe(list(missing.values()))):
            self._parsed[key] = doc
        docs = []
        for key in keys:
            self._parsed.move_to_end(key)
            docs.append(self._parsed[key])
        while len(self._parsed) > self.cache_size:
            self._parsed.popitem(last=False)
        return docs

    def read(
        self,
        question: str,
        passages: list,
        headings: list[str] | None = None,
        graph: GraphSignals | None = None,
        retrieve=None,
        on_hop=None,
    ) -> Reading:
        """`retrieve`: question -> [(passage, heading)], for the rewritten questions of a chain (rag/chain.py);
        `on_hop`: told each bridge of a chain as it is read (rag/chain.py's read_chain)."""
        headings = headings if headings is not None else [p.title for p in passages]
        if classify(question).kind != DESCRIPTION:
            chained = read_chain(self, question, passages, headings, graph, self._read_flat, retrieve, on_hop)
            if chained is not None:
                return chained
        return self._read_flat(question, passages, headings, graph)

    def next_question(
        self, question: str, passages: list, headings: list[str] | None = None, graph: GraphSignals | None = None
    ) -> str | None:
        """The question with its first bridge read from the passages and put in its place ("the spouse
        of the director of Jump for Glory" -> "the spouse of Raoul Walsh"), or None when it has none."""
        if classify(question).kind == DESCRIPTION:
            return None
        headings = headings if headings is not None else [p.title for p in passages]
        hop = next_question(self, question, passages, headings, graph, self._read_flat, (question,))
        return hop[1] if hop is not None else None

    def _read_flat(
        self,
        question: str,
        passages: list,
        headings: list[str],
        graph: GraphSignals | None,
        named: tuple[str, ...] = (),
    ) -> Reading:
        """One question read without decomposing it; `named`: what the question named before a chain
        rewrote it (the question as asked, each bridge read): a candidate inside one of them repeats it."""
        qtype = classify(question)
        sentences = self._sentences(passages, headings)
        if not sentences:
            return Reading("", qtype.kind, [])
        parsed = self.nlp(question)
        question_words = {w for w in lemma_words(parsed) if w not in QUESTION_WORDS}
        if qtype.kind == DESCRIPTION:
            return self._describe(question, question_words, passages, sentences)
        names = question_names(parsed)
        # a hop is anchored at the entity it names: a sentence (with its heading) without that name
        # shares only the relation's common words with the question, and is about something else
        relevance = [
            _overlap(question_words, s.words) * ((1 + _overlap(names, s.words)) / 2 if names else 1.0)
            for s in sentences
        ]
        if qtype.kind == YES_NO:
            return self._yes_no(question, question_words, passages, sentences, relevance)
        if qtype.kind == CHOICE:
            return self._choose(question, qtype, passages, sentences, relevance)
        return self._factoid(
            question_words, qtype, passages, sentences, relevance, graph or NoGraph(), [content_words(n) for n in named]
        )

    def _sentences(self, passages: list, headings: list[str]) -> list[_Sentence]:
        docs = self.parse([p.chunk_id for p in passages], [p.text for p in passages])
        found = []
        for number, (doc, heading) in enumerate(zip(docs, headings)):
            heading_words = content_words(heading)
            for index, span in enumerate(doc.sents):
                text = span.text.strip()
                if len(text.split()) >= 3:
                    found.append(_Sentence(number, index, text, span, lemma_words(span) | heading_words))
        return found

    def _factoid(
        self,
        question_words: set[str],
        qtype: QuestionType,
        passages: list,
        sentences: list[_Sentence],
        relevance: list[float],
        graph: GraphSignals,
        named: list[set[str]] = (),
    ) -> Reading:
        w = self.weights
        occurrences: dict[str, list[tuple[float, int, str]]] = {}  # key -> (partial score, sentence, surface)
        typed: dict[str, list[float]] = {}  # key -> type fit of each occurrence
        for position, sentence in enumerate(sentences):
            for surface, type_fit, start, end in answer_candidates(
                sentence.span, qtype, passages[sentence.passage].title if sentence.index == 0 else ""
            ):
                words = content_words(surface)
                if not words or words <= question_words or any(words <= earlier for earlier in named):
                    continue  # repeats the question, as asked or as rewritten, or a bridge read before
                window = _overlap(
                    question_words,
                    lemma_words(
                        sentence.span.doc[
                            max(sentence.span.start, start - WINDOW) : min(sentence.span.end, end + WINDOW)
                        ]
                    ),
                )
                partial = (
                    w.type * type_fit
                    + w.sentence * relevance[position]
                    + w.window * window
                    + w.rank / (sentence.passage + 1)
                )
                occurrences.setdefault(_key(surface), []).append((partial, position, surface))
                typed.setdefault(_key(surface), []).append(type_fit)
        if not occurrences:
            return self._describe_short(qtype, passages, sentences, relevance)
        has_type = any(fit > 0 for found in typed.values() for fit in found)
        if has_type:  # the expected type binds when some candidate has it
            occurrences = {key: found for key, found in occurrences.items() if max(typed[key]) > 0}
        occurrences = _merge_names(occurrences)
        masses = {key: graph.mass(key) for key in occurrences}
        top_mass = max(masses.values()) or 1.0
        scored = []
        for key, found in occurrences.items():
            partial, position, surface = max(found, key=lambda f: (f[0], -f[1]))
            passages_with = len({sentences[p].passage for _, p, _ in found})
            distance = graph.distance(key)
            score = (
                partial
                + w.ppr * masses[key] / top_mass
                + w.proximity * (1.0 / distance if distance else 0.0)
                + w.support * passages_with / len(passages)
            )
            scored.append((score, position, surface))
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        best_score, position, surface = scored[0]
        sentence = sentences[position]
        evidence = [self._evidence(sentence, passages, best_score)]
        return Reading(
            surface, qtype.kind, evidence, [(s, round(score, 4)) for score, _, s in scored[:5]], typed=has_type
        )

    def _describe_short(
        self, qtype: QuestionType, passages: list, sentences: list[_Sentence], relevance: list[float]
    ) -> Reading:
        """No candidate of the expected type: the most relevant sentence, as evidence without a short answer."""
        position = int(np.argmax(relevance))
        return Reading("", qtype.kind, [self._evidence(sentences[position], passages, relevance[position])])

    def _yes_no(
        self,
        question: str,
        question_words: set[str],
        passages: list,
        sentences: list[_Sentence],
        relevance: list[float],
    ) -> Reading:
        """Yes when one sentence (with its heading) holds every name and number the question gives and
        at least three quarters of its content words, without a negation; else no."""
        names = content_words(" ".join(w for w in question.split()[1:] if w[:1].isupper() or w[:1].isdigit()))
        position = min(range(len(sentences)), key=lambda i: (-relevance[i] - (names <= sentences[i].words), i))
        sentence = sentences[position]
        negated = bool(NEGATION & {t.lower_ for t in sentence.span})
        answer = "yes" if relevance[position] >= 0.75 and names <= sentence.words and not negated else "no"
        return Reading(answer, YES_NO, [self._evidence(sentence, passages, relevance[position])])

    def _choose(
        self, question: str, qtype: QuestionType, passages: list, sentences: list[_Sentence], relevance: list[float]
    ) -> Reading:
        """The compared option the passages support: by the comparative's date or number when there is one."""
        direction = comparative(question)
        best = []
        for option in qtype.options:
            option_words = content_words(option)
            mentions = [i for i, s in enumerate(sentences) if option_words and option_words <= s.words]
            if not mentions:
                best.append((None, None, option))
                continue
            valued = [i for i in mentions if first_value(sentences[i].span) is not None] if direction else []
            position = min(valued or mentions, key=lambda i: (-relevance[i], i))
            best.append((first_value(sentences[position].span), position, trim(option)))
        chosen = pick(best, direction)
        if chosen is None:  # neither option is mentioned: no evidence either way
            return Reading(trim(qtype.options[0]), CHOICE, [])
        return Reading(chosen[2], CHOICE, [self._evidence(sentences[chosen[1]], passages, 1.0)])

    def _describe(self, question: str, question_words: set[str], passages: list, sentences: list[_Sentence]) -> Reading:
        """Evidence sentences, best first: relevant to the question (words and, with an embedder,
        meaning), at least half as relevant as the best, at most two a passage, no near-duplicates."""
        relevance = np.array([_overlap(question_words, s.words) for s in sentences])
        if self.embedder is not None:  # the lexically closest EMBEDDED sentences (a sentence's embedding costs ~10 ms)
            closest = sorted(range(len(sentences)), key=lambda i: (-relevance[i], sentences[i].passage, i))[
                : EMBEDDED or None
            ]
            meaning = np.zeros(len(sentences))
            meaning[closest] = np.clip(
                self.embedder.passages([sentences[i].text for i in closest]) @ self.embedder.queries([question])[0],
                0.0,
                1.0,
            )
            relevance = 0.5 * relevance + 0.5 * meaning
        relevance += 0.1 * np.array([1.0 / (s.passage + 1) for s in sentences])
        # what a body of work reveals is in its findings, not in its statement of aims or methods
        relevance += np.array(
            [0.1 * bool(FINDING.search(s.text)) - 0.1 * bool(PREAMBLE.match(s.text)) for s in sentences]
        )
        chosen: list[int] = []
        for position in sorted(range(len(sentences)), key=lambda i: (-relevance[i], i)):
            sentence = sentences[position]
            if len(chosen) == self.max_evidence or (chosen and relevance[position] < 0.5 * relevance[chosen[0]]):
                break
            if content_words(sentence.text) <= question_words or len(sentence.text.split()) < 6:
                continue  # repeats the question or says too little
            same_passage = sum(sentences[c].passage == sentence.passage for c in chosen)
            if same_passage >= 2 or any(_jaccard(sentences[c].words, sentence.words) > 0.5 for c in chosen):
                continue
            chosen.append(position)
        evidence = [self._evidence(sentences[c], passages, float(relevance[c])) for c in chosen]
        return Reading(" ".join(e.cited() for e in evidence), DESCRIPTION, evidence)

    @staticmethod
    def _evidence(sentence: _Sentence, passages: list, score: float) -> Evidence:
        passage = passages[sentence.passage]
        return Evidence(sentence.text, sentence.passage + 1, passage.chunk_id, passage.doc_id, round(float(score), 4))


def question_names(parsed) -> set[str]:
    """The content words of the proper names and numbers the question gives."""
    return content_words(
        " ".join(t.text for t in parsed[1:] if t.pos_ in ("PROPN", "NUM") or t.ent_type_ not in ("", "ORDINAL"))
    )


def _merge_names(occurrences: dict[str, list]) -> dict[str, list]:
    """A short name ("Reed") joins the longer one that contains its words ("Thomas Reed")."""
    keys = sorted(occurrences, key=lambda k: (-len(k.split()), k))
    merged: dict[str, list] = {}
    for key in keys:
        words = set(key.split())
        target = next(
            (longer for longer in merged if len(longer.split()) > len(words) and words <= set(longer.split())), None
        )
        merged.setdefault(target or key, []).extend(
            occurrences[key]
            if target is None
            else [(score, position, merged[target][0][2]) for score, position, _ in occurrences[key]]
        )
    return merged


def _key(surface: str) -> str:
    return " ".join(WORD.findall(surface.lower()))


def _overlap(question_words: set[str], words: set[str]) -> float:
    return len(question_words & words) / len(question_words) if question_words else 0.0


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


FINDING = re.compile(
    r"\b(we find|we found|we show|we conclude|reveal|reveals|revealed|indicat\w*|suggest\w*|confirm\w*|impl(?:y|ies|ied)|consistent with|is found|are found|shows?|showed)\b",
    re.I,
)
PREAMBLE = re.compile(
    r"^(we (present|use|study|report|propose|describe|investigate|review|discuss)|in this (paper|work|letter|article)|here we|this (paper|work|letter|article))\b",
    re.I,
)
