"""Tests for helpers.sections.data (notebook 01) on small synthetic face sets."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.analysis import pixels
import helpers.sections.data as sections_data
from helpers.core.config import CLASS_NAMES


def faces(labels, seed=0):
    """Random 8x8 'faces' in 0..255 (uint8, like the loaded data) for the given labels."""
    return np.random.default_rng(seed).integers(0, 256, (len(labels), 8, 8)).astype(np.uint8)


def summary(y, test_rows=5, **changes):
    train_idx, val_idx = np.arange(len(y))[::2], np.arange(len(y))[1::2]
    return sections_data.class_summary(y, train_idx, val_idx, **{
        "source_format": "course CSV", "test_rows": test_rows, "test_labeled": False,
        "val_fraction": 0.5, "seed": 7} | changes)


def test_class_summary_table_and_sentences():
    y = np.array([3] * 8 + [0] * 4 + [1] * 2 + [2, 4, 5, 6])
    s = summary(y)
    assert s["class_counts"] == [4, 2, 1, 8, 1, 1, 1]
    assert sum(s["train_class_counts"]) == 9 and sum(s["val_class_counts"]) == 9
    table = sections_data.class_table(s)
    assert table.columns.tolist() == ["class", "faces", "share", "train split", "validation split"]
    assert table.iloc[3].tolist()[:3] == [CLASS_NAMES[3], 8, "44.4%"]
    text = sections_data.class_sentences(s)
    assert text.startswith("The training data has **18 faces** (course CSV); 9 train the models and "
                           "9 (50%, seed 7) are held out for validation. The test file has 5 faces "
                           "(without labels).")
    assert text.endswith(f"*{CLASS_NAMES[3]}* has 44.4% of the faces (8) and *{CLASS_NAMES[2]}* only "
                         "5.6% (1), 8.0 times fewer.")
    assert "no leaderboard submission" in sections_data.class_sentences(summary(y, test_rows=0))
    fig = sections_data.class_figure(s)
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 7


def test_pixel_summary_and_sentences():
    x = np.zeros((4, 8, 8), np.uint8)
    x[0] = 100                                  # flat
    x[1, :, :4], x[1, :, 4:] = 0, 200           # standard deviation 100
    x[2, :, :4], x[2, :, 4:] = 95, 105          # standard deviation 5: nearly flat
    x[3, :, :4], x[3, :, 4:] = 50, 150          # standard deviation 50
    s = sections_data.pixel_summary(pixels.face_contrast(x), x[1:2])
    assert (s["pixel_mean"], s["pixel_std"]) == (100.0, 100.0)   # of the training part only
    assert s["median_image_contrast"] == pytest.approx(27.5)
    assert s["low_contrast_images"] == 2
    text = sections_data.pixel_sentences(s)
    assert "average **100.0** with standard deviation **100.0**" in text
    assert "has a pixel standard deviation of 27.5, and 2 faces are nearly flat (below 10)" in text
    assert "1 face is nearly flat" in sections_data.pixel_sentences(s | {"low_contrast_images": 1})
    assert pixels.median_contrast(x) == pytest.approx(27.5)
    np.testing.assert_array_equal(pixels.contrast_examples(pixels.face_contrast(x), 2), [0, 1])
    np.testing.assert_allclose(pixels.face_contrast(x), [0, 100, 5, 50])


def test_figures():
    y = np.repeat(np.arange(7), 3)
    x = faces(y)
    fig = sections_data.sample_faces_figure(x, y, per_class=2, seed=0)
    assert len(fig.axes) == 14
    assert [fig.axes[i].get_ylabel() for i in (0, 2, 12)] == [CLASS_NAMES[0], CLASS_NAMES[1], CLASS_NAMES[6]]
    assert fig.axes[1].get_ylabel() == ""
    fig = sections_data.preprocessing_figure(x[:3], 100.0, 50.0)
    assert len(fig.axes) == 9 and fig.axes[6].get_ylabel() == "normalized"
    z = (x[0] - 100.0) / 50.0
    np.testing.assert_allclose(fig.axes[6].images[0].get_array(), np.clip((z + 2.5) / 5 * 255, 0, 255),
                               rtol=1e-5)
    assert len(sections_data.preprocessing_histograms(x, x, 100.0, 50.0).axes) == 3


def test_equalization_sentence():
    # over all faces, the same median contrast as the data section's sentence; the sample only draws
    assert sections_data.equalization_sentence(40.0, 70.25, 28709, 2000).startswith(
        "Over all 28,709 faces, equalization raises the median per-face contrast from 40.0 to 70.2 gray levels "
        "and flattens the pixel histogram (the histograms: 2,000 faces, stratified by class)")
    assert "equalization lowers" in sections_data.equalization_sentence(70.0, 40.0, 9, 9)
    # the section numbers come from the report's order, not typed in
    assert sections_data.equalization_sentence(40.0, 70.0, 9, 9).endswith("measured in sections 4 and 9.")


def test_balanced_empty_class_and_unchanged_contrast_read_right():
    balanced = sections_data.class_sentences(summary(np.repeat(np.arange(7), 3)))
    assert balanced.endswith("The classes are about balanced.")
    empty = sections_data.class_sentences(summary(np.array([0, 0, 1, 2, 3, 4, 5])))
    assert empty.endswith(f"*{CLASS_NAMES[6]}* none.")
    assert "equalization keeps the median per-face contrast at 40.0 gray levels" in (
        sections_data.equalization_sentence(40.0, 40.01, 9, 9))
