"""Multi-hop questions read as a chain of single hops, innermost first.

A compositional question nests its earlier hops in relative clauses: "When was the astronomical
clock built in [the city where Karel Purkyně died]?". The main clause asks the last hop; the
bracketed noun phrase names a bridge entity the passages must supply first. So the reader answers
the bracket as its own question ("which city where Karel Purkyně died" -> Prague), puts the answer
in its place ("When was the astronomical clock built in Prague?"), and repeats until no relative
clause is left (a 4-hop question nests up to three). The final question is read as usual; its
evidence is the chain's sentences, the final hop's first.

The brackets come from spaCy's dependency parse: a `relcl` token with its subtree and the noun it
modifies (with that noun's determiners and modifiers on the left), or a definite description of a
named thing ("the composer of Bastien und Bastienne", "Hello Love's performer"). A bracket whose bridge cannot
be read (no candidate of its type) ends the chain, and the question is read whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer_types import CHOICE, DESCRIPTION, YES_NO, administrative_unit, type_of_focus

NEW_PASSAGES = 2  # passages a rewritten question adds
MAX_HOPS = 3  # MuSiQue's deepest questions have 4 hops, so at most 3 bridges


# relations that are two hops under one name: "the paternal grandfather of X" is the father of X's father
COMPOSED = {
    "paternal grandfather": "father of the father",
    "paternal grandmother": "mother of the father",
    "maternal grandfather": "father of the mother",
    "maternal grandmother": "mother of the mother",
    "father-in-law": "father of the spouse",
    "mother-in-law": "mother of the spouse",
    "brother-in-law": "brother of the spouse",
    "sister-in-law": "sister of the spouse",
}
_RELATION = "|".join(re.escape(r) for r in sorted(COMPOSED, key=len, reverse=True))
_POSSESSIVE = re.compile(rf"\b((?:[A-Z][\w.\-]*\s+)*[A-Z][\w.\-]*)'s?\s+({_RELATION})\b")
_OF = re.compile(rf"\b(?:the\s+)?({_RELATION})\s+of\b", re.I)
# "the director of film Polish Easter": the small parser attaches the title to "film", not to "of"
_KIND_BEFORE_TITLE = re.compile(
    r"\bof\s+(?:the\s+)?(?:film|movie|song|album|book|novel|play|magazine|series|show|poem|opera)\s+(?=[A-Z0-9])"
)


def compose(question: str) -> str:
    """Composed relations spelled out as hops: "X's father-in-law" -> "the father of the spouse of X",
    "the paternal grandfather of X" -> "the father of the father of X"; the chain then reads one hop at a time."""
    question = _KIND_BEFORE_TITLE.sub("of ", question)
    question = _POSSESSIVE.sub(lambda m: f"the {COMPOSED[m.group(2).lower()]} of {m.group(1)}", question)
    return _OF.sub(lambda m: f"the {COMPOSED[m.group(1).lower()]} of", question)


@dataclass(frozen=True)
class Bracket:
    start: int  # character offsets of the noun phrase with its clause, in the question
    end: int
    question: str  # the bracket as a question of its own: "which city where Karel Purkyně died"


def innermost_bracket(doc) -> Bracket | None:
    """The smallest bracket of the question, as a question of its own (None when it has none)."""
    found = [
        b
        for b in (*_relative_brackets(doc), *_of_brackets(doc), *_contact_brackets(doc), *_participle_brackets(doc))
        if b is not None
    ]
    return min(found, key=lambda b: (b.end - b.start, b.start)) if found else None


def _relative_brackets(doc):
    """Noun phrases with a relative clause: "the city where Karel Purkyně died"."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    for clause in doc:
        if clause.dep_ != "relcl" or clause.head.pos_ not in ("NOUN", "PROPN"):
            continue
        noun = _modified_noun(doc, clause)
        if noun.pos_ != "NOUN":
            continue  # "Paris, where ...": a clause on a name describes it, it does not name a bridge
        first = _phrase_start(doc, noun)
        last = clause.right_edge.i
        if root is not None and noun.i < root.i <= last:  # the parse let the clause swallow the main verb
            last = root.i - 1
        last = _last_word(doc, first, last)
        if root is not None and root.lemma_ == "do" and all(t.is_punct for t in doc[last + 1 :]):
            continue  # "What did the man who wrote X use ...?": the parse took the main verb for a noun
        modifiers = " ".join(t.text for t in doc[first : noun.i] if t.dep_ not in ("det", "poss", "predet"))
        yield _bracket(
            doc,
            first,
            last,
            " ".join(p for p in ("which", modifiers, noun.text, doc[clause.left_edge.i : last + 1].text) if p),
        )


