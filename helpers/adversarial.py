"""Question 7, adversarial examples: the smallest signed-gradient steps that change a correctly
classified face's prediction, and the table and figure notebook 05 shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.backend import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure

from helpers.config import CLASS_NAMES
from helpers.gradients import _as_batch, _drop_channel
from helpers.models import logits_model
from helpers.notebook import pct, plural


@dataclass
class AdversarialResult:
    """Outcome of adversarial_example (pixels in 0..255, images (H, W) for one channel)."""

    image: np.ndarray               # the adversarial image
    perturbation: np.ndarray        # image - original
    steps: int                      # gradient steps taken
    original_class: int             # predicted on the original image
    new_class: int                  # predicted on the adversarial image
    original_probability: float     # of original_class on the original image
    new_probability: float          # of new_class on the adversarial image
    max_abs_change: float           # largest pixel change
    mean_abs_change: float          # mean pixel change
    flipped: bool                   # the attack succeeded (see adversarial_example)
    target_class: int | None = None


def adversarial_example(model: keras.Model, image, target_class: int | None = None,
                        step_size: float = 1.0, max_steps: int = 100) -> AdversarialResult:
    """Iterative fast-gradient-sign attack on one natural image (Kurakin et al. 2016).

    Each step moves every pixel by `step_size` along the sign of the gradient, raising the logit
    of `target_class`, or, when it is None, lowering the logit of the originally predicted
    class; pixels are clipped to 0..255. The search stops as soon as the prediction changes
    (untargeted) or becomes `target_class` (targeted); `flipped` says whether that happened
    within `max_steps`. With integer pixels and an integer step the image stays integer."""
    if step_size <= 0 or max_steps < 1:
        raise ValueError(f"need step_size > 0 and max_steps >= 1, got {step_size}, {max_steps}")
    lmodel = logits_model(model)
    x0 = _as_batch(image, model)
    if len(x0) != 1:
        raise ValueError(f"adversarial_example takes one image, got {len(x0)}")
    num_classes = lmodel.outputs[0].shape[-1]
    if target_class is not None and not 0 <= target_class < num_classes:
        raise ValueError(f"target_class must lie in 0..{num_classes - 1}, got {target_class}")
    x = tf.constant(x0)
    probs = tf.nn.softmax(lmodel(x, training=False)[0]).numpy()
    original = int(probs.argmax())
    if target_class is None:
        x, logits, steps = _sign_steps(lmodel, x, original, -step_size, max_steps,
                                       stop=lambda predicted: predicted != original)
    else:
        x, logits, steps = _sign_steps(lmodel, x, target_class, step_size, max_steps,
                                       stop=lambda predicted: predicted == target_class)
    new_class = int(logits.argmax())
    adv, orig = _drop_channel(x.numpy()[0]), _drop_channel(x0[0])
    change = np.abs(adv - orig)
    return AdversarialResult(
        adv, adv - orig, steps, original, new_class, float(probs[original]),
        float(tf.nn.softmax(logits).numpy()[new_class]), float(change.max()),
        float(change.mean()),
        new_class != original if target_class is None else new_class == target_class,
        target_class)


def _sign_steps(lmodel, x, unit: int, step: float, max_steps: int, stop):
    """Move x by `step` x sign(d logit[unit] / dx), clipped to 0..255, until stop(predicted
    class) or `max_steps` steps. Returns (x, logits at x, steps taken)."""
    steps = 0
    while True:
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = lmodel(x, training=False)[0]
            score = logits[unit]
        if stop(int(tf.argmax(logits))) or steps == max_steps:
            return x, logits.numpy(), steps
        x = tf.clip_by_value(x + step * tf.sign(tape.gradient(score, x)), 0.0, 255.0)
        steps += 1


def mean_pair_difference(images, pairs: int = 500, seed: int = 0) -> float:
    """Mean absolute pixel difference between two different images, over `pairs` random
    pairs drawn with `seed` (pairs of an image with itself are dropped)."""
    images = np.asarray(images)
    drawn = np.random.default_rng(seed).integers(len(images), size=(pairs, 2))
    drawn = drawn[drawn[:, 0] != drawn[:, 1]]
    return float(np.abs(images[drawn[:, 0]] - images[drawn[:, 1]]).mean())


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
