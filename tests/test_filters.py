"""Tests for helpers.analysis.filters on synthetic patterns (stripes of known period and orientation,
flat images, white noise) and tiny models whose kernels are set by hand."""

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
from helpers.analysis.ascent import feature_maps
from helpers.analysis.filters import ORIENTATIONS
from helpers.modeling.models import build_cnn

SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def stripes(orientation: str, period: float, size: int = IMAGE_SIZE) -> np.ndarray:
    """A sine grating whose stripes run `orientation` and repeat every `period` pixels
    (measured across the stripes). Rows grow downwards, so '/' stripes follow x + y = const."""
    y, x = np.mgrid[0:size, 0:size].astype(float)
    across = {"horizontal": y, "vertical": x, "diagonal /": (x + y) / np.sqrt(2),
              "diagonal \\": (x - y) / np.sqrt(2)}[orientation]
    return np.sin(2 * np.pi * across / period)


def display_pattern(image: np.ndarray) -> np.ndarray:
    """A -1..1 pattern as a uint8 display image around mid-grey."""
    return np.round(127.5 + 100 * image).astype(np.uint8)


# ----------------------------------------------------------------------------- spectra

@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("period", [4, 6, 8])
def test_spectral_stats_finds_the_period_and_orientation_of_stripes(orientation, period):
    for size in (40, IMAGE_SIZE):  # the measured centre of a pattern, and a whole image
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
    top, threshold = analysis_filters.noise_orientation_baseline((IMAGE_SIZE, IMAGE_SIZE), seed=3)
    assert top.shape == (500,)
    noise = np.random.default_rng(3).normal(size=(500, 40, 40))   # the measured (core) size
    np.testing.assert_array_equal(top, analysis_filters.spectral_stats(noise)[1].max(axis=1))
    assert threshold == np.quantile(top, 0.95)
    assert np.mean(top > threshold) == pytest.approx(0.05, abs=0.002)
    assert 0.25 < top.mean() < 0.35 and top.mean() < threshold < 0.45  # by chance a bit above 1/4
    again, same = analysis_filters.noise_orientation_baseline((IMAGE_SIZE, IMAGE_SIZE), seed=3)
    assert same == threshold
    small, _ = analysis_filters.noise_orientation_baseline((20, 20), seed=3, samples=10, border=2)
    noise = np.random.default_rng(3).normal(size=(10, 16, 16))
    np.testing.assert_array_equal(small, analysis_filters.spectral_stats(noise)[1].max(axis=1))


# ----------------------------------------------------------------------------- patterns

@pytest.fixture(scope="module")
def hand_cnn():
    """A 3x3 first conv with hand-set kernels (averaging, Sobel, one-hot), a ReLU named as in
    helpers.modeling.models, and a second conv; no bias, so everything is known exactly."""
    inputs = keras.Input(SHAPE)
    conv1 = layers.Conv2D(3, 3, padding="same", use_bias=False, name="block1_conv1")
    x = layers.Activation("relu", name="block1_relu1")(conv1(inputs))
    conv2 = layers.Conv2D(2, 3, padding="same", use_bias=False, name="block2_conv1")
    x = layers.GlobalAveragePooling2D()(conv2(x))
    model = keras.Model(inputs, layers.Dense(7, name="logits")(x), name="hand_cnn")
    kernels = np.zeros((3, 3, 1, 3), np.float32)
    kernels[..., 0, 0] = 1.0 / 9                                  # averaging: DC share 1
    kernels[..., 0, 1] = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]     # Sobel: zero sum, DC share 0
    kernels[1, 1, 0, 2] = 1.0                                     # identity: DC share 1/3
    conv1.set_weights([kernels])
    return model


def test_kernel_dc_share(hand_cnn):
    np.testing.assert_allclose(analysis_filters.kernel_dc_share(hand_cnn, "block1_conv1", [0, 1, 2]),
                               [1.0, 0.0, 1 / 3], atol=1e-6)
    np.testing.assert_allclose(analysis_filters.kernel_dc_share(hand_cnn, "block1_conv1", [2, 0]),
                               [1 / 3, 1.0], atol=1e-6)
    assert analysis_filters.kernel_dc_share(hand_cnn, "block2_conv1", [0, 1]) is None  # not on pixels


