"""Unit tests for helpers/models.py, helpers/preprocess.py and helpers/sections_cnn.py.

Tiny models on synthetic arrays only: the whole file runs in a few seconds on a CPU.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import helpers.sections.cnn as sections_cnn
import helpers.sections.curves as sections_curves
from helpers.modeling.models import (build_cnn, build_dnn, count_params, dnn_param_count, dnn_width_for, logits_model, RandomCrop)
from helpers.data.preprocess import equalize_histogram, pixel_stats, to_model_input

PIXELS = 48 * 48
NORM = {"mean": 120.0, "std": 60.0}


def images(n, seed=0):
    """n random raw-pixel model inputs, float32 (n, 48, 48, 1) in 0..255 (not mirror-symmetric)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 48, 48, 1)).astype(np.float32)


def softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def expected_cnn_params(filters, convs_per_block, dense_units, kernel=3):
    """Parameter count of build_cnn computed by hand: conv without bias, batch norm with 4
    weights per channel (2 of them non-trainable), dense without bias, classifier with bias."""
    total, non_trainable, channels = 0, 0, 1
    for width in filters:
        for _ in range(convs_per_block):
            total += kernel * kernel * channels * width + 4 * width
            non_trainable += 2 * width
            channels = width
    features = channels * (48 // 2 ** len(filters)) ** 2
    for width in dense_units:
        total += features * width + 4 * width
        non_trainable += 2 * width
        features = width
    total += features * 7 + 7
    return total, non_trainable

# Every augmentation layer the builder knows, to check they are all inactive at inference.
EVERY_AUGMENTATION = {"flip": True, "shift": 0.1, "rotation_degrees": 10.0, "zoom": 0.1}


def test_builder_defaults_are_the_full_profile():
    import inspect

    from helpers.core.config import load_profile

    full = load_profile("full")
    cnn_defaults = inspect.signature(build_cnn).parameters
    for key, value in full["cnn"].items():
        default = cnn_defaults[key].default
        assert (list(default) if isinstance(default, tuple) else default) == value, key
    assert inspect.signature(build_dnn).parameters["dropout"].default == full["dnn_dropout"]


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(1)
    return build_cnn(filters=[4, 8], convs_per_block=2, dense_units=[8], normalization=NORM,
                     augmentation=EVERY_AUGMENTATION, name="tiny_cnn")


@pytest.fixture(scope="module")
def dnn():
    keras.utils.set_random_seed(2)
    return build_dnn([16, 8], normalization=NORM, name="tiny_dnn")


# --------------------------------------------------------------------------- architecture


@pytest.mark.parametrize("kind", ["cnn", "dnn"])
def test_model_maps_48x48x1_pixels_to_7_probabilities(kind, cnn, dnn):
    model = cnn if kind == "cnn" else dnn
    assert tuple(model.input_shape) == (None, 48, 48, 1)
    assert tuple(model.output_shape) == (None, 7)
    proba = np.asarray(model(images(5), training=False))
    assert proba.shape == (5, 7)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["cnn", "dnn"])
def test_last_layers_are_logits_then_softmax(kind, cnn, dnn):
    model = cnn if kind == "cnn" else dnn
    *_, logits, probabilities = model.layers
    assert logits.name == "logits"
    assert isinstance(logits, keras.layers.Dense)
    assert logits.units == 7
    assert probabilities.name == "probabilities"
    assert isinstance(probabilities, keras.layers.Activation)
    assert probabilities.activation is keras.activations.softmax
    # the softmax layer is applied to the logits layer's output
    assert probabilities.input is logits.output


@pytest.mark.parametrize("filters,convs", [([4], 1), ([4, 8], 2), ([2, 3, 5], 3)])
def test_cnn_conv_layers_follow_the_config(filters, convs):
    model = build_cnn(filters=filters, convs_per_block=convs, dense_units=[6], kernel_size=3)
    conv_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    expected = [f"block{b}_conv{c}" for b in range(1, len(filters) + 1)
                for c in range(1, convs + 1)]
    assert [layer.name for layer in conv_layers] == expected
    assert [layer.filters for layer in conv_layers] == [w for w in filters for _ in range(convs)]
    assert all(tuple(layer.kernel_size) == (3, 3) for layer in conv_layers)
    pools = [layer.name for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert pools == [f"block{b}_pool" for b in range(1, len(filters) + 1)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.name, layer.units) for layer in dense] == [("dense1", 6), ("logits", 7)]
    total, non_trainable = expected_cnn_params(filters, convs, [6])
    assert count_params(model) == {"total": total, "trainable": total - non_trainable,
                                   "non_trainable": non_trainable}


