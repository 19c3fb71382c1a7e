"""Tests for the gradient methods (helpers.analysis.gradients, saliency, ascent, adversarial, sampling,
plotting.plot_grid) on tiny models whose gradients are known by construction."""

import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import warnings

import keras
import numpy as np
from scipy.ndimage import gaussian_filter
import pytest
from keras import layers
from matplotlib.figure import Figure

import helpers.analysis.adversarial as analysis_adversarial
import helpers.analysis.ascent as analysis_ascent
import helpers.analysis.gradients as analysis_gradients
import helpers.analysis.saliency as analysis_saliency
from helpers.core import plotting
from helpers.core import words
import helpers.data.sampling as data_sampling
import helpers.sections.adversarial as sections_adversarial
import helpers.sections.class_maximization as sections_class_maximization
import helpers.sections.filters as sections_filters
import helpers.sections.saliency as sections_saliency
import helpers.sections.weak_model as sections_weak_model
from helpers.core.config import CLASS_NAMES, IMAGE_SIZE
from helpers.modeling.models import build_cnn, build_dnn

SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
PIXELS = IMAGE_SIZE * IMAGE_SIZE


def with_head(inputs, x, name):
    """Attach the project's head: a Dense 'logits' layer and a softmax 'probabilities' layer."""
    logits = layers.Dense(7, name="logits")(x)
    outputs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


def set_dense(model, kernel, bias=None):
    layer = model.get_layer("logits")
    layer.set_weights([np.asarray(kernel, np.float32),
                       np.zeros(7, np.float32) if bias is None else np.asarray(bias, np.float32)])


@pytest.fixture(scope="module")
def cnn():
    """build_cnn with normalization and augmentation: augmentation must stay inactive."""
    keras.utils.set_random_seed(0)
    return build_cnn(filters=[4, 8], dense_units=[8], normalization={"mean": 128.0, "std": 64.0},
                     augmentation={"flip": True, "shift": 0.1}, name="tiny_cnn")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (4, *SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def linear():
    """logits = W^T pixels, with W non-zero only in the top-left 8x8 block."""
    inputs = keras.Input(SHAPE)
    model = with_head(inputs, layers.Flatten()(inputs), "linear")
    kernel = np.random.default_rng(1).normal(size=(IMAGE_SIZE, IMAGE_SIZE, 7))
    kernel[8:, :] = 0
    kernel[:, 8:] = 0
    set_dense(model, kernel.reshape(PIXELS, 7))
    return model, kernel


# ----------------------------------------------------------------------------- saliency

def test_saliency_shape_range_and_not_constant(cnn, images):
    sal = analysis_saliency.saliency_maps(cnn, images)
    assert sal.shape == (4, IMAGE_SIZE, IMAGE_SIZE) and sal.dtype == np.float32
    assert sal.min() >= 0 and np.allclose(sal.max(axis=(1, 2)), 1.0)
    assert all(m.std() > 0.01 for m in sal)
    # inference mode: the random flip/shift layers do not change a second computation
    np.testing.assert_array_equal(sal, analysis_saliency.saliency_maps(cnn, images))


def test_saliency_is_the_normalised_weight_of_a_linear_model(linear, images):
    model, kernel = linear
    sal = analysis_saliency.saliency_maps(model, images[:2], class_indices=[2, 5])
    for m, c in zip(sal, [2, 5]):
        np.testing.assert_allclose(m, np.abs(kernel[..., c]) / np.abs(kernel[..., c]).max(),
                                   atol=1e-6)
    assert sal[:, 8:, :].max() == 0 and sal[:, :, 8:].max() == 0


def test_saliency_stays_where_a_cnn_looks(images):
    """A CNN that sees only the top-left 12x12 pixels has no saliency anywhere else."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input(SHAPE)
    x = layers.Cropping2D(((0, 36), (0, 36)))(inputs)
    x = layers.Conv2D(4, 3, activation="relu", name="block1_conv1")(x)
    model = with_head(inputs, layers.Flatten()(x), "corner_cnn")
    sal = analysis_saliency.saliency_maps(model, images)
    assert sal[:, 12:, :].max() == 0 and sal[:, :, 12:].max() == 0
    assert (sal[:, :12, :12] > 0).mean() > 0.5


def test_saliency_defaults_to_predicted_class(cnn, images):
    predicted = analysis_gradients.predict_logits(cnn, images).argmax(axis=1)
    np.testing.assert_array_equal(analysis_saliency.saliency_maps(cnn, images),
                                  analysis_saliency.saliency_maps(cnn, images, predicted))
    assert not np.allclose(analysis_saliency.saliency_maps(cnn, images, (predicted + 1) % 7),
                           analysis_saliency.saliency_maps(cnn, images))


def test_saliency_accepts_one_image_and_rejects_bad_input(cnn, images, linear):
    assert analysis_saliency.saliency_maps(cnn, images[0, ..., 0]).shape == (1, IMAGE_SIZE, IMAGE_SIZE)
    with pytest.raises(ValueError, match="class_indices"):
        analysis_saliency.saliency_maps(cnn, images, class_indices=[0, 1, 2, 7])
    with pytest.raises(ValueError, match="one class index per image"):
        analysis_saliency.saliency_maps(cnn, images, class_indices=[0, 1])
    with pytest.raises(ValueError, match="do not fit"):
        analysis_saliency.saliency_maps(cnn, np.zeros((2, 32, 32, 1)))
    inputs = keras.Input(SHAPE)
    no_logits = keras.Model(inputs, layers.Dense(7)(layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="logits"):
        analysis_saliency.saliency_maps(no_logits, images)


def test_smoothgrad(cnn, images, linear):
    model, _ = linear
    # a linear model has the same gradient everywhere (its weight column, exactly), so noise
    # changes nothing: averaging 4 equal copies and normalizing costs a few float32 roundings
    np.testing.assert_allclose(analysis_saliency.smoothgrad(model, images, 3, samples=4),
                               analysis_saliency.saliency_maps(model, images, 3), atol=1e-6)
    # without noise SmoothGrad is the vanilla saliency
    np.testing.assert_allclose(analysis_saliency.smoothgrad(cnn, images, samples=2, noise=0.0),
                               analysis_saliency.saliency_maps(cnn, images), atol=1e-6)
    sg = analysis_saliency.smoothgrad(cnn, images, samples=4, seed=1)
    assert sg.shape == (4, IMAGE_SIZE, IMAGE_SIZE) and np.allclose(sg.max(axis=(1, 2)), 1.0)
    np.testing.assert_array_equal(sg, analysis_saliency.smoothgrad(cnn, images, samples=4, seed=1))
    assert not np.allclose(sg, analysis_saliency.smoothgrad(cnn, images, samples=4, seed=2))
    with pytest.raises(ValueError):
        analysis_saliency.smoothgrad(cnn, images, samples=0)


@pytest.fixture(scope="module")
def v_shape():
    """logit_c = sum_p w[p, c] |pixel_p - 128|: each pixel's gradient is +-w, its sign flipping
    where the pixel crosses 128."""
    inputs = keras.Input(SHAPE)
    centered = layers.Rescaling(1.0, offset=-128.0)(inputs)
    up = layers.ReLU()(centered)
    down = layers.ReLU()(layers.Rescaling(-1.0)(centered))
    model = with_head(inputs, layers.Flatten()(layers.Add()([up, down])), "v_shape")
    kernel = np.random.default_rng(3).uniform(0.5, 1.0, (PIXELS, 7))
    set_dense(model, kernel)
    return model, kernel.reshape(IMAGE_SIZE, IMAGE_SIZE, 7)


def test_smoothgrad_averages_gradient_magnitudes(v_shape):
    """On a gray-128 face the noise flips every pixel's gradient sign at random: a signed mean
    of the copies' gradients (the old SmoothGrad) nearly cancels into speckle, the mean
    magnitude is |w| exactly, as smooth as the weights."""
    model, kernel = v_shape
    gray = np.full((1, *SHAPE), 128.0, np.float32)
    sg = analysis_saliency.smoothgrad(model, gray, 2, samples=50, seed=0)
    np.testing.assert_allclose(sg[0], kernel[..., 2] / kernel[..., 2].max(), atol=1e-5)


def test_smoothgrad_settings_follow_the_paper():
    """Smilkov et al. 2017: noise of 10-20% of the input range, about 50 copies."""
    from helpers.core.config import load_profile

    assert 0.1 <= analysis_saliency.SMOOTHGRAD_NOISE <= 0.2
    assert analysis_saliency.SMOOTHGRAD_SAMPLES >= 50
    defaults = inspect.signature(analysis_saliency.smoothgrad).parameters
    assert defaults["samples"].default == analysis_saliency.SMOOTHGRAD_SAMPLES
    assert defaults["noise"].default == analysis_saliency.SMOOTHGRAD_NOISE
    assert load_profile("full")["smoothgrad_samples"] >= 50


def tf_keras_vis():
    """The tf-keras-vis modules used for cross-checks (skip the test if it is not installed)."""
    pytest.importorskip("tf_keras_vis")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.interpolation
        from tf_keras_vis import gradcam, saliency
        from tf_keras_vis.utils import model_modifiers, scores
    return (saliency.Saliency, gradcam.Gradcam, model_modifiers.ReplaceToLinear,
            scores.CategoricalScore)


def test_saliency_matches_tf_keras_vis(cnn, images):
    Saliency, _, ReplaceToLinear, CategoricalScore = tf_keras_vis()
    classes = [0, 3, 5, 6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3's input-structure warning on the clone
        ref = Saliency(cnn, model_modifier=ReplaceToLinear(), clone=True)(
            CategoricalScore(classes), images, normalize_map=False)
    ref = ref / ref.max(axis=(1, 2), keepdims=True)
    # two float32 backward passes, possibly summing in other orders: each normalized map is
    # within 1e-6 of a float64 evaluation of this model (measured), so within 2e-6 of the other
    np.testing.assert_allclose(analysis_saliency.saliency_maps(cnn, images, classes), ref, atol=1e-5)


# ----------------------------------------------------------------------------- Grad-CAM

@pytest.fixture(scope="module")
def pointwise():
    """conv 1x1 with kernel [1, 2] -> global average -> logits: Grad-CAM is known exactly."""
    inputs = keras.Input(SHAPE)
    conv = layers.Conv2D(2, 1, use_bias=False, name="block1_conv1")
    x = layers.GlobalAveragePooling2D()(conv(inputs))
    model = with_head(inputs, x, "pointwise")
    conv.set_weights([np.array([1.0, 2.0], np.float32).reshape(1, 1, 1, 2)])
    kernel = np.zeros((2, 7))
    kernel[:, 3] = 1.0     # class 3 grows with the features: CAM = the image
    kernel[:, 4] = -1.0    # class 4 shrinks with them: CAM all negative, ReLU'd to zero
    set_dense(model, kernel)
    return model


def test_grad_cam_known_map(pointwise, images):
    # cam = (w0 + 2 w1) x image whatever order the channel weights w (means of 2,304 gradients)
    # are summed in; the normalized map is then off by a few float32 roundings (< 1e-6)
    cam = analysis_saliency.grad_cam(pointwise, images, class_indices=3)
    np.testing.assert_allclose(cam, images[..., 0] / images.max(axis=(1, 2, 3))[:, None, None],
                               atol=1e-6)
    np.testing.assert_array_equal(analysis_saliency.grad_cam(pointwise, images, class_indices=4), 0.0)


def test_grad_cam_default_layer_and_upsampling(cnn, images):
    cam = analysis_saliency.grad_cam(cnn, images)
    assert cam.shape == (4, IMAGE_SIZE, IMAGE_SIZE) and cam.min() >= 0 and cam.max() <= 1
    np.testing.assert_array_equal(cam, analysis_saliency.grad_cam(cnn, images, layer_name="block2_conv2"))
    assert all(m.max() == 1.0 and m.std() > 0 for m in cam)
    with pytest.raises(ValueError, match="no layer"):
        analysis_saliency.grad_cam(cnn, images, layer_name="block9_conv1")
    with pytest.raises(ValueError, match="not \\(N, h, w, C\\)"):
        analysis_saliency.grad_cam(cnn, images, layer_name="dense1")
    keras.utils.set_random_seed(0)
    with pytest.raises(ValueError, match="no Conv2D"):
        analysis_saliency.grad_cam(build_dnn(hidden_units=[8]), images)


def test_grad_cam_matches_tf_keras_vis(cnn, images):
    """At a full-resolution layer (no upsampling) tf-keras-vis must give the same map."""
    _, Gradcam, ReplaceToLinear, CategoricalScore = tf_keras_vis()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Gradcam(cnn, model_modifier=ReplaceToLinear(), clone=True)(
            CategoricalScore([1, 2, 3, 4]), images, penultimate_layer="block1_conv2",
            normalize_cam=False)
    ref = ref / ref.max(axis=(1, 2), keepdims=True)
    cam = analysis_saliency.grad_cam(cnn, images, [1, 2, 3, 4], layer_name="block1_conv2")
    np.testing.assert_allclose(cam, ref, atol=1e-4)


def test_feature_grid_is_where_each_cell_looks():
    """On a linear model with symmetric all-ones kernels, each interior cell's receptive field is
    symmetric about its center: the gradient-weighted centroid of a cell's inputs must be the
    center feature_grid gives, through a center crop, 'same' and 'valid' convolutions, a
    strided 'same' convolution and pooling."""
    import tensorflow as tf

    from helpers.modeling.models import RandomCrop

    inputs = keras.Input(SHAPE)
    x = RandomCrop(44, name="crop")(inputs)
    x = layers.Conv2D(1, 3, padding="same", kernel_initializer="ones", name="same")(x)
    x = layers.AveragePooling2D(2, name="pool")(x)                                # 22
    x = layers.Conv2D(1, 3, strides=2, padding="same", kernel_initializer="ones", name="strided")(x)
    x = layers.Conv2D(1, 3, padding="valid", kernel_initializer="ones", name="valid")(x)  # 9
    model = keras.Model(inputs, x)
    assert analysis_saliency.feature_grid(model, "crop") == (2.0, 1.0)
    for name in ["same", "pool", "strided", "valid"]:
        offset, stride = analysis_saliency.feature_grid(model, name)
        sub = keras.Model(inputs, model.get_layer(name).output)
        j = sub.output.shape[1] // 2
        probe = keras.ops.convert_to_tensor(np.zeros((1, *SHAPE), np.float32))
        with tf.GradientTape() as tape:
            tape.watch(probe)
            cell = sub(probe)[0, j, j, 0]
        weight = tape.gradient(cell, probe).numpy()[0, :, :, 0]
        rows = np.arange(IMAGE_SIZE)
        center = (weight.sum(axis=1) * rows).sum() / weight.sum()
        assert center == pytest.approx(offset + stride * j), name
    with pytest.raises(ValueError, match="resizes"):
        up = keras.Model(inputs, layers.UpSampling2D(name="up")(model.output))
        analysis_saliency.feature_grid(up, "up")


def test_place_cells_covers_each_cells_footprint_only():
    """The full profile's CNN at block 4: 5x5 cells of stride 8 centered from pixel 5.5 cover
    pixels 2..41; pixels the crop and block 3's 'valid' pooling leave out get 0."""
    cells = np.arange(1, 26, dtype=np.float32).reshape(1, 5, 5)
    placed = analysis_saliency.place_cells(cells, (48, 48), 5.5, 8.0)
    covered = np.zeros(48, bool)
    covered[2:42] = True
    np.testing.assert_array_equal(placed[0] != 0, covered[:, None] & covered[None, :])
    # each border cell's value reaches the edge of its 8-pixel footprint; centers interpolate
    assert placed[0, 2, 2] == placed[0, 5, 5] == cells[0, 0, 0]
    assert placed[0, 41, 41] == placed[0, 38, 38] == cells[0, 4, 4]
    assert placed[0, 9, 5] == pytest.approx((cells[0, 0, 0] * 4.5 + cells[0, 1, 0] * 3.5) / 8)
    # stride 1 at offset 0 is the identity
    np.testing.assert_array_equal(analysis_saliency.place_cells(placed, (48, 48), 0.0, 1.0), placed)


def test_grad_cam_cover_of_the_full_profiles_cnn():
    keras.utils.set_random_seed(0)
    model = build_cnn(filters=[2, 2, 2, 2], dense_units=[4], augmentation={"flip": True, "crop": 44})
    assert analysis_saliency.grad_cam_cover(model) == {"cells": 5, "stride": 8.0, "first": 2, "last": 41}
    assert analysis_saliency.grad_cam_cover(model, "block1_conv1") == {"cells": 44, "stride": 1.0,
                                                                       "first": 2, "last": 45}


def test_verb_agrees_with_its_count():
    assert [words.verb(n, "is", "are") for n in (0, 1, 2)] == ["are", "is", "are"]
    assert words.verb(1, "has", "have") == "has"


def test_grad_cam_on_a_cropping_model_sits_on_the_crop():
    """conv 1x1 after a 44-pixel center crop: the CAM is the crop itself, at rows and columns
    2..45 of the 48x48 face, and 0 on the border the model never sees (it used to be the crop
    stretched over the whole face, 2 pixels off at the edges)."""
    from helpers.modeling.models import RandomCrop

    inputs = keras.Input(SHAPE)
    conv = layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="block1_conv1")
    x = layers.GlobalAveragePooling2D()(conv(RandomCrop(44, name="crop")(inputs)))
    model = with_head(inputs, x, "cropped_pointwise")
    kernel = np.zeros((1, 7))
    kernel[:, 3] = 1.0
    set_dense(model, kernel)
    images = np.random.default_rng(1).integers(1, 256, (2, *SHAPE)).astype(np.float32)
    cam = analysis_saliency.grad_cam(model, images, class_indices=3)
    crop = images[:, 2:46, 2:46, 0]
    np.testing.assert_allclose(cam[:, 2:46, 2:46], crop / crop.max(axis=(1, 2))[:, None, None], atol=1e-6)
    inside = np.zeros((48, 48), bool)
    inside[2:46, 2:46] = True
    assert (cam[:, ~inside] == 0).all()


