"""The "semi" section, semi-supervised learning: summary, tables, figures and sentences."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from helpers.analysis.semi import (
    POOL_KEYS,
    SELECTIONS,
    FractionRuns,
    fraction_result,
    most_over_represented,
    semi_steps,
)
from helpers.analysis.stats import significant_changes
from helpers.core.config import ALPHA, CLASS_NAMES, CONFIDENCE, NUM_CLASSES, smoothed_targets
from helpers.core.words import change_words, pct, pct_or_na, plural, points, verb
from helpers.sections.cnn import tta_words

POOL_LABELS = {"train": "train", "train+test": "train + test"}
"""How the report names each pool."""


def settings_summary(*, fractions: Sequence[float], threshold: float, rounds: int, epochs: float,
                     training: dict, train_images: int, test_images: int, use_test: bool,
                     seed: int, selection: str = "threshold") -> dict:
    """The experiment's settings: `training` is the section-1 training dict (batch size, label
    smoothing, flip TTA); `epochs` sets each fraction's budget (helpers.analysis.semi.semi_steps);
    `use_test` asks for the train + test pool, which needs test images."""
    if selection not in SELECTIONS:
        raise ValueError(f"semi_selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    smoothing = training.get("label_smoothing") or 0
    use_test_pool = bool(use_test and test_images)
    return {"fractions": list(fractions), "threshold": threshold, "selection": selection,
            "rounds": rounds, "epochs": epochs, "batch_size": training["batch_size"],
            "tta_flip": bool(training.get("tta_flip", False)), "tta_crops": bool(training.get("tta_crops", False)),
            "tta": tta_words(training),
            "use_test_requested": use_test,
            "use_test": use_test_pool, "pools": ["train", "train+test"] if use_test_pool else ["train"],
            "train_images": train_images, "test_images": test_images, "seed": seed,
            "label_smoothing": smoothing,
            "confidence_ceiling": smoothed_targets(smoothing)[0]}


def settings_sentences(s: dict) -> str:
    """The paragraph on the experiment's settings."""
    if s["use_test"]:
        pool = (f"Pool: the unlabeled training images, and as a variant unlabeled training + "
                f"{s['test_images']:,} test images. ")
    elif s["use_test_requested"]:
        pool = ("Pool: the unlabeled training images (the data has no test images, so the train + test "
                "variant is skipped). ")
    else:
        pool = ("Pool: the unlabeled training images (adding the test images, a common variant, "
                "would cost two more trainings). ")
    ceiling = (f"With label smoothing {s['label_smoothing']:g} the true class's training target is "
               f"{s['confidence_ceiling']:.3f}, the highest any training label asks for (a model can still "
               "exceed it on a face)"
               + (f"; the threshold {s['threshold']:g} sits below it." if s["threshold"] < s["confidence_ceiling"]
                  else f"; the threshold {s['threshold']:g} is above it: few images may reach it.")
               if s["label_smoothing"] else "")
    if s["selection"] == "class_shares":
        selection = (f"the number of pseudo-labels is the number of unlabeled images whose"
                     f"{' flip-averaged' if s['tta_flip'] else ''} softmax confidence reaches **{s['threshold']:g}**; "
                     "they are split among the classes in the labels' proportions, each class taking its most "
                     "confident images (class-balanced as in Noisy Student, so that happy cannot crowd out fear "
                     "or disgust); ")
    else:
        selection = (f"every unlabeled image whose{' flip-averaged' if s['tta_flip'] else ''} softmax "
                     f"confidence reaches **{s['threshold']:g}** is pseudo-labeled; ")
    return (
        f"**Settings of this run.** Labeled: {', '.join(pct(f, 0) for f in s['fractions'])} "
        f"of the {s['train_images']:,} training images (stratified, seed {s['seed']}). Every "
        f"model, baseline and self-trained alike, has the main CNN's settings and "
        f"the optimizer steps of {s['epochs']:g} epochs of the fraction's labeled images; "
        + selection + f"{plural(s['rounds'], 'self-training round')}. " + pool + ceiling)


