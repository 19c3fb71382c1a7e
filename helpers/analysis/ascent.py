"""The "filters" section, what the filters and classes respond to: gradient ascent on the input (normalised
gradient steps with blur and jitter), for one filter of a layer or one class score, and the
feature maps of a layer on a face. The measures of the patterns found are in helpers.analysis.filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf
from tqdm import (
    tqdm,  # text bars with an ETA, in a terminal and in JupyterLab alike (no ipywidgets)
)

from helpers.analysis.gradients import (
    as_batch,
    batch_ranges,
    checked_indices,
    drop_channel,
    layer_named,
    predict_logits,
    sub_model,
)
from helpers.modeling.models import logits_model


def _blur(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """Gaussian blur of a (N, H, W, C) batch, per channel, with reflected borders."""
    radius = max(1, math.ceil(2 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = np.outer(taps, taps) / np.outer(taps, taps).sum()
    channels = x.shape[-1]
    kernel = tf.constant(np.tile(kernel[:, :, None, None], (1, 1, channels, 1)), tf.float32)
    padded = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


def _unit_score(outputs: tf.Tensor, units: tf.Tensor) -> tf.Tensor:
    """Per image i: the mean of channel units[i] of `outputs` over the other (spatial) axes."""
    chosen = tf.gather(outputs, units, axis=len(outputs.shape) - 1, batch_dims=1)
    if len(chosen.shape) == 1:  # a Dense layer: one value per unit
        return chosen
    return tf.reduce_mean(chosen, axis=list(range(1, len(chosen.shape))))


def _score_and_gradient(submodel: keras.Model):
    """A compiled step: each image's score (_unit_score) and d score / d input."""
    @tf.function(reduce_retracing=True)
    def step(x, units):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = _unit_score(submodel(x, training=False), units)
        return score, tape.gradient(score, x)
    return step


@dataclass
class AscentSettings:
    """Gradient-ascent schedule shared by filter and class visualization. Each step moves the
    image by `step_size` pixels (RMS over the image) along the normalised gradient, computed on
    the image rolled by a random shift of up to `jitter` pixels; pixels are clipped to 0..255
    and every `blur_every` steps the image is blurred with a Gaussian of `blur_sigma` pixels
    (0 disables jitter or blur). The start is mid-grey plus Gaussian noise of `noise` pixels."""

    steps: int = 100
    step_size: float = 2.0
    blur_every: int = 4
    blur_sigma: float = 0.5
    jitter: int = 2
    noise: float = 20.0

    def check(self) -> None:
        if self.steps < 0 or self.step_size <= 0 or self.blur_every < 0 or self.jitter < 0:
            raise ValueError(f"invalid gradient-ascent settings: {self}")
        if self.blur_every and self.blur_sigma <= 0:
            raise ValueError(f"blur_sigma must be > 0 when blurring, got {self.blur_sigma}")


def _ascend(step, units, shape, settings: AscentSettings, seed: int, progress=None):
    """Maximise unit units[i] on image i with `step` (from _score_and_gradient), starting from
    noise of `shape` (H, W, C). Returns (images, start scores, final scores)."""
    rng = np.random.default_rng(seed)
    start_image = np.clip(127.5 + rng.normal(0, settings.noise, (1, *shape)), 0, 255)
    x = tf.constant(np.repeat(start_image, len(units), axis=0), tf.float32)
    units = tf.constant(units, tf.int32)
    start = step(x, units)[0].numpy()
    for i in range(settings.steps):
        dy, dx = (int(v) for v in rng.integers(-settings.jitter, settings.jitter + 1, 2))
        grad = tf.roll(step(tf.roll(x, (dy, dx), (1, 2)), units)[1], (-dy, -dx), (1, 2))
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=(1, 2, 3), keepdims=True))
        x = tf.clip_by_value(x + settings.step_size * grad / (rms + 1e-8), 0.0, 255.0)
        if settings.blur_every and (i + 1) % settings.blur_every == 0:
            x = _blur(x, settings.blur_sigma)
        if progress is not None:
            progress(i + 1)
    return x.numpy(), start, step(x, units)[0].numpy()


def to_display(images) -> np.ndarray:
    """Contrast-stretch images for display (as in the keras-io filter example): per image,
    standardise, scale by 0.15, centre on mid-grey, clip; uint8, channel axis dropped if 1."""
    x = np.asarray(images, dtype=np.float64)
    axes = tuple(range(1, x.ndim))
    x = (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + 1e-5)
    x = np.clip(x * 0.15 + 0.5, 0, 1) * 255
    return (drop_channel(x) if x.ndim == 4 else x).round().astype(np.uint8)


