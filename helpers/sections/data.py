"""The data, before any model (notebook 01): class balance, sample faces, pixel statistics and
what histogram equalization and normalization do to the faces. Summaries are plain dicts (the
notebook writes them to results.json), sentences are Markdown, figures are pyplot-free."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from helpers.analysis.pixels import LOW_CONTRAST
from helpers.core.config import CLASS_NAMES, NUM_CLASSES
from helpers.core.plotting import plot_grid, set_fonts
from helpers.core.words import pct, plural, verb
from helpers.data.preprocess import equalize_histogram, pixel_stats
from helpers.sections import number


def class_summary(y_all, train_idx, val_idx, *, source_format: str, test_rows: int,
                  test_labeled: bool, val_fraction: float, seed: int) -> dict:
    """Faces per class in the training file and in its train and validation splits."""
    counts = np.bincount(y_all, minlength=NUM_CLASSES)
    return {"source_format": source_format, "class_counts": counts.tolist(),
            "train_class_counts": np.bincount(y_all[train_idx], minlength=NUM_CLASSES).tolist(),
            "val_class_counts": np.bincount(y_all[val_idx], minlength=NUM_CLASSES).tolist(),
            "train_rows": int(len(train_idx)), "val_rows": int(len(val_idx)),
            "test_rows": test_rows, "test_labeled": test_labeled, "val_fraction": val_fraction,
            "seed": seed}


def class_table(s: dict) -> pd.DataFrame:
    """One row per class: faces, share, and faces in the train and validation splits."""
    counts = np.asarray(s["class_counts"])
    return pd.DataFrame({"class": CLASS_NAMES, "faces": counts,
                         "share": [pct(c / counts.sum()) for c in counts],
                         "train split": s["train_class_counts"],
                         "validation split": s["val_class_counts"]})


def class_sentences(s: dict) -> str:
    """Sizes of the splits and of the test file, and how unbalanced the classes are."""
    counts = np.asarray(s["class_counts"])
    big, small = int(counts.argmax()), int(counts.argmin())
    test = (f"The test file has {s['test_rows']:,} faces "
            f"({'with' if s['test_labeled'] else 'without'} labels). " if s["test_rows"] else
            "There is no test file, so this report writes no leaderboard submission. ")
    if counts[small] == 0:
        balance = (f"The classes are unbalanced: *{CLASS_NAMES[big]}* has "
                   f"{pct(counts[big] / counts.sum())} of the faces and *{CLASS_NAMES[small]}* none.")
    elif counts[big] < 1.5 * counts[small]:
        balance = "The classes are about balanced."
    else:
        balance = (f"The classes are unbalanced: *{CLASS_NAMES[big]}* has "
                   f"{pct(counts[big] / counts.sum())} of the faces ({counts[big]:,}) and *{CLASS_NAMES[small]}* only "
                   f"{pct(counts[small] / counts.sum())} ({counts[small]:,}), {counts[big] / counts[small]:.1f} times fewer.")
    return (f"The training data has **{counts.sum():,} faces** ({s['source_format']}); "
            f"{s['train_rows']:,} train the models and {s['val_rows']:,} ({s['val_fraction']:.0%}, "
            f"seed {s['seed']}) are held out for validation. " + test + balance)


def class_figure(s: dict) -> Figure:
    """Faces per class as bars labeled with their share."""
    counts = np.asarray(s["class_counts"])
    fig = Figure(figsize=(5.6, 2.1))
    ax = fig.subplots()
    bars = ax.bar(CLASS_NAMES, counts, color=colormaps["tab10"](np.arange(NUM_CLASSES)))
    ax.bar_label(bars, labels=[pct(c / counts.sum()) for c in counts], fontsize=8)
    ax.set(title="Faces per expression (training file)", xlabel="expression", ylabel="faces")
    ax.margins(y=0.15)  # room for the bar labels
    set_fonts(ax, ticks=9)
    fig.tight_layout()
    return fig


def sample_faces_figure(x, y, per_class: int, seed: int) -> Figure:
    """`per_class` random faces of each class, a row per class (drawn with `seed`)."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == label), per_class, replace=False)
             for label in range(NUM_CLASSES)]
    fig = plot_grid(x[np.concatenate(picks)], ncols=per_class, vmin=0, vmax=255,
                    cell_size=min(0.5, 4.8 / per_class), suptitle="Random training faces per class",
                    row_labels=CLASS_NAMES, fontsize=9)
    return fig


