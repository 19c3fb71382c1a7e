"""Seeded samples of faces for the analysis notebooks: a subset, some faces per class, correctly
classified faces."""

from __future__ import annotations

import numpy as np

from helpers.core.config import CLASS_NAMES


def seeded_subset(n: int, size: int, seed: int) -> np.ndarray:
    """min(size, n) distinct indices of 0..n-1 drawn with `seed`, sorted."""
    return np.sort(np.random.default_rng(seed).choice(n, min(size, n), replace=False))


def per_class_subset(labels, per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Up to `per_class` indices of each class (in class order, sorted within a class), drawn
    with one generator seeded `seed`; and the names of the classes with no member at all."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen, missing = [], []
    for c, name in enumerate(CLASS_NAMES):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            missing.append(name)
            continue
        chosen.extend(np.sort(rng.choice(members, min(per_class, len(members)), replace=False)))
    return np.asarray(chosen), missing


def pick_correct(predicted, labels, n: int, seed: int) -> list[int]:
    """Up to n indices of correctly predicted images, in an order shuffled with `seed`: first
    one per true class (as they come), then any others."""
    labels = np.asarray(labels)
    correct = np.flatnonzero(np.asarray(predicted) == labels)
    correct = np.random.default_rng(seed).permutation(correct)
    picked, seen = [], set()
    for i in correct:
        if labels[i] not in seen and len(picked) < n:
            picked.append(int(i))
            seen.add(labels[i])
    picked += [int(i) for i in correct if int(i) not in picked][:n - len(picked)]
    return picked
