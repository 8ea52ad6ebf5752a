"""Citations checked for support, not only for range.

An answer is split into claims: the text before each group of markers ([1], [1, 2], [1][2]). A
cited passage supports its claim when it holds at least `min_support` of the claim's content
words (stemmed, stop words out); a claim of no content words (a bare "yes") is supported by any
cited passage in range. Markers that point to no passage, that cannot be read ("[1-]", "[a]"),
and claims that no cited passage supports are returned as flags; an answer with no citation at all
is flagged as uncited. An answer that cites only through a list beside its text (`extra_numbers`,
as the LLM's {"answer", "citations"} reply does) is one claim: its whole text, markers out, which
the listed passages in range must support together (its facts may come from different passages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.words import content_words

GROUP = re.compile(r"(?:\[[^\[\]]*\])+")  # one or more adjacent bracket groups
NUMBERS = re.compile(r"^\s*\d+(\s*,\s*\d+)*\s*$")
MIN_SUPPORT = (
    0.5  # half the claim's content words: a paraphrase keeps its names and numbers, a wrong passage rarely has half
)


@dataclass
class Claim:
    text: str
    numbers: list[int]  # the passages it cites, 1-based


@dataclass
class CitationCheck:
    numbers: list[int]  # every readable passage number, in order of first use
    flags: list[str]


def parse_citations(answer: str) -> tuple[list[Claim], list[str]]:
    """The claims of an answer with the passages each cites, and the marker groups that could not be read."""
    claims: list[Claim] = []
    unreadable: list[str] = []
    start = 0
    for group in GROUP.finditer(answer):
        numbers: list[int] = []
        for inner in re.findall(r"\[([^\[\]]*)\]", group.group()):
            if NUMBERS.match(inner):
                numbers += [int(n) for n in inner.split(",")]
            else:
                unreadable.append(f"[{inner}]")
        text = answer[start : group.start()].strip()
        if numbers:
            claims.append(Claim(text, list(dict.fromkeys(numbers))))
        start = group.end()
    return claims, unreadable


def supports(claim: str, passage_text: str, min_support: float = MIN_SUPPORT, whole: bool = False) -> bool:
    """Whether the passage holds min_support of the claim's content words: those of its last
    sentence (the one a marker closes), or of all of it when `whole`."""
    words = content_words(claim if whole else _last_sentence(claim)) - {"yes", "no"}
    if not words:
        return True
    return len(words & content_words(passage_text)) / len(words) >= min_support


def check_citations(
    answer: str, passages: list, extra_numbers: list[int] = (), min_support: float = MIN_SUPPORT
) -> CitationCheck:
    """Readable, in-range citation numbers and the flags: out of range, unreadable, unsupported, uncited."""
    claims, unreadable = parse_citations(answer)
    flags = [f"citation {u} cannot be read as passage numbers" for u in unreadable]
    numbers = list(dict.fromkeys([n for c in claims for n in c.numbers] + list(extra_numbers)))
    flags += [f"citation [{n}] points to no retrieved passage" for n in numbers if not 1 <= n <= len(passages)]
    for claim in claims:
        cited = [n for n in claim.numbers if 1 <= n <= len(passages)]
        if cited and not any(supports(claim.text, passages[n - 1].text, min_support) for n in cited):
            flags.append(_unsupported(claim.text, cited))
    listed = [n for n in dict.fromkeys(extra_numbers) if 1 <= n <= len(passages)]
    if not claims and listed:  # cited only through the list: the whole answer is the claim
        text = re.sub(r"\s*" + GROUP.pattern, "", answer).strip()
        if not supports(text, " ".join(passages[n - 1].text for n in listed), min_support, whole=True):
            flags.append(_unsupported(text, listed))
    if not numbers:
        flags.append("the answer cites no passage")
    return CitationCheck([n for n in numbers if 1 <= n <= len(passages)], flags)


def _unsupported(claim: str, cited: list[int]) -> str:
    shown = " ".join(claim.split())
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return f"claim {shown!r} is not supported by its citation {', '.join(f'[{n}]' for n in cited)}"


def _last_sentence(claim: str) -> str:
    """The claim a marker closes: the text since the previous sentence end."""
    parts = re.split(r"(?<=[.!?])\s+", claim.strip())
    return parts[-1] if parts else claim
