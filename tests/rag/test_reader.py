"""The offline reader over a six-document fixture indexed with the real pipeline: exact short answers."""

import shutil

import pytest

from rag.answer_types import CHOICE, DATE, DESCRIPTION, NUMBER, PERSON, PLACE, YES_NO, classify
from rag.citations import check_citations
from rag.engine import QueryEngine
from rag.structured import structured_passages
from tests.conftest import FIXTURES, make_settings


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from pipelines.run import run_pipeline

    workspace = tmp_path_factory.mktemp("reader")
    corpus = workspace / "reader-docs.jsonl"
    shutil.copy(FIXTURES / "reader-docs.jsonl", corpus)
    settings = make_settings(
        workspace, corpus, schema_name="general", reader="rules"
    )  # the rule reader: the fallback without the model file
    assert run_pipeline(settings).success
    engine = QueryEngine(settings)
    yield engine
    engine.close()


FACTOIDS = [
    ("Who founded the Riverside Rowing Club?", "James Holloway", PERSON),
    ("When was the Riverside Rowing Club founded?", "1889", DATE),
    ("Which county is Greensboro in?", "Hale County", PLACE),
    ("How many islands does Lake Orla have?", "14", NUMBER),
    ("Who directed the film adaptation of The Blue Harbor?", "Anna Kowalski", PERSON),
    ("Who wrote The Blue Harbor?", "Thomas Reed", PERSON),
    ("In what year did Marie Curie receive her second Nobel Prize?", "1911", DATE),
    ("What is the capital of Poland?", "Warsaw", PLACE),
    ("Was Marie Curie born in Warsaw?", "yes", YES_NO),
    ("Was Marie Curie born in Lisbon?", "no", YES_NO),
    ("Which is older, the Riverside Rowing Club or Hale County?", "Hale County", CHOICE),
]


@pytest.mark.parametrize("mode", ["hipporag", "memorag"])
def test_factoid_questions_get_the_exact_short_answer_with_its_cited_sentence(engine, mode):
    for question, expected, kind in FACTOIDS:
        answer = engine.ask(question, mode=mode, k=5)
        short, _, marker = answer.answer.partition(" [")
        assert (short, answer.answer_type) == (expected, kind), question
        evidence = answer.evidence[0]
        passage = answer.passages[evidence["passage"] - 1]
        assert marker == f"{evidence['passage']}]" and evidence["text"] in passage.text
        assert [c.chunk_id for c in answer.citations] == [passage.chunk_id]
        assert (
            check_citations(answer.answer, answer.passages).flags == [] or kind == YES_NO
        )  # "yes [1]" has no words to check


CHAINS = [  # a bridge the question describes, then the question about the bridge
    ("In what year was the county where Greensboro is located established?", "Hale County", "1867"),
    ("What is the population of the city where Marie Curie was born?", "Warsaw", "1.86 million"),
    ("Where was the author of The Blue Harbor living when he wrote the novel?", "Thomas Reed", "Lisbon"),
    # a contact relative clause (no "where"), a possessive relation, a participle: each names a bridge
    ("What is the population of the city Marie Curie was born in?", "Warsaw", "1.86 million"),
    ("What is the population of Marie Curie's birthplace?", "Warsaw", "1.86 million"),
    ("In what year was the county containing Greensboro established?", "Hale County", "1867"),
]


def test_multi_hop_questions_are_read_bridge_first_and_cite_both_hops(engine):
    for question, bridge, expected in CHAINS:
        answer = engine.ask(question, mode="hipporag", k=5)
        short, _, _ = answer.answer.partition(" [")
        assert short == expected, (question, answer.answer, answer.evidence)
        assert [step["bridge"] for step in answer.chain] == [bridge] and bridge in answer.resolved
        texts = [e["text"] for e in answer.evidence]
        assert any(bridge in t for t in texts) and any(expected in t for t in texts), texts
        # every evidence sentence is in the passage it cites, also passages the rewritten question retrieved
        assert all(e["text"] in answer.passages[e["passage"] - 1].text for e in answer.evidence)


