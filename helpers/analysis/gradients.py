"""The plumbing every gradient method shares: images as a float batch, a trained model's
layers and logits sub-model, batched input gradients on the ``tf.GradientTape``.

Every function takes the project's functional Keras 3 models (helpers.modeling.models): raw pixels
float32 (N, 48, 48, 1) in 0..255, a Dense layer named ``logits`` (pre-softmax class scores)
followed by ``probabilities``. Models always run in inference mode (``training=False``), so the
augmentation and dropout layers inside them are inactive while we differentiate. Gradients are
taken with ``tf.GradientTape`` (as in the keras-io examples), so the gradient modules
(helpers.analysis.saliency, helpers.analysis.ascent, helpers.analysis.adversarial) need the TensorFlow backend.

Names with a leading underscore are shared by those modules only, not meant for notebooks.
"""

from __future__ import annotations

import numpy as np
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf

from helpers.modeling.models import logits_model  # noqa: E402 - after the backend check

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"the analysis helpers compute gradients with TensorFlow, but Keras runs on the "
        f"{keras.backend.backend()} backend: run the analysis notebooks with KERAS_BACKEND=tensorflow"
    )


BATCH_SIZE = 64  # images per gradient computation (bounds memory on large sets)


def as_batch(images, model: keras.Model | None = None) -> np.ndarray:
    """Images as float32 (N, H, W, C): accepts (H, W), (H, W, 1), (N, H, W) or (N, H, W, C)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None] if x.shape[-1] == 1 else x[..., None]
    elif x.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W[, C]), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("no images given")
    if model is not None:
        expected = tuple(model.inputs[0].shape[1:])
        if any(e is not None and e != s for e, s in zip(expected, x.shape[1:])):
            raise ValueError(f"images of shape {x.shape[1:]} do not fit the model input {expected}")
    return x


def layer_named(model: keras.Model, layer_name: str):
    try:
        return model.get_layer(layer_name)
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no layer {layer_name!r}") from error


def sub_model(model: keras.Model, outputs, name: str | None = None) -> keras.Model:
    """model's input -> `outputs`. A single-input model gets its input as a tensor, not a
    one-element list, so that calling the sub-model on a tensor raises no structure warning."""
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=name)


def _class_indices(class_indices, n: int, num_classes: int) -> np.ndarray | None:
    """Validate `class_indices` (None, one int for all n images, or n ints) as an int array."""
    if class_indices is None:
        return None
    idx = np.asarray(class_indices)
    idx = checked_indices(np.full(n, idx) if idx.ndim == 0 else idx, num_classes, "class_indices")
    if len(idx) != n:
        raise ValueError(f"need one class index per image: {len(idx)} for {n} images")
    return idx.astype(np.int32)


def checked_indices(values, n: int, what: str) -> np.ndarray:
    """`values` (default: all of 0..n-1) as a non-empty 1-D int array of indices below n."""
    idx = np.arange(n) if values is None else np.asarray(values)
    if (idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer)
            or idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{what} must be a non-empty list of ints in 0..{n - 1}, got {values!r}")
    return idx


def normalise_max(maps: np.ndarray) -> np.ndarray:
    """Divide each non-negative map by its maximum (all-zero maps stay zero)."""
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, *([1] * (maps.ndim - 1)))
    return (maps / np.where(peak > 0, peak, 1.0)).astype(np.float32)


def drop_channel(x: np.ndarray) -> np.ndarray:
    """(..., H, W, 1) -> (..., H, W); other channel counts are left as they are."""
    return x[..., 0] if x.shape[-1] == 1 else x


def batch_ranges(n: int, size: int = BATCH_SIZE):
    return (slice(start, min(start + size, n)) for start in range(0, n, size))


def input_gradients(lmodel: keras.Model, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """d logit[idx] / d input for a batch (each image only affects its own score)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = tf.gather(lmodel(x, training=False), idx, axis=1, batch_dims=1)
    return tape.gradient(scores, x).numpy()


def predict_logits(model: keras.Model, images) -> np.ndarray:
    """Pre-softmax class scores (N, classes) of `images` as float32, in inference mode."""
    lmodel = logits_model(model)
    x = as_batch(images, model)
    return np.concatenate([np.asarray(lmodel(x[s], training=False), dtype=np.float32)
                           for s in batch_ranges(len(x))])


def target_classes(model, lmodel, x, class_indices) -> np.ndarray:
    num_classes = lmodel.outputs[0].shape[-1]
    idx = _class_indices(class_indices, len(x), num_classes)
    return predict_logits(model, x).argmax(axis=1).astype(np.int32) if idx is None else idx


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the model's Conv2D layers, input to output."""
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
