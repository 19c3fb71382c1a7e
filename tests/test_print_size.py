"""Every figure of the report readable at print size: helpers.core.plotting.print_size on tiny
synthetic figures, then each section's figures, built from synthetic inputs the size of the
full run's (profiles/full.yaml), in the notebooks' plot style (display.setup), keep their
smallest text at MIN_PRINT_FONT points or more in the PDF."""

from __future__ import annotations


import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers.core.config import IMAGE_SIZE, NUM_CLASSES
from helpers.core.plotting import MIN_PRINT_FONT, PRINT_HEIGHT, PRINT_WIDTH, print_size

RNG = np.random.default_rng(0)
FILTERS = 32  # filters_shown of the full profile (filters drawn per layer)
SAMPLES_PER_CLASS = 8
ADVERSARIAL_IMAGES = 8


@pytest.fixture
def notebook_style():
    """The notebooks' plot style (display.setup: seaborn's notebook context, 90 dpi), undone
    after the test."""
    from helpers.sections.display import setup

    with mpl.rc_context(), pd.option_context("display.precision", pd.get_option("display.precision")):
        setup()
        yield


# ----------------------------------------------------------------------------- print_size


def framed(width: float, height: float, fontsize: float = 10, visible: bool = True) -> Figure:
    """A figure whose tight bounding box is its whole canvas (a frame filling it), with a text
    of `fontsize` points in the middle and an invisible 2-point text."""
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "label", fontsize=fontsize, ha="center", va="center", visible=visible)
    ax.text(0.5, 0.2, "hidden", fontsize=2, visible=False)
    ax.text(0.5, 0.8, "", fontsize=1)  # empty: draws nothing
    return fig


def test_print_width_follows_the_report_template():
    """0.9 x the text width of report/template/fer_report.tex.j2 (letter paper, 8.5in wide)."""
    import re

    from helpers.core.config import PROJECT_ROOT

    template = (PROJECT_ROOT / "report" / "template" / "fer_report.tex.j2").read_text()
    left, right = (float(m) for m in re.search(r"lmargin=([\d.]+)in,rmargin=([\d.]+)in", template).groups())
    assert PRINT_WIDTH == pytest.approx(0.9 * (8.5 - left - right))
    from helpers.pipeline.report import TEXT_HEIGHT  # what keep_headings_with_figures measures against

    top, bottom = (float(m) for m in re.search(r"tmargin=([\d.]+)in,bmargin=([\d.]+)in", template).groups())
    assert TEXT_HEIGHT == pytest.approx(11 - top - bottom)


def test_print_size_scales_wide_figures_down():
    with mpl.rc_context({"savefig.pad_inches": 0}):
        wide = print_size(framed(2 * PRINT_WIDTH, 3))
        assert wide["width"] == pytest.approx(2 * PRINT_WIDTH, abs=0.02)
        assert wide["scale"] == pytest.approx(0.5, rel=1e-2)
        assert wide["min_font"] == pytest.approx(5.0, abs=0.05)  # 10pt at half size
        assert wide["smallest"] == "label" and len(wide["fonts"]) == 1  # hidden and empty ignored
        narrow = print_size(framed(5, 3))
        assert narrow["scale"] == 1 and narrow["min_font"] == pytest.approx(10)
        tall = print_size(framed(4, 2 * PRINT_HEIGHT))
        assert tall["scale"] == pytest.approx(0.5, rel=1e-2)
        assert tall["printed_height"] == pytest.approx(PRINT_HEIGHT, rel=1e-6)
        assert print_size(framed(5, 3, visible=False))["min_font"] == float("inf")
    padded = print_size(framed(5, 3))  # the inline backend's savefig.pad_inches on each side
    assert padded["width"] == pytest.approx(5 + 2 * mpl.rcParams["savefig.pad_inches"], abs=0.02)


def test_print_size_reads_titles_ticks_legends_and_colour_bars():
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    shown = ax.imshow(np.eye(3))
    fig.colorbar(shown, ax=ax, label="color").ax.tick_params(labelsize=6)
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(fontsize=7)
    ax.set_title("title", fontsize=9)
    fig.suptitle("suptitle", fontsize=11)
    texts = {text: size for size, text in print_size(fig)["fonts"]}
    assert texts["title"] == 9 and texts["suptitle"] == 11 and texts["line"] == 7
    assert "color" in texts  # the color bar's label
    assert print_size(fig)["min_font"] == 6  # the color bar's ticks


