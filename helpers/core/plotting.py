"""The one image-grid helper every figure uses (pyplot-free matplotlib Figures)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure


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
