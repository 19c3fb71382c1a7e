"""Tests for helpers.analysis.filters and helpers.sections.filters on synthetic patterns (stripes of
known period and orientation, flat images, white noise) and tiny models whose kernels are set by
hand."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from keras import layers
from matplotlib.figure import Figure
from scipy import ndimage

import helpers.analysis.filters as analysis_filters
import helpers.sections.filters as sections_filters
import helpers.sections.weak_model as sections_weak_model
from helpers.core.config import CLASS_NAMES, IMAGE_SIZE
from helpers.analysis.ascent import UnitGeometry, feature_maps, filter_patterns, unit_geometry
from helpers.analysis.filters import ORIENTATIONS
from helpers.modeling.models import RandomCrop, build_cnn
from helpers.core import words

SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def stripes(orientation: str, period: float, size: int = IMAGE_SIZE) -> np.ndarray:
    """A sine grating whose stripes run `orientation` and repeat every `period` pixels
    (measured across the stripes). Rows grow downwards, so '/' stripes follow x + y = const."""
    y, x = np.mgrid[0:size, 0:size].astype(float)
    across = {"horizontal": y, "vertical": x, "diagonal /": (x + y) / np.sqrt(2),
              "diagonal \\": (x - y) / np.sqrt(2)}[orientation]
    return np.sin(2 * np.pi * across / period)


def display_pattern(image: np.ndarray) -> np.ndarray:
    """A -1..1 pattern as a uint8 display image around mid-gray."""
    return np.round(127.5 + 100 * image).astype(np.uint8)


# ----------------------------------------------------------------------------- spectra

@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("period", [4, 6, 8])
def test_spectral_stats_finds_the_period_and_orientation_of_stripes(orientation, period):
    for size in (40, IMAGE_SIZE):  # the measured center of a pattern, and a whole image
        frequency, shares = analysis_filters.spectral_stats(stripes(orientation, period, size)[None])
        assert 1 / frequency[0] == pytest.approx(period, rel=0.015)
        assert ORIENTATIONS[shares[0].argmax()] == orientation
        assert shares[0].max() > 0.99
        assert shares[0].sum() == pytest.approx(1.0)


def test_spectral_stats_mixtures_noise_and_flat_images():
    mix = stripes("horizontal", 6) + stripes("vertical", 6)
    frequency, shares = analysis_filters.spectral_stats(np.stack([mix, np.full((48, 48), 7.0)]))
    assert shares[0][[0, 2]] == pytest.approx([0.5, 0.5], abs=0.005)  # equal power, 2 orientations
    assert shares[0][[1, 3]].sum() < 0.01
    assert frequency[1] == 0.0 and shares[1].tolist() == [0.0] * 4     # no structure at all
    coarse, fine = stripes("vertical", 12), stripes("vertical", 4)
    frequency, _ = analysis_filters.spectral_stats(np.stack([coarse, fine]))
    assert 1 / frequency[0] > 2.5 / frequency[1]                       # the coarse period is longer
    noise = np.random.default_rng(0).normal(size=(200, 40, 40))
    frequency, shares = analysis_filters.spectral_stats(noise)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.mean(axis=0) == pytest.approx([0.25] * 4, abs=0.01)  # no preferred orientation


def test_noise_orientation_baseline():
    top, threshold = analysis_filters.noise_orientation_baseline((32, 32), seed=3)
    assert top.shape == (500,)
    noise = np.random.default_rng(3).normal(size=(500, 32, 32))   # the measured (window) size
    np.testing.assert_array_equal(top, analysis_filters.spectral_stats(noise)[1].max(axis=1))
    assert threshold == np.quantile(top, 0.95)
    assert np.mean(top > threshold) == pytest.approx(0.05, abs=0.002)
    assert 0.25 < top.mean() < 0.35 and top.mean() < threshold < 0.45  # by chance a bit above 1/4
    again, same = analysis_filters.noise_orientation_baseline((32, 32), seed=3)
    assert same == threshold
    small, _ = analysis_filters.noise_orientation_baseline((16, 12), seed=3, samples=10)
    noise = np.random.default_rng(3).normal(size=(10, 16, 12))
    np.testing.assert_array_equal(small, analysis_filters.spectral_stats(noise)[1].max(axis=1))


# ----------------------------------------------------------------------------- models

SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


def hand_kernels() -> np.ndarray:
    """Averaging (DC share 1), Sobel (zero sum, DC share 0) and identity (DC share 1/3)."""
    kernels = np.zeros((3, 3, 1, 3), np.float32)
    kernels[..., 0, 0] = 1.0 / 9
    kernels[..., 0, 1] = SOBEL_X
    kernels[1, 1, 0, 2] = 1.0
    return kernels


def hand_model(crop: int | None = None, gamma=None, name: str = "hand_cnn") -> keras.Model:
    """A 3x3 first conv with hand_kernels, optionally behind a center crop of `crop` pixels and
    followed by batch normalization with scales `gamma` (no shift, unit variance), then a ReLU
    named as in helpers.modeling.models and a second conv; no bias, so everything is known."""
    inputs = keras.Input(SHAPE)
    x = RandomCrop(crop, name="crop")(inputs) if crop else inputs
    conv1 = layers.Conv2D(3, 3, padding="same", use_bias=False, name="block1_conv1")
    x = conv1(x)
    if gamma is not None:
        norm = layers.BatchNormalization(name="block1_bn1")
        x = norm(x)
    x = layers.Activation("relu", name="block1_relu1")(x)
    conv2 = layers.Conv2D(2, 3, padding="same", use_bias=False, name="block2_conv1")
    x = layers.GlobalAveragePooling2D()(conv2(x))
    model = keras.Model(inputs, layers.Dense(7, name="logits")(x), name=name)
    conv1.set_weights([hand_kernels()])
    if gamma is not None:
        zeros, ones = np.zeros(3, np.float32), np.ones(3, np.float32)
        norm.set_weights([np.asarray(gamma, np.float32), zeros, zeros, ones])
    return model


@pytest.fixture(scope="module")
def hand_cnn():
    return hand_model()


@pytest.fixture(scope="module")
def cropped_cnn():
    """build_cnn as the full profile builds it (center crop, flip, normalization), tiny."""
    keras.utils.set_random_seed(0)
    return build_cnn(filters=[4, 8], dense_units=[8], normalization={"mean": 128.0, "std": 64.0},
                     augmentation={"crop": 44, "flip": True}, name="cropped_cnn")


@pytest.fixture(scope="module")
def small_cnn():
    keras.utils.set_random_seed(0)
    return build_cnn(filters=[4, 8], dense_units=[8], name="small_cnn")


def test_unit_geometry_of_a_cropped_cnn(cropped_cnn):
    geometry = {layer: unit_geometry(cropped_cnn, layer)
                for layer in ["block1_conv1", "block1_relu1", "block2_conv1", "block2_pool"]}
    assert geometry["block1_conv1"] == UnitGeometry(3, 1, 2.0, (44, 44))  # behind the crop
    assert geometry["block1_relu1"] == geometry["block1_conv1"]
    assert geometry["block2_conv1"] == UnitGeometry(10, 2, 2.5, (22, 22))
    assert geometry["block2_pool"] == UnitGeometry(16, 4, 3.5, (11, 11))
    assert geometry["block1_conv1"].window((48, 48)) == (23, 26, 23, 26)
    assert geometry["block2_conv1"].window((48, 48)) == (20, 30, 20, 30)
    # every map starts at the crop's margin: 2 pixels, the first of `jump` pixels per unit
    assert {g.offset for g in geometry.values()} == {2}


def test_unit_geometry_without_a_crop(small_cnn):
    assert unit_geometry(small_cnn, "block1_conv1") == UnitGeometry(3, 1, 0.0, (48, 48))
    assert unit_geometry(small_cnn, "block2_conv1") == UnitGeometry(10, 2, 0.5, (24, 24))
    assert unit_geometry(small_cnn, "block2_conv1").offset == 0


def test_unit_geometry_is_where_the_gradient_is(cropped_cnn):
    """The center unit's receptive field is exactly the pixels its response has a gradient at."""
    import tensorflow as tf
    from helpers.analysis.ascent import response_output
    from helpers.analysis.gradients import sub_model

    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (3, *SHAPE)), tf.float32)
    for layer in ["block1_conv1", "block2_conv1", "block2_conv2"]:
        sub = sub_model(cropped_cnn, response_output(cropped_cnn, layer))
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = sub(x, training=False)
            score = tf.reduce_sum(out[:, out.shape[1] // 2, out.shape[2] // 2, :])
        seen = np.abs(tape.gradient(score, x).numpy()).sum(axis=(0, 3)) > 0
        rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
        top, bottom, left, right = unit_geometry(cropped_cnn, layer).window((48, 48))
        assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (top, bottom, left, right), layer


def test_unit_geometry_rejects_what_it_cannot_place(hand_cnn):
    inputs = keras.Input(SHAPE)
    x = layers.UpSampling2D(name="up")(layers.Conv2D(1, 3, name="c1")(inputs))
    model = keras.Model(inputs, layers.Conv2D(1, 3, name="c2")(x))
    with pytest.raises(ValueError, match="does not know"):
        unit_geometry(model, "c2")
    with pytest.raises(ValueError):
        unit_geometry(hand_cnn, "logits")
    with pytest.raises(ValueError, match="whole input pixels"):
        UnitGeometry(3, 2, 0.0, (5, 5)).offset


def test_unit_jitter():
    from helpers.analysis.ascent import unit_jitter

    assert [unit_jitter(2, UnitGeometry(f, 1, 0.0, (4, 4))) for f in (3, 10, 16, 32)] == [0, 0, 1, 2]
    assert unit_jitter(0, UnitGeometry(32, 1, 0.0, (4, 4))) == 0


# ----------------------------------------------------------------------------- kernels

def test_kernel_dc_share(hand_cnn):
    np.testing.assert_allclose(analysis_filters.kernel_dc_share(hand_cnn, "block1_conv1", [0, 1, 2]),
                               [1.0, 0.0, 1 / 3], atol=1e-6)
    np.testing.assert_allclose(analysis_filters.kernel_dc_share(hand_cnn, "block1_conv1", [2, 0]),
                               [1 / 3, 1.0], atol=1e-6)
    assert analysis_filters.kernel_dc_share(hand_cnn, "block2_conv1", [0, 1]) is None  # not on pixels


def test_effective_kernels_carry_the_batch_norm_scale(hand_cnn):
    kernels = hand_kernels()[:, :, 0, :]
    np.testing.assert_array_equal(analysis_filters.effective_kernels(hand_cnn, "block1_conv1", [2, 0]),
                                  kernels[..., [2, 0]])                      # no batch norm
    model = hand_model(gamma=[2.0, -1.0, 0.5], name="bn_cnn")
    scale = np.array([2.0, -1.0, 0.5]) / np.sqrt(1 + 1e-3)                  # Keras' epsilon
    np.testing.assert_allclose(analysis_filters.effective_kernels(model, "block1_conv1", [1, 2]),
                               kernels[..., [1, 2]] * scale[[1, 2]], rtol=1e-6)
    assert analysis_filters.effective_kernels(model, "block2_conv1", [0]) is None


def test_kernel_agreement():
    kernels = hand_kernels()[:, :, 0, :]
    patches = np.stack([127.5 + 100 * k / np.abs(k).max() for k in np.moveaxis(kernels, -1, 0)])
    cos = analysis_filters.kernel_agreement(kernels, patches)
    assert cos.shape == (3, 3)
    np.testing.assert_allclose(np.diag(cos), 1.0)                  # each patch is its kernel
    assert cos[1, 0] == pytest.approx(0.0, abs=1e-12)              # an edge is no brightness
    assert cos[2, 0] == pytest.approx(1 / 3)                       # one bright pixel of nine
    inverse = analysis_filters.kernel_agreement(kernels, 255 - patches)
    np.testing.assert_allclose(np.diag(inverse), -1.0)             # dark where weights are positive
    gray = analysis_filters.kernel_agreement(kernels, np.full((1, 3, 3), 127.5))
    np.testing.assert_array_equal(gray, 0.0)
    with pytest.raises(ValueError, match="patches"):
        analysis_filters.kernel_agreement(kernels, np.zeros((2, 4, 4)))


def test_unit_responses_are_the_centre_unit_after_batch_norm(hand_cnn):
    faces = np.random.default_rng(0).uniform(0, 255, (5, *SHAPE)).astype(np.float32)
    responses = analysis_filters.unit_responses(hand_cnn, "block1_conv1", [2, 0], faces, batch=2)
    assert responses.shape == (5, 2)
    np.testing.assert_allclose(responses[:, 0], faces[:, 24, 24, 0], rtol=1e-6)      # identity
    np.testing.assert_allclose(responses[:, 1], faces[:, 23:26, 23:26, 0].mean(axis=(1, 2)),
                               rtol=1e-5)                                          # averaging
    one_batch = analysis_filters.unit_responses(hand_cnn, "block1_conv1", [2, 0], faces)
    np.testing.assert_allclose(responses, one_batch, rtol=1e-6)
    # behind batch normalization with a negative scale, the response changes sign
    flipped = hand_model(gamma=[1.0, 1.0, -1.0], name="flipped")
    np.testing.assert_allclose(analysis_filters.unit_responses(flipped, "block1_conv1", [2], faces)[:, 0],
                               -faces[:, 24, 24, 0] / np.sqrt(1 + 1e-3), rtol=1e-5)


# ----------------------------------------------------------------------------- patterns

def test_pattern_summary_of_a_first_layer():
    kernels = hand_kernels()[:, :, 0, :]
    patches = np.stack([127.5 + 100 * k / np.abs(k).max() for k in np.moveaxis(kernels, -1, 0)])
    patches[2] = 255 - patches[2]                                  # the identity's inverse
    faces = np.array([[0.0, 0, 0], [1, 1, 1], [2, 2, 5]])
    s = analysis_filters.pattern_summary(patches, np.array([0.0, 0, 2]), np.array([3.0, 3, 1]), faces,
                                         kernels, dc=np.array([1.0, 0.0, 1 / 3]),
                                         oriented_threshold=0.3)
    assert s["filters"] == 3 and s["rose"] == pytest.approx(2 / 3)
    assert s["beats_all_faces"] == pytest.approx(2 / 3)
    assert (s["median_start"], s["median_final"]) == (0.0, 3.0)
    # (final - mean over faces) / std over faces: 2 / 0.816 twice, then (1 - 7/3) / 2.05
    assert s["median_face_z"] == pytest.approx(2 / np.std([0, 1, 2]))
    np.testing.assert_allclose(s["kernel_agreement"], [1.0, 1.0, -1.0])
    assert s["agreeing"] == 2 and s["median_agreement"] == pytest.approx(1.0)
    # the six cosines with the other kernels: 0, 1/3 (the identity's pixel in the averaging
    # kernel), 0, 0, -1/3 (the inverse identity with the averaging kernel), 0
    assert s["other_kernel_agreement"] == pytest.approx(0.0, abs=1e-12)
    assert s["median_dc_share"] == pytest.approx(1 / 3) and s["brightness_kernels"] == 1
    # a 3x3 window is too small for a spectrum, whatever the threshold
    assert s["median_period_px"] is None and s["oriented"] is None and s["period_px"] is None
    single = analysis_filters.pattern_summary(patches[:1], np.zeros(1), np.ones(1), np.zeros((2, 1)),
                                              kernels[..., :1])
    assert single["other_kernel_agreement"] is None and single["median_dc_share"] is None


def test_pattern_summary_spectra_of_deeper_patterns():
    windows = [127.5 + 100 * stripes(o, p, 32) for o, p in
               [("horizontal", 6), ("vertical", 8), ("diagonal /", 5)]]
    s = analysis_filters.pattern_summary(np.stack(windows), np.zeros(3), np.ones(3), np.zeros((2, 3)),
                                         oriented_threshold=0.5)
    assert s["kernel_agreement"] is None and s["agreeing"] is None and s["brightness_kernels"] is None
    np.testing.assert_allclose(s["period_px"], [6, 8, 5], rtol=0.02)
    assert s["median_period_px"] == pytest.approx(6, rel=0.02)
    assert s["orientation_counts"] == {"horizontal": 1, "diagonal /": 1, "vertical": 1,
                                       "diagonal \\": 0}
    assert s["common_orientation"] == "horizontal"                # the first of the ties
    assert s["common_orientation_filters"] == 1
    assert s["mean_selectivity"] > 0.99 and s["oriented"] == 3
    # power 64% horizontal, 36% vertical: oriented below a threshold of 0.6, not above 0.7
    mix = 127.5 + 80 * stripes("horizontal", 6, 32) + 60 * stripes("vertical", 6, 32)
    # orientations are counted among oriented patterns only: none oriented, no common orientation
    flat = analysis_filters.pattern_summary(mix[None], np.zeros(1), np.ones(1), np.zeros((2, 1)),
                                            oriented_threshold=0.7)
    assert flat["oriented"] == 0 and flat["common_orientation"] is None
    assert sum(flat["orientation_counts"].values()) == 0
    for threshold, oriented in [(0.6, 1), (0.7, 0)]:
        assert analysis_filters.pattern_summary(mix[None], np.zeros(1), np.ones(1), np.zeros((2, 1)),
                                                oriented_threshold=threshold)["oriented"] == oriented
    no_threshold = analysis_filters.pattern_summary(mix[None], np.zeros(1), np.ones(1), np.zeros((2, 1)))
    assert no_threshold["oriented"] is None and no_threshold["median_period_px"] is None


def test_layer_patterns_reproduce_the_kernels_through_batch_norm():
    """The ascent maximizes the center unit after batch normalization: the Sobel filter, whose
    scale is negative, gets the inverse of its kernel, and every pattern agrees with its
    effective kernel. (The old objective, the convolution's mean over the map, gave uniform
    images that agree with no zero-sum kernel.)"""
    model = hand_model(gamma=[1.0, -1.0, 1.0], name="signed_cnn")
    faces = np.random.default_rng(0).uniform(0, 255, (6, *SHAPE)).astype(np.float32)
    p = analysis_filters.layer_patterns(model, "block1_conv1", 10, steps=30, seed=0, faces=faces)
    assert p["chosen"].tolist() == [0, 1, 2] and p["total"] == 3    # capped at the layer's filters
    assert (p["field"], p["jitter"], p["window"]) == (3, 0, (23, 26, 23, 26))
    assert p["images"].shape == (3, IMAGE_SIZE, IMAGE_SIZE) and p["images"].dtype == np.float32
    assert p["images"].min() >= 0 and p["images"].max() <= 255 and p["seconds"] > 0
    assert p["agreeing"] == 3 and p["kernel_agreement"].min() > 0.8, p["kernel_agreement"]
    patches = p["images"][:, 23:26, 23:26]
    raw = analysis_filters.kernel_agreement(hand_kernels()[:, :, 0, :], patches)
    assert raw[1, 1] < -0.8                                       # against the unscaled kernel
    assert patches[1][:, 0].mean() > 200 > 50 > patches[1][:, 2].mean()   # bright left, dark right
    assert p["rose"] == 1.0 and p["oriented"] is None and p["noise_selectivity"] is None
    expected = analysis_filters.pattern_summary(
        patches, p["start"], p["final"],
        analysis_filters.unit_responses(model, "block1_conv1", p["chosen"], faces),
        p["kernels"], analysis_filters.kernel_dc_share(model, "block1_conv1", p["chosen"]))
    np.testing.assert_array_equal(p.pop("kernel_agreement"), expected.pop("kernel_agreement"))
    assert {k: p[k] for k in expected} == expected


def test_layer_patterns_of_a_deeper_layer(small_cnn):
    faces = np.random.default_rng(0).uniform(0, 255, (6, *SHAPE)).astype(np.float32)
    p = analysis_filters.layer_patterns(small_cnn, "block2_conv1", 2, steps=3, seed=0, faces=faces)
    assert p["chosen"].tolist() == [0, 1] and p["total"] == 8 and p["kernels"] is None
    assert (p["field"], p["jitter"]) == (10, 0) and p["agreeing"] is None
    top, bottom, left, right = p["window"]
    assert (bottom - top, right - left) == (10, 10)
    _, threshold = analysis_filters.noise_orientation_baseline((10, 10), seed=1)
    assert p["oriented_threshold"] == threshold and p["oriented"] is not None
    # the start responses are the unit's on the starting noise (no step taken)
    noise, first, final = filter_patterns(small_cnn, "block2_conv1", [0, 1], steps=0, progress=False)
    np.testing.assert_array_equal(first, final)
    np.testing.assert_allclose(p["start"], first, rtol=1e-5)
    responses = analysis_filters.unit_responses(small_cnn, "block2_conv1", [0, 1], noise[..., None])
    np.testing.assert_allclose(responses, np.tile(first, (2, 1)), rtol=1e-4, atol=1e-5)  # same noise


# ----------------------------------------------------------------------------- sections

def pattern(**changes):
    """A first layer's layer_patterns dict with made-up values."""
    kernels = hand_kernels()[:, :, 0, :]
    images = np.full((3, 48, 48), 127.5)
    images[:, 23:26, 23:26] = np.moveaxis(127.5 + 100 * kernels / np.abs(kernels).max(axis=(0, 1)), -1, 0)
    p = {"layer": "block1_conv1", "total": 32, "chosen": np.arange(3), "images": images,
         "window": (23, 26, 23, 26), "field": 3, "jitter": 0, "kernels": kernels,
         "noise_selectivity": None, "oriented_threshold": None,
         "start": np.array([0.1, 0.2, 0.3]), "final": np.array([1.0, 2.0, 3.0]), "seconds": 2.4,
         "filters": 3, "median_start": 0.2, "median_final": 2.0, "rose": 1.0,
         "beats_all_faces": 2 / 3, "median_face_z": 4.25,
         "kernel_agreement": np.array([0.95, 0.875, 0.3]), "median_agreement": 0.875,
         "agreeing": 2, "other_kernel_agreement": 0.04, "median_dc_share": 0.5,
         "brightness_kernels": 1, "median_period_px": None, "period_px": None,
         "orientation_counts": None, "common_orientation": None,
         "common_orientation_filters": None, "mean_selectivity": None, "oriented": None}
    return p | changes


def deeper(**changes):
    """A deeper layer's layer_patterns dict with made-up values."""
    return pattern(layer="block3_conv2", total=128, images=np.zeros((3, 48, 48)),
                   window=(8, 40, 8, 40), field=32, jitter=2, kernels=None,
                   noise_selectivity=0.29, oriented_threshold=0.33, kernel_agreement=None,
                   median_agreement=None, agreeing=None, other_kernel_agreement=None,
                   median_dc_share=None, brightness_kernels=None, median_period_px=6.04,
                   period_px=np.array([5.0, 6.04, 7.08]),
                   orientation_counts={"horizontal": 2, "diagonal /": 0, "vertical": 1,
                                       "diagonal \\": 0},
                   common_orientation="horizontal", common_orientation_filters=2,
                   mean_selectivity=0.55, oriented=1) | changes


def test_pattern_sentences():
    lines = sections_filters.pattern_sentences("block1_conv1", pattern(), 500)
    assert len(lines) == 3
    assert lines[0].startswith("- **Block 1, convolution 1** (a sample: filters 0-2 of its 32; each unit sees 3x3 pixels): "
                               "gradient ascent raised "
                               "the center unit's response for 100% of these filters (median "
                               "0.2 -> 2); for 67% the pattern excites the unit more than any of "
                               "500 validation faces")
    assert "(median: 4.2 standard deviations" in lines[0]
    assert lines[1] == ("  2 of 3 patterns agree with their own kernel (cosine >= 0.5; median 0.88, "
                        "against 0.04 with the other filters' kernels): most patterns reproduce "
                        "their own kernel, bright where the weights are positive and dark where they "
                        "are negative, so each filter detects that arrangement of light and dark.")
    assert lines[2] == ("  1 of the 3 kernels respond mostly to brightness (DC share >= 0.5); the "
                        "other 2 mostly to local contrast (edges, lines, spots) whatever the "
                        "brightness (median DC share of all 3: 0.50).")
    every = sections_filters.pattern_sentences("x", pattern(agreeing=3), 500)[1]
    assert "every pattern reproduces its own kernel" in every
    few = sections_filters.pattern_sentences("x", pattern(agreeing=1, other_kernel_agreement=None), 500)[1]
    assert "(cosine >= 0.5; median 0.88): most patterns do not reproduce" in few
    deep = sections_filters.pattern_sentences("block3_conv2", deeper(), 500)
    assert len(deep) == 2 and ("**Block 3, convolution 2** (a sample: filters 0-2 of its 128; each unit "
                               "sees 32x32 pixels)") in deep[0]
    whole = sections_filters.pattern_sentences("block1_conv1", pattern(total=3), 500)[0]
    assert whole.startswith("- **Block 1, convolution 1** (all 3 filters; each unit sees")
    assert deep[1] == ("  1 of the 3 patterns is oriented, most often horizontal (2 of them); "
                       "the strongest orientation holds 55% of a "
                       "pattern's power on average (white noise of the same size: 29%); the "
                       "patterns repeat every 6.0 pixels (median).")


def test_layers_and_measures_sentences():
    patterns = {"block1_conv1": pattern(), "block3_conv2": deeper()}
    none = sections_filters.pattern_sentences("block3_conv2", deeper(oriented=0, common_orientation=None,
                                                                     common_orientation_filters=None), 500)
    assert none[1].startswith("  none of the 3 patterns is oriented; the strongest orientation")
    lines = sections_filters.layers_sentences(patterns, 500).split("\n")
    assert len(lines) == 3 + 2 + 1
    assert lines[-1] == ("- From block 1, convolution 1 to block 3, convolution 2 the center unit's receptive field "
                         "grows from 3x3 to 32x32 pixels.")
    both = {"block2_conv1": deeper(field=10, median_period_px=3.02), "block3_conv2": deeper()}
    assert sections_filters.layers_sentences(both, 500).split("\n")[-1].endswith(
        "the patterns repeat every 3.0 and 6.0 pixels (median): the deeper layer's patterns are "
        "coarser by a factor 2.00.")
    same = {"a": deeper(), "b": deeper(median_period_px=6.1)}
    assert sections_filters.layers_sentences(same, 500).endswith("about the same scale.")
    assert len(sections_filters.layers_sentences({"a": pattern()}, 500).split("\n")) == 3
    settings = sections_filters.settings_sentence(analysis_ascent_settings(steps=7))
    assert settings.startswith("**Objective**: each filter's response at the center unit of its "
                               "feature map, after batch normalization")
    assert "7 ascent steps" in settings and "up to 2 pixels but at most 1/16" in settings


def analysis_ascent_settings(**kwargs):
    from helpers.analysis.ascent import AscentSettings

    return AscentSettings(**kwargs)


def test_records():
    p = pattern()
    record = sections_filters.pattern_record(p)
    assert not {"images", "chosen", "kernels", "common_orientation_filters"} & set(record)
    assert record["total_filters"] == 32 and record["seconds"] == 2.4
    np.testing.assert_array_equal(record["start_response"], p["start"])
    np.testing.assert_array_equal(record["final_response"], p["final"])
    np.testing.assert_array_equal(record["kernel_agreement"], p["kernel_agreement"])
    assert record["median_face_z"] == 4.25 and record["window"] == (23, 26, 23, 26)
    assert not {"uniform", "uniform_dark", "textured"} & set(record)   # border shading: gone
    maps = {"maps": np.zeros((2, 2, 3)), "size": "2x2", "zero_after_relu": 0.5, "edge_like": 1}
    assert sections_filters.map_record(maps) == {"size": "2x2", "zero_after_relu": 0.5, "edge_like": 1}
    compared = sections_weak_model.comparison_record(p, maps)
    assert set(compared) == {"filters", "field", "median_start", "median_final", "rose",
                             "beats_all_faces", "kernel_agreement", "median_agreement", "agreeing",
                             "other_kernel_agreement", "median_dc_share", "brightness_kernels",
                             "feature_maps"}
    assert compared["feature_maps"] == sections_filters.map_record(maps) and compared["agreeing"] == 2


def test_filters_record():
    from helpers.analysis.ascent import AscentSettings

    maps = {"maps": np.zeros((2, 2, 3)), "size": "2x2", "edge_like": 1}
    record = sections_filters.filters_record(
        {"block1_conv1": pattern()}, {"block1_conv1": maps}, {"face": 3, "true": 1, "predicted": 2},
        settings=AscentSettings(steps=50), filters_per_layer=3, reference_faces=500)
    assert record["ascent_steps"] == 50 and record["ascent_settings"]["noise"] == 20.0
    assert record["filters_shown"] is None
    assert record["ascent_settings"]["jitter_share"] == 16 and record["agree_min"] == 0.5
    assert record["objective"].startswith("center unit, after batch normalization")
    assert set(record["layers"]["block1_conv1"]) == set(sections_filters.pattern_record(pattern()))
    assert record["feature_maps"] == {"face": 3, "true": 1, "predicted": 2, "r_min": analysis_filters.R_MIN,
                                      "block1_conv1": {"size": "2x2", "edge_like": 1}}


def first_layer_summary(weak=None, weak_maps=None):
    maps = {"edge_like": 2, "brightness_like": 1, "filters": 3, "zero_after_relu": 0.25,
            "face_pixels": [2, 45]}
    weak = pattern(agreeing=1, median_agreement=0.4) if weak is None else weak
    return sections_weak_model.first_layer_comparison(
        pattern(), weak, maps,
        maps | {"edge_like": 0, "face_pixels": [0, 47]} if weak_maps is None else weak_maps,
        {"val_accuracy": 0.66, "epochs_run": 50}, {"val_accuracy": 0.5, "epochs_run": 1},
        reference_faces=500, face=17)


def test_first_layer_comparison_and_figure():
    s = first_layer_summary()
    assert (s["layer"], s["total_filters"], s["epochs"], s["main_epochs"]) == ("block1_conv1", 32, 1, 50)
    assert s["weak"]["agreeing"] == 1 and s["weak"]["feature_maps"]["edge_like"] == 0
    assert s["main"]["agreeing"] == 2 and s["main"]["feature_maps"]["edge_like"] == 2
    fig = sections_weak_model.first_layer_figure(pattern(), pattern(), s, steps=100)
    assert fig._suptitle.get_text() == (
        "First-layer kernels (block 1, convolution 1, filters 0-2 of 32; white +, black -):\n"
        "main CNN (66.0% validation accuracy) above the weak model (50.0%)")
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["main\n0-2", "weak\n0-2"]


def test_first_layer_sentences():
    lines = sections_weak_model.first_layer_sentences(first_layer_summary()).split("\n")
    assert lines == [
        "- Kernel agreement: 1 of the weak model's 3 first-layer patterns agree with their own "
        "kernel (median cosine 0.40) against 2 of 3 for the main CNN (0.88).",
        "- Brightness kernels (DC share >= 0.5): 1 of the weak model's 3 against 1 of the main "
        "CNN's 3; the median kernel DC share is 0.50 against 0.50: the weak model's typical kernel "
        "has about as large a brightness (averaging) part.",
        "- On the validation face of the filters section's feature maps, 0 of the weak model's 3 feature maps are edge-like and 1 brightness-like "
        "(main CNN: 2 and 1; each compared with the pixels its map covers); its ReLU zeroes 25.0% "
        "of the positions (main CNN 25.0%)."]
    both = first_layer_summary(weak=pattern(median_dc_share=0.9, brightness_kernels=3))
    lines = sections_weak_model.first_layer_sentences(both).split("\n")
    assert lines[0].endswith("against 2 of 3 for the main CNN (0.88): for both, gradient ascent "
                             "recovers what the kernels weigh, so the comparison is between the "
                             "kernels themselves.")
    assert lines[1].endswith("0.90 against 0.50: the weak model's typical kernel has a larger "
                             "brightness (averaging) part.")


def test_pattern_figures():
    fig = sections_filters.kernel_pattern_figure(pattern(), steps=100, ncols=2)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    # rows of 2: kernels 0 and 1, their patterns, kernel 2 and an empty cell, its pattern
    assert titles == ["0", "1", "cos 0.95", "cos 0.88", "2", "", "cos 0.30", ""]
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["kernel", "pattern", "kernel", "pattern"]
    kernel_image = fig.axes[1].images[0].get_array()             # Sobel: -2 black, +2 white
    assert (kernel_image[1, 0], kernel_image[1, 1], kernel_image[1, 2]) == (0.0, 127.5, 255.0)
    assert fig.axes[1].images[0].get_clim() == (0.0, 255.0)    # the patterns' scale
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), pattern()["images"][1, 23:26, 23:26])
    assert fig._suptitle.get_text() == (
        "Block 1, convolution 1: kernels (times the batch-norm scale; white +, black -)\nabove their "
        "patterns' 3x3 patch (100 ascent steps; title: cosine)")
    assert sections_filters.cosine(-0.004) == "0.00"                          # not -0.00
    assert sections_filters.pattern_figure(pattern(), 100).axes[0].get_ylabel() == "kernel"
    grid = sections_filters.pattern_figure(deeper(), 100)
    assert grid.axes[0].images[0].get_array().shape == (32, 32)   # the receptive field only
    assert grid._suptitle.get_text() == ("Block 3, convolution 2: filters 0-2 of 128\n100 ascent steps, "
                                         "32x32 receptive field\n(titles: filter, response on "
                                         "the starting noise \u2192 after)")
    assert grid.axes[1].get_title() == "1\n0.2\u21922.0"
    near_zero = sections_filters.response_titles(deeper(start=np.array([-0.0003, 0.1, 0.2])))
    assert near_zero[0].startswith("0\n0.0\u2192")                          # not -0.0


