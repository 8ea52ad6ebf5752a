"""The neural reader over a nineteen-document fixture indexed with the real pipeline, reading with the shipped span model:
exact short answers for a nested hop, a composed relation, a comparison of dates, a same-country yes/no and a
single-hop factoid the rule reader gets wrong."""

import shutil

import pytest

from rag.engine import QueryEngine
from rag.neural_reader import NeuralReader
from rag.reader import Reader
from rag.span.reader import MODEL_FILE
from tests.conftest import FIXTURES, make_settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    from pipelines.run import run_pipeline

    workspace = tmp_path_factory.mktemp("neural-reader")
    corpus = workspace / "neural-reader-docs.jsonl"
    shutil.copy(FIXTURES / "neural-reader-docs.jsonl", corpus)
    settings = make_settings(workspace, corpus, schema_name="general")
    assert run_pipeline(settings).success
    return settings


@pytest.fixture(scope="module")
def engine(settings):
    engine = QueryEngine(settings)
    yield engine
    engine.close()


def short(answer) -> str:
    return answer.answer.partition(" [")[0]


CASES = [
    ("nested hop", "Who is the spouse of the director of The Silver Lantern?", "Clara Voss"),
    ("composed relation", "Who is the paternal grandfather of Edmund Hale?", "William Hale"),
    ("comparison of dates", "Which film came out first, The Silver Lantern or Night Over Calder?", "Night Over Calder"),
    # spaCy's small model labels "Ilse Marten" ORG: the span model's name is kept as a person's (_misnamed_person)
    (
        "same country, no",
        "Are the directors of films The Silver Lantern and Night Over Calder from the same country?",
        "no",
    ),
    ("same country, yes", "Are Robert Hale and Edmund Hale from the same country?", "yes"),
    # a title with small lower-case words, which the parser cuts after "Letters": the bracket is the whole title
    ("nested hop, a title in title case", "When was the director of film Letters to Marigold born?", "3 May 1911"),
    # the span model reads the whole lifespan "3 May 1911 – 8 June 1980": the date asked for, not the first date in it
    ("nested hop, a death date", "When did the director of film Letters to Marigold die?", "8 June 1980"),
    # a possessive inside the title: the bracket holds "The Ferryman's Oath", not "The Ferryman's"
    ("nested hop, a possessive title", "When was the director of film The Ferryman's Oath born?", "5 April 1921"),
    # a long biography read as its sentences nearest the question: "He married ..." names its subject by "he"
    ("nested hop, a long biography", "Who is the spouse of the director of film The Quiet Orchard?", "Anneke Vos"),
    # "Ship" is a noun to the parser, yet a word of the name: the film named, not its look-alike, gives the director
    ("nested hop, a look-alike title", "When was the director of film Captain Without a Ship born?", "21 March 1908"),
    ("single hop", "What did William Hale's yard build?", "fishing boats and coastal steamers"),
]
SINGLE_HOP = CASES[-1]
SHAPES = {c[0] for c in CASES}


def test_the_shipped_model_is_what_the_engine_reads_with(engine):
    assert MODEL_FILE.exists()
    assert isinstance(engine.reader, NeuralReader)


@pytest.mark.parametrize("shape,question,expected", CASES, ids=lambda value: value if value in SHAPES else None)
def test_exact_short_answers_cited(engine, shape, question, expected):
    answer = engine.ask(question, mode="hipporag", k=5)
    assert short(answer) == expected, (shape, answer.answer, answer.resolved, answer.chain)
    # the span model's confidence, or None where the rules typed the hop's answer (their choice stands)
    assert answer.confidence is None or answer.confidence >= engine.settings.reader_confidence_min
    assert answer.evidence and answer.citations
    for item in answer.evidence:  # every evidence sentence is in the passage its [n] names
        assert item["text"] in answer.passages[item["passage"] - 1].text


def test_a_comparison_cites_the_evidence_of_both_sides(engine):
    answer = engine.ask("Which film came out first, The Silver Lantern or Night Over Calder?", mode="hipporag", k=5)
    cited = {c.doc_id for c in answer.citations}
    assert {"nr-lantern", "nr-calder"} <= cited, cited


def test_the_rule_reader_gets_the_single_hop_factoid_wrong(settings):
    """The reason the single-hop case is in the list: with the rules the same retrieval answers otherwise."""
    rules = QueryEngine(settings.model_copy(update={"reader": "rules"}))
    try:
        assert type(rules.reader) is Reader
        assert short(rules.ask(SINGLE_HOP[1], mode="hipporag", k=5)) != SINGLE_HOP[2]  # it answers "English"
    finally:
        rules.close()


def test_below_the_confidence_threshold_the_guess_is_withheld_and_the_evidence_shown(settings, engine):
    confident = engine.ask(SINGLE_HOP[1], mode="hipporag", k=5)
    strict = QueryEngine(settings.model_copy(update={"reader_confidence_min": min(1.0, confident.confidence + 1e-3)}))
    try:
        answer = strict.ask(SINGLE_HOP[1], mode="hipporag", k=5)
    finally:
        strict.close()
    assert answer.confidence == confident.confidence and answer.evidence == confident.evidence
    assert any(flag.startswith("no answer found") for flag in answer.flags)
    assert answer.answer == " ".join(
        f"{e['text']} [{e['passage']}]" for e in answer.evidence
    )  # the evidence, not the guess