def experiment_summary(experiment: dict[float, FractionRuns], y_val, settings: dict,
                       reference=None) -> dict:
    """results.json's "semi" section: the settings, fraction_result of each labeled fraction
    (under str(fraction)), the true class counts of its unlabeled images, the class its accepted
    pseudo-labels over-represent most, and over all self-trained models how many changed
    significantly (McNemar). `reference` is the main CNN's run (all labels), if there is one."""
    summary = {"threshold": settings["threshold"], "selection": settings["selection"],
               "rounds": settings["rounds"], "epochs": settings["epochs"], "use_test": settings["use_test"],
               "tta_flip": settings["tta_flip"], "tta_crops": settings.get("tta_crops"), "tta": settings.get("tta"),
               "fractions": settings["fractions"],
               "pools": settings["pools"], "train_images": settings["train_images"],
               "test_images": settings["test_images"], "validation_faces": len(y_val),
               "all_labels_reference": None if reference is None else {
                   "val_accuracy": reference.metrics["val_accuracy"], "run": reference.name,
                   "epochs": reference.metrics["epochs_run"]}}
    gains, over = [], {}
    for fraction, e in experiment.items():
        result = fraction_result(e, y_val)
        result["steps"] = semi_steps(settings["epochs"], e.labeled, settings["batch_size"])
        result["unlabeled_class_counts"] = np.bincount(e.y_unlabeled, minlength=NUM_CLASSES).tolist()
        found = most_over_represented(e.pools["train"].last["per_class"], e.y_unlabeled)
        if found is not None and found[1] > found[2]:  # a class the pseudo-labels over-represent
            over[str(fraction)] = {"class": CLASS_NAMES[found[0]], "accepted_share": float(found[1]),
                                   "true_share": float(found[2])}
        for pool in settings["pools"]:
            r = result[POOL_KEYS[pool]]
            gains.append({"fraction": fraction, "pool": pool,
                          "change": r["val_accuracy"] - result["baseline"]["val_accuracy"],
                          "change_low": r["change_low"], "change_high": r["change_high"],
                          "mcnemar_p": r["mcnemar_p"]})
        summary[str(fraction)] = result
    better, worse, unclear = significant_changes((g["change"], g["mcnemar_p"]) for g in gains)
    summary["over_represented"] = over
    summary["overall"] = {"models": len(gains), "better": better, "worse": worse, "unclear": unclear,
                          "largest": max(gains, key=lambda g: abs(g["change"]), default=None)}
    return summary


def _results(s: dict) -> dict:
    return {float(f): s[str(f)] for f in dict.fromkeys(s["fractions"])}


def results_caption(s: dict) -> str:
    """The sentence above accuracy_table."""
    pools = (f"The *train* pool holds the unlabeled training images; the *train + test* pool adds the "
             f"{s['test_images']:,} test images. " if len(s["pools"]) > 1 else "")
    tta = s.get("tta")
    averaged = ("" if tta is None else " (no test-time averaging)" if tta == "none" else
                " (each with the main CNN's ten-crop test-time averaging)" if s.get("tta_crops") and s["tta_flip"] else
                f" (each with the main CNN's test-time averaging: {tta})")
    return (f"**Validation accuracy** ({s['validation_faces']:,} faces) of the baseline and of the "
            f"model after {plural(s['rounds'], 'self-training round')}{averaged}. " + pools
            + "The change's interval is Agresti and Min's for paired proportions (never of zero width).")


def accuracy_table(s: dict) -> pd.DataFrame:
    """One row per labeled fraction: baseline, each pool's self-trained model and its change;
    then the main CNN trained with every label, when there is one."""
    rows = []
    for fraction, result in _results(s).items():
        base = result["baseline"]["val_accuracy"]
        row = {"labeled": f"{pct(fraction, 0)} ({result['labeled_rows']:,})", "baseline": pct(base)}
        for i, pool in enumerate(s["pools"]):
            last = result[POOL_KEYS[pool]]["val_accuracy"]
            row["self-trained" if len(s["pools"]) == 1 else f"self-trained ({POOL_LABELS[pool]} pool)"] = pct(last)
            r = result[POOL_KEYS[pool]]
            row[f"change, points ({CONFIDENCE:.0%} interval){' ' * i}"] = (
                f"{points(base, last):+.1f} ({100 * r['change_low']:+.1f} to {100 * r['change_high']:+.1f})")
        rows.append(row)
    if s["all_labels_reference"] is not None:
        rows.append({"labeled": f"all {s['train_images']:,} (reference)",
                     "baseline": pct(s["all_labels_reference"]["val_accuracy"])})
    return pd.DataFrame(rows).fillna("")


