"""Retrieval modes and the default, importable without loading the stores or models."""

MODES = ("memorag", "hipporag", "hybrid", "dense", "bm25")
DEFAULT_MODE = "memorag"  # the mode that answered MuSiQue best offline (BENCHMARKS.md, "Answers: the offline reader")