def test_face_activations(hand_cnn):
    faces = np.random.default_rng(0).uniform(0, 255, (5, *SHAPE)).astype(np.float32)
    activations = analysis_filters.face_activations(hand_cnn, "block1_conv1", [2, 0], faces, batch=2)
    assert activations.shape == (5, 2)
    # The identity kernel copies the pixels exactly; what is left is a float32 mean of 2,304
    # values, within 2,303 x 2^-24 = 1.4e-4 (relative) of the exact one in any summation order.
    # Other batch sizes may also round the averaging kernel's 9 products differently. A wrong
    # channel (the averaging one loses ~3% at the zero-padded border) or face is 1e-2 off.
    np.testing.assert_allclose(activations[:, 0], faces.astype(np.float64).mean(axis=(1, 2, 3)),
                               rtol=2e-4)  # identity
    one_batch = analysis_filters.face_activations(hand_cnn, "block1_conv1", [2, 0], faces)
    np.testing.assert_allclose(activations, one_batch, rtol=3e-4)


def summary_of(patterns, start=None, final=None, faces=None, threshold=0.5, dc=None):
    n = len(patterns)
    start = np.zeros(n) if start is None else np.asarray(start, float)
    final = np.ones(n) if final is None else np.asarray(final, float)
    faces = np.zeros((3, n)) if faces is None else np.asarray(faces, float)
    return analysis_filters.pattern_summary(np.stack(patterns), start, final, faces, threshold, dc)


def test_pattern_summary_counts_uniform_and_textured_patterns():
    dark, bright = np.full((48, 48), 20, np.uint8), np.full((48, 48), 230, np.uint8)
    noisy_border = bright.copy()
    noisy_border[:4] = 0                              # the border is left out: still uniform
    horizontal = display_pattern(stripes("horizontal", 6))
    vertical = display_pattern(stripes("vertical", 8))
    diagonal = display_pattern(stripes("diagonal /", 5))
    faces = np.array([[0.0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 3], [2, 2, 2, 2, 2, 5]])
    s = summary_of([dark, bright, noisy_border, horizontal, vertical, diagonal],
                   start=[0, 0, 0, 0, 0, 2], final=[3, 3, 3, 3, 1, 1], faces=faces,
                   dc=[0.2, 0.4, 0.9])
    assert s["filters"] == 6
    assert (s["uniform"], s["uniform_dark"], s["uniform_bright"], s["textured"]) == (3, 1, 2, 3)
    assert s["rose"] == pytest.approx(5 / 6) and s["beats_all_faces"] == pytest.approx(4 / 6)
    assert (s["median_start"], s["median_final"]) == (0.0, 3.0)
    # (final - mean over faces) / std over faces: 2 / 0.816 for four filters, 0 and -0.81 for two
    assert s["median_face_z"] == pytest.approx(2 / np.std([0, 1, 2]))
    assert s["median_dc_share"] == pytest.approx(0.4)
    np.testing.assert_allclose(s["period_px"], [6, 8, 5], rtol=0.02)
    assert s["median_period_px"] == pytest.approx(6, rel=0.02)
    assert s["orientation_counts"] == {"horizontal": 1, "diagonal /": 1, "vertical": 1,
                                       "diagonal \\": 0}
    assert s["common_orientation"] == "horizontal"                # the first of the ties
    assert s["common_orientation_filters"] == 1
    assert s["mean_selectivity"] > 0.99 and s["oriented"] == 3