def test_cnn_dropout_layers_only_when_asked():
    with_dropout = build_cnn(filters=[4, 4], convs_per_block=1, dense_units=[8],
                             conv_dropout=0.25, dense_dropout=0.5)
    rates = {layer.name: layer.rate for layer in with_dropout.layers
             if isinstance(layer, keras.layers.Dropout)}
    assert rates == {"block1_dropout": 0.25, "block2_dropout": 0.25, "dense1_dropout": 0.5}
    without = build_cnn(filters=[4, 4], convs_per_block=1, dense_units=[8], conv_dropout=0,
                        dense_dropout=0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in without.layers)


def test_dnn_layers_follow_the_config(dnn):
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in dnn.layers)
    dense = [(layer.name, layer.units) for layer in dnn.layers
             if isinstance(layer, keras.layers.Dense)]
    assert dense == [("dense1", 16), ("dense2", 8), ("logits", 7)]
    assert dnn.get_layer("flatten").output.shape[1:] == (PIXELS,)


def test_no_input_layers_without_normalization_or_augmentation():
    model = build_cnn(filters=[4], convs_per_block=1, dense_units=[8])
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["image", "block1_conv1"]
    assert "normalize" not in names


def test_augmentation_layers_are_named_and_ordered(cnn):
    names = [layer.name for layer in cnn.layers]
    assert names[:6] == ["image", "aug_flip", "aug_rotate", "aug_shift", "aug_zoom", "normalize"]


# --------------------------------------------------------------------------- augmentation


def test_augmentation_is_inactive_at_inference(cnn):
    x = images(8, seed=3)
    first = np.asarray(cnn(x, training=False))
    second = np.asarray(cnn(x, training=False))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(np.asarray(cnn.predict(x, verbose=0)),
                                  np.asarray(cnn.predict(x, verbose=0)))
    augmented = keras.Model(cnn.input, cnn.get_layer("aug_zoom").output)
    np.testing.assert_array_equal(np.asarray(augmented(x, training=False)), x)


def test_augmentation_is_active_in_training(cnn):
    x = images(16, seed=4)
    augmented = keras.Model(cnn.input, cnn.get_layer("aug_zoom").output)
    out = np.asarray(augmented(x, training=True))
    assert out.shape == x.shape
    changed = [not np.array_equal(out[i], x[i]) for i in range(len(x))]
    assert sum(changed) >= len(x) - 1  # rotation/shift/zoom by a random amount move almost all


@pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")
def test_flip_augmentation_mirrors_some_images_only_in_training():
    """A DNN without hidden layers has no batch norm or dropout, so the only thing that differs
    between training and inference is the flip: each image's training logits are the inference
    logits of the image or of its mirror image (never both), and both cases occur."""
    keras.utils.set_random_seed(5)
    model = build_dnn([], augmentation={"flip": True})
    scores = logits_model(model)  # not the probabilities: the softmax saturates on raw pixels
    x = images(64, seed=5)
    plain = np.asarray(scores(x, training=False))
    mirrored = np.asarray(scores(x[:, :, ::-1], training=False))
    trained = np.asarray(scores(x, training=True))
    # A logit is a float32 sum of 2,304 products w x: in any summation order within
    # 2,305 x 2^-24 x sum |w x| (about 1 here) of the exact value, twice that between two
    # orders; an image and its mirror image differ by more than 100 in some logit.
    kernel = model.get_layer("logits").get_weights()[0]
    tolerance = 2 * (PIXELS + 1) * 2.0**-24 * (np.abs(x.reshape(len(x), -1)) @ np.abs(kernel))
    assert np.all(np.any(np.abs(plain - mirrored) > 2 * tolerance, axis=1))  # not symmetric
    same = np.all(np.abs(trained - plain) <= tolerance, axis=1)
    flipped = np.all(np.abs(trained - mirrored) <= tolerance, axis=1)
    assert np.all(same != flipped)
    assert same.sum() > 0 and flipped.sum() > 0  # p(failure) = 2 * 2**-64


# --------------------------------------------------------------------------- normalization


