"""Functional Keras 3 models: the CNN, the parameter-matched DNN, and their input pipeline.

Everything here is backend-neutral (keras.layers and keras.ops only), so the same code trains
under TensorFlow on a CPU and under JAX on a GPU machine that has no TensorFlow.

Every model takes raw pixel values (float32, 0..255, shape 48x48x1). Augmentation (active only
while training) and normalization are layers inside the model, so a saved model needs no
separate preprocessing, and the last two layers are always ``logits`` (a Dense layer, the
pre-softmax class scores that saliency maps differentiate) and ``probabilities`` (softmax).
"""

from __future__ import annotations

import math

from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
from keras import layers

from helpers.core.config import IMAGE_SIZE, NUM_CLASSES

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


@keras.saving.register_keras_serializable(package="fer2013")
class RandomCrop(layers.Layer):
    """A random `size` x `size` crop of each image while training, the center crop otherwise.

    Unlike keras.layers.RandomCrop, which draws one offset per batch, every image gets its own
    offset. The crop is a product with one-hot row and column selectors, so it is exact, cheap
    on 48x48 images and the same on every backend.
    """

    def __init__(self, size: int, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # raw pixels reach normalization in float32
        super().__init__(**kwargs)
        self.size = int(size)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        margin = images.shape[1] - self.size
        if margin < 0 or images.shape[2] - self.size != margin:
            raise ValueError(f"RandomCrop({self.size}) needs square inputs of at least that size, "
                             f"got {tuple(images.shape[1:3])}")
        if not training or margin == 0:
            start = margin // 2
            return images[:, start:start + self.size, start:start + self.size, :]
        batch = keras.ops.shape(images)[0]
        offsets = keras.random.randint((batch, 2), 0, margin + 1, seed=self.seed_generator)
        positions = keras.ops.arange(self.size, dtype="int32")[None, :]
        rows = keras.ops.one_hot(offsets[:, :1] + positions, images.shape[1], dtype=images.dtype)
        cols = keras.ops.one_hot(offsets[:, 1:] + positions, images.shape[2], dtype=images.dtype)
        return keras.ops.einsum("bih,bhwc,bjw->bijc", rows, images, cols)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}


def input_block(inputs, normalization: dict | None, augmentation: dict | None, seed: int = 0):
    """Optional augmentation then optional standardization of raw pixels.

    `normalization` is {"mean": m, "std": s} computed on the training split (or None for raw
    0..255 inputs); `augmentation` is a dict like the full profile's {"flip": True, "crop": 44}, with
    optional "shift", "rotation_degrees" and "zoom" (or None for none).
    """
    x = inputs
    if augmentation and augmentation.get("crop"):
        # Also active at inference (center crop), so it comes first and is kept outside the
        # "aug_" layers that only act while training.
        x = RandomCrop(augmentation["crop"], seed=seed + 4, name="crop")(x)
    if augmentation:
        if augmentation.get("flip"):
            x = layers.RandomFlip("horizontal", seed=seed, name="aug_flip")(x)
        if augmentation.get("rotation_degrees"):
            factor = augmentation["rotation_degrees"] / 360.0
            x = layers.RandomRotation(factor, fill_mode="nearest", seed=seed + 1, name="aug_rotate")(x)
        if augmentation.get("shift"):
            shift = augmentation["shift"]
            x = layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=seed + 2,
                                         name="aug_shift")(x)
        if augmentation.get("zoom"):
            x = layers.RandomZoom(augmentation["zoom"], fill_mode="nearest", seed=seed + 3,
                                  name="aug_zoom")(x)
    if normalization:
        x = layers.Normalization(mean=normalization["mean"], variance=normalization["std"] ** 2,
                                 name="normalize")(x)
    return x


def classifier_head(x):
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return outputs


