"""The training recipe: seeds, epochs, optimizer and schedule, loss."""

from __future__ import annotations

import math

import numpy as np

from helpers.core.config import NUM_CLASSES
from helpers.modeling.backend import keras


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend; ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):
            pass  # older TensorFlow, or already configured for this process


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def epochs_for(training: dict, rows: int | None) -> int:
    """The epochs a run trains: `epochs`, or for a budget in optimizer steps (`steps`, e.g.
    self-training, whose training set grows with its pseudo-labels) the whole epochs closest
    to that many steps over `rows` training rows."""
    steps = training.get("steps")
    if not steps:
        return int(training["epochs"])
    if not rows:
        raise ValueError("a budget in steps needs the number of training rows")
    return max(1, round(steps / math.ceil(rows / training["batch_size"])))


RECIPE_DEFAULTS = {"momentum": 0.9, "nesterov": True, "final_lr_fraction": 0.01,
                   "ema": 0.0, "mixup": 0.0}
# ema: the decay of an exponential moving average of the weights per optimizer step (0: off);
#   the average is what is validated, kept as the best weights and shipped.
# mixup: the alpha of mixup's Beta(alpha, alpha) (Zhang et al. 2018; 0: off).
"""Recipe settings a profile's `training` may set, with the values runs had before they could be
set. A setting at its default is left out of a run's fingerprint, so adding one here (and to the
profiles) keeps every trained run valid."""


def recipe_setting(training: dict, name: str):
    """A recipe setting of `training`, or its default (RECIPE_DEFAULTS)."""
    return training.get(name, RECIPE_DEFAULTS[name])


def without_defaults(training: dict) -> dict:
    """`training` without the recipe settings left at their defaults (what a fingerprint hashes)."""
    return {k: v for k, v in training.items()
            if not (k in RECIPE_DEFAULTS and v == RECIPE_DEFAULTS[k])}


def make_optimizer(training: dict, steps_per_epoch: int):
    """SGD with Nesterov momentum or AdamW, with cosine decay after a linear warm-up."""
    epochs = training["epochs"]
    total = max(1, steps_per_epoch * epochs)
    warmup = min(steps_per_epoch * training.get("warmup_epochs", 0), total - 1)
    lr = training["learning_rate"]
    if training.get("schedule", "cosine") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=lr / 10 if warmup else lr,
            decay_steps=total - warmup,
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
            alpha=recipe_setting(training, "final_lr_fraction"),
        )
    weight_decay = training.get("weight_decay", 0.0) or None
    name = training.get("optimizer", "sgd")
    ema = recipe_setting(training, "ema")
    averaging = {"use_ema": True, "ema_momentum": ema} if ema else {}
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=recipe_setting(training, "momentum"),
                                    nesterov=recipe_setting(training, "nesterov"),
                                    weight_decay=weight_decay, **averaging)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=weight_decay or 0.004, **averaging)
    if name == "adam":
        return keras.optimizers.Adam(lr, **averaging)
    raise ValueError(f"unknown optimizer {name!r}: expected sgd, adamw or adam")


def compile_model(model: keras.Model, training: dict, steps: int) -> None:
    model.compile(
        optimizer=make_optimizer(training, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=training.get("label_smoothing", 0.0)),
        metrics=["accuracy"],
    )


def mixup(x: np.ndarray, y: np.ndarray, alpha: float, seed: int, epoch: int):
    """One epoch's training arrays mixed in pairs (mixup): x' = l x_i + (1 - l) x_j with a
    Beta(alpha, alpha) weight per row and the same mix of the one-hot labels; the partners and
    weights are functions of (seed, epoch), so a resumed run mixes as an uninterrupted one."""
    if not alpha:
        return x, y
    rng = np.random.default_rng([seed, epoch, 17])
    partner = rng.permutation(len(x))
    weight = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    wx = weight.reshape((-1,) + (1,) * (x.ndim - 1))
    return wx * x + (1 - wx) * x[partner], weight[:, None] * y + (1 - weight[:, None]) * y[partner]