def test_random_crop_gives_each_image_its_own_offset_in_training():
    x = np.stack([np.arange(PIXELS, dtype=np.float32).reshape(48, 48, 1)] * 16)
    crops = np.asarray(RandomCrop(44, seed=1)(x, training=True))
    assert crops.shape == (16, 44, 44, 1)
    offsets = set()
    for crop in crops:
        row, col = divmod(int(crop[0, 0, 0]), 48)
        assert 0 <= row <= 4 and 0 <= col <= 4
        np.testing.assert_array_equal(crop, x[0, row:row + 44, col:col + 44])  # exact pixels
        offsets.add((row, col))
    assert len(offsets) > 4  # keras.layers.RandomCrop would give one offset per batch


def test_random_crop_is_the_centre_crop_at_inference():
    x = images(3)
    np.testing.assert_array_equal(np.asarray(RandomCrop(44)(x)), x[:, 2:46, 2:46])
    np.testing.assert_array_equal(np.asarray(RandomCrop(48)(x, training=True)), x)
    with pytest.raises(ValueError, match="at least that size"):
        RandomCrop(50)(x)


def test_cnn_with_a_crop_saves_and_loads(tmp_path):
    model = build_cnn(filters=[4], convs_per_block=1, dense_units=[8], normalization=NORM,
                      augmentation={"flip": True, "crop": 40})
    assert model.get_layer("crop").output.shape[1:3] == (40, 40)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(images(4), verbose=0),
                                  model.predict(images(4), verbose=0))


def test_mixed_bfloat16_keeps_pixels_and_probabilities_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_cnn(filters=[4], convs_per_block=1, dense_units=[8], normalization=NORM,
                          augmentation={"crop": 44})
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("crop").compute_dtype == "float32"  # raw pixels go to normalization in float32
    assert model.get_layer("probabilities").compute_dtype == "float32"
    assert model.predict(images(2), verbose=0).dtype == np.float32


def test_normalize_layer_standardizes_pixels(cnn):
    x = images(4, seed=6)
    normalized = keras.Model(cnn.input, cnn.get_layer("normalize").output)
    np.testing.assert_allclose(np.asarray(normalized(x, training=False)),
                               (x - NORM["mean"]) / NORM["std"], rtol=1e-5, atol=1e-5)


def test_normalized_model_equals_plain_model_on_standardized_input():
    keras.utils.set_random_seed(7)
    with_norm = build_dnn([8], dropout=0, normalization=NORM)
    without = build_dnn([8], dropout=0)
    assert len(with_norm.get_weights()) == len(without.get_weights())
    without.set_weights(with_norm.get_weights())
    x = images(6, seed=7)
    # The two standardizations may differ in the last bit (e.g. a multiply by 1 / std), which
    # moves the probabilities by ~1e-6 (relative) through the 2,304-input dense layer.
    np.testing.assert_allclose(np.asarray(with_norm(x, training=False)),
                               np.asarray(without((x - NORM["mean"]) / NORM["std"], training=False)),
                               rtol=1e-4, atol=1e-6)
    # and the normalization really changes the result (raw pixels give other probabilities)
    assert not np.allclose(np.asarray(with_norm(x, training=False)),
                           np.asarray(without(x, training=False)), atol=1e-3)


# --------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("width,depth", [(1, 1), (7, 1), (16, 2), (33, 3), (10, 4)])
def test_dnn_param_count_matches_keras(width, depth):
    with_norm = build_dnn([width] * depth, normalization=NORM)
    without = build_dnn([width] * depth)
    assert dnn_param_count(width, depth) == with_norm.count_params()
    assert with_norm.count_params() == without.count_params()  # normalization adds nothing
    assert with_norm.get_layer("normalize").count_params() == 0
    expected = PIXELS * width + (depth - 1) * width * width + depth * 4 * width + width * 7 + 7
    assert dnn_param_count(width, depth) == expected


@pytest.mark.parametrize("target", [75_407, 1_767_207, 3_000_000])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_dnn_width_for_hits_the_target(target, depth):
    width = dnn_width_for(target, depth)
    count = dnn_param_count(width, depth)
    assert abs(count - target) <= 0.02 * target
    # the closest width: neither neighbor is nearer to the target
    assert abs(count - target) <= abs(dnn_param_count(width - 1, depth) - target)
    assert abs(count - target) <= abs(dnn_param_count(width + 1, depth) - target)


@pytest.mark.parametrize("target", [75_407, 1_767_207])
def test_dnn_width_for_builds_a_model_of_that_size(target):
    model = build_dnn([dnn_width_for(target, 3)] * 3, normalization=NORM)
    assert abs(model.count_params() - target) <= 0.02 * target


