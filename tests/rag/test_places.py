"""Which place of a sentence fits "which state / district / country": the unit the text names beside a place."""

import pytest

from fieldmap.nlp import english
from rag.answer_types import classify
from rag.candidates import answer_candidates

SENTENCE = "Shringarpur is a small village in Ratnagiri district, Konkan, Maharashtra state, India."


@pytest.mark.parametrize(
    "question,expected",
    [
        ("Which state is Shringarpur located in?", "Maharashtra state"),
        ("Which district is Shringarpur located in?", "Ratnagiri"),
        ("Which country is Shringarpur located in?", "India"),
    ],
)
def test_the_unit_named_beside_a_place_decides_which_fits(question, expected):
    sentence = next(iter(english()(SENTENCE).sents))
    candidates = answer_candidates(sentence, classify(question))
    best = max(candidates, key=lambda c: c[1])
    assert best[0] == expected and sum(c[1] == best[1] for c in candidates) == 1, candidates


def test_the_state_of_a_name_is_a_state_whatever_its_label():
    """The small model labels this "Maharashtra" a nationality (fit 0 as such); "the state of" makes it a candidate
    place of the type, no more: "the city of Billings" in another passage must not outrank the question's own city."""
    sentence = next(iter(english()("The town lies in Thane, in the state of Maharashtra.").sents))
    candidates = dict((c[0], c[1]) for c in answer_candidates(sentence, classify("Which state is the town in?")))
    assert candidates["Maharashtra"] == candidates["Thane"] == 0.75, candidates