# ----------------------------------------------------------------------------- the figures


def faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)


def labels(n: int) -> np.ndarray:
    return np.arange(n) % NUM_CLASSES


def cnn_model():
    from helpers.modeling.models import build_cnn

    return build_cnn(filters=[32, 64, 128, 256], convs_per_block=2, dense_units=[256],
                     normalization={"mean": 129.4, "std": 65.0},
                     augmentation={"flip": True, "crop": 44})


def dnn_model(cnn_params: int):
    """The DNN of notebook 03: dnn_depth hidden layers as wide as gives the CNN's parameters."""
    from helpers.modeling.models import build_dnn, dnn_width_for, input_pixels

    augmentation = {"flip": True, "crop": 44}
    width = dnn_width_for(cnn_params, 3, input_pixels(augmentation))
    return build_dnn([width] * 3, normalization={"mean": 129.4, "std": 65.0},
                     augmentation=augmentation)


def architecture_figures():
    from helpers.sections.cnn import COMPACT, architecture_figure

    cnn = cnn_model()
    dnn = dnn_model(cnn.count_params())
    return [architecture_figure(cnn, title=f"CNN: {cnn.count_params():,} parameters", merge=COMPACT),
            architecture_figure(dnn, title=f"DNN: {dnn.count_params():,} parameters",
                                merge=COMPACT)]


def data_figures():
    import helpers.sections.data as data
    from helpers.analysis.pixels import contrast_examples, face_contrast
    from helpers.data.preprocess import equalize_histogram

    y = labels(350)
    x = faces(len(y))
    y_all = np.repeat(np.arange(7), [3995, 436, 4097, 7215, 4830, 3171, 4965])  # FER2013's
    s = data.class_summary(y_all, np.arange(len(y_all))[1::10], np.arange(len(y_all))[::10],
                           source_format="course CSV", test_rows=7178, test_labeled=False,
                           val_fraction=0.1, seed=42)
    contrast = face_contrast(x)
    return [data.class_figure(s), data.sample_faces_figure(x, y, SAMPLES_PER_CLASS, 42),
            data.preprocessing_figure(x[contrast_examples(contrast)], 129.4, 65.0),
            data.preprocessing_histograms(x[:200], equalize_histogram(x[:200]), 129.4, 65.0)]


def history(epochs: int = 58) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "loss": 2 / e ** 0.3, "accuracy": 1 - 0.8 / e ** 0.2,
                         "val_loss": 2.1 / e ** 0.25, "val_accuracy": 0.9 - 0.7 / e ** 0.2})


def curve_figures():
    from helpers.sections.ablation import ABLATION_LABELS
    from helpers.sections.curves import plot_curves

    return [plot_curves({"CNN": history()}, "CNN: loss and accuracy per epoch"),
            plot_curves({"CNN": history(), "DNN": history() * 1.01}, "CNN and DNN"),
            plot_curves({label: history() for label in ABLATION_LABELS.values()},
                        "Normalization and augmentation")]


def confusion_figures():
    from helpers.sections.confusion import confusion_figure, confusion_summary, misclassified_figure

    y = np.repeat(np.arange(7), [467, 56, 496, 895, 653, 415, 607])  # 3,589 faces
    rng = np.random.default_rng(1)
    predicted = np.where(rng.uniform(size=len(y)) < 0.7, y, rng.integers(0, 7, len(y)))
    proba = np.eye(7)[predicted] * 0.6 + 0.4 / 7
    s = confusion_summary(y, proba)
    return [confusion_figure(s),
            misclassified_figure(faces(len(y)), y, proba, s["top_pairs"][:3], 6)]


def hist_eq_figures():
    from helpers.sections.hist_eq import recall_figure

    recall = list(np.linspace(0.4, 0.9, 7))
    return [recall_figure({"per_class_raw": recall, "per_class_hist_eq": recall[::-1]})]


def attacks(n: int):
    from helpers.analysis.adversarial import AdversarialResult

    rng = np.random.default_rng(3)
    found = []
    for i in range(n):
        change = rng.integers(-4, 5, (IMAGE_SIZE, IMAGE_SIZE)).astype(float)
        image = np.clip(faces(1, i)[0] + change, 0, 255)
        found.append(AdversarialResult(image, change, int(rng.integers(1, 30)), i % 7, (i + 3) % 7,
                                       0.93, 0.51, float(np.abs(change).max()),
                                       float(np.abs(change).mean()), True))
    return found