def test_the_bridge_of_a_question_is_read_first(engine):
    from rag.chain import innermost_bracket

    nlp = engine.reader.nlp
    question = "When was the astronomical clock built in the city where Karel Purkyne died?"
    bracket = innermost_bracket(nlp(question))
    assert question[bracket.start : bracket.end] == "the city where Karel Purkyne died"
    assert bracket.question == "which city where Karel Purkyne died"
    assert (
        innermost_bracket(nlp("Who is the spouse of Louis Armstrong?")) is None
    )  # one hop: what the question asks for
    assert innermost_bracket(nlp("When did Guyana become a member of CARICOM?")) is None  # indefinite: no bridge
    of = innermost_bracket(nlp("When did the spouse of Lil Hardin Armstrong record What a Wonderful World?"))
    assert of.question == "which spouse of Lil Hardin Armstrong"
    shapes = {  # question -> (its bracket, the bracket as a question)
        "What currency predated the Euro in the country Signmark is from?": (
            "the country Signmark is from",
            "which country Signmark is from",
        ),
        "What river flows through the city Kevin Durant played for before Golden State?": (
            "the city Kevin Durant played for before Golden State",
            "which city Kevin Durant played for before Golden State",
        ),
        "Who was the first president of Damerjog's country?": ("Damerjog's country", "which country of Damerjog"),
        "When did the country containing Nugegoda leave the British Empire?": (
            "the country containing Nugegoda",
            "which country containing Nugegoda",
        ),
        "Who is the sibling of the performer of Decade?": ("the performer of Decade", "which performer of Decade"),
    }
    for question, (phrase, asked) in shapes.items():
        bracket = innermost_bracket(nlp(question))
        assert (question[bracket.start : bracket.end], bracket.question) == (phrase, asked)
    assert (
        innermost_bracket(nlp("When did the village of Clonbrook become a member of CARICOM?")) is None
    )  # the village is Clonbrook


def test_a_later_hop_does_not_answer_with_what_the_question_named_or_a_bridge(engine):
    question = "Who wrote The Blue Harbor?"
    passages = engine.ask(question, mode="hipporag", k=5).passages
    reader = engine.reader
    assert reader._read_flat(question, passages, [p.title for p in passages], None).answer == "Thomas Reed"
    # read as the last hop of a chain whose bridge was Thomas Reed, the same words are a repeat, not an answer
    assert reader._read_flat(question, passages, [p.title for p in passages], None, ("Thomas Reed",)).answer not in (
        "Thomas Reed",
        "Reed",
    )


def test_an_open_question_gets_cited_evidence_sentences_without_near_duplicates(engine):
    answer = engine.ask("What do we know about Lake Orla and its islands?", mode="hipporag", k=5)
    assert answer.answer_type == DESCRIPTION and 1 <= len(answer.evidence) <= 3
    texts = [e["text"] for e in answer.evidence]
    assert len(set(texts)) == len(texts)
    assert "14 islands" in " ".join(texts)
    for item in answer.evidence:
        assert item["text"] in answer.passages[item["passage"] - 1].text
        assert f"{item['text']} [{item['passage']}]" in answer.answer
    assert check_citations(answer.answer, answer.passages).flags == []
    assert set(answer.to_dict()) >= {"evidence", "answer_type", "retrieval"}


def test_the_reader_is_deterministic_and_names_the_retrieval_that_ran(engine):
    first = engine.ask("Who founded the Riverside Rowing Club?", mode="memorag")
    second = engine.ask("Who founded the Riverside Rowing Club?", mode="memorag")
    assert first.answer == second.answer and first.evidence == second.evidence and first.clues == second.clues
    assert first.retrieval.startswith("memorag: hipporag")
    assert engine.ask("Who founded the Riverside Rowing Club?", mode="dense").retrieval == "dense"


def test_memorag_drafts_from_memory_and_uses_the_draft_as_a_clue(engine):
    answer = engine.ask("Who directed the film adaptation of The Blue Harbor?", mode="memorag")
    assert answer.draft and any(answer.draft in clue for clue in answer.clues)
    assert all(clue.startswith("Who directed the film adaptation of The Blue Harbor? ") for clue in answer.clues)


def test_candidates_that_repeat_the_question_are_dropped(engine):
    answer = engine.ask("Who was Marie Curie?", mode="hipporag")
    assert "marie curie" not in answer.answer.lower().partition(" [")[0]


def test_graph_signals_give_ppr_mass_and_distance_from_the_same_retrieval(engine):
    question = "Who directed the film adaptation of The Blue Harbor?"
    engine.retriever("hipporag").retrieve(question, 5)
    signals = engine.graph_signals(question, "hipporag")
    assert signals.mass("Anna Kowalski") > 0
    assert signals.distance("Anna Kowalski") == 2  # the Blue Harbor - its passage - Anna Kowalski
    assert signals.mass("no such entity") == 0 and signals.distance("no such entity") is None