def test_pattern_summary_thresholds_and_no_texture():
    vertical = display_pattern(stripes("vertical", 6))
    # power 64% horizontal, 36% vertical
    mix = display_pattern(0.8 * stripes("horizontal", 6) + 0.6 * stripes("vertical", 6))
    s = summary_of([vertical, vertical, mix], threshold=0.7)
    assert s["orientation_counts"] == {"horizontal": 1, "diagonal /": 0, "vertical": 2,
                                       "diagonal \\": 0}
    assert s["common_orientation"] == "vertical" and s["common_orientation_filters"] == 2
    assert s["oriented"] == 2                          # the mix's 64% is below the 0.7 threshold
    assert s["mean_selectivity"] == pytest.approx((1 + 1 + 0.64) / 3, abs=0.01)
    assert summary_of([mix], threshold=0.6)["oriented"] == 1
    flat = summary_of([np.full((48, 48), 100, np.uint8)] * 2)
    assert (flat["uniform"], flat["uniform_dark"], flat["textured"]) == (2, 2, 0)
    assert flat["median_period_px"] is None and flat["period_px"] == []
    assert flat["mean_selectivity"] is None and flat["median_dc_share"] is None
    assert flat["common_orientation"] is None and flat["oriented"] == 0
    assert flat["orientation_counts"] == dict.fromkeys(ORIENTATIONS, 0)
    # a grating of amplitude a has standard deviation a / sqrt(2): 4.2 (uniform) and 5.7 (textured)
    faint, weak = ((128 + a * stripes("vertical", 6)).round().astype(np.uint8) for a in (6, 8))
    assert summary_of([faint, weak])["uniform"] == 1 and summary_of([weak])["textured"] == 1
    assert analysis_filters.pattern_summary(weak[None], np.zeros(1), np.ones(1), np.zeros((2, 1)), 0.5,
                                   uniform_std=10.0)["uniform"] == 1


@pytest.fixture(scope="module")
def small_cnn():
    keras.utils.set_random_seed(0)
    return build_cnn(filters=[4, 8], dense_units=[8], name="small_cnn")


def test_layer_patterns(small_cnn):
    faces = np.random.default_rng(0).uniform(0, 255, (6, *SHAPE)).astype(np.float32)
    p = analysis_filters.layer_patterns(small_cnn, "block1_conv1", 10, steps=3, seed=0, faces=faces,
                               oriented_threshold=0.4)
    assert p["layer"] == "block1_conv1" and p["total"] == 4
    assert p["chosen"].tolist() == [0, 1, 2, 3]                  # capped at the layer's filters
    assert p["images"].shape == (4, IMAGE_SIZE, IMAGE_SIZE) and p["seconds"] > 0
    activations = analysis_filters.face_activations(small_cnn, "block1_conv1", p["chosen"], faces)
    dc = analysis_filters.kernel_dc_share(small_cnn, "block1_conv1", p["chosen"])
    expected = analysis_filters.pattern_summary(p["images"], p["start"], p["final"], activations, 0.4, dc)
    np.testing.assert_array_equal(p.pop("period_px"), expected.pop("period_px"))
    assert {k: p[k] for k in expected} == expected
    two = analysis_filters.layer_patterns(small_cnn, "block2_conv1", 2, steps=3, seed=0, faces=faces,
                                 oriented_threshold=0.4)
    assert two["chosen"].tolist() == [0, 1] and two["total"] == 8 and two["median_dc_share"] is None


def pattern(**changes):
    """A layer_patterns dict with made-up values."""
    p = {"layer": "block1_conv1", "total": 32, "chosen": np.arange(3),
         "images": np.zeros((3, 48, 48), np.uint8), "start": np.array([0.1, 0.2, 0.3]),
         "final": np.array([1.0, 2.0, 3.0]), "seconds": 2.4, "filters": 3, "median_start": 0.2,
         "median_final": 2.0, "rose": 1.0, "beats_all_faces": 2 / 3, "median_face_z": 4.25,
         "uniform": 1, "uniform_dark": 1, "uniform_bright": 0, "textured": 2,
         "median_dc_share": 0.5, "median_period_px": 6.04, "period_px": np.array([5.0, 7.08]),
         "orientation_counts": {"horizontal": 2, "diagonal /": 0, "vertical": 0, "diagonal \\": 0},
         "common_orientation": "horizontal", "common_orientation_filters": 2,
         "mean_selectivity": 0.55, "oriented": 1}
    return p | changes


