"""Recognise the shipped runs' FER2013 in another copy of it, whose pixels differ by about one
gray level and whose rows may come in another order (Kaggle's fer2013.csv against the course's
CSVs, decoded from JPEGs).

A face's signature is the mean of each 12x12-pixel block of a 4x4 grid (16 numbers): changing
every pixel by at most one gray level moves each mean by at most one. The reference of a dataset
(`build_reference`, committed as models/fer2013_reference.npz by scripts/build_data_reference.py)
keeps these signatures rounded to whole gray levels (uint8), the training labels, and the
dataset's identity: its digests and what the shipped runs' configs took from the data (the split
parameters, the normalization statistics, the training rows' label digest).

`match_rows` maps each row of a user's set to a row of the reference, one to one: a pair is
accepted when every block mean is within TOLERANCE gray levels (1 for the pixels, 0.5 for the
rounding) and the labels are equal; the nearest pairs are taken first, so duplicated faces (FER2013
has a few hundred) are assigned one each. `recognize` calls a training set the same faces as the
reference when at least MIN_MATCHED of its rows and of the reference's are matched, the row and
class counts are equal, and then gives the order that puts the user's rows in the reference's
row order: the few rows left over are paired with the free reference rows of the same label,
nearest first, so that the labels in that order are the reference's and the stratified split
picks the same positions. Near-identical faces FER2013 holds twice with the same label (their
block means closer than the rounding) may trade places. A test set is recognized only when every
row is matched (its predictions go to a submission). helpers.data.fer2013.load_splits applies it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.core.config import IMAGE_SIZE, MODELS_DIR, NUM_CLASSES
from helpers.core.results import atomic_path

GRID = 4
"""The signature's grid: GRID x GRID blocks of IMAGE_SIZE / GRID pixels."""


BLOCK = IMAGE_SIZE // GRID


TOLERANCE = 1.5
"""Gray levels a block mean may differ from the reference's rounded one: 1 for pixels within
one gray level, 0.5 for the rounding to uint8."""


MIN_MATCHED = 0.995
"""Share of the user's rows, and of the reference's, that must be matched within TOLERANCE for a
training set to be the reference's faces."""


NEIGHBOURS = 8
"""Candidates looked at per row and round (duplicated faces need more than one)."""


REFERENCE_FILE = MODELS_DIR / "fer2013_reference.npz"
"""The reference of the data the shipped runs were trained on."""


REFERENCE_VERSION = 1


_LABEL_GAP = 1000.0  # labels as a coordinate this far apart: never within TOLERANCE


def face_signatures(images: np.ndarray) -> np.ndarray:
    """float32 (N, 16): each face's 4x4 grid of 12x12-pixel block means (uint8 images (N, 48, 48))."""
    images = np.asarray(images, dtype=np.uint8)
    n = len(images)
    # Sums of 144 uint8 values fit uint16 (at most 36,720).
    sums = (images.reshape(n * GRID, BLOCK, GRID, BLOCK).sum(axis=1, dtype=np.uint16)
            .sum(axis=2, dtype=np.uint16))
    return (sums.reshape(n, GRID * GRID) / np.float32(BLOCK * BLOCK)).astype(np.float32)