# ----------------------------------------------------------------------------- feature maps

def test_align_to_map():
    a = np.arange(36.0).reshape(6, 6)
    np.testing.assert_array_equal(analysis_filters.align_to_map(a, 0, 2, (2, 2)), [[3.5, 5.5], [15.5, 17.5]])
    np.testing.assert_array_equal(analysis_filters.align_to_map(a, 1, 2, (2, 2)), [[10.5, 12.5], [22.5, 24.5]])
    np.testing.assert_array_equal(analysis_filters.align_to_map(a, 1, 1, (4, 4)), a[1:5, 1:5])
    with pytest.raises(ValueError, match="does not fit"):
        analysis_filters.align_to_map(a, 1, 2, (3, 3))


def test_abs_correlations():
    rng = np.random.default_rng(0)
    ref = rng.uniform(size=(6, 6))
    other = rng.uniform(size=(6, 6))
    maps = np.stack([ref, -2 * ref + 1, np.full((6, 6), 3.0), other], axis=-1)
    r = analysis_filters.abs_correlations(maps, [ref, np.ones((6, 6))])
    assert r.shape == (4, 2)
    chance = abs(np.corrcoef(ref.ravel(), other.ravel())[0, 1])
    np.testing.assert_allclose(r[:, 0], [1.0, 1.0, 0.0, chance])
    np.testing.assert_array_equal(r[:, 1], 0.0)   # a constant reference correlates with nothing