# ----------------------------------------------------------------------------- masks, regions

def test_top_share_mask_and_apply_mask():
    maps = np.zeros((3, 4, 4))
    maps[0] = np.arange(16).reshape(4, 4)
    maps[1, 0, :2] = [1.0, 2.0]                 # only two pixels have any weight
    maps[2] = 1.0                               # all equal: taken in row-major order
    mask = analysis_saliency.top_share_mask(maps, 0.25)   # 4 of 16 pixels
    assert mask.shape == maps.shape and mask.dtype == bool
    assert mask[0].sum() == 4 and mask[0, 3].all()        # the last row holds 12..15
    assert mask[1].sum() == 2 and mask[1, 0, :2].all()    # pixels of weight 0 are never kept
    assert mask[2].sum() == 4 and mask[2, 0].all()
    single = analysis_saliency.top_share_mask(maps[0], 0.01)   # at least one pixel
    assert single.shape == (4, 4) and single.sum() == 1 and single[3, 3]
    for keep in (0.0, 1.5):
        with pytest.raises(ValueError, match="keep"):
            analysis_saliency.top_share_mask(maps, keep)
    with pytest.raises(ValueError):
        analysis_saliency.top_share_mask(maps[None], 0.5)
    images = np.arange(3 * 16, dtype=np.uint8).reshape(3, 4, 4, 1) + 1
    masked = analysis_saliency.apply_mask(images, mask)
    assert masked.dtype == np.uint8 and masked.shape == images.shape
    np.testing.assert_array_equal(masked[..., 0], np.where(mask, images[..., 0], 0))
    np.testing.assert_array_equal(analysis_saliency.apply_mask(images[..., 0], mask),
                                  masked[..., 0])
    with pytest.raises(ValueError, match="does not match"):
        analysis_saliency.apply_mask(images, mask[:, :3])


def test_connected_regions():
    masks = np.zeros((3, 8, 8), dtype=bool)
    masks[0, :2, :2] = masks[0, 5:, 5:] = True  # two blobs
    masks[1, 0, 0] = masks[1, 1, 1] = True      # touching at a corner: one region
    assert analysis_saliency.connected_regions(masks).tolist() == [2, 1, 0]
    with pytest.raises(ValueError):
        analysis_saliency.connected_regions(masks[0])


def test_region_share():
    mouth = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    r0, r1, c0, c1 = analysis_saliency.FACE_REGIONS["mouth"]
    mouth[r0:r1, c0:c1] = np.random.default_rng(0).uniform(0.1, 1, (r1 - r0, c1 - c0))
    assert analysis_saliency.region_share(mouth) == pytest.approx({"eyes": 0.0, "mouth": 1.0, "rest": 0.0})
    assert analysis_saliency.region_share(mouth)["eyes"] == 0.0
    uniform = analysis_saliency.region_share(np.ones((IMAGE_SIZE, IMAGE_SIZE)))
    assert uniform["eyes"] == pytest.approx(14 * 40 / PIXELS)
    assert uniform["mouth"] == pytest.approx(14 * 24 / PIXELS)
    eyes = np.zeros_like(mouth)
    eyes[12, 20] = 3.0
    both = analysis_saliency.region_share(np.stack([mouth, eyes, np.zeros_like(mouth)]))  # zero map skipped
    assert both == pytest.approx({"eyes": 0.5, "mouth": 0.5, "rest": 0.0})
    noise = np.random.default_rng(1).uniform(size=(5, IMAGE_SIZE, IMAGE_SIZE))
    random = analysis_saliency.region_share(noise)
    assert sum(random.values()) == pytest.approx(1.0) and min(random.values()) > 0
    masks = analysis_saliency.region_masks()
    assert sum(m.astype(int) for m in masks.values()).tolist() == np.ones((48, 48), int).tolist()
    with pytest.raises(ValueError):
        analysis_saliency.region_share(np.zeros((2, IMAGE_SIZE, IMAGE_SIZE)))
    with pytest.raises(ValueError):
        analysis_saliency.region_share(-mouth)


def test_region_shares_and_density_per_map():
    eyes = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    eyes[12, 20] = 2.0
    maps = np.stack([eyes, np.ones_like(eyes), np.zeros_like(eyes)])
    shares = analysis_saliency.region_shares(maps)
    np.testing.assert_allclose(shares["eyes"][:2], [1.0, 14 * 40 / PIXELS])
    assert np.isnan(shares["eyes"][2]) and np.isnan(shares["rest"][2])  # no mass: no shares
    density = analysis_saliency.region_density(maps)
    np.testing.assert_allclose(density["eyes"][0], PIXELS / (14 * 40))
    for region in ("eyes", "mouth", "rest"):                  # an even map gives every region 1x
        assert density[region][1] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- filters

def test_conv_layer_names(cnn):
    assert analysis_gradients.conv_layer_names(cnn) == ["block1_conv1", "block1_conv2", "block2_conv1",
                                             "block2_conv2"]
    keras.utils.set_random_seed(0)
    assert analysis_gradients.conv_layer_names(build_dnn(hidden_units=[8])) == []


def test_filter_patterns_raise_every_filter(cnn):
    patterns, start, final = analysis_ascent.filter_patterns(cnn, "block2_conv1", steps=25,
                                                      batch_size=5, progress=False)
    assert patterns.shape == (8, IMAGE_SIZE, IMAGE_SIZE) and patterns.dtype == np.float32
    assert patterns.min() >= 0 and patterns.max() <= 255          # raw pixels, not stretched
    assert start.shape == final.shape == (8,)
    assert np.all(final > start), (start, final)
    # the blur trades some response for smoother patterns: without it the ascent gets further
    _, raw_start, raw_final = analysis_ascent.filter_patterns(cnn, "block2_conv1", steps=25, blur_every=0,
                                                       jitter=0, progress=False)
    # same start image, but in a batch of 8 rather than 5 + 3, which may change the kernels'
    # summation order: float32 start responses (|a| < 1.2) are within 3e-7 of float64 ones
    np.testing.assert_allclose(raw_start, start, rtol=1e-5, atol=1e-5)
    assert np.all(raw_final > start) and (raw_final - start).mean() > (final - start).mean()
    assert all(analysis_ascent.to_display(p[None])[0].std() > 5 for p in patterns)  # not flat
    # a subset, in the given order: same start image, so the same start responses
    _, sub_start, sub_final = analysis_ascent.filter_patterns(cnn, "block2_conv1", [6, 1], steps=3,
                                                       progress=False)
    np.testing.assert_allclose(sub_start, start[[6, 1]], rtol=1e-5, atol=1e-5)
    assert np.all(sub_final > sub_start)


