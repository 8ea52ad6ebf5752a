"""The span model: the shipped file (size, SHA-256, it reads), the encoder against transformers' BERT, the int8
packing, the windows, and the training batches (deterministic, so a resumed run sees the same ones)."""

import json

import numpy as np
import pytest
import torch

from fieldmap.bert import minilm_dir
from rag.span import train
from rag.span.features import passage_tokens, question_ids, windows
from rag.span.model import from_minilm, load_packed, save_packed, sha256
from rag.span.reader import MODEL_FILE, SpanReader
from rag.span.squad import Example, score


def test_the_shipped_file_is_the_reported_one_and_small():
    report = json.loads(MODEL_FILE.with_suffix(".json").read_text())
    assert MODEL_FILE.stat().st_size <= 40 * 2**20 and MODEL_FILE.stat().st_size == report["bytes"]
    assert sha256(MODEL_FILE) == report["sha256"]
    assert report["squad_dev_f1"] > 0 and report["squad_dev_questions"] > 0


def test_the_shipped_model_reads_a_span():
    reader = SpanReader.load()
    context = "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the company of Gustave Eiffel and completed in 1889."
    found = reader.best("When was the Eiffel Tower completed?", [context])
    assert context[found.start : found.end] == "1889"
    found = reader.best("Whose company designed the Eiffel Tower?", [context])
    assert "Gustave Eiffel" in context[found.start : found.end]


def test_the_encoder_is_berts():
    from transformers import BertModel

    ours = from_minilm().eval()
    theirs = BertModel.from_pretrained(str(minilm_dir())).eval()
    ids = torch.randint(1000, 5000, (2, 40))
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0
    types = torch.zeros_like(ids)
    types[:, 20:] = 1
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        got = ours.hidden(ids, types, mask)
    assert torch.allclose(got[0], expected[0], atol=1e-4) and torch.allclose(got[1, :30], expected[1, :30], atol=1e-4)


def test_packing_keeps_every_weight_within_about_half_a_step(tmp_path):
    model = from_minilm().eval()
    save_packed(model, tmp_path / "m.pt")
    back = load_packed(tmp_path / "m.pt").state_dict()
    for name, weight in model.state_dict().items():
        if weight.dim() == 2 and weight.shape[0] > 2 and "position" not in name and "token_type" not in name:
            step = weight.abs().amax(dim=1, keepdim=True) / 127
            assert ((back[name] - weight).abs() <= 0.6 * step + 1e-6).all(), (
                name
            )  # half a step, and the fp16 scale's rounding
        else:
            assert torch.allclose(back[name], weight.half().float()), name


def test_a_long_passage_is_read_in_overlapping_windows_that_cover_it():
    text = " ".join(f"word{i}" for i in range(400))
    ids, offsets = passage_tokens(text)
    q = question_ids("Which word comes last?")
    found = windows(q, ids, offsets, max_len=128, stride=32)
    assert len(found) > 1 and all(len(w.ids) <= 128 for w in found)
    covered = [o for w in found for o in w.offsets]
    assert set(covered) == set(offsets) and covered[-1] == offsets[-1]


def test_training_batches_are_the_same_on_every_run_and_cover_each_example_once():
    lengths = np.arange(1000) % 97
    first = train._batches(1000, lengths, 32, seed=13, epoch=0)
    again = train._batches(1000, lengths, 32, seed=13, epoch=0)
    assert all((a == b).all() for a, b in zip(first, again))
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    assert not all((a == b).all() for a, b in zip(first, train._batches(1000, lengths, 32, seed=13, epoch=1)))


def test_a_training_item_targets_the_answer_tokens():
    context = "Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in Physics in 1903."
    ex = Example("q1", "Curie", "Where was Marie Curie born?", context, (("Warsaw", context.index("Warsaw")),))
    paragraphs = {context: passage_tokens(context)}
    ids, types, (start, end) = train._item(
        ex, question_ids(ex.question), paragraphs, {"Curie": [context]}, np.random.default_rng(0)
    )
    from rag.span.features import tokenizer

    assert tokenizer().decode(ids[start : end + 1]) == "warsaw"
    assert types[start] == 1 and types[0] == 0


@pytest.mark.parametrize(
    "prediction,golds,expected", [("the Warsaw", ["Warsaw"], (1.0, 1.0)), ("Warsaw Poland", ["Warsaw"], (0.0, 2 / 3))]
)
def test_squad_scoring(prediction, golds, expected):
    assert score(prediction, golds) == pytest.approx(expected)
