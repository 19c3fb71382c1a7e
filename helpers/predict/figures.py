"""Figures of predictions: faces with their probabilities, a photo's boxes, Grad-CAM explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.core.config import CLASS_NAMES
from helpers.predict.faces import Face


def explanation_figure(face: Face, proba: np.ndarray, cam: np.ndarray, cam_run: str):
    """One face: the face, its Grad-CAM overlay (for the predicted class, of run `cam_run`)
    and the three most probable classes. A matplotlib Figure (no pyplot)."""
    from matplotlib.figure import Figure

    top = np.argsort(-proba, kind="stable")[:3]
    fig = Figure(figsize=(7.5, 2.6))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    axes[0].imshow(face.pixels, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title("face", fontsize=9)
    axes[1].imshow(face.pixels, cmap="gray", vmin=0, vmax=255)
    axes[1].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    axes[1].set_title(f"Grad-CAM ({cam_run})", fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[2].barh([CLASS_NAMES[k] for k in top][::-1], proba[top][::-1], color="tab:blue")
    for y, k in enumerate(top[::-1]):
        axes[2].text(min(proba[k] + 0.02, 0.8), y, f"{proba[k]:.1%}", va="center", fontsize=9)
    axes[2].set_xlim(0, 1)
    axes[2].set_title("top 3 classes", fontsize=9)
    # A photo's face is named by its place in the photo; a 48x48 image is the face itself.
    where = f", face {face.index} at {face.box[0]},{face.box[1]}" if face.box else ""
    fig.suptitle(f"{Path(face.source).name}{where}: {CLASS_NAMES[top[0]]}", fontsize=10)
    fig.tight_layout()
    return fig


def predictions_figure(faces: np.ndarray, labels, proba: np.ndarray):
    """Faces (N, 48, 48) in rows of at most four, titled with their true and predicted class and
    its probability (red where the prediction is wrong). A matplotlib Figure (no pyplot)."""
    from helpers.core.plotting import plot_grid

    titles = [f"true {CLASS_NAMES[true]}\npred {CLASS_NAMES[p.argmax()]} {p.max():.0%}"
              for true, p in zip(labels, proba)]
    colors = ["black" if p.argmax() == true else "tab:red" for true, p in zip(labels, proba)]
    # Four to a row keep the titles legible at the notebook's width (eight in a row: 8 px text).
    return plot_grid(faces, titles=titles, title_colors=colors, ncols=min(len(faces), 4), vmin=0,
                     vmax=255, cell_size=1.9)


def photo_figure(gray: np.ndarray, boxes, proba: np.ndarray):
    """A photo with the detector's face boxes, each labeled with its most probable class. A
    matplotlib Figure (no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(6, 6 * gray.shape[0] / gray.shape[1]))
    ax = fig.subplots()
    ax.imshow(gray, cmap="gray", vmin=0, vmax=255)
    for (x, y, w, h), p in zip(boxes, proba):
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="yellow", linewidth=2))
        ax.text(x, y - 6, f"{CLASS_NAMES[p.argmax()]} {p.max():.0%}", color="yellow", fontsize=10,
                weight="bold")
    ax.axis("off")
    return fig