@pytest.fixture(scope="module")
def sobel_bn():
    """One 3x3 Sobel filter, batch normalization with a negative scale, a ReLU: the names of
    helpers.modeling.models."""
    inputs = keras.Input(SHAPE)
    conv = layers.Conv2D(1, 3, padding="same", use_bias=False, name="block1_conv1")
    norm = layers.BatchNormalization(name="block1_bn1")
    x = layers.Activation("relu", name="block1_relu1")(norm(conv(inputs)))
    model = with_head(inputs, layers.GlobalAveragePooling2D()(x), "sobel_bn")
    conv.set_weights([np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)[:, :, None, None]])
    norm.set_weights([np.array([-1.0], np.float32), np.zeros(1, np.float32),
                      np.zeros(1, np.float32), np.ones(1, np.float32)])
    return model


def test_filter_patterns_maximise_the_centre_unit_after_batch_norm(sobel_bn):
    """Only the center unit's 3x3 receptive field moves, towards the kernel times the batch-norm
    scale: dark on the left, bright on the right becomes bright on the left here. (The old
    objective, the convolution's mean over the map, moved the whole image and ignored the
    scale's sign.)"""
    patterns, start, final = analysis_ascent.filter_patterns(sobel_bn, "block1_conv1", steps=10,
                                                             blur_every=0, progress=False)
    # the jitter of 2 pixels is capped to 0 for a 3x3 unit: its pattern is not smeared
    rng = np.random.default_rng(0)
    noise = np.clip(127.5 + rng.normal(0, 20.0, SHAPE), 0, 255)[..., 0]
    changed = np.argwhere(np.abs(patterns[0] - noise) > 1e-3)
    assert changed.min(axis=0).tolist() == [23, 23] and changed.max(axis=0).tolist() == [25, 25]
    assert patterns[0, 23:26, 23].min() == 255 and patterns[0, 23:26, 25].max() == 0
    scale = -1 / np.sqrt(1 + 1e-3)
    expected = scale * (np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) * patterns[0, 23:26, 23:26]).sum()
    assert final[0] == pytest.approx(expected, rel=1e-5) and final[0] > start[0]
    # the same with jitter 0 asked for: identical
    same, _, _ = analysis_ascent.filter_patterns(sobel_bn, "block1_conv1", steps=10, blur_every=0,
                                                 jitter=0, progress=False)
    np.testing.assert_array_equal(same, patterns)


def test_filter_patterns_bad_arguments(cnn):
    for kwargs in [dict(filter_indices=[8]), dict(filter_indices=[]), dict(filter_indices=[0.5]),
                   dict(step_size=0), dict(batch_size=0), dict(steps=-1)]:
        with pytest.raises(ValueError):
            analysis_ascent.filter_patterns(cnn, "block2_conv1", progress=False, **kwargs)
    with pytest.raises(ValueError, match="no layer"):
        analysis_ascent.filter_patterns(cnn, "nope", progress=False)


def test_feature_maps_are_the_layer_output(pointwise, cnn, images):
    maps = analysis_ascent.feature_maps(pointwise, "block1_conv1", images[0])
    np.testing.assert_allclose(maps, images[0] * np.array([1.0, 2.0]), rtol=1e-6)
    assert analysis_ascent.feature_maps(cnn, "block2_conv1", images[1, ..., 0]).shape == (24, 24, 8)
    with pytest.raises(ValueError, match="one image"):
        analysis_ascent.feature_maps(cnn, "block2_conv1", images)


def test_a_mixed_precision_model_gives_float32_maps_and_logits(images):
    # The full profile trains in mixed bfloat16: numpy and matplotlib cannot take bfloat16 arrays.
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(0)
        model = build_cnn(filters=[4, 8], dense_units=[8], name="bf16_cnn")
    finally:
        keras.config.set_dtype_policy("float32")
    maps = analysis_ascent.feature_maps(model, "block1_conv1", images[0])
    assert maps.dtype == np.float32 and maps.shape == (48, 48, 4)
    assert analysis_gradients.predict_logits(model, images).dtype == np.float32
    plotting.plot_grid(np.moveaxis(maps, -1, 0), cmap="viridis")  # drew nothing before the fix


def test_class_maximization_raises_each_logit(cnn):
    result = analysis_ascent.class_maximization(cnn, steps=20, seed=0)
    assert result.images.shape == (7, IMAGE_SIZE, IMAGE_SIZE)
    assert result.images.min() >= 0 and result.images.max() <= 255
    assert np.all(result.logits > result.start_logits + 0.1)
    logits = analysis_gradients.predict_logits(cnn, result.images)
    # compiled ascent step against an eager pass (other batch, maybe other kernels): float32
    # logits of this model are within 1e-6 of float64 ones; one ascent step changes them ~0.02
    np.testing.assert_allclose(result.logits, logits[np.arange(7), np.arange(7)], rtol=1e-4,
                               atol=1e-4)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.probabilities, probs[np.arange(7), np.arange(7)], atol=1e-5)
    np.testing.assert_array_equal(result.predicted, logits.argmax(axis=1))


def test_class_maximization_follows_linear_weights(linear):
    """Ascending a linear logit brightens pixels with positive weight and darkens negative ones."""
    model, kernel = linear
    result = analysis_ascent.class_maximization(model, steps=15, classes=[2], blur_every=0, jitter=0)
    change = result.images[0] - result.images[0].mean()
    w = kernel[..., 2]
    assert change[:8, :8][w[:8, :8] > 0.5].min() > 0 > change[:8, :8][w[:8, :8] < -0.5].max()


# ----------------------------------------------------------------------------- adversarial

@pytest.fixture(scope="module")
def mean_model():
    """Logits from the mean pixel m: happy = m, surprise = 150 - m, neutral = 89.5, others -1e3."""
    inputs = keras.Input(SHAPE)
    model = with_head(inputs, layers.Flatten()(inputs), "mean_pixel")
    kernel = np.zeros((PIXELS, 7))
    kernel[:, 3], kernel[:, 5] = 1 / PIXELS, -1 / PIXELS
    set_dense(model, kernel, [-1e3, -1e3, -1e3, 0, -1e3, 150, 89.5])
    return model