def adversarial_figures():
    from helpers.sections.adversarial import adversarial_figure

    y = labels(ADVERSARIAL_IMAGES)
    return [adversarial_figure(faces(len(y))[..., None].astype(float), y, attacks(len(y)), 1.0)]


def pattern(first: bool):
    """A layer_patterns dict of FILTERS filters like filters.layer_patterns's."""
    rng = np.random.default_rng(4)
    p = {"layer": "block1_conv1" if first else "block3_conv2", "total": 32 if first else 128,
         "chosen": np.arange(FILTERS), "images": rng.uniform(0, 255, (FILTERS, 48, 48)),
         "window": (23, 26, 23, 26) if first else (8, 40, 8, 40), "field": 3 if first else 32,
         "start": rng.uniform(0, 0.5, FILTERS), "final": rng.uniform(1, 30, FILTERS)}
    if first:
        return p | {"kernels": rng.normal(size=(3, 3, FILTERS)),
                    "kernel_agreement": rng.uniform(-1, 1, FILTERS)}
    return p | {"kernels": None, "kernel_agreement": None}


def filter_figures():
    from helpers.analysis.ascent import ClassMaximization
    from helpers.sections.class_maximization import class_maximization_figure
    from helpers.sections.filters import feature_map_grid, pattern_figure
    from helpers.sections.weak_model import first_layer_figure

    first, deep = pattern(True), pattern(False)
    maps = {"maps": RNG.uniform(size=(48, 48, FILTERS)), "size": "48x48"}
    deep_maps = {"maps": RNG.uniform(size=(12, 12, FILTERS)), "size": "12x12"}
    comparison = {"layer": "block1_conv1", "total_filters": 32, "main_val_accuracy": 0.731,
                  "val_accuracy": 0.512}
    classes = ClassMaximization(images=RNG.uniform(0, 255, (7, 48, 48)), classes=np.arange(7),
                                start_logits=np.zeros(7), logits=np.ones(7),
                                probabilities=np.full(7, 0.99), predicted=np.array([0, 1, 2, 3, 4, 5, 3]))
    # the report's block 3: all 128 filters measured, the first 32 drawn (a longer title)
    rng = np.random.default_rng(6)
    measured = deep | {"chosen": np.arange(128), "images": rng.uniform(0, 255, (128, 48, 48)),
                       "start": rng.uniform(-2, 0.5, 128), "final": rng.uniform(1, 30, 128)}
    return [pattern_figure(first, 100), pattern_figure(deep, 100), pattern_figure(measured, 100, shown=32),
            feature_map_grid("block1_conv1", maps, first["chosen"], 1234, image=faces(1)[0][..., None],
                             record={"face": 1234, "true": 4, "predicted": 6, "probability": 0.57}),
            feature_map_grid("block3_conv2", deep_maps, deep["chosen"], 1234),
            first_layer_figure(first, first, comparison, 100),
            class_maximization_figure(classes, 200)]


def explanation_maps(n: int, gradcam: bool = True) -> dict:
    rng = np.random.default_rng(5)
    maps = {"predicted": rng.integers(0, 7, n), "probability": rng.uniform(0.3, 1, n),
            "saliency": rng.uniform(size=(n, 48, 48)), "smoothgrad": rng.uniform(size=(n, 48, 48))}
    return maps | ({"gradcam": rng.uniform(size=(n, 48, 48))} if gradcam else {})


def saliency_figures():
    from helpers.analysis.saliency import region_area
    from helpers.sections.saliency import region_figure, sanity_figure
    from helpers.sections.saliency import saliency_figures as split_figures

    y = np.repeat(np.arange(7), 2)  # saliency_per_class 2
    x = faces(len(y))[..., None].astype(np.float32)
    maps = explanation_maps(len(y))
    mean = RNG.uniform(size=(48, 48))
    trained = {k: v for k, v in explanation_maps(3).items() if k in ("saliency", "smoothgrad", "gradcam")}
    from helpers.sections.weak_model import side_by_side_figure

    one = np.arange(7)  # the full profile's saliency_per_class 1: seven faces, the widest figure
    return [*split_figures(x, maps, y, "Main CNN", 2, 0.25),
            *split_figures(x[:7], {k: v[:7] for k, v in maps.items()}, one, "Main CNN", 1, 0.25),
            side_by_side_figure(x, maps, explanation_maps(len(y)), y),
            region_figure(mean * 255, mean, mean, 1000, region_area()),
            sanity_figure(x[:3], trained, trained)]


