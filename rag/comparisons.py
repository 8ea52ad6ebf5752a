"""Comparison questions split into one question per side, and the sides' answers compared in code.

"Which film came out first, X or Y?" -> "When did X come out?", "When did Y come out?", then the earlier
date wins. "Who was born later, A or B?" and "Who is older, A or B?" compare birth dates; "Which film has the
director born later, X or Y?" asks "When was the director of X born?" (a chain of two hops). "Are X and Y from
the same country?" -> "Which country is X from?" for each, then yes when both name the same country (a
demonym counts as its country: "American" is the United States)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from rag.compare import EARLY, LATE, LESS, comparative

MONTHS = {
    m: i
    for i, m in enumerate(
        "january february march april may june july august september october november december".split(), 1
    )
}
YEAR = re.compile(r"\b(\d{3,4})\b")
AUX = frozenset("is are was were has have had does do did".split())
ROLES = (
    "director",
    "author",
    "composer",
    "founder",
    "creator",
    "producer",
    "performer",
    "writer",
    "screenwriter",
    "father",
    "mother",
    "spouse",
    "husband",
    "wife",
)


@dataclass(frozen=True)
class Sides:
    questions: tuple[str, str]  # one question per side
    options: tuple[str, str]  # what the answer names: the compared entities (a choice) or () for yes/no
    kind: str  # "date", "number" or "same"
    direction: int  # -1: the smaller value wins, 1: the larger; 0 for "same"


def _lemma_verb(nlp, phrase: str) -> tuple[str, str]:
    """("did", "come out") for "came out"; ("was", "born") for "was born"."""
    words = phrase.split()
    if not words:
        return "", ""
    if words[0].lower() in AUX:
        return words[0].lower(), " ".join(words[1:])
    doc = nlp(phrase)
    first = doc[0]
    aux = "do" if first.tag_ in ("VBZ", "VBP") and first.tag_ != "VBD" else "did"
    return aux if first.tag_ != "VBD" else "did", " ".join([first.lemma_, *words[1:]])


def choice_sides(nlp, question: str, options: tuple[str, ...]) -> Sides | None:
    """The two side questions of "Which X verb-phrase comparative, A or B?", dates and ages only."""
    if len(options) != 2:
        return None
    head = re.split(r"[,:]\s*[^,:]*\bor\b", question, maxsplit=1)[0]
    direction = comparative(head)
    dated = EARLY.search(head) or LATE.search(head) or re.search(r"\brecently\b", head, re.I)
    if not direction or not dated:
        return None  # an amount ("more", "larger") has no side question we can ask well; the rules read it
    words = head.split()
    if not words or words[0].lower() not in ("which", "who", "what", "whose"):
        return None
    body = " ".join(words[1:])
    body = re.sub(
        r"^(one|film|movie|song|album|book|band|person|magazine|company|university|work|of the two|of these|\w+)\s+(?=(was|were|is|are|has|had|did|came|come|died|born|released|published|founded|formed|established|started|opened|debuted|premiered|aired))",
        "",
        body,
        flags=re.I,
    )
    age = re.search(r"\b(older|younger)\b", body, re.I)
    bare = re.sub(
        rf"\b(more recently|recently|more|{EARLY.pattern[3:-3]}|{LATE.pattern[3:-3]}|{LESS.pattern[3:-3]})\b",
        " ",
        body,
        flags=re.I,
    ).strip(" ?")
    bare = " ".join(bare.split())
    role = re.match(
        r"^(?:has|had|have)\s+(?:the\s+)?(\w+?)s?\s+(?:who\s+(?:was|were)\s+)?(born|died|die)\b", bare, re.I
    )
    if age or re.fullmatch(r"(was|were|is|are)?\s*born", bare, re.I):
        template = "When was {} born?"
        direction = -direction if age and age.group(1).lower() == "older" else direction
        if age:
            direction = -1 if age.group(1).lower() == "older" else 1
    elif role and role.group(1).lower() in ROLES:
        verb = "born" if role.group(2).lower() == "born" else "die"
        template = (
            f"When was the {role.group(1).lower()} of {{}} born?"
            if verb == "born"
            else f"When did the {role.group(1).lower()} of {{}} die?"
        )
    elif re.fullmatch(r"(died|die|passed away)", bare, re.I):
        template = "When did {} die?"
    elif bare:
        aux, rest = _lemma_verb(nlp, bare)
        template = f"When {aux} {{}} {rest}?".replace("  ", " ")
    else:
        return None
    a, b = (o.strip(" ?\"'") for o in options)
    return Sides((template.format(a), template.format(b)), (a, b), "date", direction)


SAME = re.compile(
    r"^(?:are|were|is|was|do|did)\s+(?:both\s+)?(?:the\s+(?P<role1>\w+?)s?\s+of\s+)?(?:(?:both\s+)?(?:the\s+)?(?:films?|movies?|songs?|albums?|books?|bands?|magazines?|people|persons|players|places|cities|towns|villages|mountains|rivers|lakes)\s+)?"
    r"(?P<a>.+?)\s+and\s+(?P<b>.+?)\s+(?:both\s+)?(?:have\s+(?:the\s+)?(?P<role2>\w+?)s?\s+)?(?:both\s+)?(?P<verb>located|based|born|from|of|in|share)?\s*(?:in|from|of)?\s*(?:the\s+)?same\s+(?P<what>country|nationality|city|place|state)\s*\??$",
    re.I,
)


def same_sides(question: str) -> Sides | None:
    """The two side questions of "Are X and Y from the same country?"."""
    m = SAME.match(" ".join(question.split()))
    if not m:
        return None
    role = (m.group("role1") or m.group("role2") or "").lower()
    if role and role not in ROLES:
        return None
    what = m.group("what").lower()
    a, b = m.group("a").strip(), m.group("b").strip()
    if re.search(r"\bboth$", a):
        a = a[:-5].strip()

    def side(o: str) -> str:
        subject = f"the {role} of {o}" if role else o
        if what in ("country", "nationality"):
            located = (m.group("verb") or "").lower() in ("located", "based", "in")
            # "from" is answered by a nationality as often as by a country ("an American director"): ask for either
            return f"Which country is {subject} located in?" if located else f"What is the nationality of {subject}?"
        return (
            f"Which {what} is {subject} from?"
            if (m.group("verb") or "").lower() != "born"
            else f"Where was {subject} born?"
        )

    return Sides((side(a), side(b)), (), "same", 0)


def date_value(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a date's text; month and day 0 when not given. None without a year."""
    year = YEAR.findall(text)
    if not year:
        return None
    lower = text.lower()
    month = next((n for name, n in MONTHS.items() if re.search(rf"\b{name[:3]}\w*\b", lower)), 0)
    day = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", re.sub(YEAR, " ", text))
    return int(year[-1]), month, int(day.group(1)) if day and month else 0


@functools.cache
def _countries() -> dict[str, str]:
    from rag.places import countries

    mapping = {c: c for c in countries()}
    for line in (Path(__file__).parent / "data" / "demonyms.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            demonym, country = line.split("|")
            mapping[demonym.lower()] = country.lower()
    return mapping


def country_of(text: str) -> str:
    """The country a place, a country or a nationality names, lower-cased; else the text, normalised."""
    name = " ".join(re.sub(r"^the\s+", "", text.strip(" .,"), flags=re.I).split()).lower()
    table = _countries()
    if name in table:
        return table[name]
    for part in reversed([p.strip() for p in name.split(",")]):  # "Wilmington, Delaware, United States"
        if part in table:
            return table[part]
    for word in name.split():
        if word in table:
            return table[word]
    return name


def decide(sides: Sides, values: list) -> int | bool | None:
    """For a choice: the index of the winning side; for "same": True/False. None when a side has no value."""
    if any(v is None for v in values):
        return None
    if sides.kind == "same":
        return values[0] == values[1]
    if values[0] == values[1]:
        return None
    return values.index(min(values)) if sides.direction < 0 else values.index(max(values))