def test_adversarial_untargeted_flips_after_known_steps(mean_model):
    image = np.full(SHAPE, 100.0, np.float32)
    result = analysis_adversarial.adversarial_example(mean_model, image)
    # each step lowers every pixel by 1: happy = 100 - k drops below neutral = 89.5 at k = 11.
    # happy is a float32 sum of 2,304 products: in any summation order within
    # 2,305 x 2^-24 x m < 0.014 of the mean m (oneDNN on an AVX-512 CPU is off by 0.0016, as a
    # plain running sum is), far inside the 0.5 margin on each side of the flip. So the steps
    # and pixels are exact (the gradient sign is exactly +1 everywhere) but the probabilities
    # are not: the new class's is sigmoid(0.5 +- 0.0122) = 0.6225 +- 0.003 (sigmoid' = 0.235),
    # the original one's sigmoid(10.5 +- 0.014), relative error < 1e-6
    assert result.flipped and result.steps == 11
    assert (result.original_class, result.new_class) == (3, 6)
    np.testing.assert_array_equal(result.image, np.full((48, 48), 89.0))
    np.testing.assert_array_equal(result.perturbation, -11.0)
    assert result.max_abs_change == 11.0 and result.mean_abs_change == 11.0
    assert result.original_probability == pytest.approx(1 / (1 + np.exp(-10.5)), rel=1e-4)
    assert result.new_probability == pytest.approx(1 / (1 + np.exp(-0.5)), abs=3e-3)
    # and it is the softmax of the model's own logits on the returned image (same computation)
    logits = analysis_gradients.predict_logits(mean_model, result.image)[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert result.new_probability == pytest.approx(probabilities[6], rel=1e-5)
    assert result.target_class is None


def test_adversarial_targeted_and_limits(mean_model):
    image = np.full(SHAPE, 100.0, np.float32)
    result = analysis_adversarial.adversarial_example(mean_model, image, target_class=5)
    # surprise = 50 + k beats happy = 100 - k and neutral = 89.5 first at k = 40 (a margin of
    # 0.5 each side, against a float32 error below 0.014: see the untargeted test)
    assert (result.flipped, result.steps, result.new_class) == (True, 40, 5)
    capped = analysis_adversarial.adversarial_example(mean_model, image, max_steps=5)
    assert (capped.flipped, capped.steps, capped.new_class) == (False, 5, 3)
    assert capped.max_abs_change == 5.0
    # half the pixels at 1, half at 199: happy (mean 100); the dark half clips at 0 after a step
    half = np.concatenate([np.full((24, 48, 1), 1.0), np.full((24, 48, 1), 199.0)])
    dark = analysis_adversarial.adversarial_example(mean_model, half, step_size=2.0, max_steps=4)
    assert (dark.flipped, dark.steps, dark.image.min(), dark.image.max()) == (False, 4, 0.0, 191.0)
    assert (dark.max_abs_change, dark.mean_abs_change) == (8.0, 4.5)
    with pytest.raises(ValueError):
        analysis_adversarial.adversarial_example(mean_model, image, target_class=7)
    with pytest.raises(ValueError):
        analysis_adversarial.adversarial_example(mean_model, np.stack([image, image]))
    with pytest.raises(ValueError):
        analysis_adversarial.adversarial_example(mean_model, image, step_size=0)


def test_adversarial_flips_a_cnn(cnn, images):
    result = analysis_adversarial.adversarial_example(cnn, images[0], max_steps=50)
    assert result.flipped and 1 <= result.steps <= 50
    assert result.new_class != result.original_class
    assert result.max_abs_change == result.steps  # integer pixels, one gray level per step
    assert analysis_gradients.predict_logits(cnn, result.image).argmax() == result.new_class


# ----------------------------------------------------------------------------- figures

def test_plot_grid():
    imgs = np.random.default_rng(0).uniform(size=(10, 6, 6, 1))
    fig = plotting.plot_grid(imgs, titles=[f"f{i}" for i in range(10)], ncols=4, cell_size=1.0)
    assert isinstance(fig, Figure) and len(fig.axes) == 10
    width, height = fig.get_size_inches().tolist()
    assert width == 4.0 and 3.0 < height < 3.6      # 4 cells a row, 3 rows and their titles
    assert plotting.plot_grid(imgs, ncols=4, cell_size=1.0).get_size_inches().tolist() == [4.0, 3.0]
    assert fig.axes[9].get_title() == "f9" and fig.axes[0].get_xticks().size == 0
    assert len(plotting.plot_grid(imgs[:3, ..., 0]).axes) == 3
    with pytest.raises(ValueError):
        plotting.plot_grid(imgs, titles=["a"])
    with pytest.raises(ValueError):
        plotting.plot_grid(imgs[0, ..., 0])
    labeled = plotting.plot_grid(imgs[:6], ncols=3, row_labels=["top", "bottom"])
    assert [ax.get_ylabel() for ax in labeled.axes] == ["top", "", "", "bottom", "", ""]
    with pytest.raises(ValueError, match="3 row labels for 2 rows"):
        plotting.plot_grid(imgs[:6], ncols=3, row_labels=["a", "b", "c"])


def test_saliency_figure(cnn, images):
    maps = sections_saliency.explanation_maps(cnn, images[:3], samples=2)
    predicted = analysis_gradients.predict_logits(cnn, images[:3]).argmax(axis=1)
    assert set(maps) == {"predicted", "probability", "saliency", "smoothgrad", "gradcam"}
    np.testing.assert_array_equal(maps["predicted"], predicted)
    assert np.all((maps["probability"] > 1 / 7) & (maps["probability"] <= 1))
    np.testing.assert_array_equal(maps["smoothgrad"],
                                  analysis_saliency.smoothgrad(cnn, images[:3], predicted, samples=2))
    fig = sections_saliency.saliency_figure(images[:3], maps, labels=[0, 3, 6], keep=0.25)
    assert isinstance(fig, Figure) and len(fig.axes) == 15
    labels = [fig.axes[3 * row].get_ylabel() for row in range(5)]
    assert labels == ["original", "saliency", "SmoothGrad", "Grad-CAM", "masked to\ntop 25% of\nblurred\nsaliency"]
    title = fig.axes[1].get_title()          # face 1, a column
    assert title.startswith("happy\n" + CLASS_NAMES[predicted[1]] + "\n(")
    # one key to the title lines, not "true"/"pred" in every column (they overlapped)
    assert [t.get_text() for t in fig.axes[0].texts] == ["true class\npredicted\n(probability)"]
    # the masked panel shows the face's 25% highest pixels of blurred saliency and nothing else
    blurred = gaussian_filter(np.asarray(maps["saliency"][1], np.float64), 2.0, mode="constant")
    kept = analysis_saliency.top_share_mask(blurred[None], 0.25)[0]
    np.testing.assert_array_equal(np.asarray(fig.axes[13].images[0].get_array()),
                                  np.where(kept, images[1, ..., 0], 0))
    assert not fig.axes[13].texts
    with pytest.raises(ValueError, match="one label per image"):
        sections_saliency.saliency_figure(images[:3], maps, labels=[0, 3])
    blank = sections_saliency.saliency_figure(images[:1], {k: v[:1] for k, v in maps.items()}
                                              | {"saliency": np.zeros((1, IMAGE_SIZE, IMAGE_SIZE))})
    assert blank.axes[4].texts[0].get_text() == "saliency\nis 0\neverywhere"
    keras.utils.set_random_seed(0)
    dnn_maps = sections_saliency.explanation_maps(build_dnn(hidden_units=[8]), images[:2], samples=2)
    assert "gradcam" not in dnn_maps
    dnn_fig = sections_saliency.saliency_figure(images[:2], dnn_maps)
    assert len(dnn_fig.axes) == 8  # no Grad-CAM row without conv layers; masked by saliency
    assert dnn_fig.axes[6].get_ylabel() == "masked to\ntop 25% of\nblurred\nsaliency"


# ----------------------------------------------------------------------------- notebook support


def test_seeded_subset():
    subset = data_sampling.seeded_subset(100, 10, seed=3)
    assert len(subset) == 10 and len(set(subset)) == 10 and subset.max() < 100
    assert np.all(np.diff(subset) > 0)
    np.testing.assert_array_equal(subset, data_sampling.seeded_subset(100, 10, seed=3))
    assert not np.array_equal(subset, data_sampling.seeded_subset(100, 10, seed=4))
    np.testing.assert_array_equal(data_sampling.seeded_subset(5, 10, seed=0), np.arange(5))  # all of n


def test_per_class_subset():
    labels = np.array([0] * 5 + [1] * 1 + [3] * 4 + [6] * 3)
    chosen, missing = data_sampling.per_class_subset(labels, 2, seed=0)
    assert [int((labels[chosen] == c).sum()) for c in range(7)] == [2, 1, 0, 2, 0, 0, 2]
    assert missing == [CLASS_NAMES[2], CLASS_NAMES[4], CLASS_NAMES[5]]
    assert labels[chosen].tolist() == sorted(labels[chosen].tolist())  # grouped in class order
    for c in (0, 3, 6):
        assert np.all(np.diff(chosen[labels[chosen] == c]) > 0)  # sorted within a class
    again, _ = data_sampling.per_class_subset(labels, 2, seed=0)
    np.testing.assert_array_equal(chosen, again)
    everything, none = data_sampling.per_class_subset(np.arange(7), 3, seed=1)
    assert everything.tolist() == list(range(7)) and none == []


def test_plural_and_fmt():


    assert words.plural(1, "step") == "1 step"
    assert words.plural(3, "step") == "3 steps"
    assert words.plural(1.0, "gray level") == "1 gray level"
    assert words.plural(2.5, "step") == "2.5 steps"
    assert words.plural(np.float64(0), "face") == "0 faces"
    assert words.fmt(3.14159) == "3.1" and words.fmt(0.5, ".2f") == "0.50"
    assert words.fmt(None) == "n/a" and words.fmt(None, ".2f", "-") == "-"


def test_explain_and_predicted_maps_match_the_single_methods(cnn, images):
    predicted, sal, cam, sg = analysis_saliency.explain(cnn, images, samples=2, seed=1)
    np.testing.assert_array_equal(predicted, analysis_gradients.predict_logits(cnn, images).argmax(axis=1))
    np.testing.assert_array_equal(sal, analysis_saliency.saliency_maps(cnn, images, predicted))
    np.testing.assert_array_equal(cam, analysis_saliency.grad_cam(cnn, images, predicted))
    np.testing.assert_array_equal(sg, analysis_saliency.smoothgrad(cnn, images, predicted, samples=2,
                                                          seed=1))
    batched = analysis_saliency.predicted_maps(cnn, images, batch=3, progress=False)  # batches of 3 and 1
    # other batch sizes may sum in another order: the top two logits are > 0.8 apart, so the
    # argmax holds, and each normalized map is within 1e-6 of a float64 evaluation (measured)
    np.testing.assert_array_equal(batched[0], predicted)
    np.testing.assert_allclose(batched[1], sal, atol=1e-5)
    np.testing.assert_allclose(batched[2], cam, atol=1e-5)
    assert list(batched.methods()) == ["saliency", "gradcam"]
    with pytest.raises(ValueError, match="no SmoothGrad"):
        batched.on_subset()


def test_predicted_maps_for_given_classes_with_a_smoothgrad_subset(cnn, images):
    classes = np.array([1, 2, 3, 4])
    maps = analysis_saliency.predicted_maps(cnn, images, batch=3, progress=False, classes=classes,
                                            smoothgrad_subset=[3, 0], samples=2, seed=1)
    np.testing.assert_array_equal(maps.predicted, classes)
    np.testing.assert_allclose(maps.saliency, analysis_saliency.saliency_maps(cnn, images, classes),
                               atol=1e-5)
    np.testing.assert_allclose(maps.smoothgrad, analysis_saliency.smoothgrad(
        cnn, images[[3, 0]], classes[[3, 0]], samples=2, seed=1), atol=1e-5)
    assert list(maps.methods()) == ["saliency", "smoothgrad", "gradcam"]
    assert maps.methods()["smoothgrad"].shape == (2, IMAGE_SIZE, IMAGE_SIZE)
    subset = maps.on_subset()
    np.testing.assert_array_equal(subset["gradcam"], maps.gradcam[[3, 0]])
    with pytest.raises(ValueError, match="smoothgrad_subset"):
        analysis_saliency.predicted_maps(cnn, images, progress=False, smoothgrad_subset=[4])


def test_randomized_copy_has_fresh_weights_and_the_same_settings():
    keras.utils.set_random_seed(0)
    model = build_cnn(filters=[2], dense_units=[4], normalization={"mean": 100.0, "std": 50.0},
                      augmentation={"crop": 44}, name="trained")
    bn = model.get_layer("block1_bn1")
    bn.moving_mean.assign(np.full(2, 5.0, np.float32))      # as training would leave it
    before = [np.array(w) for w in model.weights]
    copy = analysis_saliency.randomized_copy(model, seed=1)
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    assert [w.shape for w in copy.weights] == [w.shape for w in model.weights]
    kernel = "block1_conv1"
    assert not np.allclose(copy.get_layer(kernel).kernel, model.get_layer(kernel).kernel)
    np.testing.assert_array_equal(np.array(copy.get_layer("block1_bn1").moving_mean), 0.0)
    assert copy.get_layer("normalize").get_config()["mean"] == 100.0      # fixed settings stay
    for old, new in zip(before, model.weights):                           # the original is untouched
        np.testing.assert_array_equal(old, np.array(new))
    again = analysis_saliency.randomized_copy(model, seed=1)
    for a, b in zip(copy.weights, again.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    other = analysis_saliency.randomized_copy(model, seed=2)
    assert not np.allclose(other.get_layer(kernel).kernel, copy.get_layer(kernel).kernel)
    assert np.isfinite(analysis_gradients.predict_logits(copy, np.full((2, *SHAPE), 90.0))).all()


def test_lag1_autocorrelation():
    rng = np.random.default_rng(0)
    speckle = rng.normal(size=(20, IMAGE_SIZE, IMAGE_SIZE))
    assert abs(analysis_saliency.lag1_autocorrelation(speckle).mean()) < 0.02
    rows, cols = np.indices((IMAGE_SIZE, IMAGE_SIZE))
    assert analysis_saliency.lag1_autocorrelation((rows + cols)[None])[0] == pytest.approx(1.0)
    checker = ((rows + cols) % 2)[None]
    assert analysis_saliency.lag1_autocorrelation(checker)[0] == pytest.approx(-1.0)
    assert analysis_saliency.lag1_autocorrelation(np.ones((1, 8, 8)))[0] == 0.0
    from scipy import ndimage
    blurred = np.stack([ndimage.gaussian_filter(m, 2.0) for m in speckle[:3]])
    assert analysis_saliency.lag1_autocorrelation(blurred).min() > 0.8
    with pytest.raises(ValueError):
        analysis_saliency.lag1_autocorrelation(speckle[0])


def test_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 1, size=(3, 6, 6))
    np.testing.assert_allclose(analysis_saliency.rank_correlation(a, a ** 3), 1.0)   # monotone
    np.testing.assert_allclose(analysis_saliency.rank_correlation(a, 1 - a), -1.0)
    # pixels that neither map weighs are left out: agreement on the rest is all that counts
    x, y = np.zeros((1, 6, 6)), np.zeros((1, 6, 6))
    x[0, 0, :3], y[0, 0, :3] = [1, 2, 3], [3, 2, 1]
    assert analysis_saliency.rank_correlation(x, y)[0] == pytest.approx(-1.0)
    # ties share their mean rank: zeros where only the other map weighs a pixel
    y[0, 0, :3], y[0, 1, 0], x[0, 1, 0] = [1, 2, 3], 4, 0
    assert analysis_saliency.rank_correlation(x, y)[0] == pytest.approx(np.corrcoef(
        [2, 3, 4, 1], [1, 2, 3, 4])[0, 1])
    assert analysis_saliency.rank_correlation(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))[0] == 0.0
    with pytest.raises(ValueError):
        analysis_saliency.rank_correlation(a, a[:2])


def test_bootstrap_mean():
    d = analysis_saliency.bootstrap_mean([2.0, 2.0, np.nan, 2.0], seed=0)
    assert d == {"mean": 2.0, "low": 2.0, "high": 2.0, "n": 3}
    values = np.random.default_rng(1).normal(1.0, 1.0, 400)
    d = analysis_saliency.bootstrap_mean(values, seed=0)
    assert d["low"] < d["mean"] < d["high"] and d["mean"] == pytest.approx(values.mean())
    assert d["high"] - d["low"] == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.25)  # about +-2 SE
    assert analysis_saliency.bootstrap_mean(values, seed=0) == d                     # seeded
    with pytest.raises(ValueError):
        analysis_saliency.bootstrap_mean([np.nan])
    with pytest.raises(ValueError):
        analysis_saliency.bootstrap_mean(values, level=1.0)


def test_top_share():
    maps = np.zeros((3, 10, 10))
    maps[0, :2, :5] = np.arange(1, 11).reshape(2, 5)  # all mass in 10 of 100 pixels
    maps[1] = 1.0                          # uniform: the top 10% hold 10%
    maps[2, 0, 0], maps[2, 5, 5] = 3.0, 1.0
    np.testing.assert_allclose(analysis_saliency.top_share(maps), [1.0, 0.1, 1.0])
    assert analysis_saliency.top_share(maps[2:], fraction=0.01)[0] == pytest.approx(0.75)  # 3 of 4 units
    assert analysis_saliency.top_share(np.zeros((1, 4, 4)))[0] == 0.0
    ramp = np.arange(100, dtype=float).reshape(1, 10, 10)
    assert analysis_saliency.top_share(ramp, 0.2)[0] == pytest.approx(sum(range(80, 100)) / sum(range(100)))
    # an even map over a center crop holds 10% in its top 10% of the pixels it weighs, not more
    crop = np.zeros((1, 10, 10))
    crop[0, 1:9, 1:9] = 1.0
    seen = analysis_saliency.seen_pixels(crop)
    assert analysis_saliency.top_share(crop)[0] == pytest.approx(10 / 64)
    assert analysis_saliency.top_share(crop, seen=seen)[0] == pytest.approx(6 / 64)  # round(6.4) pixels