def framed_face() -> np.ndarray:
    """Smooth noise inside a black frame: zero padding and ndimage's reflected border agree."""
    image = np.zeros(SHAPE)
    noise = np.random.default_rng(1).uniform(0, 255, (42, 42))
    image[3:-3, 3:-3, 0] = ndimage.gaussian_filter(noise, 2)
    return image


def test_map_summary_tells_brightness_from_edges(hand_cnn):
    image = framed_face()
    s = analysis_filters.map_summary(hand_cnn, "block1_conv1", [0, 1, 2], image)
    conv = feature_maps(hand_cnn, "block1_conv1", image)
    np.testing.assert_array_equal(s["maps"], conv)
    assert (s["size"], s["filters"], s["face_pixels"]) == ("48x48", 3, [0, 47])
    # averaging and identity kernels copy the brightness; the Sobel kernel gives the x gradient
    assert (s["brightness_like"], s["edge_like"], s["neither"]) == (2, 1, 0)
    # |r| with brightness: 1 (identity), a little less (averaging), about 0 (Sobel);
    # with the edges: 1 for the Sobel map only
    assert 0.6 < s["mean_r_brightness"] < 2 / 3 + 1e-6
    assert s["mean_r_edges"] == pytest.approx(1 / 3, abs=0.02)
    # the ReLU zeroes what the convolution leaves <= 0: the frame of the copies, about half of
    # the Sobel map
    assert s["zero_after_relu"] == float((conv <= 0).mean())
    assert 0.2 < s["zero_after_relu"] < 0.45
    assert s["constant_maps"] == 0
    # an exponential ramp's x gradient is proportional to it: a copy follows both, brightness best
    ramp = np.exp(np.arange(48) / 10.0)[None, :, None] * np.ones(SHAPE)
    both = analysis_filters.map_summary(hand_cnn, "block1_conv1", [2], ramp)
    assert 0.5 < both["mean_r_edges"] < both["mean_r_brightness"] == pytest.approx(1.0)
    assert (both["brightness_like"], both["edge_like"], both["neither"]) == (1, 0, 0)
    # one brightness-like map: its kernel's DC share, and how much of the ramp a 3x3 mean keeps
    assert both["bright_map_dc"][0] == both["bright_map_dc"][2] == pytest.approx(
        float(analysis_filters.kernel_dc_share(hand_cnn, "block1_conv1", [2])[0]))
    assert both["dc_r_correlation"] is None and 0.95 < both["face_low_share"] <= 1.0  # one filter: no r
    assert "bright_map_dc" not in deeper_maps_keys(hand_cnn, image)  # deeper layers see no pixels
    strict = analysis_filters.map_summary(hand_cnn, "block1_conv1", [1], image, r_min=1.01)
    assert (strict["edge_like"], strict["brightness_like"], strict["neither"]) == (0, 0, 1)
    # there is no block2_relu1: the outputs <= 0 are counted
    deeper_maps = analysis_filters.map_summary(hand_cnn, "block2_conv1", [0, 1], image)
    out = feature_maps(hand_cnn, "block2_conv1", image)
    assert deeper_maps["size"] == "48x48"
    assert deeper_maps["zero_after_relu"] == pytest.approx(float((out <= 0).mean()))


