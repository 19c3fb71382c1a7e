"""Adversarial examples (the "further" section): the smallest signed-gradient steps that change a
correctly classified face's prediction. Numbers only; helpers.sections.adversarial shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf

from helpers.analysis.gradients import as_batch, drop_channel
from helpers.modeling.models import logits_model


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
    x0 = as_batch(image, model)
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
    adv, orig = drop_channel(x.numpy()[0]), drop_channel(x0[0])
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