def test_pattern_table():
    deeper = pattern(textured=0, median_dc_share=None, median_period_px=None)
    table = sections_filters.pattern_table([("block1_conv1", pattern()), ("block2_conv1", deeper)],
                                  reference_faces=500)
    rows = table.set_index("measure")
    assert list(table.columns) == ["measure", "block1_conv1", "block2_conv1"]
    assert rows["block1_conv1"].tolist() == ["3 of 32", "0.2 -> 2", "100%", "67%", "1 (1 / 0)",
                                             "0.50", "6.0", "horizontal (2)", "55%",
                                             "1 of 2 textured", "2"]
    assert rows.index[3] == "above every one of 500 faces"
    assert rows.loc["kernel DC share (median)", "block2_conv1"] == "(not the first layer)"
    assert rows.loc["median period of textured patterns (px)", "block2_conv1"] == "n/a"
    assert rows.loc["most common orientation", "block2_conv1"] == "n/a"


def test_pattern_sentences():
    lines = sections_filters.pattern_sentences("block1_conv1", pattern(), 500, 0.29)
    assert len(lines) == 3
    assert lines[0].startswith("- `block1_conv1`: gradient ascent raised the mean activation of "
                               "100% of the shown filters (median 0.2 -> 2); for 67% the pattern "
                               "excites the filter more than any of 500 validation faces")
    assert "(median: 4.2 standard deviations" in lines[0]
    assert lines[1].startswith("  1 of 3 patterns are uniform (1 dark, 0 bright)")
    assert lines[1].endswith("median DC share of 0.50.")
    assert lines[2] == ("  1 of the 2 textured patterns are oriented; the most common orientation "
                        "is horizontal (2 patterns), and the strongest orientation holds 55% of a "
                        "pattern's power on average (white noise: 29%).")
    deeper = sections_filters.pattern_sentences(
        "block2_conv1", pattern(uniform=2, median_dc_share=None, textured=0), 500, 0.29)
    assert len(deeper) == 2 and deeper[1].endswith("not through a spatial pattern.")
    assert len(sections_filters.pattern_sentences("x", pattern(uniform=0), 10, 0.3)) == 2


def test_records():
    p = pattern()
    record = sections_filters.pattern_record(p)
    assert not {"images", "chosen", "common_orientation_filters"} & set(record)
    assert record["total_filters"] == 32 and record["seconds"] == 2.4
    np.testing.assert_array_equal(record["start_activation"], p["start"])
    np.testing.assert_array_equal(record["final_activation"], p["final"])
    assert len(record) == 21 and record["median_face_z"] == 4.25
    maps = {"maps": np.zeros((2, 2, 3)), "size": "2x2", "zero_after_relu": 0.5, "edge_like": 1}
    assert sections_filters.map_record(maps) == {"size": "2x2", "zero_after_relu": 0.5, "edge_like": 1}
    compared = sections_weak_model.comparison_record(p, maps)
    assert set(compared) == {"filters", "median_start", "median_final", "rose", "beats_all_faces", "uniform",
                             "uniform_dark", "uniform_bright", "median_dc_share", "textured",
                             "median_period_px", "orientation_counts", "mean_selectivity",
                             "oriented", "feature_maps"}
    assert compared["feature_maps"] == sections_filters.map_record(maps) and compared["oriented"] == 1


def first_layer_summary(weak=None, weak_maps=None):
    maps = {"edge_like": 2, "brightness_like": 1, "filters": 3, "zero_after_relu": 0.25}
    weak = pattern(textured=0, median_period_px=None, uniform=3) if weak is None else weak
    return sections_weak_model.first_layer_comparison(
        pattern(), weak, maps, maps | {"edge_like": 0} if weak_maps is None else weak_maps,
        {"val_accuracy": 0.66, "epochs_run": 50}, {"val_accuracy": 0.5, "epochs_run": 1},
        reference_faces=500, oriented_threshold=0.33, face=17)


