"""Citations parsed in every common form and checked for support."""

from rag.answer import Passage
from rag.citations import check_citations, parse_citations

PASSAGES = [
    Passage(
        "d1", "d1#0", "Lake Orla", 1.0, "Lake Orla is a freshwater lake in central Finland. It contains 14 islands."
    ),
    Passage("d2", "d2#0", "Warsaw", 0.9, "Warsaw is the capital of Poland and stands on the Vistula River."),
]


def test_single_grouped_and_adjacent_markers_are_parsed():
    claims, unreadable = parse_citations(
        "Lake Orla is in Finland [1]. Warsaw is on the Vistula [1, 2]. Both are named [1][2]."
    )
    assert [c.numbers for c in claims] == [[1], [1, 2], [1, 2]]
    assert claims[1].text == ". Warsaw is on the Vistula" and unreadable == []


def test_supported_citations_raise_no_flag():
    check = check_citations("Lake Orla has 14 islands [1]. Warsaw is the capital of Poland [2].", PASSAGES)
    assert check.numbers == [1, 2] and check.flags == []


def test_a_citation_that_does_not_hold_its_claim_is_flagged():
    check = check_citations("Warsaw is the capital of Poland [1].", PASSAGES)
    assert check.numbers == [1]
    assert check.flags == ["claim 'Warsaw is the capital of Poland' is not supported by its citation [1]"]


def test_out_of_range_unreadable_and_missing_citations_are_flagged():
    assert check_citations("Lake Orla is in Finland [3].", PASSAGES).flags == [
        "citation [3] points to no retrieved passage"
    ]
    flags = check_citations("Lake Orla is in Finland [1-2].", PASSAGES).flags
    assert flags == ["citation [1-2] cannot be read as passage numbers", "the answer cites no passage"]
    assert check_citations("Lake Orla is in Finland.", PASSAGES).flags == ["the answer cites no passage"]


def test_citations_listed_beside_the_text_are_checked_for_range():
    check = check_citations("Lake Orla is in Finland [1].", PASSAGES, extra_numbers=[2, 5])
    assert check.numbers == [1, 2] and check.flags == ["citation [5] points to no retrieved passage"]


def test_an_answer_cited_only_by_its_list_is_one_claim_checked_against_the_listed_passages():
    supported = check_citations("Lake Orla lies in central Finland and has 14 islands.", PASSAGES, extra_numbers=[1])
    assert supported.numbers == [1] and supported.flags == []
    wrong = check_citations("Warsaw is the capital of Poland.", PASSAGES, extra_numbers=[1])
    assert wrong.numbers == [1]
    assert wrong.flags == ["claim 'Warsaw is the capital of Poland.' is not supported by its citation [1]"]


def test_a_listed_answer_may_draw_on_several_passages_and_its_markers_are_left_out():
    both = check_citations("Lake Orla is in Finland; Warsaw stands on the Vistula.", PASSAGES, extra_numbers=[1, 2])
    assert both.numbers == [1, 2] and both.flags == []
    unreadable = check_citations("Warsaw is the capital of Poland [a].", PASSAGES, extra_numbers=[1, 7])
    assert unreadable.flags == [
        "citation [a] cannot be read as passage numbers",
        "citation [7] points to no retrieved passage",
        "claim 'Warsaw is the capital of Poland.' is not supported by its citation [1]",
    ]
