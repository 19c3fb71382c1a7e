"""Inference: class probabilities with the run's test-time augmentation (flips, crops), always on
a float32 copy of the model. Training may run in mixed bfloat16; predictions, gradients and every
analysis run in float32, so that they do not depend on whether the CPU computes in bfloat16
(AMX, AVX-512-BF16) or not. Gradient ascent, whose hundreds of steps amplify float32's
CPU-dependent summation order, runs on a float64 copy (float64_copy)."""

from __future__ import annotations

import weakref

import numpy as np

from helpers.core.config import NUM_CLASSES
from helpers.modeling.backend import keras, native_stderr_silenced


_LOW_PRECISION = ("mixed_bfloat16", "bfloat16", "mixed_float16", "float16")


def _with_policy(config, dtype: str):
    """The model config with every layer's dtype policy set to `dtype` (a float type)."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in config:
            return {**config, "config": {**config["config"], "name": dtype}}
        return {k: _with_policy(v, dtype) for k, v in config.items()}
    if isinstance(config, list):
        return [_with_policy(v, dtype) for v in config]
    if config in _LOW_PRECISION or (dtype != "float32" and config == "float32"):
        return dtype  # a policy written as its bare name
    return config


def computes_in(model: keras.Model, dtype: str) -> bool:
    """Whether every layer computes in `dtype` (an input layer has no computation: its tensor's
    dtype is the model input's)."""
    inputs_ok = all(tensor.dtype == dtype for tensor in model.inputs)
    return inputs_ok and all(getattr(layer, "compute_dtype", "float32") == dtype
                             for layer in model._flatten_layers(include_self=False)
                             if not isinstance(layer, keras.layers.InputLayer))


def is_float32(model: keras.Model) -> bool:
    """Whether every layer computes in float32."""
    return computes_in(model, "float32")


_COPIES: dict[str, "weakref.WeakKeyDictionary"] = {}


def dtype_copy(model: keras.Model, dtype: str) -> keras.Model:
    """The same model (layers, names, weights) computing in `dtype` ("float32" or "float64");
    the model itself when it already does. A copy is made once per model, dtype and weights
    state (it is refreshed when the weights change)."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if computes_in(model, dtype):
        return model
    import helpers.modeling.models  # noqa: F401 - registers the project's custom layers

    weights = model.get_weights()
    copies = _COPIES.setdefault(dtype, weakref.WeakKeyDictionary())
    cached = copies.get(model)
    if cached is not None and all(np.array_equal(a, b.astype(a.dtype))
                                  for a, b in zip(weights, cached.get_weights())):
        return cached
    copy = model.__class__.from_config(_with_policy(model.get_config(), dtype))
    copy.set_weights([w.astype(dtype) if w.dtype.kind == "f" else w for w in weights])
    copies[model] = copy
    return copy


def float32_copy(model: keras.Model) -> keras.Model:
    """The same model computing in float32 (dtype_copy). Mixed-precision weights are float32
    already, so the copy predicts what the trained weights give, without bfloat16 rounding of
    the activations."""
    return dtype_copy(model, "float32")


def float64_copy(model: keras.Model) -> keras.Model:
    """The same model computing in float64 (dtype_copy): for gradient ascent, whose hundreds of
    steps amplify float32's last-digit differences. TensorFlow's oneDNN kernels compute float32
    in a CPU-dependent order; float64 runs on its own (Eigen) kernels with oneDNN on or off, so
    an ascent in float64 gives the same images whichever way TensorFlow was built or set."""
    return dtype_copy(model, "float64")


def crop_margin(model: keras.Model) -> int:
    """How many pixels the model's center crop (a "crop" layer) removes per side pair; 0 if none."""
    try:
        layer = model.get_layer("crop")
    except ValueError:
        return 0
    return int(model.input.shape[1]) - int(layer.size)


def crop_views(x: np.ndarray, margin: int) -> list[np.ndarray]:
    """Five shifted copies of x whose center crops are x's four corner crops and its center
    crop (for a model that center-crops `margin` pixels at inference): ten-crop testing with
    the mirror images. Pixels shifted in from the border are cropped away by the model."""
    if margin <= 0:
        return [x]
    half = margin // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)), mode="edge")
    size = x.shape[1]
    offsets = [(half, half), (0, 0), (0, 2 * half), (2 * half, 0), (2 * half, 2 * half)]
    return [padded[:, dy:dy + size, dx:dx + size] for dy, dx in offsets]


def predict_proba(model: keras.Model, x: np.ndarray, tta_flip: bool = False,
                  batch_size: int = 512, tta_crops: bool = False) -> np.ndarray:
    """Class probabilities from the model's float32 copy; with tta_flip, averaged with those of
    the mirrored images; with tta_crops (models with a crop layer), averaged over the center and
    four corner crops."""
    if len(x) == 0:
        return np.zeros((0, NUM_CLASSES), np.float32)
    model = float32_copy(model)
    views = crop_views(x, crop_margin(model)) if tta_crops else [x]
    if tta_flip:
        views = views + [v[:, :, ::-1] for v in views]
    total = None
    for view in views:
        with native_stderr_silenced():  # TensorFlow's tf.data graph warning on large inputs
            proba = model.predict(view, batch_size=batch_size, verbose=0)
        total = proba if total is None else total + proba
    return total / len(views)


def round_to_float16(model: keras.Model) -> None:
    """Round the model's float weights to float16 precision (kept as float32), before it is
    evaluated: weights shipped as float16 then reproduce the recorded metrics exactly."""
    model.set_weights([w.astype(np.float16).astype(w.dtype) if w.dtype.kind == "f" else w
                       for w in model.get_weights()])
