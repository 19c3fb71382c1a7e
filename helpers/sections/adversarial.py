"""Further analysis, gradient ascent from a natural image: the adversarial examples' summary, table, figure and sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def adversarial_table(indices, labels, attacks) -> pd.DataFrame:
    """One row per attack: face index, true class, prediction before and after, steps,
    largest and mean pixel change, whether it flipped. `labels` are the faces' true classes."""
    return pd.DataFrame([{
        "face": i, "true": CLASS_NAMES[y],
        "predicted before": f"{CLASS_NAMES[a.original_class]} ({pct(a.original_probability, 0)})",
        "steps": a.steps,
        "predicted after": f"{CLASS_NAMES[a.new_class]} ({pct(a.new_probability, 0)})",
        "max abs change": a.max_abs_change, "mean abs change": a.mean_abs_change,
        "flipped": "yes" if a.flipped else "no",
    } for i, y, a in zip(indices, labels, attacks)])


def adversarial_figure(originals, labels, attacks, step_size: float) -> Figure:
    """One row per attack: original face | perturbation (colour range filled) | adversarial
    face, titled with the predictions. `originals` (N, H, W, 1) in 0..255, `labels` true classes."""
    fig = Figure(figsize=(8.4, 2.7 * len(attacks)))
    axes = fig.subplots(len(attacks), 3, squeeze=False)
    for row, original, label, a in zip(axes, originals, labels, attacks):
        row[0].imshow(original[..., 0], cmap="gray", vmin=0, vmax=255)
        row[0].set_title(f"original: true {CLASS_NAMES[label]}\npredicted "
                         f"{CLASS_NAMES[a.original_class]} ({pct(a.original_probability, 0)})",
                         fontsize=9)
        limit = max(a.max_abs_change, 1e-6)
        shown_change = row[1].imshow(a.perturbation, cmap="seismic", vmin=-limit, vmax=limit)
        fig.colorbar(shown_change, ax=row[1], fraction=0.046, pad=0.04,
                     label="pixel change (grey levels)")
        row[1].set_title(f"perturbation after {plural(a.steps, 'step')}\n"
                         f"(amplified {255 / limit:.0f}x)", fontsize=9)
        row[2].imshow(a.image, cmap="gray", vmin=0, vmax=255)
        row[2].set_title(f"adversarial: predicted\n{CLASS_NAMES[a.new_class]} "
                         f"({pct(a.new_probability, 0)})", fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Adversarial examples of the main CNN (steps of "
                 f"{plural(step_size, 'grey level')}; each perturbation is shown amplified\n"
                 "to fill its colour range)", fontsize=10)
    fig.tight_layout()
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
        "examples": [attack_record(i, y, a) for i, y, a in zip(indices, labels, attacks)],
    }


def adversarial_sentences(s: dict) -> str:
    """What the attacks of adversarial_summary needed, against the difference between faces."""
    budget = f"{plural(s['max_steps'], 'step')} of {plural(s['step_size'], 'grey level')}"
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
        f"single-pixel change needed is {plural(biggest, 'grey level')} ({pct(biggest / 255)} of the "
        f"pixel range) and the mean absolute change per pixel at most "
        f"{s['largest_mean_abs_change']:.1f}, against a mean absolute difference of "
        f"{s['mean_abs_difference_between_faces']:.1f} grey levels between two random validation "
        f"faces. The adversarial faces are classified as {', '.join(s['new_classes'])}.")