def test_map_summary_compares_a_cropped_model_with_the_same_crop():
    """Behind a 44-pixel center crop the maps cover face pixels 2..45: compared with them, the
    Sobel map is the face's x gradient exactly (2 pixels off, it was not edge-like at all)."""
    model = hand_model(crop=44, name="cropped_hand_cnn")
    image = framed_face()
    s = analysis_filters.map_summary(model, "block1_conv1", [0, 1, 2], image)
    assert (s["size"], s["face_pixels"]) == ("44x44", [2, 45])
    assert (s["brightness_like"], s["edge_like"], s["neither"]) == (2, 1, 0)
    sobel = ndimage.sobel(image[..., 0], axis=1)[2:46, 2:46]
    r = abs(np.corrcoef(s["maps"][..., 1].ravel(), sobel.ravel())[0, 1])
    assert r == pytest.approx(1.0, abs=1e-6)
    shifted = abs(np.corrcoef(s["maps"][..., 1].ravel(), ndimage.sobel(image[..., 0], axis=1)[:44, :44].ravel())[0, 1])
    assert shifted < 0.5                                # the top-left 44x44 of the old comparison
    assert s["mean_r_edges"] == pytest.approx(1 / 3, abs=0.02)


def deeper_maps_keys(model, image):
    return analysis_filters.map_summary(model, "block2_conv1", [0, 1], image).keys()