def test_dnn_width_for_known_values():
    assert dnn_width_for(dnn_param_count(100, 3), 3) == 100
    assert dnn_width_for(dnn_param_count(57, 1) + 1, 1) == 57
    assert dnn_width_for(dnn_param_count(58, 2) - 1, 2) == 58


@pytest.mark.parametrize("target", [0, 100, 2000])
def test_dnn_width_for_rejects_tiny_targets(target):
    with pytest.raises(ValueError, match="too few"):
        dnn_width_for(target, 3)


def test_count_params(cnn):
    total, non_trainable = expected_cnn_params([4, 8], 2, [8])
    params = count_params(cnn)
    assert params == {"total": total, "trainable": total - non_trainable,
                      "non_trainable": non_trainable}
    assert params["total"] == cnn.count_params()
    assert all(isinstance(v, int) for v in params.values())


# --------------------------------------------------------------------------- logits and tables


@pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")
@pytest.mark.parametrize("kind", ["cnn", "dnn"])
def test_logits_model_gives_the_pre_softmax_scores(kind, cnn, dnn):
    model = cnn if kind == "cnn" else dnn
    scores = logits_model(model)
    assert tuple(scores.output_shape) == (None, 7)
    assert scores.layers[-1] is model.get_layer("logits")  # shares the weights
    x = images(6, seed=8)
    logits = np.asarray(scores(x, training=False))
    proba = np.asarray(model(x, training=False))
    np.testing.assert_allclose(softmax(logits), proba, rtol=1e-4, atol=1e-6)
    assert not np.allclose(logits, proba, atol=1e-3)  # really the scores, not probabilities


# --------------------------------------------------------------------------- preprocessing


def random_uint8(shape, seed=0, low=0, high=256):
    return np.random.default_rng(seed).integers(low, high, size=shape, dtype=np.uint8)


def test_equalize_histogram_keeps_shape_and_dtype():
    batch = random_uint8((5, 48, 48))
    out = equalize_histogram(batch)
    assert out.dtype == np.uint8 and out.shape == (5, 48, 48)
    single = equalize_histogram(batch[2])
    assert single.dtype == np.uint8 and single.shape == (48, 48)
    np.testing.assert_array_equal(single, out[2])


def test_equalize_histogram_does_not_modify_its_input():
    batch = random_uint8((2, 48, 48), low=50, high=90)
    copy = batch.copy()
    equalize_histogram(batch)
    np.testing.assert_array_equal(batch, copy)


def test_equalize_histogram_spreads_a_low_contrast_image():
    image = random_uint8((48, 48), seed=1, low=100, high=111)
    out = equalize_histogram(image)
    assert out.min() == 0 and out.max() == 255
    assert len(np.unique(out)) == len(np.unique(image))


def test_equalize_histogram_known_values():
    # four gray levels, a quarter of the pixels each: the cdf is 1/4, 2/4, 3/4, 1
    image = np.repeat(np.array([10, 20, 30, 40], np.uint8), 576).reshape(48, 48)
    out = equalize_histogram(image)
    lut = dict(zip([10, 20, 30, 40], [0, 85, 170, 255]))
    np.testing.assert_array_equal(out, np.vectorize(lut.get)(image).astype(np.uint8))


def test_equalize_histogram_keeps_a_constant_image():
    constant = np.full((48, 48), 77, np.uint8)
    np.testing.assert_array_equal(equalize_histogram(constant), constant)
    batch = np.stack([constant, random_uint8((48, 48), seed=2), np.zeros((48, 48), np.uint8)])
    out = equalize_histogram(batch)
    np.testing.assert_array_equal(out[0], constant)
    np.testing.assert_array_equal(out[2], 0)


def test_equalize_histogram_works_per_image():
    batch = np.stack([random_uint8((48, 48), seed=3, low=0, high=60),
                      random_uint8((48, 48), seed=4, low=180, high=256),
                      random_uint8((48, 48), seed=5)])
    out = equalize_histogram(batch)
    for i in range(len(batch)):
        np.testing.assert_array_equal(out[i], equalize_histogram(batch[i]))
        assert out[i].min() == 0 and out[i].max() == 255


def test_equalize_histogram_is_monotonic():
    image = random_uint8((48, 48), seed=6, low=30, high=200)
    out = equalize_histogram(image).ravel().astype(int)
    flat = image.ravel().astype(int)
    order = np.argsort(flat, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)  # brighter input, never darker output
    for level in np.unique(flat):  # one gray level maps to one gray level
        assert len(np.unique(out[flat == level])) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint16])