def _of_brackets(doc):
    """Definite descriptions of a named thing: "the composer of Bastien und Bastienne", "Hello Love's
    performer"; not the question's own subject ("Who is the spouse of X?" is one hop), not an
    indefinite "a member of CARICOM"."""
    for noun in doc:
        # "the composer of X", "the continent of X", "the capital of X" relate two things; an
        # administrative unit's "of" names the unit itself ("the village of Clonbrook" is Clonbrook),
        # its possessive does not ("Damerjog's country")
        naming = administrative_unit(noun.lower_) not in ("", "capital")
        if noun.pos_ != "NOUN" or type_of_focus(noun.lower_) is None or _asked_about(doc, noun):
            continue
        if noun.i > 0 and noun.is_title:
            continue  # a capitalised word inside the question is a title's ("The Miller's Daughter"), not a relation
        named = (
            [c for c in noun.rights if c.dep_ == "prep" and c.lower_ == "of" and _names_something(c)]
            if not naming
            else []
        )
        owner = [c for c in noun.lefts if c.dep_ == "poss" and c.pos_ == "PROPN"]
        if named and any(c.dep_ == "det" and c.lower_ == "the" for c in noun.lefts):
            last = _name_end(doc, named[0])
            yield _bracket(doc, _phrase_start(doc, noun), last, f"which {noun.text} {doc[named[0].i : last + 1].text}")
        elif owner and owner[0].i + 1 < len(doc) and doc[owner[0].i + 1].dep_ == "case":
            first = owner[0].i
            while first > 0 and doc[first - 1].pos_ == "PROPN":
                first -= 1
            yield _bracket(doc, first, noun.i, f"which {noun.text} of {doc[first : owner[0].i + 1].text}")


# the small words a title leaves in lower case between its capitalised ones: "Bedtime with Rosie", "Too Tough to Kill"
TITLE_MINOR = frozenset("a an the and or nor but of to in on at by for with from into as".split())


def _name_end(doc, prep) -> int:
    """The last token of the name after "of": "The Jewel of the Nile", not the clause after it. The name is
    written in title case, which the small parser does not read: it attaches "with Rosie" of "Bedtime with Rosie"
    to the noun before "of" and takes "Too" of "Too Tough to Kill" for an adverb, so a capitalised word right
    after "of" or right after the name goes on with it, and so does a small lower-case word between two
    capitalised ones."""
    inside = {t.i for t in prep.subtree}
    last = prep.i
    for token in doc[prep.i + 1 :]:
        # a capitalised word right after "of" or the name goes on with it, stop word or not: "Night Over Calder"
        in_title = (token.is_title or token.like_num) and token.i == last + 1
        in_title = in_title or (token.i == last + 1 and last > prep.i and _title_goes_on(doc, token.i))
        if not in_title and (
            token.i not in inside
            or (
                token.pos_ not in ("PROPN", "DET", "ADP", "NUM", "CCONJ", "PUNCT")
                and not (token.is_title and not token.is_stop)
            )
        ):
            break
        last = token.i
    while last > prep.i and doc[last].pos_ in ("DET", "ADP", "CCONJ", "PUNCT"):
        last -= 1
    while last > prep.i and last + 1 < len(doc) and not doc[last].whitespace_ and not doc[last + 1].is_punct:
        last += 1  # not inside a word the tokenizer split: "Wed" is "We" and "d" to it
    return last


def _title_goes_on(doc, i: int) -> bool:
    """A small lower-case word or a possessive that a capitalised word follows (after more small words): inside a
    title."""
    at = i
    while at < len(doc) and (
        (doc[at].lower_ in TITLE_MINOR and doc[at].text.islower()) or doc[at].tag_ == "POS"  # "The Eagle's Eye"
    ):
        at += 1
    return at > i and at < len(doc) and doc[at].is_title and not doc[at].is_punct


