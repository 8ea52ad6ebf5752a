"""Retrieval modes and the default, importable without loading the stores or models."""

MODES = ("memorag", "hipporag", "hybrid", "dense", "bm25")
# memorag: offline, with the reader's draft and answer-bearing entities as clues (weight 0.3), its answers score above
# hipporag's on MuSiQue's tune half (F1 0.189 vs 0.171); on the test half they are below (0.151 vs 0.161) and its
# Recall@5 is hipporag's (0.730 vs 0.732), so the lead is the tune half's only (BENCHMARKS.md, "Retrieval and answers after this stop")
DEFAULT_MODE = "memorag"