def test_equalize_histogram_rejects_non_uint8(dtype):
    with pytest.raises(ValueError, match="uint8"):
        equalize_histogram(np.zeros((2, 48, 48), dtype))


def test_equalize_histogram_accepts_an_empty_batch():
    empty = np.zeros((0, 48, 48), np.uint8)
    out = equalize_histogram(empty)
    assert out.dtype == np.uint8 and out.shape == (0, 48, 48)
    assert to_model_input(empty, hist_eq=True).shape == (0, 48, 48, 1)


def test_to_model_input():
    batch = random_uint8((3, 48, 48), seed=7, low=40, high=120)
    x = to_model_input(batch)
    assert x.dtype == np.float32 and x.shape == (3, 48, 48, 1)
    np.testing.assert_array_equal(x[..., 0], batch.astype(np.float32))
    eq = to_model_input(batch, hist_eq=True)
    assert eq.dtype == np.float32 and eq.shape == (3, 48, 48, 1)
    np.testing.assert_array_equal(eq[..., 0], equalize_histogram(batch).astype(np.float32))
    assert eq.max() == 255.0 and x.max() < 120


def test_pixel_stats():
    assert pixel_stats(np.array([[0, 255]], np.uint8)) == {"mean": 127.5, "std": 127.5}
    batch = random_uint8((4, 48, 48), seed=8)
    stats = pixel_stats(batch)
    assert isinstance(stats["mean"], float) and isinstance(stats["std"], float)
    assert stats["mean"] == pytest.approx(batch.astype(np.float64).mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(batch.astype(np.float64).std(), rel=1e-12)


# --------------------------------------------------------------------------- plots


def test_stages_group_cnn_layers_by_prefix(cnn):
    groups = sections_cnn.stages(cnn)
    assert [g["key"] for g in groups] == ["image", "aug", "normalize", "block1", "block2",
                                          "flatten", "dense1", "logits", "probabilities"]
    assert sum(g["params"] for g in groups) == count_params(cnn)["total"]
    by_key = {g["key"]: g for g in groups}
    assert [layer.name for layer in by_key["aug"]["layers"]] == [
        "aug_flip", "aug_rotate", "aug_shift", "aug_zoom"]
    assert by_key["block1"]["params"] == 3 * 3 * 1 * 4 + 4 * 4 + 3 * 3 * 4 * 4 + 4 * 4
    assert by_key["block2"]["shape"] == "12x12x8"
    assert by_key["logits"]["params"] == 8 * 7 + 7
    assert "2 x conv 3x3\n8 filters" in by_key["block2"]["label"]
    assert "max-pool 2x2" in by_key["block1"]["label"]
    assert "8 units" in by_key["dense1"]["label"]
    assert by_key["logits"]["label"].startswith("Classifier")


def test_stage_labels_name_blocks_and_dense_layers_with_a_space(cnn):
    titles = [g["label"].split("\n")[0] for g in sections_cnn.stages(cnn)]
    assert titles == ["Input", "Augmentation", "Normalization", "Block 1", "Block 2", "Flatten",
                      "Dense 1", "Classifier", "Softmax"]


def test_stages_group_dnn_layers(dnn):
    groups = sections_cnn.stages(dnn)
    assert [g["key"] for g in groups] == ["image", "normalize", "flatten", "dense1", "dense2",
                                          "logits", "probabilities"]
    assert sum(g["params"] for g in groups) == dnn.count_params()
    assert [g["params"] for g in groups if g["key"].startswith("dense")] == [
        PIXELS * 16 + 4 * 16, 16 * 8 + 4 * 8]


def test_architecture_figure(cnn):
    fig = sections_cnn.architecture_figure(cnn, per_row=4)
    try:
        assert isinstance(fig, Figure)
        assert f"{cnn.count_params():,} parameters" in fig._suptitle.get_text()
        boxes = [t.get_text() for t in fig.axes[0].texts if t.get_text()]  # arrows have no text
        assert boxes == [g["label"] for g in sections_cnn.stages(cnn)]
        arrows = [t for t in fig.axes[0].texts if not t.get_text()]
        assert len(arrows) == len(boxes) - 1                  # one from each box to the next
    finally:
        plt.close(fig)


def test_plot_curves():
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [2.0, 1.5, 1.2],
                            "accuracy": [0.2, 0.3, 0.4], "val_loss": [2.1, 1.7, 1.6],
                            "val_accuracy": [0.18, 0.25, 0.3]})
    fig = sections_curves.plot_curves({"cnn": history, "dnn": history * 1.0}, title="Curves")
    try:
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 2
        loss_ax, acc_ax = fig.axes
        assert len(loss_ax.lines) == 4 and len(acc_ax.lines) == 4  # train + val per run
        np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), history["val_loss"])
        np.testing.assert_array_equal(acc_ax.lines[0].get_ydata(), history["accuracy"])
        assert fig._suptitle.get_text() == "Curves"
    finally:
        plt.close(fig)


