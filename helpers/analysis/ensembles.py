"""Ensembles: averaged probabilities and the accuracy of every subset of members."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from helpers.analysis.evaluation import accuracy, as_labels


def average_probabilities(probas: Sequence, weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of class-probability arrays of equal shape (float64).

    Weights default to equal; they must be finite, non-negative, one per member, and not all
    zero. They are normalized, so rows of probabilities stay rows of probabilities.
    """
    probas = [np.asarray(p, dtype=np.float64) for p in probas]
    if not probas:
        raise ValueError("need at least one probability array")
    shape = probas[0].shape
    if len(shape) != 2:
        raise ValueError(f"probabilities must be 2-D (rows, classes), got shape {shape}")
    for i, p in enumerate(probas[1:], start=1):
        if p.shape != shape:
            raise ValueError(f"member {i} has shape {p.shape}, member 0 has {shape}")
    if weights is None:
        w = np.ones(len(probas))
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(probas):
            raise ValueError(f"{len(w)} weights for {len(probas)} members")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
        if w.sum() == 0:
            raise ValueError("weights must not all be zero")
    w = w / w.sum()
    return np.tensordot(w, np.stack(probas), axes=1)


def subset_accuracies(names: Sequence[str], probas: Sequence, y):
    """Accuracy of the average of every non-empty subset of the members, best first: a pandas
    DataFrame with columns members (names joined by " + "), size, accuracy."""
    from itertools import combinations

    import pandas as pd

    rows = []
    for size in range(1, len(names) + 1):
        for chosen in combinations(range(len(names)), size):
            rows.append((" + ".join(names[i] for i in chosen), size,
                         accuracy(average_probabilities([probas[i] for i in chosen]), y)))
    table = pd.DataFrame(rows, columns=["members", "size", "accuracy"])
    return table.sort_values(["accuracy", "size"], ascending=[False, True], kind="stable",
                             ignore_index=True)


def unanimous(probas: Sequence) -> np.ndarray:
    """Boolean mask of the rows on which every member predicts the same class."""
    votes = np.stack([as_labels(p) for p in probas])
    return np.all(votes == votes[0], axis=0)