def test_a_bracket_goes_to_the_span_model_as_a_person_would_ask_it():
    from rag.neural_reader import as_asked

    assert as_asked("which director of The Last Coupon") == "Who is the director of The Last Coupon?"
    assert as_asked("which performer of Hello Love's") == "Who is the performer of Hello Love?"
    assert as_asked("which country of Signmark") == "What is the country of Signmark?"
    assert as_asked("which city where Karel Purkyně died") == "which city where Karel Purkyně died"


@pytest.mark.parametrize(
    "question,bracket",
    [
        # the parser attaches "from Harwick" to "director" and takes "Too" for an adverb: the title goes on, through a
        # possessive too ("Daughter" of a title is no relation), but a possessive before a lower-case noun ends the name
        ("Who is the spouse of the director of Far from Harwick?", "which director of Far from Harwick"),
        ("When was the director of film Too Late to Wed born?", "which director of Too Late to Wed"),
        ("When did the director of Titanic visit the United States?", "which director of Titanic"),
        ("Who is the spouse of the director of The Miller's Daughter?", "which director of The Miller's Daughter"),
        ("Where was Hello Love's performer born?", "which performer of Hello Love"),
    ],
)
def test_a_bracket_holds_the_whole_title_in_title_case(question, bracket):
    from fieldmap.nlp import english
    from rag.chain import compose, innermost_bracket

    assert innermost_bracket(english()(compose(question))).question == bracket


@pytest.mark.parametrize(
    "question,span,expected",
    [
        ("When was Louis Ralph born?", "17 August 1878 – September 1952", "17 August 1878"),
        ("When did Louis Ralph die?", "17 August 1878 – September 1952", "September 1952"),
        ("What year was the club founded?", "1990-1995", "1990"),
        ("When was she born?", "May 3, 1901", "May 3, 1901"),
    ],
)
def test_a_date_range_answers_with_the_date_asked_for(question, span, expected):
    from rag.answer_types import classify
    from rag.neural_reader import _shape

    assert _shape(span, classify(question), question) == expected


def test_the_span_model_reads_every_hop_unless_the_reader_is_hybrid(settings, engine):
    assert engine.settings.reader == "neural" and engine.reader.typed_by_rules is False
    hybrid = QueryEngine(settings.model_copy(update={"reader": "hybrid"}))
    try:
        assert isinstance(hybrid.reader, NeuralReader) and hybrid.reader.typed_by_rules is True
        # the rules type "Harold Brenner"'s spouse as a person and their choice stands; the answer is the same here
        assert short(hybrid.ask(CASES[0][1], mode="hipporag", k=5)) == CASES[0][2]
    finally:
        hybrid.close()


def test_the_answer_is_told_as_it_is_made_and_is_the_same(engine):
    """rag/streaming.py's events: the passages when retrieval ends, each bridge as the chain reads it, then the
    answer's text; the answer returned is the one asked without a listener."""
    question = CASES[0][1]
    events = []
    told = engine.ask(question, mode="hipporag", k=5, on_event=lambda name, data: events.append((name, data)))
    names = [name for name, _ in events]
    assert names[0] == "retrieved" and "hop" in names and "token" in names
    assert names.index("hop") < names.index("token") and "reset" not in names
    hops = [data for name, data in events if name == "hop"]
    assert [(h["bridge"], h["passage"]) for h in hops] == [(c["bridge"], c["passage"]) for c in told.chain]
    assert all(h["title"] == told.passages[h["passage"] - 1].title for h in hops)
    retrieved = events[0][1]["passages"]
    assert [p["chunk_id"] for p in retrieved] == [p.chunk_id for p in told.passages[: told.retrieved]]
    assert "".join(data["text"] for name, data in events if name == "token") == told.answer
    plain = engine.ask(question, mode="hipporag", k=5)
    assert {**told.to_dict(), "timings_ms": {}} == {**plain.to_dict(), "timings_ms": {}}


def test_ask_stream_sends_the_hops_before_the_answer(settings):
    from fastapi.testclient import TestClient

    from app.workspaces import Served, create_front
    from tests.test_webapp import events

    app = create_front([Served("nr", settings)], concurrency=1)
    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        question = {"question": CASES[0][1], "mode": "hipporag", "k": 5}
        found = events(http.post("/w/nr/ask/stream", json=question).text)
        plain = http.post("/w/nr/ask", json=question).json()
    names = [name for name, _ in found]
    assert names[0] == "status" and names[-1] == "done"
    assert names.index("retrieved") < names.index("hop") < names.index("answer")
    done = found[-1][1]
    assert "".join(data["text"] for name, data in found if name == "answer") == done["answer"]
    assert [(d["bridge"], d["passage"]) for n, d in found if n == "hop"] == [
        (c["bridge"], c["passage"]) for c in done["chain"]
    ]
    assert {**done, "timings_ms": {}} == {**plain, "timings_ms": {}}
