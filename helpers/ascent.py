"""Question 7, what the filters and classes respond to: gradient ascent on the input (normalised
gradient steps with blur and jitter), for one filter of a layer or one class score, and the
feature maps of a layer on a face. The measures of the patterns found are in helpers.filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from helpers.backend import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure
from tqdm import tqdm  # text bars with an ETA, in a terminal and in JupyterLab alike (no ipywidgets)

from helpers.config import CLASS_NAMES
from helpers.gradients import (_as_batch, _batches, _drop_channel, _indices, _layer, _submodel,
                               predict_logits)
from helpers.models import logits_model
from helpers.notebook import pct
from helpers.plots import plot_grid


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
    return (_drop_channel(x) if x.ndim == 4 else x).round().astype(np.uint8)


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
    output = _layer(model, layer_name).output
    units = _indices(filter_indices, output.shape[-1], "filter_indices")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    step = _score_and_gradient(_submodel(model, output, name=f"{model.name}_{layer_name}"))
    shape = tuple(model.inputs[0].shape[1:])

    results = []
    with tqdm(total=len(units), desc=layer_name, unit="filter", disable=not progress) as bar:
        for s in _batches(len(units), batch_size):
            results.append(_ascend(step, units[s], shape, settings, seed))
            bar.update(len(units[s]))
    images, start, final = (np.concatenate(parts) for parts in zip(*results))
    return to_display(images), start, final


def feature_maps(model: keras.Model, layer_name: str, image) -> np.ndarray:
    """The output of `layer_name` for one image, as an (H, W, F) float32 array (inference mode;
    a mixed-precision model's bfloat16 maps are widened)."""
    x = _as_batch(image, model)
    if len(x) != 1:
        raise ValueError(f"feature_maps takes one image, got {len(x)}")
    submodel = _submodel(model, _layer(model, layer_name).output)
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
    classes = _indices(classes, num_classes, "classes")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    with tqdm(total=steps, desc="class maximization", unit="step", disable=not progress) as bar:
        images, start, final = _ascend(_score_and_gradient(lmodel), classes,
                                       tuple(model.inputs[0].shape[1:]), settings, seed,
                                       progress=lambda i: bar.update(1))
    logits = predict_logits(model, images)
    probs = tf.nn.softmax(logits).numpy()
    rows = np.arange(len(classes))
    return ClassMaximization(_drop_channel(images), classes, start, final, probs[rows, classes],
                             logits.argmax(axis=1))


def class_maximization_figure(result: ClassMaximization, steps: int) -> Figure:
    """The images of class_maximization side by side (contrast-stretched), titled with the
    class, its probability and, where it differs, the class the model predicts."""
    titles = [f"{CLASS_NAMES[c]}\np = {pct(p, 0)}"
              + ("" if k == c else f"\n(predicted {CLASS_NAMES[k]})")
              for c, p, k in zip(result.classes, result.probabilities, result.predicted)]
    return plot_grid(to_display(result.images), titles=titles, ncols=len(result.classes),
                     cell_size=1.6,
                     suptitle=f"Main CNN: inputs that maximise each class logit ({steps} steps; "
                              "p = probability of that class)")


def class_maximization_table(result: ClassMaximization) -> pd.DataFrame:
    """One row per class: logit on the start noise -> final image, probability, prediction."""
    return pd.DataFrame({
        "class": [CLASS_NAMES[c] for c in result.classes],
        "logit start -> final": [f"{s:.2f} -> {f:.2f}"
                                 for s, f in zip(result.start_logits, result.logits)],
        "probability of the class": [pct(p) for p in result.probabilities],
        "predicted class": [CLASS_NAMES[k] for k in result.predicted]})


def settings_sentence(settings: AscentSettings) -> str:
    """The ascent schedule in words, for the paragraph above the filter patterns."""
    return (
        f"**Settings**: {settings.steps} ascent steps from mid-grey plus Gaussian noise (standard "
        f"deviation {settings.noise:g} grey levels); each step moves the image by "
        f"{settings.step_size:g} grey levels (root mean square) along the normalised gradient, "
        f"computed on a copy shifted by up to {settings.jitter} pixels; pixels stay in 0..255 and "
        f"every {settings.blur_every} steps a Gaussian blur of {settings.blur_sigma:g} pixel keeps the "
        "pattern smooth. Patterns are contrast-stretched for display. Title of each pattern: filter "
        "number, then its mean activation on the starting noise -> after the ascent.")


def class_maximization_summary(result: ClassMaximization, steps: int) -> dict:
    """class_maximization in numbers (also its results.json section): how many images the model
    gives to their class, the lowest and highest probability reached and each logit's rise."""
    rise = result.logits - result.start_logits
    low, high = int(result.probabilities.argmin()), int(result.probabilities.argmax())
    return {"steps": steps, "classes": [CLASS_NAMES[c] for c in result.classes],
            "start_logits": result.start_logits, "logits": result.logits,
            "probabilities": result.probabilities,
            "predicted": [CLASS_NAMES[k] for k in result.predicted],
            "hits": int((result.predicted == result.classes).sum()),
            "lowest": {"class": CLASS_NAMES[result.classes[low]],
                       "probability": float(result.probabilities[low])},
            "highest": {"class": CLASS_NAMES[result.classes[high]],
                        "probability": float(result.probabilities[high])},
            "logit_rise_range": [float(rise.min()), float(rise.max())],
            "not_risen": int((rise <= 0).sum())}


def class_maximization_sentences(s: dict) -> str:
    """How far the class images got: hits, probabilities reached and the logits' rise."""
    opening = (f"After {s['steps']} steps, {s['hits']} of {len(s['classes'])} images are classified "
               "as the class they were optimised for; ")
    if s["not_risen"]:
        return opening + f"{s['not_risen']} logit(s) did not rise."
    low, high = s["logit_rise_range"]
    return (opening + f"the class probability reached goes from {pct(s['lowest']['probability'])} "
            f"({s['lowest']['class']}) to {pct(s['highest']['probability'])} ({s['highest']['class']}), "
            f"and every logit rose from the starting noise by {low:.1f} to {high:.1f}.")
