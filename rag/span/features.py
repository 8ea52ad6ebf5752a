"""Question + passage -> the model's input windows, and a window's logits -> the best span in the passage's characters.

One encoding for training and reading: [CLS] question [SEP] passage window [SEP], the passage cut into windows of
at most `max_len` tokens that overlap by `stride`, each token keeping its character offsets in the passage."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

CLS, SEP, PAD = 101, 102, 0
QUESTION_TOKENS = 48  # a longer question keeps its first 48 word pieces


@functools.cache
def tokenizer():
    from tokenizers import Tokenizer

    from rag.span.model import minilm_dir

    t = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    t.no_truncation()
    t.no_padding()
    return t


@dataclass(frozen=True)
class Window:
    ids: list[int]
    context_start: int  # index of the passage's first token in ids
    offsets: list[tuple[int, int]]  # character span in the passage of each passage token of this window


def question_ids(question: str) -> list[int]:
    return tokenizer().encode(question, add_special_tokens=False).ids[:QUESTION_TOKENS]


def passage_tokens(passage: str) -> tuple[list[int], list[tuple[int, int]]]:
    e = tokenizer().encode(passage, add_special_tokens=False)
    return e.ids, e.offsets


def windows(
    q_ids: list[int], p_ids: list[int], p_offsets: list[tuple[int, int]], max_len: int = 256, stride: int = 96
) -> list[Window]:
    room = max(16, max_len - len(q_ids) - 3)
    out, start = [], 0
    while True:
        piece = slice(start, start + room)
        out.append(Window([CLS, *q_ids, SEP, *p_ids[piece], SEP], len(q_ids) + 2, list(p_offsets[piece])))
        if start + room >= len(p_ids):
            return out
        start += max(1, room - stride)


def batch(windows_: list[Window]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, token types (1 from the passage on) and attention mask, padded to the longest window."""
    n = max(len(w.ids) for w in windows_)
    ids = np.zeros((len(windows_), n), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, w in enumerate(windows_):
        ids[i, : len(w.ids)] = w.ids
        types[i, w.context_start : len(w.ids)] = 1
        mask[i, : len(w.ids)] = 1
    return ids, types, mask


@dataclass(frozen=True)
class Span:
    start: int  # characters in the passage
    end: int
    score: float  # start + end logit
    null: float  # the window's [CLS] start + end logit: "no answer here"
    probability: float  # softmax(start) * softmax(end) over the window


def top_spans(
    start: np.ndarray, end: np.ndarray, w: Window, max_tokens: int = 30, n: int = 5, top: int = 20
) -> list[Span]:
    """The n highest-scoring spans inside the passage part of one window (start <= end, at most max_tokens
    word pieces), best first."""
    lo, hi = w.context_start, w.context_start + len(w.offsets)
    if hi <= lo:
        return []
    s, e = start[lo:hi], end[lo:hi]
    length = len(w.ids)
    ps = np.exp(start[:length] - start[:length].max())
    pe = np.exp(end[:length] - end[:length].max())
    ps, pe = ps / ps.sum(), pe / pe.sum()
    pairs = []
    for i in np.argsort(-s, kind="stable")[:top]:
        for j in np.argsort(-e, kind="stable")[:top]:
            if i <= j < i + max_tokens:
                pairs.append((float(s[i] + e[j]), int(i), int(j)))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    null = float(start[0] + end[0])
    return [
        Span(w.offsets[i][0], w.offsets[j][1], score, null, float(ps[lo + i] * pe[lo + j])) for score, i, j in pairs[:n]
    ]
