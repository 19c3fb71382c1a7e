"""Inference: class probabilities with the run's test-time augmentation (flips, crops), always on
a float32 copy of the model. Training may run in mixed bfloat16; predictions, gradients and every
analysis run in float32, so that they do not depend on whether the CPU computes in bfloat16
(AMX, AVX-512-BF16) or not."""

from __future__ import annotations

import weakref

import numpy as np

from helpers.core.config import NUM_CLASSES
from helpers.modeling.backend import keras, native_stderr_silenced


def _float32_policies(config):
    """The model config with every layer's dtype policy set to float32."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in config:
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_policies(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_policies(v) for v in config]
    if config in ("mixed_bfloat16", "bfloat16", "mixed_float16", "float16"):
        return "float32"  # a policy written as its bare name
    return config


def is_float32(model: keras.Model) -> bool:
    """Whether every layer computes in float32."""
    return all(getattr(layer, "compute_dtype", "float32") == "float32"
               for layer in model._flatten_layers(include_self=False))


_COPIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def float32_copy(model: keras.Model) -> keras.Model:
    """The same model (layers, names, weights) computing in float32; the model itself when it
    already does. Mixed-precision weights are float32 already, so the copy predicts what the
    trained weights give, without bfloat16 rounding of the activations. A copy is made once per
    model and weights state (it is refreshed when the weights change)."""
    if is_float32(model):
        return model
    import helpers.modeling.models  # noqa: F401 - registers the project's custom layers

    weights = model.get_weights()
    cached = _COPIES.get(model)
    if cached is not None and all(np.array_equal(a, b) for a, b in zip(cached.get_weights(), weights)):
        return cached
    copy = model.__class__.from_config(_float32_policies(model.get_config()))
    copy.set_weights(weights)
    _COPIES[model] = copy
    return copy


def crop_margin(model: keras.Model) -> int:
    """How many pixels the model's centre crop (a "crop" layer) removes per side pair; 0 if none."""
    try:
        layer = model.get_layer("crop")
    except ValueError:
        return 0
    return int(model.input.shape[1]) - int(layer.size)


def crop_views(x: np.ndarray, margin: int) -> list[np.ndarray]:
    """Five shifted copies of x whose centre crops are x's four corner crops and its centre
    crop (for a model that centre-crops `margin` pixels at inference): ten-crop testing with
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
    the mirrored images; with tta_crops (models with a crop layer), averaged over the centre and
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
