"""The "curves" section, training curves: the figure, summary and sentences, and the words
for how a run's training accuracy was measured (its augmentation and dropout, read from the
run's config), which the DNN and ablation sections use too."""

from __future__ import annotations

import inspect

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.lines import Line2D

from helpers.core.plotting import set_fonts
from helpers.core.words import pct, points
from helpers.modeling.models import build_cnn

CNN_DEFAULTS = {name: parameter.default
                for name, parameter in inspect.signature(build_cnn).parameters.items()}
"""build_cnn's defaults: what a CNN run's config left out was built with."""


# Epochs between the lowest validation loss and the accuracy peak worth a sentence.
LOSS_LEAD = 10


def plot_curves(histories: dict, title: str = "Training curves") -> Figure:
    """Loss and accuracy per epoch, train (dashed) and validation (solid), for each named run.

    `histories` maps a run name to a DataFrame with columns epoch, loss, accuracy, val_loss,
    val_accuracy (helpers.modeling.store.read_history).
    """
    fig = Figure(figsize=(5.6, 2.6), layout="constrained")
    axes = fig.subplots(1, 2)
    colors = matplotlib.colormaps["tab10"](np.arange(max(len(histories), 1)))
    for color, (name, history) in zip(colors, histories.items()):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(history["epoch"], history[metric], "--", color=color, label=f"{name} train")
            ax.plot(history["epoch"], history[f"val_{metric}"], "-", color=color,
                    label=f"{name} validation")
    axes[0].set(title="Loss", xlabel="epoch", ylabel="cross-entropy loss")
    axes[1].set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    set_fonts(*axes)
    # One legend under both panels: a color per run, a line style for train and validation.
    runs = [Line2D([], [], color=color, label=name) for color, name in zip(colors, histories)]
    styles = [Line2D([], [], color="gray", ls="--", label="train"),
              Line2D([], [], color="gray", ls="-", label="validation")]
    fig.legend(handles=runs + styles, loc="outside lower center", fontsize=8,
               ncol=3 if len(runs) > 2 else len(runs) + 2, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def augmentation_words(augmentation: dict | None) -> str:
    """A run's training-time augmentation ({"flip": True, "crop": 44}) in words: 'random
    horizontal flips, random 44x44 crops'; 'none'."""
    if not augmentation or not any(augmentation.values()):
        return "none"
    words = []
    for name, value in augmentation.items():
        if not value:
            continue
        if name == "flip":
            words.append("random horizontal flips")
        elif name == "crop":
            words.append(f"random {value}x{value} crops")
        else:
            words.append(f"{name.replace('_', ' ')} {value}")
    return ", ".join(words)


def dropout_rates(config: dict) -> dict:
    """A run's dropout rates by place, read from its config: a CNN's {"convolution block",
    "dense layer"}, a DNN's {"hidden layer"} (rates of 0 included)."""
    if config.get("model") == "dnn":
        return {"hidden layer": float(config.get("dropout") or 0.0)}
    if config.get("model") == "cnn":
        cnn = config.get("cnn") or {}
        rate = lambda key: float(cnn.get(key, CNN_DEFAULTS[key]) or 0.0)  # noqa: E731
        return {"convolution block": rate("conv_dropout"), "dense layer": rate("dense_dropout")}
    raise ValueError(f"a run config's model must be 'cnn' or 'dnn', got {config.get('model')!r}")


def dropout_words(config: dict) -> str:
    """'no dropout' or 'dropout 0.1 after each convolution block and 0.5 after each dense
    layer', from the run's config."""
    used = {place: rate for place, rate in dropout_rates(config).items() if rate}
    if not used:
        return "no dropout"
    dense = (config.get("cnn") or {}).get("dense_units", CNN_DEFAULTS.get("dense_units", ()))
    single = {"dense layer"} if config.get("model") == "cnn" and len(dense) == 1 else set()
    return "dropout " + " and ".join(f"{rate:g} after {'the' if place in single else 'each'} {place}"
                                     for place, rate in used.items())


def training_conditions(config: dict) -> str:
    """How a run's training accuracy was measured, from its config: 'augmented: random
    horizontal flips, ...; dropout 0.1 after ... active' or 'not augmented; no dropout'."""
    augmentation = augmentation_words(config.get("augmentation"))
    batches = "not augmented" if augmentation == "none" else f"augmented: {augmentation}"
    dropout = dropout_words(config)
    return f"{batches}; {dropout}" + ("" if dropout == "no dropout" else " active")


def curve_summary(history: pd.DataFrame, config: dict | None = None) -> dict:
    """Where a run's validation accuracy peaked and how its last epoch ended (history.csv);
    with the run's `config`, also how its training accuracy was measured."""
    last = history.iloc[-1]
    return {"epochs": len(history), "peak_val_accuracy": float(history.val_accuracy.max()),
            "peak_epoch": int(history.loc[history.val_accuracy.idxmax(), "epoch"]),
            "last_accuracy": float(last.accuracy), "last_val_accuracy": float(last.val_accuracy),
            "last_val_loss": float(last.val_loss), "min_val_loss": float(history.val_loss.min()),
            "min_val_loss_epoch": int(history.loc[history.val_loss.idxmin(), "epoch"]),
            "training_conditions": training_conditions(config) if config else None}


def curve_sentences(s: dict) -> str:
    """The peak, the last epoch's train-validation gap and the validation loss."""
    conditions = f" ({s['training_conditions']})" if s.get("training_conditions") else ""
    return (f"Validation accuracy (one view, as measured while training) peaks at {pct(s['peak_val_accuracy'])} "
            f"in epoch {s['peak_epoch']} of {s['epochs']}. At the last epoch the model is {pct(s['last_accuracy'])} "
            f"accurate on its training batches{conditions} and {pct(s['last_val_accuracy'])} on validation, a gap of "
            f"{points(s['last_val_accuracy'], s['last_accuracy']):+.1f} points; " + loss_words(s) + "."
            + loss_before_peak(s))


def loss_before_peak(s: dict) -> str:
    """When the validation loss bottoms out well before the accuracy peaks (LOSS_LEAD epochs or
    more): why both can be true ('' otherwise)."""
    lowest = s.get("min_val_loss_epoch")
    if lowest is None or s["peak_epoch"] - lowest < LOSS_LEAD:
        return ""
    return (f" The loss bottoms out {s['peak_epoch'] - lowest} epochs before the accuracy peaks, the usual sign "
            "that the model grows more confident: its mistakes cost more loss while it still gets more faces right.")


def loss_words(s: dict) -> str:
    """'validation loss ends at 1.300 against 1.200 at its lowest (epoch 2)', or 'at its lowest,
    1.200'."""
    if f"{s['last_val_loss']:.3f}" == f"{s['min_val_loss']:.3f}":
        return f"validation loss ends at its lowest, {s['last_val_loss']:.3f}"
    epoch = f" (epoch {s['min_val_loss_epoch']})" if s.get("min_val_loss_epoch") else ""
    return f"validation loss ends at {s['last_val_loss']:.3f} against {s['min_val_loss']:.3f} at its lowest{epoch}"