def pixel_summary(contrast, x_train) -> dict:
    """Pixel mean and standard deviation of the training split (what the models standardize
    with), and from every face's `contrast` (face_contrast) the median and how many faces are
    nearly flat."""
    stats = pixel_stats(x_train)
    return {"pixel_mean": stats["mean"], "pixel_std": stats["std"],
            "median_image_contrast": float(np.median(contrast)),
            "low_contrast_images": int(np.sum(contrast < LOW_CONTRAST))}


def pixel_sentences(s: dict) -> str:
    """The pixel statistics and the contrast of the faces in words."""
    flat = s["low_contrast_images"]
    return (f"Pixels of the training split (what the models standardize with) average "
            f"**{s['pixel_mean']:.1f}** with standard deviation **{s['pixel_std']:.1f}** (on 0..255). "
            "Faces differ a lot in contrast: the median face has a pixel standard deviation of "
            f"{s['median_image_contrast']:.1f}, and {plural(flat, 'face')} {verb(flat, 'is', 'are')} "
            f"nearly flat (below {LOW_CONTRAST}): FER2013 is known to contain blank or broken "
            "images, and these are candidates (they are kept, as the course's data has them).")


def preprocessing_figure(faces, mean: float, std: float) -> Figure:
    """Faces (N, H, W[, 1]) in 0..255 as they are, histogram-equalized and normalized with the
    training `mean` and `std`, a row each. Normalized values from -2.5 to 2.5 are drawn from
    black to white."""
    faces = np.asarray(faces, dtype=np.float32).reshape(len(faces), *np.shape(faces)[1:3])
    normalized = (faces - mean) / std
    shown = np.concatenate([faces, equalize_histogram(faces.astype(np.uint8)),
                            np.clip((normalized + 2.5) / 5 * 255, 0, 255)])
    return plot_grid(shown, ncols=len(faces), vmin=0, vmax=255, cell_size=min(0.6, 4.5 / len(faces)),
                     row_labels=["original", "equalized", "normalized"], fontsize=9,
                     suptitle="Faces from low to high contrast,\nbefore and after preprocessing")


def preprocessing_histograms(sample, equalized, mean: float, std: float) -> Figure:
    """Pixel histograms of `sample` as it is, histogram-equalized (`equalized`) and normalized."""
    fig = Figure(figsize=(5.6, 1.8))
    axes = fig.subplots(1, 3)
    axes[0].hist(sample.ravel(), bins=64)
    axes[0].set(title="original", xlabel="gray level", ylabel="pixels")
    axes[1].hist(np.asarray(equalized).ravel(), bins=64, color="tab:green")
    axes[1].set(title="equalized", xlabel="gray level")
    axes[2].hist(((sample.astype(np.float32) - mean) / std).ravel(), bins=64, color="tab:purple")
    axes[2].set(title="normalized", xlabel="standardized value")
    set_fonts(*axes)
    fig.tight_layout()
    return fig


def equalization_sentence(before: float, after: float, faces: int, sample: int) -> str:
    """What equalization and normalization change, from the median contrast of all `faces` faces
    before (pixel_summary's) and after equalization; the histograms show a `sample` of them."""
    change = (f"{'raises' if after > before else 'lowers'} the median per-face contrast from "
              f"{before:.1f} to {after:.1f}" if round(after, 1) != round(before, 1) else
              f"keeps the median per-face contrast at {before:.1f}")
    return (f"Over all {faces:,} faces, equalization {change} gray levels and flattens the pixel histogram "
            f"(the histograms: {sample:,} faces, stratified by class); normalization only shifts and rescales "
            "it (mean 0, standard deviation 1) without changing the image. Whether either helps the "
            f"classifier is measured in sections {number('ablation')} and {number('further')}.")
