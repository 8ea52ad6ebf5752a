"""A corpus of N passages (default 100,000) recombined from the real text in ../shared/data, for
the scale run (issue 15):

    .venv/bin/python benchmarks/scale_corpus.py --out /tmp/scale-100k.jsonl [-n 100000] [--seed 7]

How it is made:
- Sources: the 6,119 Wikipedia passages of 2wiki/passages.jsonl, MuSiQue's 1,890 passages and the
  1,000 arXiv abstracts, split into sentences (a regular expression: end punctuation, a space, a
  capital). About 9,000 passages, 60,000 sentences.
- Passage i takes a run of 2 to 6 consecutive sentences of one source passage (so its sentences
  belong together, as in a real paragraph) and, one time in three, one sentence of another
  passage. Its title is the source's title.
- Names grow as a real graph's do: every multi-word capitalised name (a regular expression, "Karel
  Purkyne", "Hale County") in a sentence is, with probability 0.6, replaced by a variant: its first
  word with the last word of another name drawn from a Zipf-like law over all names (rank r with
  weight 1/r). Most variants recur (the frequent surnames), some are rare; so the number of
  distinct names keeps growing with N instead of saturating at the sources' ~40,000, and popular
  entities become hubs. The same name is replaced the same way within a passage.
- Deterministic: the same seed and N give the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:[A-Z][a-z]+|of|de|van|von))*\s+[A-Z][a-z]+\b")
REPLACE = 0.6  # share of a sentence's names replaced by a variant
FOREIGN = 1 / 3  # share of passages that take one sentence of another source passage


def sources() -> list[tuple[str, list[str]]]:
    """(title, sentences) of every real passage in ../shared/data."""
    found = []
    for path in (DATA / "2wiki" / "passages.jsonl", DATA / "musique" / "corpus.jsonl"):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            found.append((record["title"], record["text"]))
    for line in (DATA / "arxiv" / "astro-ph-1000.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        found.append((" ".join(record["title"].split()), " ".join(record["summary"].split())))
    return [(title, [s for s in SENTENCE_END.split(text) if len(s.split()) >= 3]) for title, text in found if text]


class Names:
    """Variants of a name: its first word and the last word of a Zipf-drawn other name."""

    def __init__(self, passages: list[tuple[str, list[str]]], rng: random.Random):
        counts: dict[str, int] = {}
        for _, sentences in passages:
            for sentence in sentences:
                for name in NAME.findall(sentence):
                    counts[name] = counts.get(name, 0) + 1
        by_frequency: dict[str, int] = {}
        for name, count in counts.items():
            by_frequency[name.split()[-1]] = by_frequency.get(name.split()[-1], 0) + count
        self.surnames = sorted(by_frequency, key=lambda s: (-by_frequency[s], s))
        self.weights = [1.0 / (rank + 1) for rank in range(len(self.surnames))]
        self.rng = rng
        self.distinct = len(counts)

    def variant(self, name: str) -> str:
        words = name.split()
        return " ".join(words[:-1] + self.rng.choices(self.surnames, self.weights)[:1])


def perturb(sentences: list[str], names: Names, rng: random.Random) -> list[str]:
    chosen: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        name = match.group(0)
        if name not in chosen:
            chosen[name] = names.variant(name) if rng.random() < REPLACE else name
        return chosen[name]

    return [NAME.sub(replace, sentence) for sentence in sentences]


def build(n: int, seed: int):
    rng = random.Random(seed)
    passages = [p for p in sources() if len(p[1]) >= 2]
    names = Names(passages, rng)
    for i in range(n):
        title, sentences = passages[i % len(passages)] if i < len(passages) else rng.choice(passages)
        length = rng.randint(2, 6)
        start = rng.randint(0, max(0, len(sentences) - length))
        taken = sentences[start : start + length]
        if rng.random() < FOREIGN:
            other = rng.choice(passages)[1]
            taken = taken + [rng.choice(other)]
        yield {"id": f"s{i}", "title": title, "text": " ".join(perturb(taken, names, rng))}, names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    words, seen_names, names = 0, set(), None
    with open(args.out, "w", encoding="utf-8") as out:
        for record, names in build(args.n, args.seed):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            words += len(record["text"].split())
            seen_names.update(NAME.findall(record["text"]))
    print(
        json.dumps(
            {
                "passages": args.n,
                "words": words,
                "source_names": names.distinct if names else 0,
                "distinct_names": len(seen_names),
                "out": args.out,
            }
        )
    )


if __name__ == "__main__":
    main()