def test_map_sentences():
    a = {"edge_like": 5, "brightness_like": 20, "neither": 7, "filters": 32, "zero_after_relu": 0.4,
         "mean_r_brightness": 0.7, "mean_r_edges": 0.3}
    b = a | {"mean_r_brightness": 0.2, "mean_r_edges": 0.25, "zero_after_relu": 0.8}
    lines = sections_filters.map_sentences({"block1_conv1": a, "block3_conv2": b}).split("\n")
    assert lines[0] == ("- Block 1, convolution 1: 5 of 32 maps follow the face's intensity edges, 20 its "
                        "brightness (a smoothed or inverted copy of the face) and 7 neither; the "
                        "ReLU after the layer zeroes 40.0% of the positions.")
    # what a brightness-like map is, said on the first layer only
    assert lines[1].startswith("- Block 3, convolution 2: 5 of 32 maps follow the face's intensity edges, 20 its "
                               "brightness and 7 neither;")
    assert lines[2] == ("- From block 1, convolution 1 to block 3, convolution 2 the mean correlation with brightness "
                        "goes from 0.70 to 0.20 and with edges from 0.30 to 0.25: the deeper maps "
                        "follow the raw image less closely, and the share of zeros after the ReLU "
                        "goes from 40.0% to 80.0%.")
    closer = sections_filters.map_sentences({"a": a, "b": a | {"mean_r_edges": 0.9}})
    assert "still follow the raw image at least as closely" in closer
    assert len(sections_filters.map_sentences({"a": a}).split("\n")) == 1
    # the threshold the counts use, read from the summary
    lines = sections_filters.map_sentences({"a": a | {"r_min": 0.5}}).split("\n")
    assert lines[0] == ("A map is edge-like when its |r| with the gradient is at least 0.5 and above its |r| "
                        "with the brightness, brightness-like in the opposite case, else neither.")
    assert lines[1] == "" and lines[2].startswith("- A convolution layer: 5 of 32 maps")
    # the first layer's brightness-like maps against their kernels' DC share, when measured
    why = sections_filters.map_sentences({"block1_conv1": a | {"bright_map_dc": [0.12, 0.49, 0.8],
                                                               "dc_r_correlation": 0.85, "face_low_share": 0.9,
                                                               "low_pass": 3}})
    assert why.split("\n")[-1] == (
        "- More maps than kernels are brightness-like because this face keeps 90% of its pixel variance under a "
        "3x3 mean: a kernel with a modest averaging part still passes mostly brightness (the brightness-like maps' "
        "kernels have DC shares 0.12-0.80, median 0.49; DC share and |r| with the brightness correlate 0.85 over "
        "the 32 filters).")



