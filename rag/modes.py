"""Retrieval modes and the default, importable without loading the stores or models."""

MODES = ("memorag", "hipporag", "hybrid", "dense", "bm25")
# hipporag: in one run on MuSiQue (BENCHMARKS.md, "The next hop's passage") it is above memorag on Recall@5 (0.733 vs 0.686)
# and on the offline answers' F1 (0.174 vs 0.170; test half 0.177 vs 0.151), at half the time; memorag leads only on the tune
# half's F1 (0.189 vs 0.171). Issue 11's rule keeps memorag the default only if it wins on one of the two: it wins on neither.
DEFAULT_MODE = "hipporag"