def test_passages_are_presented_under_their_scope_and_aspects(engine):
    answer = engine.ask("How many islands does Lake Orla have?", mode="hipporag")
    structured = structured_passages(engine.con, [p.chunk_id for p in answer.passages])
    orla = structured["fx-orla#0"]
    assert orla.scope == "Lake Orla" and orla.sections
    assert orla.heading.startswith("Lake Orla") and all(title in orla.heading for title, _ in orla.sections)
    rendered = orla.render()
    assert rendered.startswith("Lake Orla.\n1. ") and "The lake contains 14 islands" in rendered
    without = engine.read("How many islands does Lake Orla have?", answer.passages, "hipporag", structure=False)
    assert without.answer == "14"


def test_the_reader_reads_the_parses_kept_at_indexing_and_answers_as_if_it_parsed(engine):
    from fieldmap.nlp import english
    from kg.parses import load_parses
    from rag.reader import Reader

    chunks = dict(engine.con.execute("SELECT chunk_id, text FROM chunks").fetchall())
    kept = load_parses(engine.con, chunks, english())
    assert set(kept) == set(chunks)  # offline extraction kept every chunk's parse
    some = next(iter(chunks))
    assert load_parses(engine.con, {some: chunks[some] + " changed"}, english()) == {}  # another text: parsed anew
    used = []
    stored = Reader(
        english(), engine.embedder, stored=lambda texts: used.extend(texts) or load_parses(engine.con, texts, english())
    )
    parsing = Reader(english(), engine.embedder)
    for question, _, _ in FACTOIDS + [(q, None, None) for q, *_ in CHAINS]:
        passages = engine.passages([(h.chunk_id, h.score) for h in engine.retriever("hipporag").retrieve(question, 5)])
        a, b = stored.read(question, passages), parsing.read(question, passages)
        assert (a.answer, a.answer_type, [e.text for e in a.evidence]) == (
            b.answer,
            b.answer_type,
            [e.text for e in b.evidence],
        ), question
    assert used and stored.nlp is parsing.nlp


@pytest.mark.parametrize(
    "question, kind, focus",
    [
        ("Who was the first president of the association?", PERSON, ""),
        ("What county shares a border with Marion County?", PLACE, "county"),
        ("In what year was the bridge built?", DATE, "year"),
        ("How many Publix stores are in the state?", NUMBER, "stores"),
        ("What is the name of the waterfall in the country?", "thing", "waterfall"),
        ("What kind of university did the author attend?", "organization", "university"),
        ("When did the war end?", DATE, ""),
        ("Did the band tour Japan?", YES_NO, ""),
        ("Who was born first, Ada Lovelace or Charles Babbage?", CHOICE, ""),
        ("What do X-ray observations reveal about galaxy clusters?", DESCRIPTION, ""),
    ],
)
def test_expected_answer_type_from_the_wh_word_and_focus_noun(question, kind, focus):
    qtype = classify(question)
    assert (qtype.kind, qtype.focus) == (kind, focus)
    if kind == CHOICE:
        assert qtype.options == ("Ada Lovelace", "Charles Babbage")


def test_the_next_hop_s_passage_is_retrieved_for_the_rewritten_question(engine):
    from rag.next_hop import NextHopRetriever

    graph = engine.retriever("hipporag").graph
    question = "What is the population of the city where Marie Curie was born?"
    plain = graph.retrieve(question, 3)
    assert plain[0].chunk_id.startswith(_chunk_of(engine, "fx-curie"))  # hop 1, the passage about the named person
    rewritten = engine.next_question(question, plain[:1], graph)
    assert rewritten == "What is the population of Warsaw?"
    # with one place, the next hop's passage (Warsaw, retrieved for the rewritten question) takes it
    one = NextHopRetriever(graph, engine.next_question, 1).retrieve(question, 3)
    assert one[0].chunk_id.startswith(_chunk_of(engine, "fx-warsaw")) and one[0].score == plain[0].score
    assert [h.chunk_id for h in one[1:]] == [h.chunk_id for h in plain if h.chunk_id != one[0].chunk_id][:2]
    # a question with no bridge to read, and a caller asking for PPR's own list, get the graph's list unchanged
    hop = NextHopRetriever(graph, engine.next_question, 1)
    assert [h.chunk_id for h in hop.retrieve("What is the capital of Poland?", 3)] == [
        h.chunk_id for h in graph.retrieve("What is the capital of Poland?", 3)
    ]
    assert [h.chunk_id for h in hop.retrieve(question, 3, reorder=False)] == [
        h.chunk_id for h in graph.retrieve(question, 3, reorder=False)
    ]


def _chunk_of(engine, doc_id: str) -> str:
    return engine.con.execute(
        "SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY chunk_index LIMIT 1", [doc_id]
    ).fetchall()[0][0]
