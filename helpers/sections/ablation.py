"""The "ablation" section, normalization and augmentation: summary, table and sentences."""

from __future__ import annotations

import pandas as pd

from helpers.core.words import pct

ABLATION_LABELS = {"none": "(a) neither", "normalization": "(b) normalization",
                   "normalization_augmentation": "(c) normalization + augmentation"}


def ablation_summary(runs: dict) -> dict:
    """The "ablation" section's runs ({variant: run}, variants as in ABLATION_LABELS) in numbers, its
    results.json section."""
    return {name: {"val_accuracy": r.metrics["val_accuracy"], "best_epoch": r.metrics["best_epoch"],
                   "final_train_accuracy": r.metrics["final_train_accuracy"],
                   "gap": r.metrics["final_train_accuracy"] - r.metrics["final_val_accuracy"],
                   "epochs": r.metrics["epochs_run"], "seconds_per_epoch": r.metrics["seconds_per_epoch"]}
            for name, r in runs.items()}


def ablation_table(s: dict) -> pd.DataFrame:
    """One row per variant: validation accuracy, best epoch, final train accuracy and gap."""
    return pd.DataFrame([{"variant": ABLATION_LABELS[name], "validation accuracy": v["val_accuracy"],
                          "best epoch": v["best_epoch"], "final train accuracy": v["final_train_accuracy"],
                          "train - validation gap": v["gap"]} for name, v in s.items()])


def ablation_settings(augmentation: dict, epochs: int) -> str:
    """The augmentation and epochs the ablation runs share."""
    return f"Augmentation: {', '.join(f'{k} {v}' for k, v in augmentation.items() if v)}; {epochs} epochs each."


def _change(s: dict, a: str, b: str) -> str:
    before, after = s[a]["val_accuracy"], s[b]["val_accuracy"]
    delta = round(100 * (after - before), 1)
    if not delta:
        return f"leaves validation accuracy where it was ({pct(before)} -> {pct(after)})"
    return (f"{'raises' if delta > 0 else 'lowers'} validation accuracy by {abs(delta):.1f} points "
            f"({pct(before)} -> {pct(after)})")


def ablation_sentences(s: dict) -> str:
    """What normalization, then augmentation, change, and the best variant."""
    best = max(s, key=lambda name: s[name]["val_accuracy"])
    return "\n".join([
        f"- Normalization alone {_change(s, 'none', 'normalization')}. Batch normalization after the "
        "first convolution already rescales activations, which is why input normalization matters "
        "less here than in a plain network.",
        f"- Adding augmentation {_change(s, 'normalization', 'normalization_augmentation')}; it shrinks "
        "the gap between training and validation accuracy from "
        f"{100 * s['normalization']['gap']:+.1f} to {100 * s['normalization_augmentation']['gap']:+.1f} "
        "points, i.e. it fights overfitting.",
        f"- Best variant: {ABLATION_LABELS[best]}."])
