"""Retrieval modes and the default, importable without loading the stores or models."""

MODES = ("memorag", "hipporag", "hybrid", "dense", "bm25")
# hipporag: offline memorag (reader drafts as clues) was not measured above it on MuSiQue (BENCHMARKS.md,
# "Answers: the offline reader"), so the mode a user gets by default is the one that actually retrieves best
DEFAULT_MODE = "hipporag"
