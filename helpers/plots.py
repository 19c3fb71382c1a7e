"""Figures shared by several notebooks: training curves, a compact architecture diagram and a
grid of images. Like every figure of the project they are matplotlib Figure objects made
without pyplot: make one the cell's value or `display(fig)` to show it, `fig.savefig` to save it."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure

STAGE_NAMES = {"image": "Input", "aug": "Augmentation", "normalize": "Normalization",
               "flatten": "Flatten", "logits": "Classifier", "probabilities": "Softmax"}


def plot_curves(histories: dict, title: str = "Training curves") -> Figure:
    """Loss and accuracy per epoch, train (dashed) and validation (solid), for each named run.

    `histories` maps a run name to a DataFrame with columns epoch, loss, accuracy, val_loss,
    val_accuracy (helpers.training.read_history).
    """
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2)
    colors = matplotlib.colormaps["tab10"](np.arange(max(len(histories), 1)))
    for color, (name, history) in zip(colors, histories.items()):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(history["epoch"], history[metric], "--", color=color, label=f"{name} train")
            ax.plot(history["epoch"], history[f"val_{metric}"], "-", color=color,
                    label=f"{name} validation")
    axes[0].set(title="Loss", xlabel="epoch", ylabel="cross-entropy loss")
    axes[1].set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def stages(model) -> list[dict]:
    """Group a model's layers into stages by name prefix (block1_conv1 -> block1), with the
    stage's layer types, output shape and parameter count."""
    groups: list[dict] = []
    for layer in model.layers:
        key = re.split(r"_", layer.name, maxsplit=1)[0]
        if not groups or groups[-1]["key"] != key:
            groups.append({"key": key, "layers": [], "params": 0})
        group = groups[-1]
        group["layers"].append(layer)
        group["params"] += int(layer.count_params())
        shape = getattr(layer.output, "shape", None)
        group["shape"] = "x".join(str(d) for d in shape[1:]) if shape is not None else ""
    for group in groups:
        group["label"] = _stage_label(group)
    return groups


def _stage_label(group) -> str:
    key, layers = group["key"], group["layers"]
    name = STAGE_NAMES.get(key, key.replace("block", "block ").replace("dense", "dense ").capitalize())
    convs = [l for l in layers if type(l).__name__ == "Conv2D"]
    dense = [l for l in layers if type(l).__name__ == "Dense"]
    lines = [name]
    if convs:
        c = convs[0]
        lines.append(f"{len(convs)} x conv {c.kernel_size[0]}x{c.kernel_size[1]}, {c.filters} filters")
        lines.append("+ batch norm + ReLU")
    elif dense and key != "logits":
        lines.append(f"{dense[0].units} units + BN + ReLU")
    elif key == "aug":
        lines.append(", ".join(type(l).__name__.removeprefix("Random").lower() for l in layers))
    if any(type(l).__name__ == "MaxPooling2D" for l in layers):
        lines.append("max-pool 2x2")
    drop = [l for l in layers if type(l).__name__ == "Dropout"]
    if drop:
        lines.append(f"dropout {drop[0].rate:g}")
    lines.append(f"-> {group['shape']}")
    if group["params"]:
        lines.append(f"{group['params']:,} params")
    return "\n".join(lines)


def architecture_figure(model, per_row: int = 5, title: str | None = None) -> Figure:
    """The model as a chain of boxes, one per stage, wrapped into rows."""
    groups = stages(model)
    rows = int(np.ceil(len(groups) / per_row))
    fig = Figure(figsize=(2.5 * per_row, 2.2 * rows))
    ax = fig.subplots()
    ax.set_xlim(0, per_row)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    for i, group in enumerate(groups):
        row, col = divmod(i, per_row)
        ax.text(col + 0.45, row + 0.5, group["label"], ha="center", va="center", fontsize=9.5,
                bbox=dict(boxstyle="round,pad=0.4", fc="#e8f0fb", ec="#4a78b5"))
        if i + 1 < len(groups):
            if col + 1 < per_row:
                ax.annotate("", xy=(col + 0.98, row + 0.5), xytext=(col + 0.9, row + 0.5),
                            arrowprops=dict(arrowstyle="->"))
            else:
                ax.annotate("", xy=(0.1, row + 1.15), xytext=(col + 0.45, row + 0.88),
                            arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=0.05",
                                            color="grey"))
    total = model.count_params()
    fig.suptitle(title or f"{model.name}: {total:,} parameters")
    fig.tight_layout()
    return fig


def plot_grid(images, titles=None, ncols: int = 8, cmap: str = "gray", vmin=None, vmax=None,
              cell_size: float = 1.3, suptitle: str | None = None, row_labels=None,
              title_colors=None, fig=None, fontsize: float = 8):
    """A grid of images (filters, feature maps, class images, faces): one axes per image, no
    ticks. `images` is (N, H, W) or (N, H, W, 1), or a list of (H, W) images in which None
    leaves a cell empty; for feature maps (H, W, F) pass ``np.moveaxis(maps, -1, 0)``.
    `vmin`/`vmax` fix the colour range (default: per image); `row_labels` name each row on its
    left; `title_colors` colour each title. A new Figure, sized by the number of rows, or drawn
    into `fig` (a Figure or SubFigure) and returned."""
    if isinstance(images, list):
        cells = [None if image is None else np.squeeze(np.asarray(image)) for image in images]
    else:
        array = np.asarray(images)
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim != 3:
            raise ValueError(f"expected images of shape (N, H, W), got {array.shape}")
        cells = list(array)
    if not cells:
        raise ValueError("no images to draw")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    for name, values in (("titles", titles), ("title colours", title_colors)):
        if values is not None and len(values) != len(cells):
            raise ValueError(f"{len(values)} {name} for {len(cells)} images")
    ncols = min(ncols, len(cells))
    nrows = math.ceil(len(cells) / ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    new = fig is None
    if new:
        fig = Figure(figsize=(cell_size * ncols, cell_size * nrows + (0.4 if suptitle else 0)))
    for i, image in enumerate(cells):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if row_labels is not None and i % ncols == 0:
            ax.set_ylabel(str(row_labels[i // ncols]), rotation=0, ha="right", va="center")
        if image is None:  # an empty cell: no frame, no background, the row label stays
            ax.set_frame_on(False)
            ax.patch.set_visible(False)
            continue
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            colour = {} if title_colors is None else {"color": title_colors[i]}
            ax.set_title(str(titles[i]), fontsize=fontsize, **colour)
    if suptitle:
        fig.suptitle(suptitle)
    if new:
        fig.tight_layout()
    return fig
