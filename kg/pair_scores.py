"""Scoring and keeping synonym pairs, shared by the brute force (kg.synonyms) and the ANN candidates
(kg.synonym_ann), so a pair found by both carries the same similarity."""

from __future__ import annotations

import numpy as np


def exact_similarity(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise cosine of unit vectors in float64: each product of two float32 values is exact there, and a
    row's sum does not depend on which other rows are computed with it, so the brute-force and the ANN
    paths store the same value for the same pair."""
    out = np.empty(len(left), dtype=np.float64)
    for start in range(0, len(left), 8192):
        part = slice(start, start + 8192)
        out[part] = (np.asarray(left[part], dtype=np.float64) * np.asarray(right[part], dtype=np.float64)).sum(axis=1)
    return out


def select_pairs(
    rows: np.ndarray,
    columns: np.ndarray,
    values: np.ndarray,
    threshold: float,
    top_k: int,
    row_ids: list[str],
    column_ids: list[str],
    pairs: dict[tuple[str, str], float],
) -> None:
    """Add to pairs each row's top_k + 1 columns (the row's own entity is usually one) at or above the
    threshold, most similar first, ties by column; rows are positions in row_ids, columns in column_ids."""
    keep = values >= threshold
    rows, columns, values = rows[keep], columns[keep], values[keep]
    order = np.lexsort((columns, -values, rows))  # by row, then most similar first
    rows, columns, values = rows[order], columns[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # position within its row
    keep = rank <= top_k
    for row, column, value in zip(rows[keep].tolist(), columns[keep].tolist(), values[keep].tolist()):
        own_id, other = row_ids[row], column_ids[column]
        if other != own_id:
            pairs[(own_id, other) if own_id < other else (other, own_id)] = value
