"""Does a place fit "which city / state / country"? Two cues besides the entity label:

- an address lists places smallest first ("Wilmington, Delaware, United States"): for a city the
  first of the list fits, for a country the last, for a state or county the middle of three;
- a name ending in a unit's word is that unit: "DuPage County" fits "which county", "Ford County"
  does not fit "which state";
- a list of the world's countries (rag/data/countries.txt): a country fits "which country" and
  does not fit "which state / city / county";
- the text names a place's unit beside it: "a village in Ratnagiri district, Konkan, Maharashtra state" or "the
  state of Maharashtra" says which of the two is a state, whatever the entity recogniser kept of the name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rag.answer_types import ADMINISTRATIVE, VALUE_LABELS, administrative_unit

# units whose English names carry the unit's word ("DuPage County", "Lunenburg Municipal District")
NAMED_UNITS = frozenset("county parish district province borough prefecture township municipality".split())
SMALL_PLACES = frozenset("city town village municipality borough suburb capital".split())
COUNTRIES = frozenset("country nation".split())
ADMINISTRATIVE_WORDS = ADMINISTRATIVE | {word + "s" for word in ADMINISTRATIVE}


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    lines = (Path(__file__).parent / "data" / "countries.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def is_country(text: str) -> bool:
    name = text.lower().strip()
    return name in countries() or (name.startswith("the ") and name[4:] in countries())


def place_fit(span, focus: str) -> tuple[set[int], set[int], set[int]]:
    """First tokens of the sentence's places that do not fit the focus noun, of those that do, and of the names the
    text calls places of that unit (a place, though the entity recogniser labelled it otherwise)."""
    unit = administrative_unit(focus)
    if not unit:
        return set(), set(), set()
    places = [ent for ent in span.ents if ent.label_ in ("GPE", "LOC")]
    misplaced = _misplaced_in_address(span, unit, [p for p in places if p.label_ == "GPE"])
    confirmed = set()
    for place in places:
        last_word = place.text.split()[-1].lower()
        if unit in NAMED_UNITS and last_word.rstrip("s") != unit:
            misplaced.add(place.start)  # "which county": Illinois is a state, not a county
        elif unit not in NAMED_UNITS and last_word in NAMED_UNITS:
            misplaced.add(place.start)  # "which state": Ford County is a county
        if is_country(place.text):
            (confirmed if unit in COUNTRIES else misplaced).add(place.start)
        elif unit in COUNTRIES:
            misplaced.add(place.start)
    named = set()  # the text names them places of this unit, whatever label the small model gave them
    for ent in span.ents:  # it labels "Maharashtra state" an organisation, "Maharashtra" a nationality
        if not ent[0].is_title or ent.label_ in VALUE_LABELS or ent.label_ == "ORDINAL":
            continue
        given = named_unit(ent) or (ent[-1].lower_ if len(ent) > 1 and ent[-1].lower_ == unit else "")
        if given:
            (named if given == unit else misplaced).add(ent.start)
    return misplaced - confirmed - named, confirmed, named


def named_unit(place) -> str:
    """The unit the text gives a place beside its name: "Maharashtra state", "the state of Maharashtra"; else ""."""
    doc = place.doc
    after = doc[place.end].lower_ if place.end < len(doc) else ""
    unit = administrative_unit(after) if after in ADMINISTRATIVE_WORDS else ""
    if not unit and place.start >= 2 and doc[place.start - 1].lower_ == "of":
        before = doc[place.start - 2].lower_
        unit = administrative_unit(before) if before in ADMINISTRATIVE_WORDS else ""
    return "" if unit == "capital" else unit


def _misplaced_in_address(span, unit: str, places: list) -> set[int]:
    misplaced: set[int] = set()
    chain: list = []
    for ent in places + [None]:
        if ent is not None and chain and span.doc[chain[-1].end : ent.start].text.strip() == ",":
            chain.append(ent)
            continue
        if len(chain) >= 2:
            if unit in SMALL_PLACES:
                misplaced |= {e.start for e in chain[1:]}
            elif unit in COUNTRIES:
                misplaced |= {e.start for e in chain[:-1]}
            elif len(chain) >= 3:
                misplaced |= {chain[0].start, chain[-1].start}
        chain = [ent] if ent is not None else []
    return misplaced