def test_pick_face(hand_cnn):
    images = np.random.default_rng(0).uniform(0, 255, (5,) + SHAPE).astype(np.float32)
    face = analysis_filters.pick_face(hand_cnn, images, np.arange(5), seed=3)
    assert face["face"] == int(np.random.default_rng(3).integers(5))
    logits = hand_cnn.predict(images[face["face"]][None], verbose=0)[0]
    assert face["predicted"] == int(logits.argmax()) and face["true"] == face["face"]
    expected = 1 / np.exp(logits.astype(np.float64) - logits.max()).sum()
    assert face["probability"] == pytest.approx(expected, rel=1e-4)
    maps = {"maps": np.zeros((24, 24, 3)), "size": "24x24"}
    fig = sections_filters.feature_map_grid("block1_conv1", maps, [0, 1, 2], face=7)
    assert fig._suptitle.get_text() == "Block 1, convolution 1: feature maps (24x24) of filters 0-2\nfor validation face 7"
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]
    # with the face itself first (gray, 0..255) and its classes in the title
    fig = sections_filters.feature_map_grid("block1_conv1", maps, [0, 1, 2], face=7,
                                            image=np.full((48, 48, 1), 100.0),
                                            record={"true": 3, "predicted": 0, "probability": 0.5})
    assert [ax.get_title() for ax in fig.axes] == ["face", "0", "1", "2"]
    assert fig.axes[0].images[0].get_cmap().name == "gray" and fig.axes[0].images[0].get_clim() == (0, 255)
    assert fig._suptitle.get_text().endswith(f"for validation face 7 (true {CLASS_NAMES[3]}, predicted "
                                             f"{CLASS_NAMES[0]} 50%)")


