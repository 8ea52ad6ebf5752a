"""Read a question over passages with the trained span model: every window of every passage in one batch,
each passage's best spans, and the best overall with its confidence."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

from rag.span.features import batch, passage_tokens, question_ids, top_spans, windows

MODEL_FILE = Path(__file__).resolve().parents[1] / "data" / "span-reader.pt"


@dataclass(frozen=True)
class Found:
    passage: int  # index into the passages read
    start: int  # characters in that passage
    end: int
    score: float  # start + end logit
    null: float  # the passage's lowest [CLS] score over its windows: how sure the model is that it holds no answer
    probability: float  # softmax(start) x softmax(end) in its window: the model's probability of this very span


class SpanReader:
    def __init__(self, model, bf16: bool = False, max_len: int = 256, stride: int = 96):
        self.model = model.eval()
        self.bf16 = bf16
        self.max_len, self.stride = max_len, stride

    @classmethod
    def load(cls, path: Path = MODEL_FILE, bf16: bool = False) -> "SpanReader | None":
        """None when the shipped file is absent: the rule reader reads instead."""
        if not path.exists():
            return None
        from rag.span.model import load_packed

        return cls(load_packed(path), bf16=bf16)

    def spans(self, question: str, passages: list[str], per_passage: int = 5, max_tokens: int = 30) -> list[Found]:
        """Up to per_passage spans of each passage, over all its windows; best (score - null) first overall."""
        import torch

        q = question_ids(question)
        owners, wins = [], []
        for p, text in enumerate(passages):
            ids, offsets = passage_tokens(text)
            for w in windows(q, ids, offsets, self.max_len, self.stride) if ids else []:
                owners.append(p)
                wins.append(w)
        if not wins:
            return []
        ids, types, mask = (torch.from_numpy(a) for a in batch(wins))
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            start, end = self.model(ids, types, mask)
        start, end = start.float().numpy(), end.float().numpy()
        null: dict[int, float] = {}
        raw: dict[int, list] = {}
        for k, (p, w) in enumerate(zip(owners, wins)):
            found = top_spans(start[k], end[k], w, max_tokens, per_passage)
            if found:
                null[p] = min(null.get(p, math.inf), found[0].null)
                raw.setdefault(p, []).extend(found)
        out = []
        for p, spans in raw.items():
            seen = set()
            for s in sorted(spans, key=lambda s: -s.score):
                if (s.start, s.end) not in seen and len(seen) < per_passage:
                    seen.add((s.start, s.end))
                    out.append(Found(p, s.start, s.end, s.score, null[p], s.probability))
        out.sort(key=lambda f: (-(f.score - f.null), f.passage, f.start))
        return out

    def best(self, question: str, passages: list[str], max_tokens: int = 30) -> Found | None:
        found = self.spans(question, passages, 1, max_tokens)
        return found[0] if found else None