def test_dnn_width_for_a_cropping_dnn_counts_the_crop_pixels():
    """A DNN that crops to 44 x 44 sees 1,936 pixels: its width is solved for those."""
    from helpers.modeling.models import input_pixels

    augmentation = {"flip": True, "crop": 44}
    assert input_pixels(augmentation) == 44 * 44 and input_pixels(None) == PIXELS
    width = dnn_width_for(1_767_207, 3, input_pixels(augmentation))
    model = build_dnn([width] * 3, normalization=NORM, augmentation=augmentation)
    assert model.count_params() == dnn_param_count(width, 3, 44 * 44)
    assert abs(model.count_params() - 1_767_207) <= 0.02 * 1_767_207


def test_the_layer_parameter_table_has_a_row_per_stage_and_the_total(cnn):
    """Question 1 asks for a layer/parameter table: one row per stage of the diagram."""
    from helpers.sections.cnn import stage_table, stages

    table = stage_table(cnn)
    assert table["stage"].tolist()[:-1] == [s["label"].split("\n")[0] for s in stages(cnn)]
    assert table["parameters"].iloc[-1] == f"{cnn.count_params():,}"
    parameters = table["parameters"].iloc[:-1].str.replace(",", "").astype(int)
    assert parameters.sum() == cnn.count_params()
    block = table[table["stage"] == "Block 1"].iloc[0]
    assert block["layers"].startswith("2 x conv 3x3, ") and "BN + ReLU" in block["layers"]


def test_merged_stages_draw_the_steps_before_the_first_weight_as_one_box(dnn):
    """The DNN's diagram: input and normalization in one box, the classifier and its softmax in
    another, with every parameter still counted once."""
    groups = sections_cnn.merged_stages(dnn, (sections_cnn.PREPROCESSING, sections_cnn.HEAD))
    plain = {g["key"]: g for g in sections_cnn.stages(dnn)}
    assert [g["key"] for g in groups] == ["image", "flatten", "dense1", "dense2", "logits"]
    assert sum(g["params"] for g in groups) == dnn.count_params()
    assert groups[0]["label"] == f"Input,\nnormalization\n-> {plain['normalize']['shape']}"
    assert groups[-1]["label"] == f"Classifier,\nsoftmax\n-> 7\n{plain['logits']['params']:,} params"
    assert groups[2]["label"] == plain["dense1"]["label"]       # a stage of its own keeps its box


def test_the_compact_table_has_a_row_per_box_and_names_the_input_size():
    """The report's diagrams and tables merge the steps before the first weight (and the
    classifier with its softmax): the table keeps one row per box, the input's 48x48 and every
    parameter."""
    from helpers.sections.cnn import COMPACT, merged_stages, stage_table

    model = build_dnn([8, 8], normalization=NORM, augmentation={"flip": True, "crop": 44})
    table = stage_table(model, merge=COMPACT)
    groups = merged_stages(model, COMPACT)
    assert table["stage"].tolist() == [g["name"].split(", ")[0] for g in groups] + ["total"]
    assert groups[0]["name"] == "Input 48x48x1, crop, augmentation, normalization"
    # the merged row is named by its first stage; the others are its layers
    assert table.iloc[0].tolist() == ["Input 48x48x1", "crop: random in training, center at test; augmentation: flip; "
                                      "normalization", "44x44x1", "0"]
    assert table.iloc[-2][["stage", "layers"]].tolist() == ["Classifier", "softmax"]
    parameters = table["parameters"].iloc[:-1].str.replace(",", "").astype(int)
    assert parameters.sum() == model.count_params() and table["parameters"].iloc[-1] == f"{model.count_params():,}"
    assert groups[0]["label"].split("\n")[0] == "Input 48x48x1,"
    assert "\n-> 8\n" not in groups[2]["label"] and "8 units" in groups[2]["label"]  # units say the shape