def test_figures_draw_the_first_shown_filters_of_those_measured():
    """All 128 filters measured, 32 drawn: the figure says which, and that the measures cover all."""
    p = deeper(total=128, chosen=np.arange(128), images=np.zeros((128, 48, 48)),
               start=np.zeros(128), final=np.ones(128), filters=128)
    fig = sections_filters.pattern_figure(p, 100, shown=32)
    assert len([ax for ax in fig.axes if ax.images]) == 32
    assert fig._suptitle.get_text().startswith(
        "Block 3, convolution 2: filters 0-31 of 128 (the measures below: all 128)\n100 ascent steps")
    assert "measures below" not in sections_filters.pattern_figure(p, 100)._suptitle.get_text()
    assert sections_filters.drawn_words(p, 128) == "all 128 filters"
    with pytest.raises(ValueError, match="filters_shown"):
        sections_filters.pattern_figure(p, 100, shown=0)
    assert sections_filters.pattern_sentences("block3_conv2", p, 500)[0].startswith(
        "- **Block 3, convolution 2** (all 128 filters; each unit sees 32x32 pixels)")
    maps = {"maps": np.zeros((11, 11, 128)), "size": "11x11", "filters": 128}
    fig = sections_filters.feature_map_grid("block3_conv2", maps, np.arange(128), face=7, shown=32)
    assert [ax.get_title() for ax in fig.axes if ax.images] == [str(i) for i in range(32)]
    assert fig._suptitle.get_text().startswith(
        "Block 3, convolution 2: feature maps (11x11) of filters 0-31 of the 128 measured\n")


