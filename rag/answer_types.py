"""What kind of answer a question expects, from its wh-word and the focus noun after it.

"who" -> a person; "when", "what year" -> a date; "how many" -> a number; "where", "which county"
-> a place; "which company" -> an organisation; "is/was/did ..." -> yes/no; "A or B?" -> one of the
compared options; "what do X reveal about Y", "how", "why" -> a description (evidence sentences).
The labels are spaCy's NER labels, so a candidate answer's type is its entity label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PERSON, PLACE, ORG, DATE, NUMBER, WORK, THING, YES_NO, CHOICE, DESCRIPTION = (
    "person",
    "place",
    "organization",
    "date",
    "number",
    "work",
    "thing",
    "yes/no",
    "choice",
    "description",
)

LABELS = {  # answer type -> spaCy entity labels that can fill it
    PERSON: frozenset({"PERSON"}),
    PLACE: frozenset({"GPE", "LOC", "FAC"}),
    ORG: frozenset({"ORG", "NORP"}),
    DATE: frozenset({"DATE"}),
    NUMBER: frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}),
    WORK: frozenset({"WORK_OF_ART", "EVENT", "PRODUCT", "LAW"}),
    THING: frozenset(
        {"PERSON", "GPE", "LOC", "FAC", "ORG", "NORP", "WORK_OF_ART", "EVENT", "PRODUCT", "LANGUAGE", "LAW"}
    ),
}

WHO = frozenset({"PERSON", "ORG"})  # "who" is mostly a person, sometimes a band or a company; never a nationality

# focus nouns ("which county", "what year") -> answer type
FOCUS = {
    PLACE: "county state country city town village province region place river lake mountain island continent nation capital "
    "district area location municipality borough territory sea ocean island peninsula birthplace hometown".split(),
    ORG: "company team band university college school organization organisation association party club network label "
    "agency league group institution corporation firm newspaper publisher church".split(),
    DATE: "year date century decade month day era period time".split(),
    NUMBER: "number amount population percentage age".split(),
    PERSON: "person man woman president king queen author writer singer actor actress director player leader founder "
    "composer artist performer member father mother son daughter wife husband brother sister emperor ruler "
    "governor minister chancellor prime monarch pope bishop scientist inventor creator producer owner spouse partner "
    "parent child sibling successor predecessor architect designer coach manager captain host editor narrator "
    "screenwriter lyricist vocalist drummer guitarist developer".split(),
    WORK: "film movie book novel song album show series game title play opera magazine work painting".split(),
}
# a place noun that names an administrative unit wants a geopolitical entity (spaCy GPE), not a
# building (FAC) or a natural feature (LOC): "which country" is answered by Guyana, not a highway
# entity labels of values (a date, an amount): never a name of a place, a person or a thing
VALUE_LABELS = frozenset({"DATE", "TIME", "CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
ADMINISTRATIVE = frozenset(
    "county state country city town village province region district municipality borough "
    "territory nation capital".split()
)


def administrative_unit(noun: str) -> str:
    """The noun in the singular when it names an administrative unit ("states" -> "state"), else ""."""
    for word in (noun, noun[:-1] if noun.endswith("s") else noun):
        if word in ADMINISTRATIVE:
            return word
    return ""


AUXILIARIES = frozenset(
    "is are was were am did does do can could has have had will would should may might must".split()
)
OPEN_CUES = re.compile(
    r"^(how|why|describe|explain)\b|^what (do|does|did|can|is known|are the|is the role)\b.*\b(reveal|show|tell|suggest|mean|imply|know|role|effect|impact)",
    re.I,
)
CHOICE_CUE = re.compile(r"(?:,|:)\s*(?P<a>[^,?]+?)\s+or\s+(?P<b>[^,?]+?)\s*\?*$", re.I)
WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class QuestionType:
    kind: str  # one of the types above
    labels: frozenset = frozenset()  # spaCy labels a candidate answer may carry
    focus: str = ""  # the focus noun ("county"), matched against a candidate's head word
    options: tuple[str, ...] = field(default=())  # for CHOICE: the compared entities

    @property
    def factoid(self) -> bool:
        return self.kind != DESCRIPTION


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def type_of_focus(noun: str) -> str | None:
    for kind, nouns in FOCUS.items():
        if noun in nouns or noun.rstrip("s") in nouns:
            return kind
    return None


FILLERS = frozenset("is was are were the a an name names of kind type sort form one ones".split())


def _focus_after(words: list[str], start: int) -> tuple[str, str | None]:
    """The focus noun after the wh-word, past fillers ("what is the name of the [waterfall]",
    "what kind of [university]"), and the type it names, if any."""
    rest = [w for w in words[start : start + 8] if w not in FILLERS]
    for word in rest[:3]:
        kind = type_of_focus(word)
        if kind is not None:
            return word, kind
    return (rest[0] if rest else ""), None


def _counted(words: list[str]) -> str:
    """The noun "how many" counts: the last word before the verb ("how many Publix [stores] are")."""
    counted = []
    for word in words[2:8]:
        if word in AUXILIARIES or word in ("in", "of", "on", "at", "there", "live", "lived"):
            break
        counted.append(word)
    return counted[-1] if counted else ""


def classify(question: str) -> QuestionType:
    """The expected answer type of a question."""
    text = " ".join(question.split())
    words = _words(text)
    if not words:
        return QuestionType(DESCRIPTION)
    choice = CHOICE_CUE.search(text)
    if choice and (words[0] in ("who", "which", "what") or words[0] in AUXILIARIES):
        return QuestionType(CHOICE, options=(choice.group("a").strip(), choice.group("b").strip()))
    first = words[0]
    if first in AUXILIARIES:
        return QuestionType(YES_NO)
    if OPEN_CUES.search(text) and not text.lower().startswith(
        ("how many", "how much", "how long", "how old", "how far", "how tall")
    ):
        return QuestionType(DESCRIPTION)
    if first in ("who", "whom", "whose"):
        return QuestionType(PERSON, WHO)
    if first == "when":
        return QuestionType(DATE, LABELS[DATE])
    if first == "where":
        return QuestionType(PLACE, LABELS[PLACE])
    if first == "how" and len(words) > 1 and words[1] in ("many", "much", "long", "old", "far", "tall", "large", "big"):
        focus = _counted(words) if words[1] in ("many", "much") else ""
        return QuestionType(
            NUMBER, LABELS[NUMBER] | (LABELS[DATE] if words[1] in ("long", "old") else frozenset()), focus
        )
    wh = next(
        (i for i, w in enumerate(words[:6]) if w in ("which", "what", "who", "whom", "whose", "when", "where")), None
    )
    if wh is None:
        return QuestionType(THING, LABELS[THING])
    if words[wh] in ("who", "whom", "whose"):
        return QuestionType(PERSON, WHO)
    if words[wh] == "when":
        return QuestionType(DATE, LABELS[DATE])
    if words[wh] == "where":
        return QuestionType(PLACE, LABELS[PLACE])
    focus, kind = _focus_after(words, wh + 1)
    if kind == PLACE and administrative_unit(focus):
        return QuestionType(kind, frozenset({"GPE"}), focus)
    if kind is not None:
        return QuestionType(kind, LABELS[kind], focus)
    return QuestionType(THING, LABELS[THING], focus)
