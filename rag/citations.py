"""Citations checked for support, not only for range.

An answer is split into claims: the text before each group of markers ([1], [1, 2], [1][2]). A
cited passage supports its claim when it holds at least `min_support` of the claim's content
words (stemmed, stop words out); a claim of no content words (a bare "yes") is supported by any
cited passage in range. Markers that point to no passage, that cannot be read ("[1-]", "[a]"),
and claims that no cited passage supports are returned as flags; an answer with no citation at all
is flagged as uncited.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.reader import content_words

GROUP = re.compile(r"(?:\[[^\[\]]*\])+")  # one or more adjacent bracket groups
NUMBERS = re.compile(r"^\s*\d+(\s*,\s*\d+)*\s*$")
MIN_SUPPORT = 0.5  # half the claim's content words: a paraphrase keeps its names and numbers, a wrong passage rarely has half


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


def supports(claim: str, passage_text: str, min_support: float = MIN_SUPPORT) -> bool:
    words = content_words(_last_sentence(claim)) - {"yes", "no"}
    if not words:
        return True
    return len(words & content_words(passage_text)) / len(words) >= min_support


def check_citations(answer: str, passages: list, extra_numbers: list[int] = (), min_support: float = MIN_SUPPORT) -> CitationCheck:
    """Readable, in-range citation numbers and the flags: out of range, unreadable, unsupported, uncited."""
    claims, unreadable = parse_citations(answer)
    flags = [f"citation {u} cannot be read as passage numbers" for u in unreadable]
    numbers = list(dict.fromkeys([n for c in claims for n in c.numbers] + list(extra_numbers)))
    flags += [f"citation [{n}] points to no retrieved passage" for n in numbers if not 1 <= n <= len(passages)]
    for claim in claims:
        cited = [n for n in claim.numbers if 1 <= n <= len(passages)]
        if cited and not any(supports(claim.text, passages[n - 1].text, min_support) for n in cited):
            shown = claim.text if len(claim.text) <= 80 else claim.text[:77] + "..."
            flags.append(f"claim {shown!r} is not supported by its citation {', '.join(f'[{n}]' for n in cited)}")
    if not numbers:
        flags.append("the answer cites no passage")
    return CitationCheck([n for n in numbers if 1 <= n <= len(passages)], flags)


def _last_sentence(claim: str) -> str:
    """The claim a marker closes: the text since the previous sentence end."""
    parts = re.split(r"(?<=[.!?])\s+", claim.strip())
    return parts[-1] if parts else claim