def _names_something(prep) -> bool:
    """A name follows: a proper noun, or a capitalised word inside the sentence (the small parser
    tags a title such as "Decade" as a common noun)."""
    return any(t.pos_ == "PROPN" or (t.i > 0 and t.is_title and not t.is_stop) for t in prep.subtree if t.i > prep.i)


STRANDED = frozenset("from for in at to with of on by about into".split())


def _contact_brackets(doc):
    """A relative clause without "that" or "where", which the small parser does not attach: "the
    country Signmark is from", "the city Kevin Durant played for", "the company X is part of".
    The focus noun after "the", a name, then its verbs, and a preposition the clause leaves stranded."""
    for noun in doc:
        if noun.pos_ != "NOUN" or type_of_focus(noun.lower_) is None or noun.i == 0 or doc[noun.i - 1].lower_ != "the":
            continue
        at = noun.i + 1
        if at < len(doc) and doc[at].lower_ == "the":
            at += 1
        start = at
        while at < len(doc) and (
            doc[at].pos_ == "PROPN"
            or (at > start and doc[at].lower_ in ("of", "the") and at + 1 < len(doc) and doc[at + 1].pos_ == "PROPN")
        ):
            at += 1
        if at == start or at >= len(doc) or doc[at].pos_ not in ("AUX", "VERB"):
            continue
        while at + 1 < len(doc) and doc[at + 1].pos_ in ("AUX", "VERB", "PART") and doc[at + 1].lower_ != "to":
            at += 1
        if at + 2 < len(doc) and doc[at + 1].lower_ == "part" and doc[at + 2].lower_ == "of":
            at += 2
        elif (
            at + 1 < len(doc)
            and doc[at + 1].lower_ in STRANDED
            and (at + 2 >= len(doc) or doc[at + 2].pos_ in ("PUNCT", "ADP", "SCONJ", "VERB", "AUX"))
        ):
            at += 1
            if at + 1 < len(doc) and doc[at + 1].pos_ in (
                "ADP",
                "SCONJ",
            ):  # "played for [before Golden State]" closing the question
                at = _last_word(doc, at, len(doc) - 1)
        first = noun.i - 1
        yield _bracket(doc, first, at, f"which {noun.text} {doc[noun.i + 1 : at + 1].text}")


def _participle_brackets(doc):
    """A focus noun described by a participle that names something: "the country containing
    Nugegoda", "the band formed by X"."""
    for clause in doc:
        noun = clause.head
        if (
            clause.dep_ != "acl"
            or clause.tag_ not in ("VBG", "VBN")
            or noun.pos_ != "NOUN"
            or type_of_focus(noun.lower_) is None
            or not any(t.pos_ == "PROPN" for t in clause.subtree)
        ):
            continue
        last = _last_word(doc, clause.i, clause.right_edge.i)
        yield _bracket(doc, _phrase_start(doc, noun), last, f"which {noun.text} {doc[clause.i : last + 1].text}")


def _asked_about(doc, noun) -> bool:
    """The noun is what a copular question asks for: "Who is the spouse of X", "What is the country of X"."""
    root = noun.head
    wh = doc[0]
    return (
        root.dep_ == "ROOT"
        and root.lemma_ == "be"
        and noun.dep_ in ("nsubj", "attr")
        and wh.tag_ in ("WP", "WDT")
        and wh.dep_ in ("nsubj", "attr")
        and wh.head.i == root.i
    )


def _phrase_start(doc, noun) -> int:
    first = noun.i
    while first > 0 and doc[first - 1].dep_ in NOUN_LEFT and doc[first - 1].head.i >= first - 1:
        first -= 1
    return first


def _last_word(doc, first: int, last: int) -> int:
    """`last` moved back past trailing punctuation, not before `first`."""
    while last > first and doc[last].is_punct:
        last -= 1
    return last


def _bracket(doc, first: int, last: int, question: str) -> Bracket | None:
    span = doc[first : last + 1]
    if span.start == 0 and span.end >= len(doc) - 1:
        return None  # the clause is the whole question
    return Bracket(span.start_char, span.end_char, question)


