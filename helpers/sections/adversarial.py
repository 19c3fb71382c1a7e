"""Further analysis, gradient ascent from a natural image: the adversarial examples' summary, table, figure and sentences."""

from __future__ import annotations

from collections import Counter

import textwrap

import numpy as np
from matplotlib.figure import Figure

from helpers.analysis.adversarial import AdversarialResult
from helpers.core.config import CLASS_NAMES
from helpers.core.words import pct, plural


def attack_record(index: int, true: int, attack: AdversarialResult) -> dict:
    """One attack for results.json: the image's index and true class and the attack's numbers
    (no images)."""
    return {"index": index, "true": int(true), "original_class": attack.original_class,
            "original_probability": attack.original_probability, "new_class": attack.new_class,
            "new_probability": attack.new_probability, "steps": attack.steps,
            "flipped": attack.flipped, "max_abs_change": attack.max_abs_change,
            "mean_abs_change": attack.mean_abs_change}


def adversarial_figure(originals, labels, attacks, step_size: float) -> Figure:
    """Two attacks a row, each as three panels: the original face, titled with its true and
    predicted class | the change the attack made, in gray levels, its color range running
    from minus to plus its largest change (the color bar's ticks; no amplification factor to
    take on trust) | the adversarial face and its prediction. `originals` (N, H, W, 1) in
    0..255, `labels` true classes. Drawn at its print size: eight attacks take about 5.0 inches
    (so that it fits on a page below the weak model's figure)."""
    per_row = min(2, max(len(attacks), 1))
    rows = int(np.ceil(len(attacks) / per_row))
    fig = Figure(figsize=(5.6, 1.1 * rows + 0.55), layout="constrained")
    # three panels an attack, a narrow empty column between two attacks
    ratios = ([1, 1, 1, 0.2] * per_row)[:-1]
    grid = fig.add_gridspec(rows, len(ratios), width_ratios=ratios)
    changes = []
    for i, (original, label, a) in enumerate(zip(originals, labels, attacks)):
        row, col = divmod(i, per_row)
        axes = [fig.add_subplot(grid[row, 4 * col + k]) for k in range(3)]
        axes[0].imshow(original[..., 0], cmap="gray", vmin=0, vmax=255)
        axes[0].set_title(f"true {CLASS_NAMES[label]}\n{CLASS_NAMES[a.original_class]} "
                          f"{pct(a.original_probability, 0)}", fontsize=8)
        limit = max(a.max_abs_change, 1e-6)
        changes.append((axes[1].imshow(a.perturbation, cmap="seismic", vmin=-limit, vmax=limit),
                        axes[1], limit))
        axes[1].set_title(f"{plural(a.steps, 'step')}\n"
                          + (f"\u00b1{plural(a.max_abs_change, 'gray level')}" if a.max_abs_change
                             else "no change"), fontsize=8)
        axes[2].imshow(a.image, cmap="gray", vmin=0, vmax=255)
        # an attack that ran out of steps leaves the class as it was: say so
        axes[2].set_title(f"{'adversarial' if a.flipped else 'not flipped'}\n{CLASS_NAMES[a.new_class]} "
                          f"{pct(a.new_probability, 0)}", fontsize=8)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
    for shown, ax, limit in changes:  # after the panels: fig.axes lists the panels first
        bar = fig.colorbar(shown, ax=ax, fraction=0.1, pad=0.04, aspect=12, ticks=[-limit, 0, limit])
        bar.ax.set_yticklabels([f"{-limit:g}", "0", f"{limit:g}"])
        bar.ax.tick_params(labelsize=8, length=2, pad=1)
    fig.suptitle(textwrap.fill(
        f"Adversarial examples of the main CNN (steps of {plural(step_size, 'gray level')}). "
        "Each attack: the face with its true and predicted class; the change, in gray levels, "
        "its color range \u00b1 its largest change; the adversarial face and its prediction", 78),
        fontsize=9)
    return fig


def adversarial_summary(indices, labels, attacks, *, requested: int, step_size: float,
                        max_steps: int, between_faces: float) -> dict:
    """The attacks of notebook 05 in numbers (also its results.json section). `requested` is
    how many faces were asked for, `between_faces` the mean_pair_difference of the split."""
    flipped = [a for a in attacks if a.flipped]
    steps = [a.steps for a in flipped]
    return {
        "requested": requested, "step_size": step_size, "max_steps": max_steps,
        "images": list(indices), "attempted": len(attacks), "flipped": len(flipped),
        "mean_abs_difference_between_faces": between_faces,
        "median_steps_flipped": float(np.median(steps)) if flipped else None,
        "steps_range_flipped": [min(steps), max(steps)] if flipped else None,
        "largest_max_abs_change": max((a.max_abs_change for a in flipped), default=None),
        "largest_mean_abs_change": max((a.mean_abs_change for a in flipped), default=None),
        "new_classes": sorted({CLASS_NAMES[a.new_class] for a in flipped}),
        "new_class_counts": {CLASS_NAMES[c]: n for c, n in
                             sorted(Counter(a.new_class for a in flipped).items(), key=lambda kv: (-kv[1], kv[0]))},
        "examples": [attack_record(i, y, a) for i, y, a in zip(indices, labels, attacks)],
    }


def adversarial_sentences(s: dict) -> str:
    """What the attacks of adversarial_summary needed, against the difference between faces."""
    budget = f"{plural(s['max_steps'], 'step')} of {plural(s['step_size'], 'gray level')}"
    if not s["attempted"]:
        return ("*No adversarial example was requested (adversarial_images = 0).*" if s["requested"] == 0
                else "*The CNN classifies no validation face correctly, so there is nothing to attack.*")
    if not s["flipped"]:
        return f"No attack changes the prediction within {budget}."
    low, high = s["steps_range_flipped"]
    biggest = s["largest_max_abs_change"]
    return (
        f"{s['flipped']} of {s['attempted']} attacks change the CNN's prediction within {budget} "
        f"(median {plural(s['median_steps_flipped'], 'step')}, from {low} to {high}). The largest "
        f"single-pixel change needed is {plural(biggest, 'gray level')} ({pct(biggest / 255)} of the "
        f"pixel range) and the mean absolute change per pixel at most "
        f"{s['largest_mean_abs_change']:.1f}, against a mean absolute difference of "
        f"{s['mean_abs_difference_between_faces']:.1f} gray levels between two random validation "
        f"faces. The adversarial faces are classified as "
        f"{', '.join(f'{name} ({n})' for name, n in s['new_class_counts'].items())}.")
