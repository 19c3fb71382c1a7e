"""The one image-grid helper every figure uses (pyplot-free matplotlib Figures), and the
size a figure's text prints at in the PDF (print_size)."""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# The report's LaTeX template (report/template/fer_report.tex.j2: nbconvert's article, letter
# paper, 0.6in margins, so a text width of 7.3in) includes each output image with
# \adjustimage{max size={0.9\linewidth}{0.9\paperheight}}: an image larger than this is scaled
# down to fit, a smaller one keeps its size.
PRINT_WIDTH = 0.9 * 7.3
"""The widest a figure prints in the PDF (inches)."""
PRINT_HEIGHT = 0.9 * 11
"""The tallest a figure prints in the PDF (inches)."""
MIN_PRINT_FONT = 8.0
"""The smallest text size (points) every figure of the report keeps in print."""


def print_size(fig) -> dict:
    """How `fig` prints in the PDF: the notebooks show a figure as a PNG of its tight bounding
    box plus `savefig.pad_inches` on each side (IPython's inline backend), which the LaTeX
    template shrinks to at most PRINT_WIDTH x PRINT_HEIGHT inches.

    Draws the figure (Agg) and records every text actually drawn (titles, suptitle, axis and
    tick labels, legend texts, annotations, color-bar labels and ticks; invisible and empty
    texts draw nothing and are left out). Returns width and height (inches, of the image),
    scale (what the PDF multiplies it by, at most 1), printed_width and printed_height
    (inches), min_font (points in print of the smallest text; inf without text), smallest
    (that text) and fonts ([(points in print, text)], smallest first)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    drawn = []
    draw_text = renderer.draw_text

    def recording(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if s.strip():
            drawn.append((prop.get_size_in_points(), s))
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = recording
    try:
        fig.draw(renderer)
    finally:
        del renderer.draw_text  # back to the class's method
    box = fig.get_tightbbox(renderer)  # inches
    pad = mpl.rcParams["savefig.pad_inches"]
    width, height = box.width + 2 * pad, box.height + 2 * pad
    scale = min(1.0, PRINT_WIDTH / width, PRINT_HEIGHT / height)
    fonts = sorted((size * scale, text) for size, text in drawn)
    return {"width": width, "height": height, "scale": scale, "printed_width": width * scale,
            "printed_height": height * scale,
            "min_font": fonts[0][0] if fonts else math.inf,
            "smallest": fonts[0][1] if fonts else None, "fonts": fonts}


def set_fonts(*axes, title: float = 10, labels: float = 9, ticks: float = 8) -> None:
    """Font sizes (points) of each axes' title, axis labels and tick labels, for a figure
    drawn at its print size (PRINT_WIDTH wide at most), whatever the notebooks' style."""
    for ax in axes:
        ax.title.set_fontsize(title)
        ax.xaxis.label.set_fontsize(labels)
        ax.yaxis.label.set_fontsize(labels)
        ax.tick_params(labelsize=ticks)
        ax.xaxis.get_offset_text().set_fontsize(ticks)
        ax.yaxis.get_offset_text().set_fontsize(ticks)


def plot_grid(images, titles=None, ncols: int = 8, cmap: str = "gray", vmin=None, vmax=None,
              cell_size: float = 1.3, suptitle: str | None = None, row_labels=None,
              title_colors=None, fig=None, fontsize: float = 8):
    """A grid of images (filters, feature maps, class images, faces): one axes per image, no
    ticks. `images` is (N, H, W) or (N, H, W, 1), or a list of (H, W) images in which None
    leaves a cell empty; for feature maps (H, W, F) pass ``np.moveaxis(maps, -1, 0)``.
    `vmin`/`vmax` fix the color range (default: per image); `row_labels` name each row on its
    left; `title_colors` color each title. Titles and row labels are `fontsize` points, the
    suptitle 10. A new Figure, sized by the number of rows, or drawn into `fig` (a Figure or
    SubFigure) and returned. For the PDF (print_size) keep `cell_size * ncols` plus the row
    labels within PRINT_WIDTH: a wider figure prints smaller."""
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
    for name, values in (("titles", titles), ("title colors", title_colors)):
        if values is not None and len(values) != len(cells):
            raise ValueError(f"{len(values)} {name} for {len(cells)} images")
    ncols = min(ncols, len(cells))
    nrows = math.ceil(len(cells) / ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    new = fig is None
    if new:
        # Laid out by hand, at sizes known in inches: the row labels' width (about 0.6 em a
        # character), then `cell_size` a column (the image and a small gap); a row is its
        # titles (lines of `fontsize` points) above a cell; the suptitle on top.
        gap = 0.06
        labels = 0 if row_labels is None else 0.1 + 0.6 * fontsize / 72 * max(
            len(line) for label in row_labels for line in str(label).split("\n"))
        lines = 0 if titles is None else max(str(t).count("\n") + 1 for t in titles)
        title_height = (lines * 1.2 * fontsize + 2) / 72 if lines else 0
        top = (suptitle.count("\n") + 1) * 10 * 1.3 / 72 + 0.1 if suptitle else 0
        width = cell_size * ncols + labels
        height = (cell_size + title_height) * nrows + top
        fig = Figure(figsize=(width, height))
        side = cell_size - gap

        def place(i):
            row, col = divmod(i, ncols)
            left = labels + col * cell_size + gap / 2
            bottom = height - top - (row + 1) * (cell_size + title_height) + gap / 2
            return fig.add_axes((left / width, bottom / height, side / width, side / height))
    else:
        def place(i):
            return fig.add_subplot(nrows, ncols, i + 1)
    for i, image in enumerate(cells):
        ax = place(i)
        ax.set_xticks([])
        ax.set_yticks([])
        if row_labels is not None and i % ncols == 0:
            ax.set_ylabel(str(row_labels[i // ncols]), rotation=0, ha="right", va="center",
                          fontsize=fontsize)
        if image is None:  # an empty cell: no frame, no background, the row label stays
            ax.set_frame_on(False)
            ax.patch.set_visible(False)
            continue
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            color = {} if title_colors is None else {"color": title_colors[i]}
            ax.set_title(str(titles[i]), fontsize=fontsize, pad=2, **color)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1 - 0.05 / fig.get_figheight() if new else 0.98,
                     va="top")
    return fig