def test_map_correlation():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(3, 6, 6))
    np.testing.assert_allclose(analysis_saliency.map_correlation(a, a), 1.0)
    np.testing.assert_allclose(analysis_saliency.map_correlation(a, 2 * a + 5), 1.0)
    np.testing.assert_allclose(analysis_saliency.map_correlation(a, -a), -1.0)
    constant = np.ones_like(a)
    np.testing.assert_array_equal(analysis_saliency.map_correlation(a, constant), 0.0)
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    y = np.array([[[1.0, 3.0], [2.0, 4.0]]])
    assert analysis_saliency.map_correlation(x, y)[0] == pytest.approx(0.8)  # corrcoef(1234, 1324)


def test_region_area_and_boxes():
    area = analysis_saliency.region_area()
    assert area == pytest.approx({"eyes": 14 * 40 / PIXELS, "mouth": 14 * 24 / PIXELS,
                                  "rest": 1 - (14 * 40 + 14 * 24) / PIXELS})
    assert list(area) == ["eyes", "mouth", "rest"]
    assert analysis_saliency.region_boxes() == {"eyes": "rows 10-23, columns 4-43",
                                       "mouth": "rows 30-43, columns 12-35",
                                       "rest": "every other pixel"}


def test_region_share_by_class():
    maps = np.zeros((4, IMAGE_SIZE, IMAGE_SIZE))
    maps[0, 12, 20] = 1.0                       # class 3, all in the eyes
    maps[1, 35, 20] = 1.0                       # class 3, all in the mouth
    maps[2, 0, 0] = 2.0                         # class 0, all in the rest
    labels = np.array([3, 3, 0, 5])             # class 5's only map is empty: left out
    per_class = analysis_saliency.region_share_by_class(maps, labels)
    assert list(per_class) == [CLASS_NAMES[0], CLASS_NAMES[3]]
    assert per_class[CLASS_NAMES[3]] == pytest.approx({"faces": 2, "eyes": 0.5, "mouth": 0.5,
                                                       "rest": 0.0})
    assert per_class[CLASS_NAMES[0]] == pytest.approx({"faces": 1, "eyes": 0.0, "mouth": 0.0,
                                                       "rest": 1.0})


def test_saliency_figures_split_by_class(cnn, images):
    x = np.concatenate([images, images[:2]])
    labels = np.array([0, 0, 3, 3, 6, 6])
    maps = sections_saliency.explanation_maps(cnn, x, samples=1)
    figures = sections_saliency.saliency_figures(x, maps, labels, "Tiny", per_class=3)
    assert len(figures) == 2                                    # 7 // 3 = 2 classes per figure
    assert [len(f.axes) for f in figures] == [4 * 5, 2 * 5]     # 5 rows per face
    assert figures[0]._suptitle.get_text() == "Tiny: explanations of the predicted class (1/2)"
    assert figures[1].axes[0].get_title().startswith(CLASS_NAMES[6] + "\n")
    with pytest.raises(ValueError, match="saliency_per_class is 8: at most 7 faces fit across the page"):
        sections_saliency.saliency_figures(x, maps, labels, "Tiny", per_class=8)
    single = sections_saliency.saliency_figures(x, maps, labels, "Tiny", per_class=1)
    assert len(single) == 1
    assert single[0]._suptitle.get_text() == "Tiny: explanations of the predicted class"


def test_region_figure():
    area = analysis_saliency.region_area()
    face = np.random.default_rng(0).uniform(0, 255, (IMAGE_SIZE, IMAGE_SIZE))
    fig = sections_saliency.region_figure(face, face / 255, face / 255, 7, area)
    assert isinstance(fig, Figure) and len(fig.axes) == 5      # 3 panels and 2 color bars
    assert [ax.get_title() for ax in fig.axes[:3]] == [
        "mean validation face", "mean saliency,\n7 faces", "mean Grad-CAM,\n7 faces"]
    assert all(len(ax.patches) == 2 for ax in fig.axes[:3])     # the eyes and the mouth boxes
    assert fig.axes[0].texts[0].get_text() == f"eyes ({100 * area['eyes']:.0f}%)"  # share of the area
    assert not fig.axes[1].texts                                # labeled once, on the face


def attack(steps=3, flipped=True, original=3, new=5, change=3.0):
    image = np.full((IMAGE_SIZE, IMAGE_SIZE), 100.0)
    return analysis_adversarial.AdversarialResult(image + change, np.full_like(image, change), steps, original,
                                      new, 0.9, 0.6, change, change / 2, flipped)


def test_pick_correct():
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    predicted = np.array([0, 0, 1, 0, 5, 2, 3])   # rows 3 and 4 are wrong
    picked = data_sampling.pick_correct(predicted, labels, 4, seed=0)
    assert len(picked) == 4 and len(set(picked)) == 4
    assert all(predicted[i] == labels[i] for i in picked)
    assert sorted(labels[picked]) == [0, 1, 2, 3]            # one per class before any repeat
    assert picked == data_sampling.pick_correct(predicted, labels, 4, seed=0)
    everything = data_sampling.pick_correct(predicted, labels, 10, seed=1)
    assert sorted(everything) == [0, 1, 2, 5, 6]             # only 5 correct faces exist
    assert sorted(labels[everything[:4]]) == [0, 1, 2, 3]
    assert data_sampling.pick_correct(predicted, labels, 0, seed=0) == []


def test_mean_pair_difference():
    images = np.stack([np.zeros((4, 4)), np.full((4, 4), 10.0)])
    # every pair of two different images differs by 10 everywhere
    assert analysis_adversarial.mean_pair_difference(images, pairs=50, seed=0) == 10.0
    ramp = np.arange(5, dtype=float)[:, None, None] * np.ones((5, 2, 2))
    value = analysis_adversarial.mean_pair_difference(ramp, pairs=2000, seed=1)
    assert value == pytest.approx(2.0, abs=0.1)  # E|i - j| over distinct i, j in 0..4 is 2


def test_attack_record():
    a = attack()
    record = sections_adversarial.attack_record(7, np.int64(3), a)
    assert record == {"index": 7, "true": 3, "original_class": 3, "original_probability": 0.9,
                      "new_class": 5, "new_probability": 0.6, "steps": 3, "flipped": True,
                      "max_abs_change": 3.0, "mean_abs_change": 1.5}
    assert type(record["true"]) is int


def test_adversarial_figure():
    originals = np.full((2, IMAGE_SIZE, IMAGE_SIZE, 1), 100.0)
    fig = sections_adversarial.adversarial_figure(originals, [3, 0], [attack(), attack(steps=1, change=1.0)],
                                      1.0)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3 + 2  # 3 panels an attack, 1 color bar
    # the change's color range is stated in gray levels, and the color bar shows the same range
    assert fig.axes[1].get_title() == "3 steps\n\u00b13 gray levels"
    assert fig.axes[1].images[0].get_clim() == (-3.0, 3.0)
    assert fig.axes[6].get_ylim() == (-3.0, 3.0)
    assert [t.get_text() for t in fig.axes[6].get_yticklabels()] == ["-3", "0", "3"]
    assert fig.axes[4].get_title() == "1 step\n\u00b11 gray level"
    assert fig.axes[0].get_title() == f"true {CLASS_NAMES[3]}\n{CLASS_NAMES[3]} 90%"
    assert fig.axes[2].get_title() == f"adversarial\n{CLASS_NAMES[5]} 60%"
    kept = sections_adversarial.adversarial_figure(originals[:1], [3], [attack(flipped=False, new=3)], 1.0)
    assert kept.axes[2].get_title().startswith("not flipped\n")          # ran out of steps
    assert "steps of 1 gray level)" in fig._suptitle.get_text()
    assert "amplified" not in fig._suptitle.get_text()


def test_class_maximization_figure_and_summary():
    result = analysis_ascent.ClassMaximization(
        images=np.random.default_rng(0).uniform(0, 255, (2, IMAGE_SIZE, IMAGE_SIZE)),
        classes=np.array([0, 3]), start_logits=np.array([0.1, -1.0]), logits=np.array([2.0, 3.5]),
        probabilities=np.array([0.4, 0.95]), predicted=np.array([6, 3]))
    fig = sections_class_maximization.class_maximization_figure(result, 20)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title() == f"{CLASS_NAMES[0]}\np = 40.0%\n\u2192 {CLASS_NAMES[6]}"  # predicted
    assert fig.axes[1].get_title() == f"{CLASS_NAMES[3]}\np = 95.0%"
    s = sections_class_maximization.class_maximization_summary(result, 20)
    assert (s["hits"], s["not_risen"], s["logit_rise_range"]) == (1, 0, pytest.approx([1.9, 4.5]))
    assert s["lowest"] == {"class": CLASS_NAMES[0], "probability": 0.4}
    assert sections_class_maximization.class_maximization_sentences(s) == (
        "After 20 steps, 1 of 2 images are classified as the class they were optimized for; the "
        f"class probability reached goes from 40.0% ({CLASS_NAMES[0]}) to 95.0% ({CLASS_NAMES[3]}), "
        "and every logit rose from the starting noise by 1.9 to 4.5.")
    # classes that print the same top probability are counted, not one named at random
    s["probabilities"], s["highest"]["probability"] = [0.4, 0.9999], 0.9999
    s["classes"].append(CLASS_NAMES[5]); s["probabilities"].append(0.99996)
    assert "to 100.0% (2 classes)," in sections_class_maximization.class_maximization_sentences(s)
    result.logits[0] = 0.0
    assert sections_class_maximization.class_maximization_sentences(sections_class_maximization.class_maximization_summary(result, 20)).endswith(
        "optimized for; 1 logit(s) did not rise.")
    assert ("**Settings**: 7 ascent steps from mid-gray plus Gaussian noise (standard deviation 20 gray"
            in sections_filters.settings_sentence(analysis_ascent.AscentSettings(steps=7)))


# Notebook 05's summaries and sentences, on maps whose regions are set by hand.

def region_maps(eyes, mouth, rest, n=4):
    """n maps with mass `eyes`, `mouth` and `rest` spread evenly over each region's pixels (so
    that every pixel of a region with mass is one the method weighs)."""
    maps = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE))
    masks = analysis_saliency.region_masks((IMAGE_SIZE, IMAGE_SIZE))
    for name, mass in (("eyes", eyes), ("mouth", mouth), ("rest", rest)):
        mass = np.broadcast_to(np.asarray(mass, float), (n,))
        maps[:, masks[name]] = (mass / masks[name].sum())[:, None]
    return maps


def shown_maps(n=3, gradcam=True):
    """explanation_maps-like maps whose Grad-CAM has a 40-pixel blob in the eyes box and a
    40-pixel blob in the mouth box, and whose saliency has the same two blobs at equal height
    (so that blurred, each keeps the same share)."""
    cam = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE))
    cam[:, 12:16, 10:20], cam[:, 33:37, 20:30] = 1.0, 0.5
    crop = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    crop[2:46, 2:46] = 1e-3                      # a 44x44 center crop: no gradient on the border
    maps = {"predicted": np.array([0, 3, 1])[:n], "probability": np.full(n, 0.5),
            "saliency": (cam > 0).astype(float) + crop,
            "smoothgrad": np.ones((n, IMAGE_SIZE, IMAGE_SIZE))}
    return maps | {"gradcam": cam} if gradcam else maps