def test_layer_words():
    assert words.layer_words("block3_conv2") == "block 3, convolution 2"
    assert words.layer_words("conv2d_7") == "a convolution layer"


TINY = {"model": "cnn", "cnn": {"filters": [4, 8], "convs_per_block": 1, "dense_units": [8]},
        "normalization": None, "augmentation": None, "training": {"seed": 7}}


def test_starting_model_is_the_seeded_build_and_kernel_change_measures_the_turn():
    """The same seed rebuilds the same starting kernels (another seed does not); a kernel turned
    by 90 degrees in one filter shows as cosine 0 there, the others 1."""
    start = analysis_filters.starting_model(TINY)
    again = analysis_filters.starting_model(TINY)
    other = analysis_filters.starting_model({**TINY, "training": {"seed": 8}})
    same = analysis_filters.kernel_change(again, start, ["block1_conv1", "block2_conv1"])
    first = same["block1_conv1"]
    assert first == {"median": pytest.approx(1.0), "min": pytest.approx(1.0), "filters": 4,
                     "dc_median": pytest.approx(first["dc_median_start"]), "dc_median_start": first["dc_median_start"]}
    assert "dc_median" not in same["block2_conv1"]                     # its inputs are not pixels
    assert analysis_filters.kernel_change(other, start, ["block1_conv1"])["block1_conv1"]["median"] < 0.9
    kernel = start.get_layer("block1_conv1").get_weights()[0].copy()
    flat = kernel[..., 0, 0].ravel()
    turned = np.zeros_like(flat)
    turned[0], turned[1] = -flat[1], flat[0]         # orthogonal to the start
    kernel[..., 0, 0] = turned.reshape(kernel.shape[:2])
    again.get_layer("block1_conv1").set_weights([kernel])
    moved = analysis_filters.kernel_change(again, start, ["block1_conv1"])["block1_conv1"]
    assert moved["min"] == pytest.approx(0.0, abs=1e-6) and moved["median"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="CNN runs only"):
        analysis_filters.starting_model({"model": "dnn"})


def test_kernel_change_sentences():
    change = {"block1_conv1": {"median": 0.974, "min": 0.91, "filters": 32},
              "block3_conv2": {"median": 0.62, "min": 0.3, "filters": 128}}
    text = sections_filters.kernel_change_sentence(change, 42)
    assert text.startswith("- **What training changed in the kernels**: the cosine of each trained kernel "
                           "with its random starting value (seed 42; 1 = unchanged): block 1, convolution 1 "
                           "median 0.97 (lowest 0.91); block 3, convolution 2 median 0.62 (lowest 0.30).")
    assert "stayed close to their random start" in text
    # a small turn that took out the kernels' averaging part says so
    dc = {"block1_conv1": change["block1_conv1"] | {"dc_median": 0.02, "dc_median_start": 0.24}}
    assert sections_filters.kernel_change_sentence(dc, 42).endswith(
        "The kernels of block 1, convolution 1 stayed close to their random start in direction, but training took "
        "out most of their averaging part (median DC share 0.24 at the start, 0.02 trained): the patterns they "
        "detect come from the initialization, their indifference to brightness from training.")
    kept = {"block1_conv1": change["block1_conv1"] | {"dc_median": 0.2, "dc_median_start": 0.24}}
    assert "what they detect was set mostly by the initialization" in sections_filters.kernel_change_sentence(kept, 42)
    moved = sections_filters.kernel_change_sentence({"block1_conv1": {"median": 0.5, "min": 0.1, "filters": 4}}, 1)
    assert "stayed close" not in moved
    shared = sections_weak_model.shared_start_sentence({"median": 0.97}, {"median": 0.99}, 42)
    assert shared.endswith("median 0.97 for the main CNN and 0.99 for the weak model: neither moved far, "
                           "which is why their kernels look alike above, and why the differences "
                           "measured here are small.")
    assert sections_weak_model.shared_start_sentence({"median": 0.5}, {"median": 0.99}, 42).endswith("weak model.")