FIGURES = {"architecture": architecture_figures, "data": data_figures, "curves": curve_figures,
           "confusion": confusion_figures, "hist_eq": hist_eq_figures,
           "adversarial": adversarial_figures,
           "filters": filter_figures, "saliency": saliency_figures}


def sizes(section: str) -> list[tuple[str, dict]]:
    """(figure, print_size) of each figure of a section, in the notebooks' style."""
    found = []
    for fig in FIGURES[section]():
        title = fig._suptitle.get_text() if fig._suptitle else ""
        if not title and fig.axes:
            title = fig.axes[0].get_title()
        found.append((title.split("\n")[0][:60], print_size(fig)))
    return found


@pytest.mark.parametrize("section", FIGURES)
def test_every_figure_prints_its_text_at_8_points_or_more(section, notebook_style):
    for title, size in sizes(section):
        assert size["min_font"] >= MIN_PRINT_FONT, (
            f"{section} / {title!r}: {size['smallest']!r} prints at {size['min_font']:.1f}pt "
            f"({size['width']:.1f}in wide, scale {size['scale']:.2f})")
        assert size["printed_height"] <= PRINT_HEIGHT + 1e-6


def test_architecture_figures_keep_an_arrow_between_consecutive_boxes(notebook_style):
    for fig in architecture_figures():
        ax = fig.axes[0]
        boxes = [t for t in ax.texts if t.get_text()]
        arrows = [t for t in ax.texts if not t.get_text() and getattr(t, "arrow_patch", None)]
        assert len(boxes) > 3 and len(arrows) == len(boxes) - 1


def test_architecture_boxes_leave_room_for_their_arrows(notebook_style):
    """Boxes of one row never overlap and leave at least a tenth of an inch for the arrow
    between them (boxes differ in width: the layout spaces them evenly)."""
    for fig in architecture_figures():
        fig.canvas.draw()  # places each box's frame where its text now is
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_bbox_patch().get_window_extent(renderer)
                 for t in fig.axes[0].texts if t.get_text()]
        same_row = [(a, b) for a, b in zip(boxes, boxes[1:]) if a.y0 < b.y1 and b.y0 < a.y1]
        assert same_row, "no two boxes side by side"
        for a, b in same_row:
            assert (b.x0 - a.x1) / fig.dpi >= 0.1, (a, b)


def test_eight_adversarial_faces_fit_well_within_one_page(notebook_style):
    fig, = adversarial_figures()
    assert len([ax for ax in fig.axes if ax.images]) == 3 * ADVERSARIAL_IMAGES  # 3 panels an attack
    size = print_size(fig)
    assert size["scale"] == 1 and size["printed_height"] <= PRINT_HEIGHT / 1.5


def test_a_bullet_list_after_a_sentence_is_a_list_in_the_pdf():
    """pandoc runs a list into the paragraph above it ("... below. - Saliency (50 faces) ...")
    unless a blank line separates them; the notebooks' Markdown gets one."""
    import subprocess

    from helpers.sections.display import list_breaks

    text = "**Answer: the eyes.** Details:\n- saliency 1.5x\n- Grad-CAM 1.4x"
    assert list_breaks(text) == "**Answer: the eyes.** Details:\n\n- saliency 1.5x\n- Grad-CAM 1.4x"
    assert list_breaks("- a\n- b") == "- a\n- b" and list_breaks("x\n\n- a") == "x\n\n- a"
    try:
        html = subprocess.run(["pandoc", "-f", "markdown", "-t", "html"], input=list_breaks(text),
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("pandoc is not installed")
    assert html.count("<li>") == 2


def test_the_arrow_to_the_next_row_runs_between_the_rows(notebook_style):
    """The arrow from a row's last box to the next row's first goes down, along the gap between
    the rows and down again: its horizontal part crosses no box (a diagonal crossed two)."""
    figures = architecture_figures()
    assert any(fig.axes[0].lines for fig in figures)  # the CNN's boxes take two rows
    for fig in figures:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in ax.texts if t.get_text()]
        for line in ax.lines:
            (x0, y), (x1, y1) = ax.transData.transform(line.get_xydata()[1:])
            assert y == pytest.approx(y1)                       # the part along the gap
            for box in boxes:
                overlaps = min(x0, x1) < box.x1 and box.x0 < max(x0, x1)
                assert not (overlaps and box.y0 <= y <= box.y1), (box, y)