def test_shown_summary_and_sentences():
    s = sections_saliency.shown_summary([4, 8, 9], np.array([0, 3, 3]), shown_maps(), per_class=1,
                                        seed=7, missing=["disgust"], keep=80 / PIXELS,
                                        smoothgrad_samples=50, smoothgrad_noise=0.15,
                                        gradcam_layer="block3_conv2")
    assert s["correct"] == 2 and s["faces"] == 3 and s["mask_method"] == "saliency"
    assert s["mask_smoothing"] == 2.0
    assert s["kept_fraction_mean"] == pytest.approx(80 / PIXELS)
    assert s["mask_regions_mean"] == 2.0 and s["mask_regions_range"] == [2, 2]
    assert s["mask_region_share"] == pytest.approx({"eyes": 0.5, "mouth": 0.5, "rest": 0.0})
    text = sections_saliency.shown_sentences(s)
    assert text.startswith("**Faces**: 3 validation faces, 1 per true class (drawn at random with "
                           "seed 7); the validation split has no disgust face; the CNN predicts 2 "
                           "of them correctly")
    assert ("magnitude averaged over 50 copies with Gaussian noise of standard deviation 0.15 x 255 "
            "(38 gray levels). **Grad-CAM** layer: the last convolution layer (block 3, "
            "convolution 2).") in text
    covered = sections_saliency.shown_sentences({**s, "gradcam_cover": {"cells": 5, "stride": 8.0,
                                                                        "first": 2, "last": 41}})
    assert ("(block 3, convolution 2), whose 5 x 5 cells, 8 pixels apart, cover rows and columns 2 "
            "to 41 of the 48 x 48 face (counted from 0)") in covered
    assert ("each face keeps the 3% of its pixels where saliency (blurred by a Gaussian of 2 "
            "pixels) is highest, 2 connected regions "
            "on every face, with 50.0% in the eyes box (1.7x its share of the pixels the map weighs) "
            "and 50.0% in the mouth box (2.9x its share of the pixels the map weighs).") in text
    # against the 44x44 pixels saliency weighs: the eyes box holds 14 x 40 of its 1,936 pixels
    assert s["mask_region_density"]["eyes"] == pytest.approx(0.5 / (14 * 40 / 44 ** 2))
    assert "(column titles: true class, then predicted class and its probability)" in text
    varied = sections_saliency.shown_sentences({**s, "mask_regions_mean": 1.5, "mask_regions_range": [1, 3]})
    assert "1.5 connected regions per face on average (from 1 to 3)" in varied
    assert "has no" not in sections_saliency.shown_sentences({**s, "missing": []})
    dnn = sections_saliency.shown_summary([4, 8, 9], np.array([0, 3, 3]), shown_maps(gradcam=False),
                                          per_class=1, seed=7, missing=[], keep=0.5,
                                          smoothgrad_samples=50, smoothgrad_noise=0.15,
                                          gradcam_layer="-")
    assert dnn["mask_method"] == "saliency" and 0.4 < dnn["kept_fraction_mean"] <= 0.5  # not the 0s
    no_saliency = {k: v for k, v in shown_maps(gradcam=False).items() if k != "saliency"}
    assert sections_saliency.mask_source(no_saliency) == "smoothgrad"
    assert sections_saliency.mask_smoothing("smoothgrad") == 0.0


def density_maps(eyes, mouth):
    """Maps with mass in one pixel of each region such that the eyes and the mouth get these
    densities (per-face arrays or numbers; mass per pixel against an even map)."""
    area = analysis_saliency.region_area()
    eyes, mouth = np.broadcast_arrays(np.asarray(eyes, float), np.asarray(mouth, float))
    return region_maps(eyes * area["eyes"], mouth * area["mouth"],
                       1 - eyes * area["eyes"] - mouth * area["mouth"], n=len(eyes))


