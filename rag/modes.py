"""Retrieval modes and the default, importable without loading the stores or models."""

MODES = ("memorag", "hipporag", "hybrid", "dense", "bm25")
# memorag: offline, with the reader's draft and answer-bearing entities as clues (weight 0.15, chosen on the tune
# half), it retrieved above hipporag on MuSiQue on both halves (Recall@5 0.735 vs 0.725 on the test half; BENCHMARKS.md)
DEFAULT_MODE = "memorag"