def test_first_layer_comparison_and_table():
    s = first_layer_summary()
    assert (s["layer"], s["total_filters"], s["epochs"], s["main_epochs"]) == ("block1_conv1", 32, 1, 50)
    assert s["weak"]["uniform"] == 3 and s["weak"]["feature_maps"]["edge_like"] == 0
    assert list(sections_weak_model.first_layer_table(s).itertuples(index=False, name=None)) == [
        ("validation accuracy", "66.0%", "50.0%"),
        ("epochs trained", 50, 1),
        ("patterns whose activation rose", "100%", "100%"),
        ("patterns above every one of 500 faces", "67%", "67%"),
        ("uniform patterns (dark / bright)", "1 (1 / 0)", "3 (1 / 0)"),
        ("kernel DC share (median)", "0.50", "0.50"),
        ("median period of textured patterns (px)", "6.0", "n/a"),
        ("power in the strongest orientation (mean)", "55%", "n/a"),
        ("oriented patterns (above 33%)", "1 of 2 textured", "1 of 0 textured"),
        ("edge-like feature maps, face 17", "2 of 3", "0 of 3"),
        ("brightness-like feature maps, face 17", "1 of 3", "1 of 3"),
        ("zero after ReLU", "25.0%", "25.0%"),
    ]
    fig = sections_weak_model.first_layer_figure(pattern(), pattern(), s, steps=100)
    assert [sub._suptitle.get_text() for sub in fig.subfigs] == [
        "main CNN (66.0% validation accuracy)\nblock1_conv1, filters 0-2 of 32, 100 steps",
        "weak model (50.0% validation accuracy)\nblock1_conv1, filters 0-2 of 32, 100 steps"]


def test_first_layer_sentences():
    lines = sections_weak_model.first_layer_sentences(first_layer_summary()).split("\n")
    assert lines == [
        "- Uniform patterns: 3 of the weak model's 3 first-layer filters against 1 for the main "
        "CNN; median kernel DC share 0.50 against 0.50: the weak model's kernels are about as "
        "close to plain brightness detectors.",
        "- On face 17, 0 of the weak model's 3 feature maps are edge-like and 1 brightness-like "
        "(main CNN: 2 and 1); its ReLU zeroes 25.0% of the positions (main CNN 25.0%)."]
    textured = first_layer_summary(weak=pattern(median_period_px=12.08, mean_selectivity=0.4,
                                                median_dc_share=0.9))
    lines = sections_weak_model.first_layer_sentences(textured).split("\n")
    assert lines[0].endswith("0.90 against 0.50: the weak model's kernels are closer to plain "
                             "brightness detectors.")
    assert lines[1] == ("- Textured patterns repeat every 12.1 pixels (median) for the weak model "
                        "against 6.0 for the main CNN (coarser), and are less "
                        "orientation-selective: on average 40% of their power lies in one "
                        "orientation, against 55%.")


def test_layers_sentences_compare_the_scale_of_the_first_and_last_layer():
    patterns = {"block1_conv1": pattern(), "block3_conv2": pattern(median_period_px=12.08)}
    lines = sections_filters.layers_sentences(patterns, 500, 0.29).split("\n")
    assert len(lines) == 2 * 3 + 1
    assert lines[-1] == ("- Textured `block3_conv2` patterns repeat every 12.1 pixels (median), "
                         "`block1_conv1` ones every 6.0: the deeper layer's patterns are coarser "
                         "by a factor 2.00.")
    same = {"a": pattern(), "b": pattern(median_period_px=6.1)}
    assert sections_filters.layers_sentences(same, 500, 0.29).endswith("about the same scale.")
    assert len(sections_filters.layers_sentences({"a": pattern()}, 500, 0.29).split("\n")) == 3
    assert "the 4 pixels along each edge" in sections_filters.measures_sentence(100, 0.29, 0.33)
    assert "white noise averages 29% and stays below 33% in 95%" in sections_filters.measures_sentence(100, 0.29, 0.33)


