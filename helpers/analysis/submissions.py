"""The leaderboard's files: a submission CSV (id,label) written atomically, its agreement with
another, and the public/private test scores when the data came with test labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.analysis.evaluation import as_labels
from helpers.core.config import NUM_CLASSES
from helpers.core.results import atomic_path


def write_submission(path, ids, proba_or_labels, num_classes: int = NUM_CLASSES) -> Path:
    """Write the leaderboard CSV: header ``id,label``, one row per test id, in the given order.

    `proba_or_labels` is (N, C) probabilities (argmax is taken) or N integer labels. Raises
    ValueError when the lengths differ, ids repeat or are not integers, or a label is outside
    0..num_classes-1. Written atomically (a temporary file, then os.replace); returns the path.
    """
    path = Path(path)
    ids = np.asarray(ids).reshape(-1)
    labels = as_labels(proba_or_labels)
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} ids but {len(labels)} predictions")
    if ids.size and not (np.issubdtype(ids.dtype, np.number) and np.all(ids == np.round(ids))):
        raise ValueError("ids must be integers")
    ids = ids.astype(np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("ids must be unique")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    text = "id,label\n" + "".join(f"{i},{c}\n" for i, c in zip(ids.tolist(), labels.tolist()))
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def submission_agreement(path, ids, proba_or_labels) -> float | None:
    """Share of the ids whose label in the submission CSV at `path` (``id,label``) equals the
    given prediction; None when there is no such file. Ids missing from the file never agree."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        return None
    saved = pd.read_csv(path).set_index("id")["label"].reindex(np.asarray(ids)).to_numpy()
    return float(np.mean(saved == as_labels(proba_or_labels)))


PUBLIC_TEST_IDS = 3589  # ids 0..3588 are the leaderboard's public half, the rest private


def leaderboard_scores(test_ids: np.ndarray, predicted: np.ndarray, y_test,
                       source_format: str) -> dict | None:
    """Test accuracy when the data came with test labels (Kaggle's fer2013.csv or an image-folder
    copy); None for the course's CSVs, whose test labels are withheld. The public/private halves
    are known only for the CSV forms, whose ids follow the challenge's order; an image-folder
    copy's ids follow the file names, so only the overall accuracy is given (halves None)."""
    if y_test is None or len(y_test) == 0:
        return None
    correct = np.asarray(predicted) == np.asarray(y_test)
    scores = {"test": float(correct.mean()), "public": None, "private": None}
    if "csv" in source_format.lower():
        public = np.asarray(test_ids) < PUBLIC_TEST_IDS
        scores["public"] = float(correct[public].mean()) if public.any() else None
        scores["private"] = float(correct[~public].mean()) if (~public).any() else None
    return scores
