"""The "filters" section, what the filters and classes respond to: gradient ascent on the input
(normalized gradient steps with blur and jitter), for the center unit of a filter's feature map or
one class score; where a layer's units sit on the image (UnitGeometry); and the feature maps of a
layer on a face. The measures of the patterns found are in helpers.analysis.filters."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from helpers.core.progress import progress_bar
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf

from helpers.analysis.gradients import (
    as_batch,
    batch_ranges,
    checked_indices,
    drop_channel,
    layer_named,
    sub_model,
)
from helpers.modeling.inference import float64_copy
from helpers.modeling.models import logits_model


JITTER_SHARE = 16  # a filter pattern's jitter is at most 1/JITTER_SHARE of the unit's receptive field


@dataclass(frozen=True)
class UnitGeometry:
    """Where the units of a layer's feature map sit on the input image (one axis; the models'
    kernels, strides and crops are square): unit i of the map is centered on input pixel
    `start + i * jump` and sees the `field` x `field` pixels around it (its receptive field,
    which may reach past the image into the zero padding)."""

    field: int                  # receptive field, pixels
    jump: int                   # input pixels between neighboring units
    start: float                # center of unit 0, input pixels (a half for even fields)
    map_shape: tuple[int, int]  # (h, w) of the feature map

    @property
    def center(self) -> tuple[int, int]:
        """The map position whose unit the filter patterns maximize."""
        return self.map_shape[0] // 2, self.map_shape[1] // 2

    def window(self, image_shape) -> tuple[int, int, int, int]:
        """(top, bottom, left, right), bottom and right exclusive: the pixels of an image of
        `image_shape` (H, W) that the center unit sees."""
        bounds = []
        for position, size in zip(self.center, image_shape[:2]):
            first = int(round(self.start + position * self.jump - (self.field - 1) / 2))
            bounds += [max(first, 0), min(first + self.field, size)]
        return tuple(bounds)

    @property
    def offset(self) -> int:
        """The first input pixel of the block of `jump` pixels that map row (or column) 0
        stands for: the map covers input pixels offset .. offset + h * jump (for a layer
        behind a center crop, the crop's margin on each side). ValueError if not a whole pixel."""
        first = self.start - (self.jump - 1) / 2
        if first != int(first) or first < 0:
            raise ValueError(f"the feature map is not aligned with whole input pixels: {self}")
        return int(first)


def _spatial(value) -> int:
    """A square kernel, pool or stride size as one int (ValueError if not square)."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(set(values)) != 1:
        raise ValueError(f"only square kernels, pools and strides are supported, got {value}")
    return int(values[0])


def unit_geometry(model: keras.Model, layer_name: str) -> UnitGeometry:
    """The UnitGeometry of `layer_name`'s feature map, by receptive-field arithmetic over the
    layers before it (in order; the project's models are chains): convolutions and poolings
    grow the field and the jump, a center crop (the "crop" layer) shifts the start by its
    margin, layers that keep the spatial size (batch norm, activations, dropout, normalization,
    flips) change nothing. ValueError for a layer that changes the size some other way."""
    target = layer_named(model, layer_name)
    field, jump, start = 1, 1, 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        size_in, size_out = layer.input.shape[1:3], layer.output.shape[1:3]
        kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if kernel is not None and len(layer.input.shape) == 4:
            k, s = _spatial(kernel), _spatial(layer.strides)
            if _spatial(getattr(layer, "dilation_rate", 1)) != 1:
                raise ValueError(f"layer {layer.name!r} is dilated: not supported")
            pad = max((size_out[0] - 1) * s + k - size_in[0], 0) // 2  # "same" pads this before
            start += ((k - 1) / 2 - pad) * jump
            field += (k - 1) * jump
            jump *= s
        elif getattr(layer, "size", None) is not None and layer.name == "crop":
            start += (size_in[0] - size_out[0]) // 2 * jump
        elif tuple(size_in) != tuple(size_out):
            raise ValueError(f"layer {layer.name!r} changes the map size {tuple(size_in)} -> "
                             f"{tuple(size_out)} in a way unit_geometry does not know")
        if layer is target:
            return UnitGeometry(field, jump, start, tuple(int(v) for v in size_out))
    raise ValueError(f"layer {layer_name!r} has no spatial feature map")


def unit_jitter(jitter: int, geometry: UnitGeometry) -> int:
    """The jitter a filter pattern gets: `jitter`, but at most 1/JITTER_SHARE of the unit's
    receptive field. A shift moves the image under the unit, so for a 3x3 first-layer unit even
    one pixel smears the pattern over its neighbors (none there); deeper units barely notice."""
    return min(jitter, geometry.field // JITTER_SHARE)


def response_output(model: keras.Model, layer_name: str):
    """What a filter pattern maximizes for a convolution layer: its response after batch
    normalization, i.e. the input of the ReLU that follows it (named with "_relu" for "_conv",
    as in helpers.modeling.models); the layer's own output when it has no such ReLU. The ReLU
    passes this response's positive part, so the same image maximizes the activation after the
    ReLU, and the gradient does not vanish where the ReLU is zero on the starting noise."""
    layer = layer_named(model, layer_name)
    relu = layer_name.replace("_conv", "_relu")
    if relu != layer_name and relu in [item.name for item in model.layers]:
        return model.get_layer(relu).input
    return layer.output


def _blur(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """Gaussian blur of a (N, H, W, C) batch, per channel, with reflected borders."""
    radius = max(1, math.ceil(2 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = np.outer(taps, taps) / np.outer(taps, taps).sum()
    channels = x.shape[-1]
    kernel = tf.constant(np.tile(kernel[:, :, None, None], (1, 1, channels, 1)), x.dtype)
    padded = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


def _unit_score(outputs: tf.Tensor, units: tf.Tensor) -> tf.Tensor:
    """Per image i: unit units[i] of `outputs`, at the center of a feature map (position
    (h // 2, w // 2), as UnitGeometry.center) or of a Dense layer."""
    chosen = tf.gather(outputs, units, axis=len(outputs.shape) - 1, batch_dims=1)
    if len(chosen.shape) == 1:  # a Dense layer: one value per unit
        return chosen
    if len(chosen.shape) != 3:
        raise ValueError(f"expected a Dense or 2-D feature map output, got shape {outputs.shape}")
    return chosen[:, chosen.shape[1] // 2, chosen.shape[2] // 2]


def _score_and_gradient(submodel: keras.Model):
    """A compiled step: each image's score (_unit_score) and d score / d input."""
    @tf.function(reduce_retracing=True)
    def step(x, units):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = _unit_score(tf.cast(submodel(x, training=False), x.dtype), units)
        return score, tape.gradient(score, x)
    return step


@dataclass
class AscentSettings:
    """Gradient-ascent schedule shared by filter and class visualization. Each step moves the
    image by `step_size` pixels (RMS over the image) along the normalized gradient, computed on
    the image rolled by a random shift of up to `jitter` pixels; pixels are clipped to 0..255
    and every `blur_every` steps the image is blurred with a Gaussian of `blur_sigma` pixels
    (0 disables jitter or blur). The start is mid-gray plus Gaussian noise of `noise` pixels."""

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
    """Maximize unit units[i] on image i with `step` (from _score_and_gradient), starting from
    noise of `shape` (H, W, C), in float64 (the model of `step` is a float64_copy). Returns
    (images, start scores, final scores)."""
    rng = np.random.default_rng(seed)
    start_image = np.clip(127.5 + rng.normal(0, settings.noise, (1, *shape)), 0, 255)
    x = tf.constant(np.repeat(start_image, len(units), axis=0), tf.float64)
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
    standardize, scale by 0.15, center on mid-gray, clip; uint8, channel axis dropped if 1."""
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
    noisy gray image, to maximize the filter's response at the center unit of its feature map
    (UnitGeometry.center) after batch normalization (response_output), with the model in
    inference mode. One unit, not the map's mean: for a first layer the mean of a linear
    convolution over the map depends only on the image's mean and the zero padding, and the
    unit's receptive field shows where the pattern must be. Gradients are RMS-normalized;
    jitter (capped by unit_jitter), blur and clipping to 0..255 regularize the image (see
    AscentSettings); blur_every=0 turns the blur off. Filters are optimized `batch_size` at a
    time, one image each, with a tqdm bar over filters when `progress`.
    On a 2-core CPU the full-size CNN takes about 0.9 s (first block) to 2.7 s (last block)
    per filter at 100 steps, so pick a subset of a wide layer with `filter_indices`.

    Returns (patterns: float32 (F, H, W) raw input pixels in 0..255 (to_display stretches
    them), start_response (F,), final_response (F,)), for the filters in `filter_indices`
    (default: all) in that order; the responses are before the ReLU. The ascent runs on the
    model's float64_copy, so the patterns do not depend on the CPU's float32 summation order."""
    model = float64_copy(model)
    output = response_output(model, layer_name)
    units = checked_indices(filter_indices, output.shape[-1], "filter_indices")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    if len(output.shape) == 4:
        settings = replace(settings, jitter=unit_jitter(jitter, unit_geometry(model, layer_name)))
    step = _score_and_gradient(sub_model(model, output, name=f"{model.name}_{layer_name}"))
    shape = tuple(model.inputs[0].shape[1:])

    results = []
    with progress_bar(total=len(units), desc=layer_name, unit="filter", disable=not progress) as bar:
        for s in batch_ranges(len(units), batch_size):
            results.append(_ascend(step, units[s], shape, settings, seed))
            bar.update(len(units[s]))
    images, start, final = (np.concatenate(parts) for parts in zip(*results))
    return drop_channel(images).astype(np.float32), start, final


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
    """Images that maximize each class's logit, and what the model makes of them."""

    images: np.ndarray          # float32 (K, H, W), raw model inputs in 0..255
    classes: np.ndarray         # (K,) class index optimized in each image
    start_logits: np.ndarray    # (K,) logit of the class on the starting noise
    logits: np.ndarray          # (K,) logit of the class on the final image
    probabilities: np.ndarray   # (K,) probability of the class on the final image
    predicted: np.ndarray       # (K,) class the model predicts for each final image


def class_maximization(model: keras.Model, steps: int = 200,
                       step_size: float = AscentSettings.step_size, seed: int = 0, classes=None,
                       blur_every: int = AscentSettings.blur_every,
                       blur_sigma: float = AscentSettings.blur_sigma,
                       jitter: int = AscentSettings.jitter, progress: bool = False) -> ClassMaximization:
    """Gradient ascent from the same noisy gray image on each class's logit (default: every
    class), with the regularization of filter_patterns (see AscentSettings). Use to_display on
    `.images` for a contrast-stretched view. Runs on the model's float64_copy, as
    filter_patterns."""
    model = float64_copy(model)
    lmodel = logits_model(model)
    num_classes = lmodel.outputs[0].shape[-1]
    classes = checked_indices(classes, num_classes, "classes")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    with progress_bar(total=steps, desc="class maximization", unit="step", disable=not progress) as bar:
        images, start, final = _ascend(_score_and_gradient(lmodel), classes,
                                       tuple(model.inputs[0].shape[1:]), settings, seed,
                                       progress=lambda i: bar.update(1))
    logits = np.asarray(lmodel(images, training=False), dtype=np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(len(classes))
    return ClassMaximization(drop_channel(images).astype(np.float32), classes, start, final,
                             probs[rows, classes], logits.argmax(axis=1))