def test_region_summary_answers_first_and_calls_ties():
    n = 20
    labels = np.array([0] * 10 + [3] * 10)
    lead = density_maps(np.full(n, 1.8), np.full(n, 1.2))                    # the eyes lead
    tie = density_maps(np.tile([1.6, 1.3], n // 2), np.tile([1.3, 1.6], n // 2))
    random = density_maps(np.full(n, 1.5), np.full(n, 0.999))  # the mouth just below an even map
    trained = {"saliency": lead, "gradcam": tie}
    randomized = {"saliency": random, "gradcam": np.zeros_like(random)}     # all-zero maps
    s = sections_saliency.region_summary(trained, randomized, labels, ["saliency", "gradcam"], seed=0,
                                         min_class_faces=5)
    sal, cam = s["methods"]["saliency"], s["methods"]["gradcam"]
    assert sal["order"] == ["eyes", "mouth", "rest"] and not sal["lead"]["tie"]
    assert sal["density"]["eyes"]["mean"] == pytest.approx(1.8)
    assert sal["learned"]["mouth"]["mean"] == pytest.approx(0.201)
    assert cam["lead"]["tie"] and cam["random_density"]["eyes"] is None and cam["learned"]["eyes"] is None
    assert s["focus_regions"] == ["eyes", "mouth"] and s["answer_trusted"]

    text = sections_saliency.focus_sentences(s)
    lines = text.split("\n")
    assert lines[0].startswith("**Answer: the eyes and the mouth; both raised by training.** Each gets more of the map's "
                               "mass per pixel than a map spread evenly over the pixels the model sees would "
                               "(interval above 1x), by saliency and Grad-CAM, the methods that "
                               "pass the model-randomization test below; the rest of the image "
                               "(61.1% of the pixels the model sees) gets less than its share (0.63x by saliency).")
    # random weights already put the eyes above an even spread: the answer says so
    assert lines[0].endswith("The same network with random weights already gives the eyes 1.50x by "
                             "saliency: part of this focus comes from the architecture and the faces' "
                             "layout, not from training. What training itself did, against those "
                             "random weights (a change whose 95% interval holds 0 counts as none): by "
                             "saliency, it raised the eyes (+0.30x, 95% CI +0.30 to +0.30) and the mouth "
                             "(+0.20x, 95% CI +0.20 to +0.20).")
    # Grad-CAM left out (its grid): the answer rests on saliency alone, and says why
    without = sections_saliency.region_summary(trained, randomized, labels, ["saliency", "gradcam"], seed=0,
                                               min_class_faces=5, excluded={"gradcam": "grid"})
    assert without["answer_methods"] == ["saliency"] and without["excluded"] == {"gradcam": "grid"}
    said = sections_saliency.focus_sentences(without)
    assert "by saliency, which passes the model-randomization test below;" in said
    assert ("\n- **Left out: Grad-CAM.** It passes the test too, but its grid's edge cells are weak whatever "
            "the face (a weak column stays weak on the mirrored faces), which shifts its region shares "
            "(see below); it gives the eyes ") in said
    only_eyes = sections_saliency.region_summary({"saliency": density_maps(np.full(n, 1.8), np.full(n, 0.999))},
                                                 {}, labels, ["saliency"], seed=0)
    assert sections_saliency.focus_sentences(only_eyes).startswith("**Answer: the eyes.** They get more")
    assert "random weights" not in sections_saliency.focus_sentences(only_eyes).split("\n")[0]
    assert lines[1] == ("- **Saliency** (20 faces): the eyes lead the mouth by 0.60x (95% CI 0.60 "
                        "to 0.60).")  # the densities themselves: region_table
    assert " do not clearly differ (difference 0.00x, 95% CI -0.15 to 0.15)." in lines[2]
    assert len(lines) == 3 and "by Grad-CAM, it" not in lines[0]          # no random reference

    # both methods tie: said in the answer; no method passes the test: said too
    both = sections_saliency.region_summary({"saliency": tie}, {"saliency": random}, labels, [], seed=0)
    text = sections_saliency.focus_sentences(both)
    assert text.startswith("**Answer: the eyes and the mouth, about equally; the eyes mostly by the "
                           "architecture, the mouth raised by training.**")
    assert "by saliency (no method passes the model-randomization test below: read with care)" in text
    # a change whose interval holds 0 is no clear change
    assert "it left the eyes and the mouth unchanged." in sections_saliency.focus_sentences(
        sections_saliency.region_summary({"saliency": tie}, {"saliency": tie}, labels, ["saliency"], seed=0))
    flat = sections_saliency.region_summary({"saliency": np.ones((n, IMAGE_SIZE, IMAGE_SIZE))},  # an even map
                                            {}, labels, ["saliency"], seed=0)
    assert sections_saliency.focus_sentences(flat).startswith("**Answer: no region stands out** by saliency")
    assert "none gets more than an even spread would give." in sections_saliency.focus_sentences(flat)
    # two methods that disagree: said so, with what each puts above an even spread (the answer
    # once claimed "no region's interval lies above 1x" beside a table of intervals above 1x)
    eyes = density_maps(np.full(n, 3.0), np.full(n, 0.999))
    mouth = density_maps(np.full(n, 0.999), np.full(n, 3.0))
    split = sections_saliency.region_summary({"saliency": eyes, "gradcam": mouth}, {}, labels,
                                             ["saliency", "gradcam"], seed=0)
    text = sections_saliency.focus_sentences(split)
    assert text.startswith("**Answer: no region stands out by every method**")
    assert "saliency puts the eyes above it" in text and "Grad-CAM puts the mouth above it" in text

    table = sections_saliency.region_table(s)
    assert table["measure"].tolist() == ["box", "share of the image", "saliency, trained (20 faces)",
                                         "saliency, random weights", "Grad-CAM, trained (20 faces)",
                                         "Grad-CAM, random weights"]
    assert table.iloc[2].tolist()[1:] == ["1.80x (1.80 to 1.80)", "1.20x (1.20 to 1.20)",
                                          "0.63x (0.63 to 0.63)"]
    assert table.iloc[5].tolist()[1:] == ["n/a", "n/a", "n/a"]



def test_class_sentences_say_whether_classes_differ():
    labels = np.array([0] * 10 + [3] * 10)
    jitter = np.random.default_rng(0).uniform(-0.05, 0.05, 20)
    # class 0: eyes 1.8x, mouth 1.2x; class 3 the other way round (the eyes apart, with jitter)
    maps = density_maps(np.r_[np.full(10, 1.8), np.full(10, 1.2)] + jitter,
                        np.r_[np.full(10, 1.2), np.full(10, 1.8)])
    s = sections_saliency.region_summary({"saliency": maps}, {}, labels, ["saliency"], seed=0,
                                         min_class_faces=5)
    assert s["compared_classes"] == [CLASS_NAMES[0], CLASS_NAMES[3]]
    assert (s["eyes_top"], s["mouth_top"]) == (CLASS_NAMES[0], CLASS_NAMES[3])
    assert s["class_spread"]["eyes"]["separated"]
    text = sections_saliency.class_region_sentences(s)
    assert text.startswith(f"By saliency, among the 2 classes with at least 5 faces in the sample, the eyes' share "
                           f"is highest for **{CLASS_NAMES[0]}** faces (")
    assert "the mouth's share is highest for" in text and "a clear difference (the intervals are apart)" in text
    every = sections_saliency.class_region_sentences({**s, "compared_classes": list(CLASS_NAMES)})
    assert every.startswith(f"By saliency, across all {len(CLASS_NAMES)} classes, the eyes' share")
    same = sections_saliency.region_summary({"saliency": density_maps(1.5 + jitter, 1.5 - jitter)}, {},
                                            labels, ["saliency"], seed=0, min_class_faces=5)
    assert "the intervals overlap: no class clearly differs" in sections_saliency.class_region_sentences(same)
    few = sections_saliency.region_summary({"saliency": maps}, {}, labels, ["saliency"], seed=0,
                                           min_class_faces=11)
    assert few["mouth_top"] is None and few["class_spread"] is None
    assert sections_saliency.class_region_sentences(few).startswith("Too few classes have 11 or more faces")


def test_sanity_summary_sentences_table_and_figure():
    """Speckle that a random network's speckle does not match passes; a smooth blob shared by
    every face and by random weights fails."""
    rng = np.random.default_rng(0)
    n = 12
    rows, cols = np.indices((IMAGE_SIZE, IMAGE_SIZE))
    blob = np.exp(-((rows - 24) ** 2 + (cols - 24) ** 2) / 200.0)
    wobble = lambda: blob[None] * rng.uniform(0.9, 1.0, (n, IMAGE_SIZE, IMAGE_SIZE)) ** 0.1
    trained = {"saliency": rng.uniform(size=(n, IMAGE_SIZE, IMAGE_SIZE)), "smoothgrad": wobble()}
    randomized = {"saliency": rng.uniform(size=(n, IMAGE_SIZE, IMAGE_SIZE)), "smoothgrad": wobble()}
    s = sections_saliency.sanity_summary(trained, randomized, seed=0)
    sal, sg = s["methods"]["saliency"], s["methods"]["smoothgrad"]
    assert sal["passes"] and not sg["passes"] and s["passed"] == ["saliency"]
    assert abs(sal["rank_correlation"]["mean"]) < 0.05 and sg["rank_correlation"]["mean"] > 0.9
    assert abs(sal["smoothness"]["mean"]) < 0.05 and sg["smoothness"]["mean"] > 0.9
    assert sg["different_faces"] > 0.9 and s["smoothest"] == "smoothgrad"
    text = sections_saliency.sanity_sentences(s).split("\n")
    assert text[0].startswith("- **Smoothness** (lag-1 autocorrelation")
    assert text[0].endswith("SmoothGrad is smoother than plain saliency.")
    assert text[1].startswith("- **Model randomization** (Adebayo et al. 2018; 12 faces): the rank "
                              "correlation between the trained CNN's map of a face and the map of "
                              "the same network with random weights, for the same class, is saliency ")
    assert text[2] == ("- Saliency changes with the weights (mean below 0.5) and passes; "
                       "SmoothGrad barely changes and fails: what it shows is set by the architecture "
                       "rather than learned.")
    assert text[3] == ("- The masked faces keep the top of saliency (blurred by a Gaussian of 2 "
                       "pixels), which passes the model-randomization test.")
    with_cam = sections_saliency.sanity_summary(trained | {"gradcam": trained["smoothgrad"]},
                                                randomized | {"gradcam": randomized["saliency"]}, seed=0)
    swapped = sections_saliency.sanity_summary({"saliency": trained["smoothgrad"]},
                                               {"saliency": randomized["smoothgrad"]}, seed=0)
    assert sections_saliency.sanity_sentences(swapped).endswith(
        "- The masked faces keep the top of saliency (blurred by a Gaussian of 2 pixels), which fails "
        "the model-randomization test and is the smoothest map.")
    # a method that passes but whose maps of different faces are alike: what it learned is common
    assert ("Grad-CAM's maps of two different faces correlate 1.00 too: what training put there is "
            "much the same for every face.") in sections_saliency.sanity_sentences(with_cam)
    images = rng.uniform(0, 255, (n, IMAGE_SIZE, IMAGE_SIZE))
    fig = sections_saliency.sanity_figure(images, trained, randomized, rows=2)
    assert len(fig.axes) == 2 * 5
    assert [ax.get_title() for ax in fig.axes[:5]] == [
        "face", "saliency\ntrained", "saliency\nrandom", "SmoothGrad\ntrained",
        "SmoothGrad\nrandom"]
    assert "random weights" in fig._suptitle.get_text()


def test_model_comparison_and_sentences():
    """The weak model's saliency is the main CNN's, face by face: more alike than two different
    faces; its Grad-CAM is unrelated: a tie with the different-faces baseline."""
    rng = np.random.default_rng(0)
    n = 10
    sal = rng.uniform(size=(n, IMAGE_SIZE, IMAGE_SIZE))
    main = analysis_saliency.Maps(np.arange(n) % 7, sal, rng.uniform(size=sal.shape),
                                  sal[:4] ** 2, np.arange(4))
    weak = analysis_saliency.Maps(np.r_[np.arange(5), np.full(5, 6)], sal ** 2,
                                  rng.uniform(size=sal.shape), sal[:4], np.arange(4))
    main_metrics = {"val_accuracy": 0.66, "epochs_run": 50}
    weak_metrics = {"val_accuracy": 0.5, "epochs_run": 1}
    s = sections_weak_model.model_comparison(main, weak, main_metrics, weak_metrics,
                                             shown_true=[1, 2, 3], weak_shown_predicted=[1, 2, 0], seed=0)
    assert s["prediction_agreement"] == 0.6 and s["shown_correct"] == 2
    agree = s["agreement"]
    assert list(agree) == ["saliency", "smoothgrad", "gradcam"]
    assert agree["saliency"]["same_face"]["mean"] == pytest.approx(1.0)    # a monotone transform
    assert agree["saliency"]["excess"]["low"] > 0.9 and agree["smoothgrad"]["faces"] == 4
    assert agree["gradcam"]["excess"]["low"] < 0 < agree["gradcam"]["excess"]["high"]
    assert set(s["top10_mass"]) == {"saliency", "smoothgrad", "gradcam"} and s["left_out"] == {}

    assert sections_weak_model.weak_model_sentence(s) == (
        "Validation accuracy: weak model **50.0%** (1 epoch) against **66.0%** for the main CNN "
        "(50 epochs), 16.0 points lower. The weak model predicts 2 of the 3 faces below correctly.")
    assert "the same." in sections_weak_model.weak_model_sentence({**s, "val_accuracy": 0.66})
    # The figure shows the first SIDE_BY_SIDE_FACES faces: the sentence counts those (it said
    # "of the 7 faces" beside a figure of 5 faces).
    seven = sections_weak_model.model_comparison(main, weak, main_metrics, weak_metrics,
                                                 shown_true=list(range(7)),
                                                 weak_shown_predicted=[0, 1, 0, 0, 0, 5, 6], seed=0)
    assert sections_weak_model.SIDE_BY_SIDE_FACES == 3
    assert sections_weak_model.weak_model_sentence(seven).endswith("The weak model predicts 2 of the 3 faces below correctly.")
    table = sections_weak_model.comparison_table(s).set_index("method")
    assert table.index.tolist() == ["saliency", "SmoothGrad", "Grad-CAM"]
    assert table.columns.tolist() == ["main: eyes / mouth / rest", "weak: eyes / mouth / rest",
                                      "top 10% mass, main / weak", "same minus different faces"]
    assert table.loc["saliency", "same minus different faces"].startswith("+")
    text = sections_weak_model.comparison_sentences(s)
    assert text.split("\n")[1].startswith("- **Same face, two models** (the table's last column: the rank correlation "
                           "of the two models' maps of the same face minus that of two different faces' "
                           "maps, with its 95% interval): the maps of a face are more alike than two "
                           "different faces' maps by saliency")
    assert "no more alike than two different faces' maps by Grad-CAM" in text
    assert "They" not in text and "the two models predict the same class for 60.0% of the faces." in text
    assert text.startswith("- **Regions** (saliency, on the 2,304 pixels both models see; mass per pixel "
                           "against an even map over those pixels)")
    assert "Left out" not in text


def test_weak_model_regions_are_measured_on_the_pixels_both_models_see():
    """The main CNN sees a 44x44 center crop (its maps are 0 on the border), the weak model the
    whole face: both are measured on the crop, the weak model's border mass set apart, so that
    more per pixel is also more of the mass. A map even over the crop is 1x everywhere for both
    and holds 10% in its top 10%; the weak model's border mass is its share outside."""
    n, border = 8, (IMAGE_SIZE - 44) // 2
    rng = np.random.default_rng(1)
    crop = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE))
    crop[:, border:-border, border:-border] = 1.0
    even = np.ones((n, IMAGE_SIZE, IMAGE_SIZE))
    main = analysis_saliency.Maps(np.zeros(n, int), crop, crop, crop[:4], np.arange(4))
    weak = analysis_saliency.Maps(np.zeros(n, int), even, even, even[:4], np.arange(4))
    s = sections_weak_model.model_comparison(
        main, weak, {"val_accuracy": 0.7, "epochs_run": 2}, {"val_accuracy": 0.6, "epochs_run": 1},
        shown_true=[0], weak_shown_predicted=[0], seed=0, methods=["saliency"],
        left_out={"smoothgrad": "it fails the model-randomization test"})
    assert s["methods"] == ["saliency"] and set(s["top10_mass"]) == {"saliency"}
    assert s["common_pixels"] == {"saliency": 44 * 44}
    assert s["outside_share"]["saliency"] == pytest.approx({"main": 0.0, "weak": 1 - 44 ** 2 / IMAGE_SIZE ** 2})
    density = s["region_density"]["saliency"]
    for who in ("main", "weak"):
        assert all(d["mean"] == pytest.approx(1.0) for d in density[who].values())
        assert s["top10_mass"]["saliency"][who] == pytest.approx(0.1, abs=0.001)
    assert all(d["mean"] == pytest.approx(0.0, abs=1e-12) for d in density["change"].values())
    table = sections_weak_model.comparison_table(s)
    assert table["method"].tolist() == ["saliency"]
    assert table.iloc[0]["main: eyes / mouth / rest"] == "1.00x / 1.00x / 1.00x"
    text = sections_weak_model.comparison_sentences(s)
    assert text.startswith("- **Regions** (saliency, on the 1,936 pixels both models see; the 16.0% of the "
                           "weak model's mass outside them, on the border only it sees, left out; mass per "
                           "pixel against an even map over those pixels): the weak model gives the eyes 1.00x "
                           "against 1.00x (difference +0.00x, 95% CI +0.00 to +0.00) and the mouth 1.00x "
                           "against 1.00x")
    assert ": about as much on the eyes and about as much on the mouth." in text
    assert text.endswith("- **Left out**, as in section 6: SmoothGrad (it fails the model-randomization test).")
    # a weak model that puts its extra mass on the border: the same densities on the crop
    heavy = even.copy()
    heavy[:, :border] = 5.0
    s2 = sections_weak_model.model_comparison(
        main, analysis_saliency.Maps(np.zeros(n, int), heavy, heavy, heavy[:4], np.arange(4)),
        {"val_accuracy": 0.7, "epochs_run": 2}, {"val_accuracy": 0.6, "epochs_run": 1},
        shown_true=[0], weak_shown_predicted=[0], seed=0, methods=["saliency"])
    assert s2["region_density"]["saliency"]["weak"]["eyes"]["mean"] == pytest.approx(1.0)
    assert s2["outside_share"]["saliency"]["weak"] > s["outside_share"]["saliency"]["weak"]
    fig = sections_weak_model.side_by_side_figure(
        rng.integers(0, 255, (1, IMAGE_SIZE, IMAGE_SIZE, 1)),
        {"saliency": crop[:1], "gradcam": crop[:1], "predicted": [0], "probability": [0.9]},
        {"saliency": even[:1], "gradcam": even[:1], "predicted": [0], "probability": [0.8]},
        [0], faces=1, methods=s["methods"])
    assert [ax.get_title() for ax in fig.axes] == ["face", "main\nsaliency", "weak\nsaliency"]


def test_adversarial_summary_and_sentences():
    attacks = [attack(steps=3, change=3.0), attack(steps=9, new=0, change=9.0),
               attack(flipped=False, new=3)]
    s = sections_adversarial.adversarial_summary([7, 9, 11], [3, 3, 3], attacks, requested=3, step_size=1.0,
                                        max_steps=10, between_faces=40.0)
    assert (s["attempted"], s["flipped"], s["median_steps_flipped"]) == (3, 2, 6.0)
    assert s["steps_range_flipped"] == [3, 9] and s["largest_max_abs_change"] == 9.0
    assert s["new_classes"] == sorted([CLASS_NAMES[0], CLASS_NAMES[5]])
    assert [e["index"] for e in s["examples"]] == [7, 9, 11]
    text = sections_adversarial.adversarial_sentences(s)
    assert text.startswith("2 of 3 attacks change the CNN's prediction within 10 steps of 1 gray "
                           "level (median 6 steps, from 3 to 9).")
    assert "is 9 gray levels (3.5% of the pixel range)" in text and "at most 4.5, against" in text
    # each new class with how many faces went to it (most first)
    assert text.endswith(f"classified as {CLASS_NAMES[0]} (1), {CLASS_NAMES[5]} (1).")
    three = sections_adversarial.adversarial_summary([1, 2, 3], [3] * 3, [attack(new=0), attack(new=0), attack(new=5)],
                                                     requested=3, step_size=1.0, max_steps=10, between_faces=40.0)
    assert sections_adversarial.adversarial_sentences(three).endswith(
        f"classified as {CLASS_NAMES[0]} (2), {CLASS_NAMES[5]} (1).")

    def sentences(attacks, requested):
        return sections_adversarial.adversarial_sentences(sections_adversarial.adversarial_summary(
            list(range(len(attacks))), [3] * len(attacks), attacks, requested=requested,
            step_size=2.0, max_steps=5, between_faces=40.0))

    assert sentences([attack(flipped=False)], 1) == (
        "No attack changes the prediction within 5 steps of 2 gray levels.")
    assert "was requested" in sentences([], 0)
    assert "classifies no validation face correctly" in sentences([], 4)