def build_cnn(filters=(32, 64, 128, 256), convs_per_block: int = 2, dense_units=(256,),
              conv_dropout: float = 0.1, dense_dropout: float = 0.5, kernel_size: int = 3,
              normalization: dict | None = None, augmentation: dict | None = None,
              seed: int = 0, name: str = "cnn") -> keras.Model:
    """A VGG-style CNN: blocks of (conv 3x3 -> batch norm -> ReLU) x n, max-pool, dropout;
    then dense layers with batch norm and dropout, and the 7-way classifier. The defaults are
    the full profile's architecture (profiles/full.yaml, `cnn`)."""
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = input_block(inputs, normalization, augmentation, seed)
    for block, width in enumerate(filters, start=1):
        for conv in range(1, convs_per_block + 1):
            x = layers.Conv2D(width, kernel_size, padding="same", use_bias=False,
                              kernel_initializer="he_normal", name=f"block{block}_conv{conv}")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = layers.Activation("relu", name=f"block{block}_relu{conv}")(x)
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
        if conv_dropout:
            x = layers.Dropout(conv_dropout, seed=seed + block, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = dense_stack(x, dense_units, dense_dropout, seed)
    return keras.Model(inputs, classifier_head(x), name=name)


def dense_stack(x, units, dropout: float, seed: int):
    for i, width in enumerate(units, start=1):
        x = layers.Dense(width, use_bias=False, kernel_initializer="he_normal", name=f"dense{i}")(x)
        x = layers.BatchNormalization(name=f"dense{i}_bn")(x)
        x = layers.Activation("relu", name=f"dense{i}_relu")(x)
        if dropout:
            x = layers.Dropout(dropout, seed=seed + 100 + i, name=f"dense{i}_dropout")(x)
    return x


def build_dnn(hidden_units=(1024, 1024, 1024), dropout: float = 0.0,
              normalization: dict | None = None, augmentation: dict | None = None,
              seed: int = 0, name: str = "dnn") -> keras.Model:
    """A plain fully connected network: flatten the 48x48 pixels, dense layers, classifier."""
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = input_block(inputs, normalization, augmentation, seed)
    x = layers.Flatten(name="flatten")(x)
    x = dense_stack(x, hidden_units, dropout, seed)
    return keras.Model(inputs, classifier_head(x), name=name)


def input_pixels(augmentation: dict | None) -> int:
    """Pixels a model's first layer sees: the crop's when augmentation crops, else 48 x 48."""
    side = (augmentation or {}).get("crop") or IMAGE_SIZE
    return int(side) * int(side)


def dnn_param_count(width: int, depth: int, inputs: int = IMAGE_SIZE * IMAGE_SIZE) -> int:
    """Parameters of build_dnn with `depth` hidden layers of `width` units (no bias, batch norm
    with 4 weights per unit), plus the classifier, for `inputs` input pixels. Excludes the
    normalization layer's 3 scalars."""
    hidden = inputs * width + (depth - 1) * width * width + depth * 4 * width
    return hidden + width * NUM_CLASSES + NUM_CLASSES


def dnn_width_for(target_params: int, depth: int, inputs: int = IMAGE_SIZE * IMAGE_SIZE) -> int:
    """The hidden width whose DNN (on `inputs` pixels) has the parameter count closest to
    `target_params`."""
    if target_params < dnn_param_count(1, depth, inputs):
        raise ValueError(f"{target_params} parameters is too few for a {depth}-layer DNN")
    low, high = 1, 1
    while dnn_param_count(high, depth, inputs) < target_params:
        high *= 2
    while high - low > 1:
        mid = (low + high) // 2
        if dnn_param_count(mid, depth, inputs) < target_params:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda w: abs(dnn_param_count(w, depth, inputs) - target_params))


def count_params(model: keras.Model) -> dict:
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = model.count_params()
    return {"total": int(total), "trainable": int(trainable), "non_trainable": int(total - trainable)}


def logits_model(model: keras.Model) -> keras.Model:
    """The same network up to the pre-softmax class scores (for saliency and class maximization)."""
    try:
        logits = model.get_layer("logits")
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer 'logits'") from None
    return keras.Model(model.input, logits.output, name=f"{model.name}_logits")