def test_map_sentences():
    a = {"edge_like": 5, "brightness_like": 20, "neither": 7, "filters": 32, "zero_after_relu": 0.4,
         "mean_r_brightness": 0.7, "mean_r_edges": 0.3}
    b = a | {"mean_r_brightness": 0.2, "mean_r_edges": 0.25, "zero_after_relu": 0.8}
    lines = sections_filters.map_sentences({"block1_conv1": a, "block3_conv2": b}).split("\n")
    assert lines[0] == ("- `block1_conv1`: 5 of 32 maps follow the face's intensity edges, 20 its "
                        "brightness (a smoothed or inverted copy of the face) and 7 neither; the "
                        "ReLU after the layer zeroes 40.0% of the positions.")
    assert lines[2] == ("- From `block1_conv1` to `block3_conv2` the mean correlation with brightness "
                        "goes from 0.70 to 0.20 and with edges from 0.30 to 0.25: the deeper maps "
                        "follow the raw image less closely, and the share of zeros after the ReLU "
                        "goes from 40.0% to 80.0%.")
    closer = sections_filters.map_sentences({"a": a, "b": a | {"mean_r_edges": 0.9}})
    assert "still follow the raw image at least as closely" in closer
    assert len(sections_filters.map_sentences({"a": a}).split("\n")) == 1


def test_filters_record():
    from helpers.analysis.ascent import AscentSettings

    maps = {"maps": np.zeros((2, 2, 3)), "size": "2x2", "edge_like": 1}
    record = sections_filters.filters_record(
        {"block1_conv1": pattern()}, {"block1_conv1": maps}, {"face": 3, "true": 1, "predicted": 2},
        settings=AscentSettings(steps=50), filters_per_layer=3, reference_faces=500,
        noise_selectivity=0.29, oriented_threshold=0.33)
    assert record["ascent_steps"] == 50 and record["ascent_settings"]["noise"] == 20.0
    assert set(record["layers"]["block1_conv1"]) == set(sections_filters.pattern_record(pattern()))
    assert record["feature_maps"] == {"face": 3, "true": 1, "predicted": 2, "r_min": analysis_filters.R_MIN,
                                      "block1_conv1": {"size": "2x2", "edge_like": 1}}


def test_pattern_figures(hand_cnn):
    fig = sections_filters.kernel_figure(hand_cnn, "block1_conv1", [0, 1, 2])
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["0: DC 1.00", "1: DC 0.00", "2: DC 0.33"]
    assert fig.axes[1].images[0].get_clim() == (-2.0, 2.0)    # one symmetric scale for all
    left, right = pattern(), pattern(chosen=np.array([4, 5, 6]))
    fig = sections_weak_model.side_by_side_patterns(left, right, "main", "weak", columns=2)
    assert [ax.get_title() for ax in fig.axes] == ["0", "1", "2", "4", "5", "6"]
    assert [sub._suptitle.get_text() for sub in fig.subfigs] == ["main", "weak"]
    assert fig.get_size_inches().tolist() == pytest.approx([2 * 1.05 * 2 + 0.6, 1.15 * 2 + 0.7])
    face = sections_filters.face_figure(np.zeros(SHAPE), {"face": 3, "true": 3, "predicted": 0,
                                                 "probability": 0.25})
    assert face.axes[0].get_title() == (f"validation face 3\ntrue {CLASS_NAMES[3]}, predicted\n"
                                        f"{CLASS_NAMES[0]} (25%)")
    assert face.get_size_inches().tolist() == pytest.approx([1.9, 2.2])


# ----------------------------------------------------------------------------- feature maps