NOUN_LEFT = ("det", "amod", "compound", "poss", "nummod", "case")  # what may stand left of the noun, within its phrase


def _modified_noun(doc, clause):
    """The noun the clause describes: the one right before it ("the city [where ...]"), which the
    small parser sometimes attaches to an earlier noun ("the name of the airport in the city where ...")."""
    before = clause.left_edge.i - 1
    if before >= 0 and doc[before].pos_ in ("NOUN", "PROPN"):
        return doc[before]
    return clause.head


def rewrite(question: str, bracket: Bracket, bridge: str) -> str:
    return question[: bracket.start] + bridge + question[bracket.end :]


def _extend(passages: list, headings: list, found: list) -> None:
    """Add the first NEW_PASSAGES retrieved passages, those not read yet (a passage the top already
    holds takes its place: the hop is covered, and a lower one would only add a look-alike)."""
    have = {p.chunk_id for p in passages}
    new = [(p, h) for p, h in found[:NEW_PASSAGES] if p.chunk_id not in have]
    passages += [p for p, _ in new]
    headings += [h for _, h in new]


def next_question(reader, question: str, passages: list, headings: list[str], graph, read_flat, named: tuple[str, ...]):
    """(the reading of the question's innermost bracket, the question with that bridge in its place),
    or None when there is no bracket or its bridge cannot be read (no typed answer with evidence)."""
    question = compose(question)
    bracket = innermost_bracket(reader.nlp(question))
    if bracket is None:
        return None
    reading = read_flat(bracket.question, passages, headings, graph, named)
    if not reading.typed or not reading.evidence or reading.answer_type in (YES_NO, DESCRIPTION, CHOICE):
        return None
    return reading, rewrite(question, bracket, reading.answer)


def read_chain(
    reader, question: str, passages: list, headings: list[str], graph, read_flat, retrieve=None, on_hop=None
):
    """The reading of the question's last hop after its bridges are read (read_flat reads one
    question without decomposing it); None when the question has no bracket to read first.

    With `retrieve` (question -> [(passage, heading)], best first), each rewritten question also
    retrieves: it names its bridge, so it is a one-hop question whose passages rank near the top,
    and the first NEW_PASSAGES of them not already read join the passages (iterative retrieval).
    Retrieving for the bracket's own question too ("which city where ...") lost on MuSiQue's tune
    half (EM 0.08 -> 0.04): its passages crowd the bridge's sentence with look-alikes.
    The Reading's `passages` is then the longer list its [n] numbers refer to.

    Each hop passes on its best bridge only: keeping two and choosing the chain whose bridge and
    answer scored highest together lost on MuSiQue's tune half (EM 0.10 -> 0.08).

    `on_hop(bridge, number, passage)` is told each bridge as soon as it is read, with the passage it was read
    from and that passage's [n] (a chain that then reads no final answer is dropped: its hops were progress only)."""
    passages, headings = list(passages), list(headings)
    steps = []  # (bridge, its Evidence)
    current = compose(question)
    named = [question]  # what a later hop's answer must not repeat: the question as asked, each bridge read
    for _ in range(MAX_HOPS):
        hop = next_question(reader, current, passages, headings, graph, read_flat, tuple(named))
        if hop is None:
            break
        reading, current = hop
        steps.append((reading.answer, reading.evidence[0]))
        if on_hop is not None:
            on_hop(reading.answer, reading.evidence[0].passage, passages[reading.evidence[0].passage - 1])
        named.append(reading.answer)
        if retrieve is not None:
            _extend(passages, headings, retrieve(current))
    if not steps:
        return None
    final = read_flat(current, passages, headings, graph, tuple(named))
    if not final.answer:
        return None
    seen = {(e.passage, e.text) for e in final.evidence}
    for _, evidence in reversed(steps):
        if (evidence.passage, evidence.text) not in seen:
            final.evidence.append(evidence)
            seen.add((evidence.passage, evidence.text))
    final.chain = [(answer, evidence.passage) for answer, evidence in steps]
    final.resolved = current
    final.passages = passages
    return final
