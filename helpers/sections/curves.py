"""The "curves" section, training curves: the figure, summary and sentences."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.core.words import pct


def plot_curves(histories: dict, title: str = "Training curves") -> Figure:
    """Loss and accuracy per epoch, train (dashed) and validation (solid), for each named run.

    `histories` maps a run name to a DataFrame with columns epoch, loss, accuracy, val_loss,
    val_accuracy (helpers.modeling.store.read_history).
    """
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2)
    colors = matplotlib.colormaps["tab10"](np.arange(max(len(histories), 1)))
    for color, (name, history) in zip(colors, histories.items()):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(history["epoch"], history[metric], "--", color=color, label=f"{name} train")
            ax.plot(history["epoch"], history[f"val_{metric}"], "-", color=color,
                    label=f"{name} validation")
    axes[0].set(title="Loss", xlabel="epoch", ylabel="cross-entropy loss")
    axes[1].set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curve_summary(history: pd.DataFrame) -> dict:
    """Where a run's validation accuracy peaked and how its last epoch ended (history.csv)."""
    last = history.iloc[-1]
    return {"epochs": len(history), "peak_val_accuracy": float(history.val_accuracy.max()),
            "peak_epoch": int(history.loc[history.val_accuracy.idxmax(), "epoch"]),
            "last_accuracy": float(last.accuracy), "last_val_accuracy": float(last.val_accuracy),
            "last_val_loss": float(last.val_loss), "min_val_loss": float(history.val_loss.min())}


def curve_sentences(s: dict) -> str:
    """The peak, the last epoch's train-validation gap and the validation loss."""
    return (f"Validation accuracy peaks at {pct(s['peak_val_accuracy'])} in epoch {s['peak_epoch']} of "
            f"{s['epochs']}. At the last epoch the model is {pct(s['last_accuracy'])} accurate on its "
            f"(augmented) training batches and {pct(s['last_val_accuracy'])} on validation, a gap of "
            f"{100 * (s['last_accuracy'] - s['last_val_accuracy']):+.1f} points; validation loss ends "
            f"at {s['last_val_loss']:.3f} against {s['min_val_loss']:.3f} at its lowest.")