def test_plot_grid_keeps_the_row_label_of_an_empty_first_cell():
    imgs = [None, np.zeros((4, 4)), np.ones((4, 4)), None]
    fig = plotting.plot_grid(imgs, ncols=2, row_labels=["a", "b"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["a", "", "b", ""]
    assert not fig.axes[0].images and not fig.axes[0].get_frame_on()


def test_comparison_says_equally_concentrated():
    assert sections_weak_model.more_less(0.2, 0.2) == "as" and sections_weak_model.more_less(0.3, 0.2) == "more"


def test_trained_words_say_what_training_moved():
    """The change is read off the printed densities (1.16x -> 1.41x is +0.25x, not the
    unrounded +0.24x), and its direction from the interval."""
    f = {"density": {"eyes": {"mean": 1.449}, "mouth": {"mean": 1.4149}, "rest": {"mean": 0.7}},
         "random_density": {"eyes": {"mean": 1.561}, "mouth": {"mean": 1.1649}, "rest": {"mean": 0.8}},
         "learned": {"eyes": {"mean": -0.112, "low": -0.15, "high": -0.07},
                     "mouth": {"mean": 0.24, "low": 0.2, "high": 0.3},
                     "rest": {"mean": -0.1, "low": -0.3, "high": 0.1}}}
    assert (sections_saliency.trained_words(f, ["eyes", "mouth"])
            == "raised the mouth (+0.25x, 95% CI +0.20 to +0.30) and lowered the eyes (-0.11x, 95% CI "
               "-0.15 to -0.07)")
    assert sections_saliency.trained_words(f, ["rest"]) == "left the rest of the image unchanged"
    assert sections_saliency.trained_words({"density": {}}, ["eyes"]) is None


def test_grid_edges_and_their_sentence():
    """A grid whose right column of cells is cold on every face, mirrored or not: the cold
    column is the grid's, not the faces'."""
    cover = {"cells": 5, "stride": 8.0, "first": 2, "last": 41}
    cams = np.zeros((2, 48, 48))
    cams[:, 2:42, 2:42] = 0.6
    cams[:, 2:42, 34:42] = 0.1
    edges = analysis_saliency.grid_edges(cams, cover)
    assert edges["last_column"] == pytest.approx(0.1) and edges["inner"] == pytest.approx(0.6)
    assert edges["first_column"] == pytest.approx(0.6)
    assert edges["last_row"] == pytest.approx((0.6 * 32 + 0.1 * 8) / 40)
    text = sections_saliency.grid_sentence(edges, edges, cover)
    assert text.startswith("The mean Grad-CAM map is weak on the right column of its 5 x 5 grid of cells "
                           "(0.10 on average, against 0.60 for the inner cells).")
    assert text.endswith("On the mirrored faces the same right column stays weak (0.10; the left column "
                         "0.60): it belongs to the network's grid, not to the faces, and shifts "
                         "Grad-CAM's region shares, so the answer above leaves them out.")
    assert sections_saliency.grid_excluded(edges, edges) == {"gradcam": "grid"}
    faces = cams.copy()
    faces[:, 2:42, 34:42], faces[:, 2:42, 2:10] = 0.6, 0.1      # the cold side moved with the face
    moved = sections_saliency.grid_sentence(edges, analysis_saliency.grid_edges(faces, cover), cover)
    assert sections_saliency.grid_excluded(edges, analysis_saliency.grid_edges(faces, cover)) == {}
    assert moved.endswith("the same right column is 0.60 and the left column 0.10: the weak side "
                          "follows the faces, not the grid.")
    flat = analysis_saliency.grid_edges(np.full((1, 48, 48), 0.5), cover)
    assert sections_saliency.grid_sentence(flat, flat, cover).startswith("No edge of Grad-CAM's 5 x 5 grid")


def test_what_random_weights_already_give_is_grouped_by_method():
    n = 20
    labels = np.zeros(n, dtype=int)
    trained = {"saliency": density_maps(np.full(n, 1.8), np.full(n, 1.6))}
    randomized = {"saliency": density_maps(np.full(n, 1.5), np.full(n, 1.2))}
    s = sections_saliency.region_summary(trained, randomized, labels, ["saliency"], seed=0)
    assert ("The same network with random weights already gives the eyes 1.50x and the mouth 1.20x by "
            "saliency:") in sections_saliency.focus_sentences(s)


def test_unread_cells_and_the_masks_caveat():
    """The full profile's CNN: block 4's 'valid' 2x2 pooling of its 5x5 maps never reads their
    last row and column; block 3's of 11x11 neither; block 1's of 44x44 reads everything."""
    keras.utils.set_random_seed(0)
    model = build_cnn(filters=[2, 2, 2, 2], dense_units=[4], augmentation={"flip": True, "crop": 44})
    assert analysis_saliency.unread_cells(model, "block4_conv2") == 1
    assert analysis_saliency.unread_cells(model, "block3_conv2") == 1
    assert analysis_saliency.unread_cells(model, "block1_conv2") == 0
    cover = {"cells": 5, "stride": 8.0, "first": 2, "last": 41}
    cams = np.zeros((1, 48, 48))
    cams[:, 2:42, 2:42] = 0.6
    cams[:, 2:42, 34:42] = 0.1
    edges = analysis_saliency.grid_edges(cams, cover)
    text = sections_saliency.grid_sentence(edges, edges, cover, unread=1)
    assert "The pooling after that layer never reads its last row and column ('valid' windows that " \
           "do not tile 5 cells), so the classifier cannot use those cells" in text
    s = sections_saliency.shown_summary([4, 8, 9], np.array([0, 3, 3]), shown_maps(), per_class=1, seed=7,
                                        missing=[], keep=80 / PIXELS, smoothgrad_samples=50,
                                        smoothgrad_noise=0.15, gradcam_layer="block4_conv2", grid_biased=True)
    assert "weak grid edges" not in sections_saliency.shown_sentences(s)  # masks cut by saliency
    assert sections_saliency.shown_sentences({**s, "mask_method": "gradcam", "mask_smoothing": 0.0}).endswith(
        "Grad-CAM's weak grid edges (see below) shape these masks too: they show where Grad-CAM looks, "
        "not the regions of the answer above.")


def test_side_by_side_column_titles_do_not_overlap():
    """'weak model' in every column title ran into its neighbor at 8 points."""
    from helpers.sections.weak_model import side_by_side_figure

    n = 3
    maps = lambda: {"predicted": np.array([0, 3, 6]), "probability": np.full(n, 0.9),  # noqa: E731
                    "saliency": np.random.default_rng(0).random((n, IMAGE_SIZE, IMAGE_SIZE)),
                    "gradcam": np.random.default_rng(1).random((n, IMAGE_SIZE, IMAGE_SIZE))}
    fig = side_by_side_figure(np.full((n, IMAGE_SIZE, IMAGE_SIZE, 1), 128.0), maps(), maps(), [0, 3, 6])
    titles = [ax.title for ax in fig.axes[:5]]
    assert [t.get_text() for t in titles] == ["face", "main\nsaliency", "main\nGrad-CAM",
                                              "weak\nsaliency", "weak\nGrad-CAM"]
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in titles]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))


def test_a_narrow_interval_gets_the_digits_that_tell_its_ends_apart():
    assert sections_saliency.interval_words({"mean": 1.54, "low": 1.51, "high": 1.57}, "x") == "1.54x (95% CI 1.51 to 1.57)"
    assert sections_saliency.interval_words({"mean": 0.9213, "low": 0.9191, "high": 0.9238}) == "0.921 (95% CI 0.919 to 0.924)"
    assert sections_saliency.interval_words({"mean": 0.5, "low": 0.5, "high": 0.5}) == "0.50 (95% CI 0.50 to 0.50)"


def test_a_left_out_methods_reason_is_worded_from_one_table():
    s = {"excluded": {"gradcam": "grid", "other": "a reason without words yet"}}
    assert sections_saliency.excluded_why(s, "gradcam") == "a grid whose edge cells are weak whatever the face"
    assert sections_saliency.excluded_why(s, "gradcam", long=True).startswith("its grid's edge cells are weak")
    assert sections_saliency.excluded_why(s, "other") == "a reason without words yet"  # its key, not a crash


def test_region_density_counts_only_the_pixels_a_method_can_weigh():
    from helpers.analysis import saliency as analysis_saliency

    # an even map over the 44x44 center (a model that crops its input sees no border): every
    # region gets 1x against the seen pixels, while the whole image would call the rest sparse
    maps = np.zeros((3, 48, 48))
    maps[:, 2:46, 2:46] = 1.0
    seen = analysis_saliency.seen_pixels(maps)
    assert seen.sum() == 44 * 44 and not seen[0].any() and seen[2, 2]
    dense = analysis_saliency.region_density(maps, seen)
    assert all(np.allclose(v, 1.0) for v in dense.values())
    whole = analysis_saliency.region_density(maps)
    assert whole["rest"][0] < 0.9 and whole["eyes"][0] > 1.1
    area = analysis_saliency.region_area((48, 48), seen)
    assert sum(area.values()) == pytest.approx(1.0) and area["eyes"] > analysis_saliency.region_area()["eyes"]
    assert analysis_saliency.seen_pixels(np.zeros((2, 4, 4))).all()  # no mass anywhere: every pixel


def test_the_region_table_gives_the_area_a_cropping_model_is_measured_against():
    maps = np.zeros((6, IMAGE_SIZE, IMAGE_SIZE))
    maps[:, 2:46, 2:46] = np.random.default_rng(0).uniform(0.5, 1.0, (6, 44, 44))
    s = sections_saliency.region_summary({"saliency": maps}, {}, np.zeros(6, int), ["saliency"], seed=0)
    rows = sections_saliency.region_table(s)["measure"].tolist()
    assert rows[:3] == ["box", "share of the image", "saliency: share of the 1,936 pixels it weighs"]
    assert s["methods"]["saliency"]["density"]["rest"]["mean"] == pytest.approx(1.0, abs=0.05)  # even inside the crop
    assert sections_saliency.focus_sentences(s).startswith("**Answer: no region stands out**")  # not "the rest less"


def test_lead_is_the_difference_of_the_densities_as_printed():
    # 1.224x and 1.196x print as 1.22x and 1.20x: the lead says 0.02x, not the unrounded 0.028
    f = {"density": {"eyes": {"mean": 1.224}, "mouth": {"mean": 1.196}},
         "lead": {"first": "eyes", "second": "mouth", "mean": 0.028, "low": 0.01, "high": 0.05, "tie": False}}
    assert sections_saliency.lead_words(f) == "the eyes lead the mouth by 0.02x (95% CI 0.01 to 0.05)"


def test_the_weak_model_comparison_leaves_out_what_question_6_leaves_out_with_its_words():
    left = sections_weak_model.left_out_methods(["saliency", "smoothgrad", "gradcam"], ["saliency"],
                                                ["saliency", "gradcam"], {"gradcam": "grid"})
    assert left == {"smoothgrad": "it fails the model-randomization test",
                    "gradcam": sections_saliency.excluded_why({"excluded": {"gradcam": "grid"}}, "gradcam")}
    assert sections_weak_model.left_out_methods(["saliency"], ["saliency"], ["saliency"], {}) == {}


def test_more_or_less_reads_a_difference_by_its_interval():
    """One verdict for the weak-model sentences, the answer sheet and the maps' agreement."""
    assert words.more_or_less({"low": 0.01, "high": 0.03}) == "more"
    assert words.more_or_less({"low": -0.03, "high": -0.01}) == "less"
    assert words.more_or_less({"low": -0.01, "high": 0.02}) == "about as much"
    assert words.more_or_less({"low": 0.0, "high": 0.02}, "no more") == "no more"  # 0 inside: no verdict