def rounded_signatures(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 16): the signatures rounded to whole gray levels (what a reference keeps)."""
    return np.rint(face_signatures(images)).astype(np.uint8)


@dataclass(frozen=True)
class Reference:
    """What is kept of a dataset to recognize another copy of it."""

    train_signatures: np.ndarray  # uint8 (N, 16)
    train_labels: np.ndarray      # uint8 (N,)
    test_signatures: np.ndarray   # uint8 (M, 16)
    train_digest: str
    test_digest: str
    identity: dict                # what runs' configs took from the data (see module doc)


def build_reference(x_train, y_train, x_test, train_digest: str, test_digest: str,
                    identity: dict) -> Reference:
    return Reference(rounded_signatures(x_train), np.asarray(y_train, dtype=np.uint8),
                     rounded_signatures(x_test), train_digest, test_digest, identity)


def save_reference(reference: Reference, path) -> None:
    """Write the reference (compressed npz, atomically; the identity as JSON)."""
    with atomic_path(path, suffix=".npz") as tmp:
        _write_reference(reference, tmp)


def _write_reference(reference: Reference, path: Path) -> None:
    np.savez_compressed(
        path, version=np.int64(REFERENCE_VERSION), train_signatures=reference.train_signatures,
        train_labels=reference.train_labels, test_signatures=reference.test_signatures,
        train_digest=np.str_(reference.train_digest), test_digest=np.str_(reference.test_digest),
        identity=np.str_(json.dumps(reference.identity, sort_keys=True)))


_loaded: dict[tuple, Reference | None] = {}


def load_reference(path=REFERENCE_FILE) -> Reference | None:
    """The reference in `path`, or None when there is none (or it is unreadable, or of another
    version); read once per process and file version."""
    path = Path(path)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _loaded:
        _loaded[key] = _read_reference(path)
    return _loaded[key]


def _read_reference(path: Path) -> Reference | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != REFERENCE_VERSION:
                return None
            return Reference(z["train_signatures"], z["train_labels"], z["test_signatures"],
                             str(z["train_digest"]), str(z["test_digest"]),
                             json.loads(str(z["identity"])))
    except Exception:  # noqa: BLE001 - a damaged reference only disables the recognition
        return None


def _greedy(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, assign: np.ndarray,
            taken: np.ndarray) -> int:
    """Take the candidate pairs (rows[i], cols[i]) cheapest first, each row and column once;
    fills `assign` (row -> column) and `taken`; returns how many pairs were taken."""
    order = np.lexsort((cols, rows, cost))
    count = 0
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if assign[r] < 0 and not taken[c]:
            assign[r], taken[c] = c, True
            count += 1
    return count


def match_rows(signatures: np.ndarray, ref_signatures: np.ndarray, labels=None, ref_labels=None,
               tolerance: float = TOLERANCE) -> np.ndarray:
    """For each row of `signatures` (float, from face_signatures), the row of `ref_signatures` it
    is matched to, or -1: one to one, every block mean within `tolerance` and, with labels,
    the labels equal; the nearest pairs (Euclidean) first. Rounds repeat on the rows left over
    against the reference rows still free, so that many copies of one face are all matched."""
    from scipy.spatial import cKDTree

    sig = np.asarray(signatures, dtype=np.float32)
    ref = np.asarray(ref_signatures, dtype=np.float32)
    lab = np.zeros(len(sig)) if labels is None else np.asarray(labels, dtype=np.float64)
    ref_lab = np.zeros(len(ref)) if ref_labels is None else np.asarray(ref_labels, dtype=np.float64)
    assign = np.full(len(sig), -1, dtype=np.int64)
    taken = np.zeros(len(ref), dtype=bool)
    while True:
        todo, free = np.flatnonzero(assign < 0), np.flatnonzero(~taken)
        if not len(todo) or not len(free):
            break
        tree = cKDTree(np.column_stack([ref[free], _LABEL_GAP * ref_lab[free]]))
        k = min(NEIGHBOURS, len(free))
        dist, near = tree.query(np.column_stack([sig[todo], _LABEL_GAP * lab[todo]]), k=k,
                                p=np.inf, distance_upper_bound=tolerance + 1e-4)
        dist, near = dist.reshape(len(todo), k), near.reshape(len(todo), k)
        ok = np.isfinite(dist)
        rows, cols = np.broadcast_to(todo[:, None], ok.shape)[ok], free[near[ok]]
        cost = np.linalg.norm(sig[rows] - ref[cols], axis=1)
        if not _greedy(rows, cols, cost, assign, taken):
            break
    return assign


@dataclass(frozen=True)
class SameFaces:
    """A user's data recognized as the reference's faces, and how to line it up with them."""

    train_order: np.ndarray        # the user's training row for each reference row
    test_order: np.ndarray | None  # the user's test row for each reference test row; None: not
    #                                recognized (or no test rows), kept as it is
    exact: bool                    # the training set is the reference's, byte for byte
    matched: int                   # reference rows matched within TOLERANCE (the rest by label)
    reordered: bool                # the training rows came in another order
    test: str                      # "same" (the reference's, byte for byte), "matched" (the
    #                                reference's faces, recognized), "other", "none" (no test rows)
    identity: dict = field(default_factory=dict)  # the reference's (what runs took from the data)

    @property
    def test_rows(self) -> int:
        return 0 if self.test_order is None else len(self.test_order)

    @property
    def test_reordered(self) -> bool:
        return self.test_order is not None and not np.array_equal(self.test_order,
                                                                  np.arange(self.test_rows))

    @property
    def changes(self) -> bool:
        """Whether the user's data differs from the reference's and is lined up with it."""
        return not self.exact or self.test == "matched"

    def describe(self, where: str) -> str:
        """One line for the plan: what was recognized and what it means for the shipped runs."""
        within = f"4x4 block means within {TOLERANCE:g} gray levels of a shipped face's"
        rows = len(self.train_order)
        if self.exact:
            train = f"{where}: the shipped runs' {rows:,} training faces, byte for byte"
        else:
            how = [f"each face's {within}" if self.matched == rows else
                   f"{self.matched:,} faces' {within}, {rows - self.matched:,} paired by label"]
            if self.reordered:
                how.append("rows in another order")
            train = (f"{where}: the same {rows:,} FER2013 training faces as the shipped runs "
                     f"({', '.join(how)}): the shipped runs are reused with their stored "
                     f"predictions, not retrained; validation = the shipped runs' validation faces")
        test = {"same": "", "none": "",
                "matched": f"; test: the shipped runs' {self.test_rows:,} test faces (each face's {within}"
                           + (", rows in another order), taken in the shipped order (ids and labels "
                              "move with their faces)" if self.test_reordered else ")")
                           + " so that the stored test predictions apply",
                "other": "; test: not the shipped test faces: the runs with weights predict them "
                         "again, the others' stored test predictions are not for them"}[self.test]
        return train + test


def recognize(x_train, y_train, x_test, train_digest: str, test_digest: str,
              reference: Reference | None) -> SameFaces | None:
    """The user's data as the reference's faces (see SameFaces), or None when the training set is
    another dataset (or there is no reference)."""
    if reference is None or not len(y_train):
        return None
    ref_labels = reference.train_labels.astype(np.int64)
    rows = len(ref_labels)
    exact = train_digest == reference.train_digest
    if exact:
        order, matched, reordered = np.arange(rows), rows, False
    else:
        y_train = np.asarray(y_train, dtype=np.int64)
        if len(y_train) != rows or not np.array_equal(np.bincount(y_train, minlength=NUM_CLASSES),
                                                      np.bincount(ref_labels, minlength=NUM_CLASSES)):
            return None  # not the same faces: the class counts differ
        signatures = face_signatures(x_train)
        assign = match_rows(signatures, reference.train_signatures, y_train, ref_labels)
        matched = int((assign >= 0).sum())
        if matched < MIN_MATCHED * rows:
            return None
        _pair_leftovers(assign, signatures, reference.train_signatures, y_train, ref_labels)
        order = np.empty(rows, dtype=np.int64)
        order[assign] = np.arange(rows)
        reordered = not np.array_equal(order, np.arange(rows))
    test_order, test = _recognise_test(x_test, test_digest, reference)
    return SameFaces(order, test_order, exact, matched, reordered, test, reference.identity)


def _pair_leftovers(assign, signatures, ref_signatures, labels, ref_labels) -> None:
    """Pair the few rows matched to nothing with the free reference rows of the same label,
    nearest first (the class counts are equal, so every row is paired)."""
    rows = np.flatnonzero(assign < 0)
    if not len(rows):
        return
    taken = np.zeros(len(ref_signatures), dtype=bool)
    taken[assign[assign >= 0]] = True
    free = np.flatnonzero(~taken)
    r, c = (a.ravel() for a in np.meshgrid(rows, free, indexing="ij"))
    same = labels[r] == ref_labels[c]
    r, c = r[same], c[same]
    cost = np.linalg.norm(signatures[r] - ref_signatures[c].astype(np.float32), axis=1)
    _greedy(r, c, cost, assign, taken)


def _recognise_test(x_test, test_digest: str, reference: Reference) -> tuple[np.ndarray | None, str]:
    rows = len(reference.test_signatures)
    if not len(x_test):
        return None, "none"
    if test_digest == reference.test_digest:
        return np.arange(rows), "same"
    if len(x_test) != rows:
        return None, "other"
    assign = match_rows(face_signatures(x_test), reference.test_signatures)
    if (assign < 0).any():
        return None, "other"  # every test face must be one of the shipped ones
    order = np.empty(rows, dtype=np.int64)
    order[assign] = np.arange(rows)
    return order, "matched"