def filter_patterns(model: keras.Model, layer_name: str, filter_indices=None,
                    steps: int = AscentSettings.steps, step_size: float = AscentSettings.step_size,
                    seed: int = 0, blur_every: int = AscentSettings.blur_every,
                    blur_sigma: float = AscentSettings.blur_sigma,
                    jitter: int = AscentSettings.jitter, batch_size: int = 64,
                    progress: bool = True):
    """What excites each filter of `layer_name`: gradient ascent on the input, from the same
    noisy grey image, to maximise the filter's mean activation over its feature map (on the
    sub-model input -> layer, in inference mode). Gradients are RMS-normalised; jitter, blur
    and clipping to 0..255 regularise the image (see AscentSettings); the blur costs some
    activation but turns high-frequency noise into visible structure (blur_every=0 turns it
    off). Filters are optimised `batch_size` at a time, one image each, with a tqdm bar over
    filters when `progress`.
    On a 2-core CPU the full-size CNN takes about 0.9 s (first block) to 2.7 s (last block)
    per filter at 100 steps, so pick a subset of a wide layer with `filter_indices`.

    Returns (patterns: uint8 (F, H, W) display-ready via to_display, start_activation (F,),
    final_activation (F,)), for the filters in `filter_indices` (default: all) in that order."""
    output = layer_named(model, layer_name).output
    units = checked_indices(filter_indices, output.shape[-1], "filter_indices")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    step = _score_and_gradient(sub_model(model, output, name=f"{model.name}_{layer_name}"))
    shape = tuple(model.inputs[0].shape[1:])

    results = []
    with tqdm(total=len(units), desc=layer_name, unit="filter", disable=not progress) as bar:
        for s in batch_ranges(len(units), batch_size):
            results.append(_ascend(step, units[s], shape, settings, seed))
            bar.update(len(units[s]))
    images, start, final = (np.concatenate(parts) for parts in zip(*results))
    return to_display(images), start, final


def feature_maps(model: keras.Model, layer_name: str, image) -> np.ndarray:
    """The output of `layer_name` for one image, as an (H, W, F) float32 array (inference mode;
    a mixed-precision model's bfloat16 maps are widened)."""
    x = as_batch(image, model)
    if len(x) != 1:
        raise ValueError(f"feature_maps takes one image, got {len(x)}")
    submodel = sub_model(model, layer_named(model, layer_name).output)
    return np.asarray(submodel(x, training=False), dtype=np.float32)[0]


@dataclass
class ClassMaximization:
    """Images that maximise each class's logit, and what the model makes of them."""

    images: np.ndarray          # float32 (K, H, W), raw model inputs in 0..255
    classes: np.ndarray         # (K,) class index optimised in each image
    start_logits: np.ndarray    # (K,) logit of the class on the starting noise
    logits: np.ndarray          # (K,) logit of the class on the final image
    probabilities: np.ndarray   # (K,) probability of the class on the final image
    predicted: np.ndarray       # (K,) class the model predicts for each final image


def class_maximization(model: keras.Model, steps: int = 200,
                       step_size: float = AscentSettings.step_size, seed: int = 0, classes=None,
                       blur_every: int = AscentSettings.blur_every,
                       blur_sigma: float = AscentSettings.blur_sigma,
                       jitter: int = AscentSettings.jitter, progress: bool = False) -> ClassMaximization:
    """Gradient ascent from the same noisy grey image on each class's logit (default: every
    class), with the regularisation of filter_patterns (see AscentSettings). Use to_display on
    `.images` for a contrast-stretched view."""
    lmodel = logits_model(model)
    num_classes = lmodel.outputs[0].shape[-1]
    classes = checked_indices(classes, num_classes, "classes")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    with tqdm(total=steps, desc="class maximization", unit="step", disable=not progress) as bar:
        images, start, final = _ascend(_score_and_gradient(lmodel), classes,
                                       tuple(model.inputs[0].shape[1:]), settings, seed,
                                       progress=lambda i: bar.update(1))
    logits = predict_logits(model, images)
    probs = tf.nn.softmax(logits).numpy()
    rows = np.arange(len(classes))
    return ClassMaximization(drop_channel(images), classes, start, final, probs[rows, classes],
                             logits.argmax(axis=1))