def reference_sentence(s: dict) -> str:
    """Below accuracy_table: what the reference row is and why it is not a like-for-like baseline
    ("" without one)."""
    ref = s["all_labels_reference"]
    if ref is None:
        return ""
    most = max(result["labeled_rows"] for result in _results(s).values())
    ratio = ref["epochs"] * s["train_images"] / (s["epochs"] * most)
    return (f"The reference row is the main CNN (all {s['train_images']:,} labels, {ref['epochs']:g} epochs: about "
            f"{ratio:.0f} times these models' optimizer steps or more): what every label and full training buy, "
            "not a like-for-like baseline.")


def _fraction_sentence(fraction: float, result: dict, s: dict) -> str:
    base = result["baseline"]["val_accuracy"]
    text = [f"- **{pct(fraction, 0)} labeled ({result['labeled_rows']:,} images).**"]
    first = result["rounds"][1] if len(result["rounds"]) > 1 else None
    text.append(f"Each of its models trains for {result['steps']:,} optimizer steps.")
    if first is not None and first["accepted"]:
        text.append(f"The selection accepts {first['accepted']:,} of the {first['n_unlabeled']:,} "
                    f"unlabeled training images ({pct(first['accepted_fraction'])}); "
                    f"{pct_or_na(first['pseudo_label_accuracy'])} of these pseudo-labels are right, "
                    f"against {pct(result['baseline_accuracy_on_unlabeled'])} for all of the "
                    "baseline's predictions on those images.")
    elif first is not None:
        text.append("No unlabeled training image reaches the threshold, so the pseudo-labels add nothing.")
    for pool in s["pools"]:
        r = result[POOL_KEYS[pool]]
        change = change_words(base, r["val_accuracy"], r["fixed"], r["broken"], r["mcnemar_p"])
        # the change's interval and the main CNN's accuracy (the reference row): accuracy_table
        text.append(f"Self-training on the unlabeled training images {change}." if pool == "train" else
                    f"With the {s['test_images']:,} test images added to the pool "
                    f"({r['accepted_extra']:,} of them accepted), self-training {change}.")
    return " ".join(text)


SKEW = 1.5
"""A class is over-represented among the pseudo-labels when its share is this many times its true share."""


def experiment_sentences(s: dict) -> str:
    """The bullets on experiment_summary: one per labeled fraction, the over-represented class
    and the overall count of significant changes."""
    lines = [_fraction_sentence(fraction, result, s) for fraction, result in _results(s).items()]
    over = s["over_represented"]
    if over and any(o["accepted_share"] >= SKEW * o["true_share"] for o in over.values()):
        # a class near its true share says nothing (class-balanced selection keeps it there)
        lines.append(
            "- The class most over-represented among the accepted pseudo-labels: "
            + "; ".join(f"at {pct(float(f), 0)} labeled, {o['class']} makes up {pct(o['accepted_share'])} "
                        f"of them against {pct(o['true_share'])} of the true labels" for f, o in over.items())
            + ". A skew like this pulls the retrained model towards that class"
            + (" (each class may take its share of the labels, but classes the baseline "
               "rarely predicts cannot fill theirs)" if s["selection"] == "class_shares" else "") + ".")
    overall = s["overall"]
    if overall["models"]:
        largest = overall["largest"]
        where = (f"{pct(largest['fraction'], 0)} labeled"
                 + (f", {POOL_LABELS[largest['pool']]} pool" if len(s["pools"]) > 1 else ""))
        test = f"exact McNemar test, {ALPHA:.0%} level"
        counts = (f"the self-trained model does not differ significantly from its baseline ({test})"
                  if overall["models"] == 1 and not overall["better"] and not overall["worse"] else
                  f"{'neither' if overall['models'] == 2 else 'none'} of the {overall['models']} self-trained "
                  "models differs significantly from its "
                  f"baseline ({test})" if not overall["better"] and not overall["worse"] else
                  f"of {plural(overall['models'], 'self-trained model')}, {overall['better']} "
                  f"{verb(overall['better'], 'is', 'are')} significantly better and "
                  f"{overall['worse']} significantly worse than their baseline ({test}); the other "
                  f"{overall['unclear']} {verb(overall['unclear'], 'is', 'are')} not significantly different")
        lines.append(f"- **Overall**: {counts}. The largest change is "
                     f"{100 * largest['change']:+.1f} points ({where}).")
        lines.append(
            f"- **Scope**: one set-up ({plural(s['rounds'], 'round')}, threshold {s['threshold']:g}, the steps "
            f"of {s['epochs']:g} epochs, one seed, {s['validation_faces']:,} validation faces); other thresholds, "
            "more rounds, longer training or consistency training (FixMatch) may do differently.")
    return "\n".join(lines)
