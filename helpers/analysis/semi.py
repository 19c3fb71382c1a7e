"""Self-training with pseudo-labels (the "semi" section): the labeled split, pseudo-label
selection, the self-training loop and the experiment's runs. Numbers only; helpers.sections.semi
shows them.

The self-training loop takes two callables, so the same code runs the report's CNN experiment and
the unit tests' toy classifiers. Labels are integers 0..C-1; probabilities are (N, C) arrays;
argmax ties go to the lowest class index and confidence ties to the lowest row index, so every
selection is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from helpers.analysis.evaluation import accuracy
from helpers.analysis.stats import paired_comparison, paired_difference_interval
from helpers.core.config import NUM_CLASSES
from helpers.core.results import atomic_path

UNKNOWN_LABEL = -1
"""True-label value meaning "not known" (e.g. test images): such rows are never scored."""


def labeled_split(y, fraction: float, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of rows into (labeled indices, unlabeled indices), both sorted.

    Class c with n_c rows keeps round(fraction * n_c) labels, the rounding done by largest
    remainder so that the total is round(fraction * N) (remainder ties go to the lower class);
    then every class with at least one row keeps at least one label, so the first model can
    predict every class. Which rows of a class are kept is a seeded random permutation. The
    two index arrays are disjoint and together cover every row.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction}")
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    target = int(round(fraction * len(y)))
    exact = fraction * counts
    keep = np.floor(exact).astype(np.int64)
    short = target - int(keep.sum())
    if short > 0:
        # Largest remainders first; stable sort keeps the lower class first on ties.
        order = np.argsort(-(exact - keep), kind="stable")
        keep[order[:short]] += 1
    keep = np.minimum(np.maximum(keep, 1), counts)
    rng = np.random.default_rng(seed)
    labeled = []
    for c in range(len(classes)):
        rows = np.flatnonzero(inverse == c)
        labeled.append(rows[rng.permutation(len(rows))[: keep[c]]])
    labeled_idx = np.sort(np.concatenate(labeled)) if labeled else np.zeros(0, np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[labeled_idx] = False
    return labeled_idx.astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def _as_proba(proba) -> np.ndarray:
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] == 0:
        raise ValueError(f"probabilities must be a 2-D array (rows, classes), got shape {proba.shape}")
    if not np.issubdtype(proba.dtype, np.floating):
        proba = proba.astype(np.float64)
    return proba


SELECTIONS = ("threshold", "class_shares")
"""How pseudo-labels are chosen: every row whose confidence reaches the threshold, or as many
rows but shared among the classes as the labeled images are (:func:`select_pseudo_labels`)."""


def semi_steps(epochs: float, labeled_rows: int, batch_size: int) -> int:
    """Optimizer steps of every run of a labeled fraction (baseline and self-trained alike):
    `epochs` epochs of the labeled part. The budget grows with the labels, so a larger labeled
    part is trained as far as a smaller one; a self-trained run, on more images, gets as many
    updates as its baseline, not more."""
    if epochs <= 0 or labeled_rows < 1 or batch_size < 1:
        raise ValueError(f"need epochs > 0, labeled_rows >= 1 and batch_size >= 1, got "
                         f"{epochs}, {labeled_rows}, {batch_size}")
    return max(1, round(epochs * -(-int(labeled_rows) // int(batch_size))))


def share_counts(total: int, shares) -> np.ndarray:
    """`total` split in proportion to `shares` (non-negative, not all zero), rounded by largest
    remainder so that the counts add up to `total` (remainder ties go to the lower class)."""
    shares = np.asarray(shares, dtype=np.float64)
    if shares.ndim != 1 or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"shares must be non-negative and not all zero, got {shares.tolist()}")
    exact = total * shares / shares.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: int(total) - int(counts.sum())]] += 1
    return counts


def select_pseudo_labels(proba, threshold: float, max_per_class: int | None = None,
                         class_balance: bool = False, class_shares=None) -> tuple[np.ndarray, np.ndarray]:
    """Confident rows and their pseudo-labels: (indices sorted ascending, labels), int64.

    With ``class_shares`` (one non-negative weight per class, e.g. the class counts of the
    labeled images), the threshold sets only how many rows are taken: A, the number of rows
    whose confidence reaches it. These A are then shared among the classes in proportion to
    class_shares (:func:`share_counts`), and each class c takes its n_c most confident rows
    among those predicted as c (all of them when it has fewer), whatever their confidence. A
    frequent, easy class (FER2013's "happy") then cannot crowd out the rare ones, and each
    class gets its own confidence threshold, as class-balanced self-training does (Noisy
    Student; FlexMatch's per-class thresholds). max_per_class and class_balance do not apply.

    A row is accepted when its largest probability is >= threshold (the comparison is done in
    the dtype of `proba`, so a float32/float16 value equal to the threshold is accepted); its
    pseudo-label is the argmax (lowest class on ties).

    Caps, applied per class to the accepted rows ranked by confidence (highest first, lower row
    index first on ties), keep the most confident rows of each class:

    * ``max_per_class``: at most that many rows per class;
    * ``class_balance``: at most floor(median) rows per class, the median taken over the
      accepted counts of the classes that have any accepted row (and at least 1). Easy,
      frequent classes (FER2013's "happy") then cannot swamp the pseudo-labels, while rare
      classes keep all they have. With both, the smaller cap applies.
    """
    proba = _as_proba(proba)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if max_per_class is not None and (int(max_per_class) != max_per_class or max_per_class < 0):
        raise ValueError(f"max_per_class must be a non-negative integer or None, got {max_per_class}")
    confidence = proba.max(axis=1)
    labels = proba.argmax(axis=1).astype(np.int64)
    accepted = np.flatnonzero(confidence >= np.asarray(threshold, dtype=proba.dtype))
    if class_shares is not None:
        class_shares = np.asarray(class_shares, dtype=np.float64).reshape(-1)
        if len(class_shares) != proba.shape[1]:
            raise ValueError(f"{len(class_shares)} class shares for {proba.shape[1]} classes")
        wanted = share_counts(len(accepted), class_shares)
        rows = np.arange(len(proba))
        ranked = rows[np.lexsort((rows, -confidence.astype(np.float64)))]
        kept = np.concatenate([ranked[labels[ranked] == c][: wanted[c]] for c in range(proba.shape[1])])
        kept = np.sort(kept).astype(np.int64)
        return kept, labels[kept]
    if max_per_class is None and not class_balance:
        return accepted.astype(np.int64), labels[accepted]

    num_classes = proba.shape[1]
    counts = np.bincount(labels[accepted], minlength=num_classes)
    cap = np.full(num_classes, np.iinfo(np.int64).max, dtype=np.int64)
    if max_per_class is not None:
        cap[:] = int(max_per_class)
    if class_balance and counts.any():
        median = int(np.floor(np.median(counts[counts > 0])))
        cap = np.minimum(cap, max(median, 1))
    # Rank accepted rows by confidence (descending), then row index (ascending).
    ranked = accepted[np.lexsort((accepted, -confidence[accepted].astype(np.float64)))]
    rank_in_class = np.zeros(len(ranked), dtype=np.int64)
    seen = np.zeros(num_classes, dtype=np.int64)
    for position, row in enumerate(ranked):
        c = labels[row]
        rank_in_class[position] = seen[c]
        seen[c] += 1
    kept = np.sort(ranked[rank_in_class < cap[labels[ranked]]])
    return kept.astype(np.int64), labels[kept]


def pseudo_label_report(indices, labels, true_labels, n_unlabeled: int,
                        num_classes: int = NUM_CLASSES) -> dict:
    """What a pseudo-labeling accepted, and how often it was right.

    `indices` index a pool of `n_unlabeled` rows and `labels` are their pseudo-labels.
    `true_labels` is None (accuracy unknown) or the pool's true labels, one per pool row, with
    UNKNOWN_LABEL (-1) for rows whose truth is unknown (test images): those count as accepted
    but are left out of the accuracy.

    Returns accepted, accepted_fraction (of the pool), scored (accepted rows with a known true
    label), correct, pseudo_label_accuracy (correct / scored, None when nothing is scored),
    per_class (accepted count per pseudo-label, a list of num_classes ints) and n_unlabeled.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(indices) != len(labels):
        raise ValueError(f"{len(indices)} indices but {len(labels)} labels")
    if len(np.unique(indices)) != len(indices):
        raise ValueError("indices must not repeat")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_unlabeled):
        raise ValueError(f"indices must lie in 0..{n_unlabeled - 1}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    scored = correct = 0
    if true_labels is not None:
        true_labels = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        if len(true_labels) != n_unlabeled:
            raise ValueError(f"{len(true_labels)} true labels for a pool of {n_unlabeled} rows")
        truth = true_labels[indices]
        known = truth != UNKNOWN_LABEL
        scored = int(known.sum())
        correct = int((truth[known] == labels[known]).sum())
    return {
        "accepted": int(len(indices)),
        "accepted_fraction": float(len(indices) / n_unlabeled) if n_unlabeled else 0.0,
        "scored": scored,
        "correct": correct,
        "pseudo_label_accuracy": float(correct / scored) if scored else None,
        "per_class": np.bincount(labels, minlength=num_classes)[:num_classes].astype(int).tolist(),
        "n_unlabeled": int(n_unlabeled),
    }


def class_thresholds(proba, indices, labels, num_classes: int = NUM_CLASSES) -> list[float | None]:
    """Per class, the lowest confidence among the rows accepted with that pseudo-label: the
    class's effective threshold (None for a class with no accepted row)."""
    proba = _as_proba(proba)
    confidence = proba.max(axis=1)[np.asarray(indices, dtype=np.int64)]
    labels = np.asarray(labels, dtype=np.int64)
    return [float(confidence[labels == c].min()) if (labels == c).any() else None
            for c in range(num_classes)]


def per_class_correct(indices, labels, true_labels, num_classes: int = NUM_CLASSES) -> list[int]:
    """Per pseudo-label class, how many accepted rows with a known true label are right."""
    labels = np.asarray(labels, dtype=np.int64)
    truth = np.asarray(true_labels, dtype=np.int64)[np.asarray(indices, dtype=np.int64)]
    right = (truth == labels) & (truth != UNKNOWN_LABEL)
    return np.bincount(labels[right], minlength=num_classes)[:num_classes].astype(int).tolist()


def self_training(train_fn: Callable[[np.ndarray, np.ndarray, int], Any],
                  predict_fn: Callable[[Any, np.ndarray], np.ndarray],
                  x_labeled, y_labeled, x_unlabeled, threshold: float, rounds: int = 1,
                  y_unlabeled_true=None, extra_unlabeled=None, max_per_class: int | None = None,
                  class_balance: bool = False, num_classes: int = NUM_CLASSES,
                  evaluate_fn: Callable[[Any, int], dict] | None = None,
                  class_shares=None) -> tuple[Any, list[dict]]:
    """Self-training: train on the labels, pseudo-label the pool, retrain, `rounds` times.

    Round 0 calls ``train_fn(x_labeled, y_labeled, 0)``. Each round r = 1..rounds predicts the
    pool (x_unlabeled followed by extra_unlabeled, e.g. the test images) with the previous
    round's model, selects pseudo-labels with :func:`select_pseudo_labels` (threshold,
    max_per_class, class_balance, class_shares), and calls ``train_fn(labeled + pseudo-labeled rows, r)``.
    Pseudo-labels are recomputed from scratch every round (not accumulated), so a later, better
    model can revise or drop earlier ones. Labeled rows come first in every training set,
    pseudo-labeled rows follow in pool order.

    Returns (the last round's handle, one report per round 0..rounds). Each report has round,
    labeled_rows, pseudo_rows, train_rows, threshold, accepted_unlabeled, accepted_extra and the
    keys of :func:`pseudo_label_report` over the whole pool (accuracy scored only on
    x_unlabeled rows, and only when y_unlabeled_true is given; extra rows are never scored);
    round 0 has zero accepted rows. Rounds 1.. also have class_thresholds (per class, the lowest
    confidence accepted) and, when the truth is known, per_class_correct. ``evaluate_fn(handle, round)`` may add keys (e.g. the
    validation accuracy) to each round's report.
    """
    rows = [rows_of(x) for x in (x_labeled, x_unlabeled, extra_unlabeled)]  # before asarray drops them
    x_labeled, y_labeled = np.asarray(x_labeled), np.asarray(y_labeled, dtype=np.int64)
    x_unlabeled = np.asarray(x_unlabeled)
    if len(x_labeled) != len(y_labeled):
        raise ValueError(f"{len(x_labeled)} labeled rows but {len(y_labeled)} labels")
    if int(rounds) != rounds or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds}")
    n_unlabeled = len(x_unlabeled)
    if extra_unlabeled is not None and len(extra_unlabeled):
        extra_unlabeled = np.asarray(extra_unlabeled)
        pool = np.concatenate([x_unlabeled, extra_unlabeled.astype(x_unlabeled.dtype, copy=False)])
    else:
        pool = x_unlabeled
    n_extra = len(pool) - n_unlabeled
    pool_truth = None
    if y_unlabeled_true is not None:
        y_unlabeled_true = np.asarray(y_unlabeled_true, dtype=np.int64).reshape(-1)
        if len(y_unlabeled_true) != n_unlabeled:
            raise ValueError(f"{len(y_unlabeled_true)} true labels for {n_unlabeled} unlabeled rows")
        pool_truth = np.concatenate([y_unlabeled_true, np.full(n_extra, UNKNOWN_LABEL, np.int64)])

    def finish(report: dict, handle, round_index: int) -> dict:
        if evaluate_fn is not None:
            report.update(evaluate_fn(handle, round_index) or {})
        return report

    known = rows[0] is not None and rows[1] is not None and (n_extra == 0 or rows[2] is not None)
    pool_rows = (np.concatenate([rows[1]] + ([rows[2]] if n_extra else [])) if known else None)
    if known:
        pool = with_rows(pool, pool_rows)
    handle = train_fn(with_rows(x_labeled, rows[0]) if known else x_labeled, y_labeled, 0)
    empty = np.zeros(0, np.int64)
    report = pseudo_label_report(empty, empty, pool_truth, len(pool), num_classes)
    reports = [finish({"round": 0, "labeled_rows": len(y_labeled), "pseudo_rows": 0,
                       "train_rows": len(y_labeled), "threshold": float(threshold),
                       "accepted_unlabeled": 0, "accepted_extra": 0, **report}, handle, 0)]
    for round_index in range(1, int(rounds) + 1):
        proba = _as_proba(predict_fn(handle, pool))
        if len(proba) != len(pool):
            raise ValueError(f"predict_fn returned {len(proba)} rows for {len(pool)} inputs")
        indices, labels = select_pseudo_labels(proba, threshold, max_per_class, class_balance, class_shares)
        report = pseudo_label_report(indices, labels, pool_truth, len(pool), num_classes)
        report["class_thresholds"] = class_thresholds(proba, indices, labels, num_classes)
        if pool_truth is not None:
            report["per_class_correct"] = per_class_correct(indices, labels, pool_truth, num_classes)
        x_train = np.concatenate([x_labeled, pool[indices].astype(x_labeled.dtype, copy=False)])
        y_train = np.concatenate([y_labeled, labels])
        if known:
            x_train = with_rows(x_train, np.concatenate([rows[0], pool_rows[indices]]))
        handle = train_fn(x_train, y_train, round_index)
        from_unlabeled = int((indices < n_unlabeled).sum())
        reports.append(finish({
            "round": round_index, "labeled_rows": len(y_labeled), "pseudo_rows": len(indices),
            "train_rows": len(y_train), "threshold": float(threshold),
            "accepted_unlabeled": from_unlabeled, "accepted_extra": len(indices) - from_unlabeled,
            **report}, handle, round_index))
    return handle, reports


POOL_KEYS = {"train": "self_training", "train+test": "self_training_with_test"}
"""results.json key of each pool's self-trained model."""


class RowsArray(np.ndarray):
    """Rows of the dataset that know which rows they are (`rows`: indices into the training rows,
    then the test rows after them). A run trained on them, and a pool predicted once, are then
    told apart by those rows rather than by their pixels, so another copy of the same faces, a
    gray level apart and lined up with the shipped order (helpers.data.signature), has the same
    identity. Slicing drops `rows`."""

    rows = None


def with_rows(x, rows) -> RowsArray:
    """`x` (its rows in order) labeled with the dataset rows it holds."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if len(rows) != len(x):
        raise ValueError(f"{len(rows)} row indices for {len(x)} rows")
    out = np.asarray(x).view(RowsArray)
    out.rows = rows
    return out


def rows_of(x) -> np.ndarray | None:
    """The dataset rows `x` holds (with_rows), or None."""
    return getattr(x, "rows", None)


class PoolPredictor:
    """``predict(run, x)``, computed once per run (told apart by ``run.name``) and cached.

    Meant for pools that are prefixes of one another: the "train" pool (a fraction's unlabeled
    training images) is the first rows of the "train+test" pool, so once a run has predicted
    the larger pool, a call with a pool of at most that many rows returns the first len(x)
    cached rows without predicting again. A call with a longer pool predicts it afresh.

    With ``on_disk=True`` the predictions are also kept in the run's folder
    (``pool_<digest>.npy``, float16; the digest of the pool's dataset rows when it knows them,
    with_rows, else of its pixels), so a run shipped without its weights still serves the pool
    it was used on, in another copy of the same faces too.
    """

    def __init__(self, predict: Callable[[Any, np.ndarray], np.ndarray], on_disk: bool = False):
        self.predict = predict
        self.on_disk = on_disk
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, run, x) -> np.ndarray:
        cached = self.cache.get(run.name)
        if cached is None or len(cached) < len(x):
            cached = self.cache[run.name] = self._stored_or_predicted(run, x)
        return cached[: len(x)]

    def _stored_or_predicted(self, run, x) -> np.ndarray:
        if not self.on_disk:
            return self.predict(run, x)
        import hashlib

        rows = rows_of(x)
        content = (b"rows" + np.ascontiguousarray(rows, dtype=np.int64).tobytes() if rows is not None
                   else np.ascontiguousarray(x).tobytes())
        digest = hashlib.sha256(content).hexdigest()[:16]
        path = Path(run.run_dir) / f"pool_{digest}.npy"
        if path.exists():
            return np.load(path).astype(np.float32)
        proba = np.asarray(self.predict(run, x), dtype=np.float16)
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, proba)
        return proba.astype(np.float32)


@dataclass
class PoolRuns:
    """Self-training on one pool: the per-round reports and the run of each round (0 = baseline)."""

    reports: list[dict]
    runs: dict[int, Any]

    @property
    def last(self) -> dict:
        """The report of the last round."""
        return self.reports[-1]


@dataclass
class FractionRuns:
    """The runs of one labeled fraction: its baseline and its self-training on each pool."""

    fraction: float
    tag: int                  # round(100 * fraction), part of the run names
    labeled: int              # number of labeled training rows
    unlabeled: int            # number of training rows whose labels are hidden
    y_unlabeled: np.ndarray   # their true labels (kept aside to score the pseudo-labels)
    baseline: Any             # the run trained on the labeled rows only
    baseline_proba: np.ndarray  # its probabilities on the unlabeled training rows
    pools: dict[str, PoolRuns]

    @property
    def pool_order(self) -> list[str]:
        """The pools in report order: "train", then "train+test" when there is one."""
        return [p for p in POOL_KEYS if p in self.pools]


def default_run_name(fraction: float, pool: str, round_index: int) -> str:
    """``semi_{tag}_round0`` (baseline), ``semi_{tag}_round{r}`` ("train" pool) and
    ``semi_{tag}_test_round{r}`` ("train+test" pool), tag = round(100 * fraction)."""
    tag = round(100 * fraction)
    suffix = "_test" if pool == "train+test" else ""
    return f"semi_{tag}_round0" if round_index == 0 else f"semi_{tag}{suffix}_round{round_index}"


def self_training_experiment(train: Callable[..., Any], predict: Callable[[Any, np.ndarray], np.ndarray],
                             x_train, y_train, fractions: Sequence[float], seed: int, threshold: float,
                             rounds: int, extra_pool=None,
                             run_name: Callable[[float, str, int], str] = default_run_name,
                             selection: str = "threshold") -> dict[float, FractionRuns]:
    """The report's semi-supervised experiment: for each labeled fraction, a baseline trained on
    the labeled part (:func:`labeled_split`) and :func:`self_training` on each pool.

    ``train(name, x_train=..., y_train=..., labeled_rows=...)`` trains (or reuses) a model and
    returns a run with ``.name`` and ``.metrics`` (val_accuracy, epochs_run, seconds_per_epoch);
    labeled_rows, the size of the fraction's labeled part, sets the budget of all its runs
    (:func:`semi_steps`). ``predict(run, x)`` returns
    class probabilities; pass a :class:`PoolPredictor` so that each run predicts once.

    Pools: "train" holds the fraction's unlabeled training rows; with `extra_pool` (e.g. the
    test images), "train+test" holds them followed by extra_pool, and it runs first so that a
    PoolPredictor serves the smaller pool from its predictions. Both pools share the baseline.
    An empty extra_pool (a data folder without test images) adds no pool.
    Pseudo-labels (:data:`SELECTIONS`): "threshold" takes every row whose confidence reaches
    `threshold`; "class_shares" takes as many, shared among the classes as the fraction's labeled
    images are (:func:`select_pseudo_labels`).
    Run names: ``run_name(fraction, pool, round)`` (the report passes the experiment list's,
    helpers.experiments.registry.semi_run_name; default_run_name otherwise). Each round's
    report gets run, val_accuracy, epochs and seconds_per_epoch from its run.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    x_train, y_train = np.asarray(x_train), np.asarray(y_train)
    pools = {"train": None}
    if extra_pool is not None and len(extra_pool):
        # the larger pool first: its predictions are reused; its rows follow the training rows
        pools = {"train+test": with_rows(extra_pool, len(x_train) + np.arange(len(extra_pool))), **pools}
    baselines: dict[int, Any] = {}
    experiment = {}
    for fraction in fractions:
        tag = round(100 * fraction)
        labeled, unlabeled = labeled_split(y_train, fraction, seed)
        x_lab, y_lab = with_rows(x_train[labeled], labeled), y_train[labeled]
        x_unl, y_unl = with_rows(x_train[unlabeled], unlabeled), y_train[unlabeled]
        pool_runs = {}
        for pool, extra in pools.items():
            runs: dict[int, Any] = {}

            def train_round(x, y, r, tag=tag, pool=pool, fraction=fraction):
                if r == 0 and tag in baselines:
                    return baselines[tag]
                name = run_name(fraction, pool, r)
                run = train(name, x_train=x, y_train=y, labeled_rows=len(labeled))
                if r == 0:
                    baselines[tag] = run
                return run

            def evaluate(run, r, runs=runs):
                runs[r] = run
                return {"run": run.name, "val_accuracy": run.metrics["val_accuracy"],
                        "epochs": run.metrics["epochs_run"], "seconds_per_epoch": run.metrics["seconds_per_epoch"]}

            shares = (np.bincount(y_lab.astype(np.int64), minlength=NUM_CLASSES)
                      if selection == "class_shares" else None)
            _, reports = self_training(train_round, predict, x_lab, y_lab, x_unl, threshold, rounds,
                                       y_unlabeled_true=y_unl, extra_unlabeled=extra, evaluate_fn=evaluate,
                                       class_shares=shares)
            pool_runs[pool] = PoolRuns(reports, runs)
        baseline = baselines[tag]
        experiment[fraction] = FractionRuns(fraction, tag, len(labeled), len(unlabeled), y_unl, baseline,
                                            predict(baseline, x_unl), pool_runs)
    return experiment


def fraction_result(entry: FractionRuns, y_val) -> dict:
    """results.json's entry for one labeled fraction.

    Keys: labeled_rows, unlabeled_rows, baseline (val_accuracy, run, epochs),
    baseline_accuracy_on_unlabeled, and per pool (:data:`POOL_KEYS`) the last round's
    val_accuracy, run, pool, pseudo_label_accuracy, accepted counts, the paired comparison with
    the baseline on the validation split (fixed, broken, mcnemar_p, and the change's 95%
    interval change_low..change_high, :func:`paired_difference_interval`; runs need ``.val_proba``)
    and all rounds' reports. "self_training" is the "train" pool's (the "train+test" one's when
    there is no "train" pool); its pseudo_label_accuracy and rounds are repeated at the top.
    """
    base_run = entry.baseline
    result = {"labeled_rows": entry.labeled, "unlabeled_rows": entry.unlabeled,
              "baseline": {"val_accuracy": base_run.metrics["val_accuracy"], "run": base_run.name,
                           "epochs": base_run.metrics["epochs_run"]},
              "baseline_accuracy_on_unlabeled": accuracy(entry.baseline_proba, entry.y_unlabeled)}
    for pool in entry.pool_order:
        runs, last = entry.pools[pool], entry.pools[pool].last
        fixed, broken, p = paired_comparison(base_run.val_proba, runs.runs[last["round"]].val_proba, y_val)
        _, low, high = paired_difference_interval(fixed, broken, len(y_val))
        result[POOL_KEYS[pool]] = {
            "val_accuracy": last["val_accuracy"], "run": last["run"], "pool": pool,
            "pseudo_label_accuracy": last["pseudo_label_accuracy"], "accepted": last["accepted"],
            "accepted_unlabeled": last["accepted_unlabeled"], "accepted_extra": last["accepted_extra"],
            "fixed": fixed, "broken": broken, "mcnemar_p": p, "change_low": low, "change_high": high,
            "rounds": runs.reports}
    main = result.get("self_training") or result.get("self_training_with_test")
    result.update(self_training=main, pseudo_label_accuracy=main["pseudo_label_accuracy"], rounds=main["rounds"])
    return result


def most_over_represented(per_class, y_true, num_classes: int = NUM_CLASSES) -> tuple[int, float, float] | None:
    """The class whose share of the accepted pseudo-labels most exceeds its share of the true
    labels: (class, accepted share, true share). `per_class` counts the accepted pseudo-labels
    per class (a report's "per_class"); None when nothing was accepted."""
    counts = np.asarray(per_class, dtype=np.float64)
    if counts.sum() == 0:
        return None
    y_true = np.asarray(y_true, dtype=np.int64)
    accepted_share = counts / counts.sum()
    true_share = np.bincount(y_true, minlength=num_classes)[:num_classes] / len(y_true)
    k = int(np.argmax(accepted_share - true_share))
    return k, accepted_share[k], true_share[k]
