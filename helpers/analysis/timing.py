"""Training speed of a run's network on the machine at hand, and its arithmetic per face.

The speed needs neither weights nor data: the network is built afresh from the run's config
(helpers.experiments.inputs.cnn_run_config / dnn_run_config) and trained on random faces with
the run's batch size and precision, for a few warm-up batches (tracing, memory) and then a few
dozen timed ones (seconds, not a training run)::

    speed = training_speed(run.config)     # {"images_per_second": 1234.5, "batch_size": 64, ...}
    seconds_per_epoch = len(y_train) / speed["images_per_second"]
"""

from __future__ import annotations

import math
import time

import numpy as np

from helpers.core.config import IMAGE_SIZE, NUM_CLASSES
from helpers.modeling.backend import keras
from helpers.modeling.models import build_cnn, build_dnn
from helpers.modeling.recipe import compile_model, one_hot

WARMUP_BATCHES = 3
"""Batches trained before the clock starts (the first one traces the training step)."""

TIMED_BATCHES = 30
"""Batches timed: a few seconds for the report's CNN on a 2-core CPU."""


def build_from_config(config: dict, seed: int = 0) -> keras.Model:
    """The untrained network a run's config describes (its "model" is "cnn" or "dnn"), with
    its normalization and augmentation layers, in the current dtype policy."""
    kind = config.get("model")
    if kind == "cnn":
        return build_cnn(**config["cnn"], normalization=config.get("normalization"),
                         augmentation=config.get("augmentation"), seed=seed)
    if kind == "dnn":
        return build_dnn([config["width"]] * config["depth"], config.get("dropout") or 0.0,
                         config.get("normalization"), config.get("augmentation"), seed=seed)
    raise ValueError(f"a run config's model must be 'cnn' or 'dnn', got {kind!r}")


class _BatchClock(keras.callbacks.Callback):
    """The time at the end of every training batch. A callback that is not async-safe makes
    Keras wait for each batch's results, so the times are those of finished batches."""

    def __init__(self):
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def training_speed(config: dict, batches: int = TIMED_BATCHES, warmup: int = WARMUP_BATCHES,
                   seed: int = 0) -> dict:
    """Training images per second of the network `config` describes on this machine, with the
    run's batch size and precision (config["training"]): `warmup` batches, then `batches`
    timed ones, of random 48x48 faces. Returns {"images_per_second", "batch_size",
    "precision", "batches", "warmup_batches"}."""
    if int(batches) != batches or batches < 1 or int(warmup) != warmup or warmup < 1:
        raise ValueError(f"need at least 1 timed and 1 warm-up batch, got {batches} and {warmup}")
    training = config["training"]
    batch, precision = int(training["batch_size"]), training.get("precision", "float32")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = build_from_config(config, seed)
    finally:
        keras.config.set_dtype_policy(previous)
    total = warmup + batches
    # The schedule's length does not change the cost of a step.
    compile_model(model, {**training, "epochs": 1}, total)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (total * batch, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
    y = one_hot(rng.integers(0, NUM_CLASSES, len(x)))
    clock = _BatchClock()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
    seconds = clock.ends[-1] - clock.ends[warmup - 1]
    return {"images_per_second": batches * batch / seconds, "batch_size": batch,
            "precision": precision, "batches": int(batches), "warmup_batches": int(warmup)}


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one face's forward pass through the model's convolution and dense
    layers (the bulk of the arithmetic): a dense weight is used once per face, a convolution
    weight once per position of its output."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            total += int(layer.kernel.shape[0]) * int(layer.units)
        elif kind == "Conv2D":
            positions = math.prod(int(d) for d in layer.output.shape[1:-1])
            total += positions * math.prod(int(d) for d in layer.kernel.shape)
    return total