def test_downsample():
    a = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(analysis_filters.downsample(a, (2, 2)), [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(analysis_filters.downsample(a, (4, 4)), a)
    b = np.arange(25.0).reshape(5, 5)                     # the last row and column fill no block
    np.testing.assert_array_equal(analysis_filters.downsample(b, (2, 2)),
                                  analysis_filters.downsample(b[:4, :4], (2, 2)))
    assert analysis_filters.downsample(np.ones((48, 48)), (24, 24)).shape == (24, 24)


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


def test_map_summary_tells_brightness_from_edges(hand_cnn):
    # smooth noise inside a black frame: zero padding and ndimage's reflected border then agree
    image = np.zeros(SHAPE)
    noise = np.random.default_rng(1).uniform(0, 255, (42, 42))
    image[3:-3, 3:-3, 0] = ndimage.gaussian_filter(noise, 2)
    s = analysis_filters.map_summary(hand_cnn, "block1_conv1", [0, 1, 2], image)
    conv = feature_maps(hand_cnn, "block1_conv1", image)
    np.testing.assert_array_equal(s["maps"], conv)
    assert (s["size"], s["filters"]) == ("48x48", 3)
    # averaging and identity kernels copy the brightness; the Sobel kernel gives the x gradient
    assert (s["brightness_like"], s["edge_like"], s["neither"]) == (2, 1, 0)
    # |r| with brightness: 1 (identity), a little less (averaging), about 0 (Sobel);
    # with the edges: 1 for the Sobel map only
    assert 0.6 < s["mean_r_brightness"] < 2 / 3 + 1e-6
    assert s["mean_r_edges"] == pytest.approx(1 / 3, abs=0.02)
    # the ReLU zeroes what the convolution leaves <= 0: the frame of the copies, about half of
    # the Sobel map
    assert s["zero_after_relu"] == float((conv <= 0).mean())
    assert s["zero_after_relu"] == pytest.approx(float((np.maximum(conv, 0) == 0).mean()))
    assert 0.2 < s["zero_after_relu"] < 0.45
    assert s["constant_maps"] == 0
    # an exponential ramp's x gradient is proportional to it: a copy follows both, brightness best
    ramp = np.exp(np.arange(48) / 10.0)[None, :, None] * np.ones(SHAPE)
    both = analysis_filters.map_summary(hand_cnn, "block1_conv1", [2], ramp)
    assert 0.5 < both["mean_r_edges"] < both["mean_r_brightness"] == pytest.approx(1.0)
    assert (both["brightness_like"], both["edge_like"], both["neither"]) == (1, 0, 0)
    strict = analysis_filters.map_summary(hand_cnn, "block1_conv1", [1], image, r_min=1.01)
    assert (strict["edge_like"], strict["brightness_like"], strict["neither"]) == (0, 0, 1)
    # there is no block2_relu1: the outputs <= 0 are counted
    deeper = analysis_filters.map_summary(hand_cnn, "block2_conv1", [0, 1], image)
    out = feature_maps(hand_cnn, "block2_conv1", image)
    assert deeper["size"] == "48x48"
    assert deeper["zero_after_relu"] == pytest.approx(float((out <= 0).mean()))


def test_feature_map_table():
    s = {"size": "24x24", "filters": 8, "zero_after_relu": 0.375, "edge_like": 3,
         "brightness_like": 4, "neither": 1, "mean_r_brightness": 0.512, "mean_r_edges": 0.3}
    table = sections_filters.feature_map_table({"block2_conv1": s}, r_min=0.5)
    assert table.to_dict("list") == {
        "measure": ["map size", "filters", "zero after ReLU", "edge-like maps (r >= 0.5)",
                    "brightness-like maps (r >= 0.5)", "neither", "mean r with brightness",
                    "mean r with edges"],
        "block2_conv1": ["24x24", 8, "37.5%", 3, 4, 1, "0.51", "0.30"]}


def test_pick_face_and_grids(hand_cnn):
    images = np.random.default_rng(0).uniform(0, 255, (5,) + SHAPE).astype(np.float32)
    face = analysis_filters.pick_face(hand_cnn, images, np.arange(5), seed=3)
    assert face["face"] == int(np.random.default_rng(3).integers(5))
    logits = hand_cnn.predict(images[face["face"]][None], verbose=0)[0]
    assert face["predicted"] == int(logits.argmax()) and face["true"] == face["face"]
    expected = 1 / np.exp(logits.astype(np.float64) - logits.max()).sum()
    assert face["probability"] == pytest.approx(expected, rel=1e-4)
    fig = sections_filters.pattern_grid(pattern(), steps=100)
    assert fig._suptitle.get_text() == "block1_conv1: filters 0-2 of 32, 100 ascent steps"
    assert fig.axes[1].get_title() == "1: 0.2\u21922"
    maps = {"maps": np.zeros((24, 24, 3)), "size": "24x24"}
    fig = sections_filters.feature_map_grid("block1_conv1", maps, [0, 1, 2], face=7)
    assert fig._suptitle.get_text() == "block1_conv1: feature maps (24x24) of filters 0-2 for face 7"
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]
