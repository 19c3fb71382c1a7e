"""Question 6, where the network looks: saliency maps, SmoothGrad and Grad-CAM, and the
summaries notebook 05 shows (face regions, map agreement between two models, figures).

Maps are non-negative and normalised per image by dividing by their maximum, so 0 still means
"no influence" and 1 is the image's most influential pixel.

tf-keras-vis 0.8.7 does work on Keras 3.15 functional models: ``Saliency`` with
``ReplaceToLinear`` gives exactly our vanilla saliency (after max-normalisation), ``Gradcam`` the
same class activation map (it upsamples with scipy's zoom rather than a bilinear resize). We still
write each method directly on the tape, in a few lines: tf-keras-vis clones the model for every
visualizer and warns about the input structure under Keras 3. tests/test_saliency.py
cross-checks saliency_maps and grad_cam against it.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot: make the figure the cell's
value (or ``display(fig)``) to show it once; ``fig.savefig`` saves it.
"""

from __future__ import annotations

from helpers.backend import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from tqdm.auto import tqdm

from helpers.config import CLASS_NAMES
from helpers.gradients import (_as_batch, _batches, _input_gradients, _layer, _normalise_max,
                               _submodel, _targets, conv_layer_names, predict_logits)
from helpers.models import logits_model
from helpers.notebook import pct


SMOOTHGRAD_NOISE = 0.15  # default SmoothGrad noise, as a share of the 0..255 pixel range


# Fixed boxes on the aligned 48x48 FER2013 faces, as (row_start, row_stop, col_start, col_stop),
# half-open like Python slices. FER2013 faces are centred and cropped to the face, so the eyes
# (with the brows) sit in rows 10..23 across nearly the full width, and the mouth in rows 30..43,
# columns 12..35. Every pixel outside both boxes belongs to "rest" (nose, cheeks, forehead,
# chin, hair and background). By area: eyes 24.3%, mouth 14.6%, rest 61.1% of the image, which
# is the share a uniform saliency map would give.
FACE_REGIONS = {
    "eyes": (10, 24, 4, 44),
    "mouth": (30, 44, 12, 36),
}


def saliency_maps(model: keras.Model, images, class_indices=None) -> np.ndarray:
    """Vanilla gradient saliency (Simonyan et al. 2013): |d logit_c / d pixel|, max over
    channels, normalised to 0..1 per image. `class_indices` defaults to the predicted class.
    Returns float32 (N, H, W)."""
    lmodel = logits_model(model)
    x = _as_batch(images, model)
    idx = _targets(model, lmodel, x, class_indices)
    grads = np.concatenate([_input_gradients(lmodel, x[s], idx[s]) for s in _batches(len(x))])
    return _normalise_max(np.abs(grads).max(axis=-1))


def smoothgrad(model: keras.Model, images, class_indices=None, samples: int = 20,
               noise: float = SMOOTHGRAD_NOISE, seed: int = 0) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the input gradient of logit_c averaged over `samples`
    copies of each image with Gaussian noise of standard deviation `noise` x 255 added, then
    |.|, max over channels, normalised to 0..1 per image. `class_indices` defaults to the class
    predicted on the clean image. Returns float32 (N, H, W)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    lmodel = logits_model(model)
    x = _as_batch(images, model)
    idx = _targets(model, lmodel, x, class_indices)
    rng = np.random.default_rng(seed)
    total = np.zeros_like(x)
    for _ in range(samples):
        noisy = x + rng.normal(0.0, noise * 255.0, size=x.shape).astype(np.float32)
        total += np.concatenate([_input_gradients(lmodel, noisy[s], idx[s])
                                 for s in _batches(len(x))])
    return _normalise_max(np.abs(total / samples).max(axis=-1))


def grad_cam(model: keras.Model, images, class_indices=None, layer_name: str | None = None
             ) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): the feature maps of `layer_name` (default: the last
    Conv2D layer) weighted by the spatial mean of d logit_c / d feature map, summed, ReLU,
    upsampled bilinearly to the input size and normalised to 0..1 per image. Any layer with a
    (N, h, w, C) output works (e.g. a block's ReLU or pooling layer). Returns float32 (N, H, W)."""
    if layer_name is None:
        names = conv_layer_names(model)
        if not names:
            raise ValueError(f"model {model.name!r} has no Conv2D layer for Grad-CAM")
        layer_name = names[-1]
    lmodel = logits_model(model)
    x = _as_batch(images, model)
    idx = _targets(model, lmodel, x, class_indices)
    features = _layer(model, layer_name).output
    if len(features.shape) != 4:
        raise ValueError(f"layer {layer_name!r} has output {features.shape}, not (N, h, w, C)")
    cam_model = _submodel(model, [features, lmodel.outputs[0]])
    cams = []
    for s in _batches(len(x)):
        with tf.GradientTape() as tape:
            maps, logits = cam_model(tf.convert_to_tensor(x[s]), training=False)
            scores = tf.gather(logits, idx[s], axis=1, batch_dims=1)
        weights = tf.reduce_mean(tape.gradient(scores, maps), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
        cams.append(tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy())
    return _normalise_max(np.concatenate(cams))


def mask_by_saliency(images, saliency, threshold: float = 0.5):
    """Zero the pixels whose saliency (a 0..1 map, as returned above) is below `threshold`.

    `images` is (N, H, W) or (N, H, W, C) (or one image without N) and `saliency` matches it
    without the channel axis. Returns (masked images, same shape and dtype as `images`; kept
    fraction of pixels per image, shape (N,) or a float for one image)."""
    images = np.asarray(images)
    sal = np.asarray(saliency, dtype=np.float32)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in 0..1, got {threshold}")
    if sal.ndim < 2 or images.shape[:sal.ndim] != sal.shape or images.ndim - sal.ndim > 1:
        raise ValueError(f"saliency {sal.shape} does not match images {images.shape}")
    if sal.min() < -1e-6 or sal.max() > 1 + 1e-6:
        raise ValueError("saliency must be a 0..1 map (normalise it first)")
    keep = sal >= threshold
    mask = keep[..., None] if images.ndim > sal.ndim else keep
    masked = np.where(mask, images, np.zeros((), dtype=images.dtype)).astype(images.dtype)
    kept = keep.mean(axis=(-2, -1))
    return masked, (float(kept) if np.ndim(kept) == 0 else kept)


def region_masks(shape=(48, 48)) -> dict:
    """Boolean masks of FACE_REGIONS (and "rest", the complement) for an image of `shape`."""
    masks = {}
    for name, (r0, r1, c0, c1) in FACE_REGIONS.items():
        masks[name] = np.zeros(shape, dtype=bool)
        masks[name][r0:r1, c0:c1] = True
    masks["rest"] = ~np.logical_or.reduce(list(masks.values()))
    return masks


def region_share(saliency) -> dict:
    """Mean share of saliency mass in each face region: {"eyes", "mouth", "rest"} -> float.

    `saliency` is one non-negative map (H, W) or a stack (N, H, W). Each map's shares (mass in
    the region / total mass) sum to 1; maps with no mass at all are left out of the mean."""
    sal = np.asarray(saliency, dtype=np.float64)
    sal = sal[None] if sal.ndim == 2 else sal
    if sal.ndim != 3:
        raise ValueError(f"expected saliency of shape (H, W) or (N, H, W), got {sal.shape}")
    if sal.min() < 0:
        raise ValueError("saliency must be non-negative")
    total = sal.sum(axis=(1, 2))
    sal = sal[total > 0]
    if len(sal) == 0:
        raise ValueError("every saliency map is all zero: no mass to share")
    total = total[total > 0]
    return {name: float(np.mean(sal[:, mask].sum(axis=1) / total))
            for name, mask in region_masks(sal.shape[1:]).items()}


def saliency_figure(model: keras.Model, images, labels=None, threshold: float = 0.5,
                    samples: int = 20, seed: int = 0, cell_size: float = 1.8) -> Figure:
    """The standard explanation figure, one row per image: original | saliency | masked
    (pixels with saliency >= `threshold` kept) | Grad-CAM over the face | SmoothGrad. Maps are
    for the predicted class; rows are titled with the true (if `labels` given) and predicted
    class. Models without a Conv2D layer (the DNN) get no Grad-CAM column."""
    x = _as_batch(images, model)
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and labels.shape != (len(x),):
        raise ValueError(f"need one label per image, got {labels.shape} for {len(x)} images")
    probs = tf.nn.softmax(predict_logits(model, x)).numpy()
    predicted = probs.argmax(axis=1)
    sal = saliency_maps(model, x, predicted)
    columns = {"original": None, "saliency": sal,
               f"masked (>= {threshold:g})": mask_by_saliency(x[..., 0], sal, threshold)[0]}
    if conv_layer_names(model):
        columns["Grad-CAM"] = grad_cam(model, x, predicted)
    columns["SmoothGrad"] = smoothgrad(model, x, predicted, samples=samples, seed=seed)
    fig = Figure(figsize=(cell_size * len(columns), cell_size * len(x) + 0.3))
    axes = fig.subplots(len(x), len(columns), squeeze=False)
    for row, ax_row in enumerate(axes):
        for ax, (name, maps) in zip(ax_row, columns.items()):
            _draw_explanation(ax, x[row, ..., 0], name, None if maps is None else maps[row])
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
        name = f"pred {CLASS_NAMES[predicted[row]]} ({probs[row, predicted[row]]:.0%})"
        if labels is not None:
            name = f"true {CLASS_NAMES[labels[row]]}\n{name}"
        ax_row[0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def _draw_explanation(ax, image: np.ndarray, column: str, values) -> None:
    if column == "original" or column.startswith("masked"):
        ax.imshow(image if values is None else values, cmap="gray", vmin=0, vmax=255)
    elif column == "Grad-CAM":
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.imshow(values, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    else:
        ax.imshow(values, cmap="hot", vmin=0, vmax=1)


def explain(model: keras.Model, images, samples: int = 20, noise: float = SMOOTHGRAD_NOISE,
            seed: int = 0):
    """The predicted class of each image and its three maps for that class:
    (predicted (N,), saliency, Grad-CAM, SmoothGrad (N, H, W) each)."""
    predicted = predict_logits(model, images).argmax(axis=1)
    return (predicted, saliency_maps(model, images, predicted), grad_cam(model, images, predicted),
            smoothgrad(model, images, predicted, samples=samples, noise=noise, seed=seed))


def predicted_maps(model: keras.Model, images, batch: int = 100, desc: str | None = None,
                   progress: bool = True):
    """Predicted class, saliency and Grad-CAM for many images, `batch` at a time with a tqdm
    bar over batches: (predicted (N,), saliency (N, H, W), Grad-CAM (N, H, W))."""
    parts = []
    for start in tqdm(range(0, len(images), batch), desc=desc, unit="batch", disable=not progress):
        x = images[start:start + batch]
        predicted = predict_logits(model, x).argmax(axis=1)
        parts.append((predicted, saliency_maps(model, x, predicted), grad_cam(model, x, predicted)))
    return [np.concatenate(p) for p in zip(*parts)]


def top_share(maps, fraction: float = 0.1) -> np.ndarray:
    """Per map (N, H, W): the share of its mass held by its `fraction` most salient pixels
    (at least one pixel). A uniform map gives `fraction`; an all-zero map gives 0."""
    maps = np.asarray(maps)
    flat = np.sort(maps.reshape(len(maps), -1), axis=1)[:, ::-1]
    k = max(1, int(round(fraction * flat.shape[1])))
    return flat[:, :k].sum(axis=1) / np.maximum(flat.sum(axis=1), 1e-12)


def map_correlation(a, b) -> np.ndarray:
    """Pearson correlation of each pair of maps (a[i], b[i]) over their pixels, shape (N,);
    a pair with a constant map counts as 0."""
    a, b = np.asarray(a), np.asarray(b)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a ** 2).sum(axis=1) * (b ** 2).sum(axis=1))
    return np.where(denominator > 0,
                    (a * b).sum(axis=1) / np.where(denominator > 0, denominator, 1), 0.0)


def correlation_strength(r: float) -> str:
    """'weak' (|r| < 0.3), 'moderate' (< 0.6) or 'strong'."""
    return "weak" if abs(r) < 0.3 else "moderate" if abs(r) < 0.6 else "strong"


def region_area(shape=(48, 48)) -> dict:
    """Share of the image area in each region of region_masks: {"eyes", "mouth", "rest"}."""
    return {name: float(mask.mean()) for name, mask in region_masks(shape).items()}


def region_boxes() -> dict:
    """Each region's box in words ("rows 10-23, columns 4-43"; rest: "every other pixel")."""
    boxes = {name: f"rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1}"
             for name, (r0, r1, c0, c1) in FACE_REGIONS.items()}
    boxes["rest"] = "every other pixel"
    return boxes


def format_shares(share: dict, skip: str | None = None) -> str:
    """{"eyes": 0.2, "mouth": 0.5} -> 'eyes 20.0%, mouth 50.0%', leaving out region `skip`."""
    return ", ".join(f"{r} {pct(v)}" for r, v in share.items() if r != skip)


def region_share_table(shares: dict, area: dict, density: tuple[str, dict] | None = None
                       ) -> pd.DataFrame:
    """The region table for the report: one row per measure, one column per region. `shares`
    maps a measure's name to its region_share dict; `density` = (row name, shares) adds a row
    with those shares divided by the regions' area shares ("1.50x")."""
    frame = pd.DataFrame({"region": list(area), "box": [region_boxes()[r] for r in area],
                          "share of area": [pct(area[r]) for r in area]})
    for column, share in shares.items():
        frame[column] = [pct(share[r]) for r in area]
    if density is not None:
        frame[density[0]] = [f"{density[1][r] / area[r]:.2f}x" for r in area]
    return frame.set_index("region").T.rename_axis("measure").reset_index()


def region_share_by_class(saliency, labels) -> dict:
    """region_share of the maps of each true class: {class name: {"faces": n, "eyes": ...,
    "mouth": ..., "rest": ...}}, for the classes with at least one map with some mass."""
    saliency, labels = np.asarray(saliency), np.asarray(labels)
    per_class = {}
    for c, name in enumerate(CLASS_NAMES):
        members = labels == c
        if members.any() and saliency[members].sum() > 0:
            per_class[name] = {"faces": int(members.sum()), **region_share(saliency[members])}
    return per_class


def per_class_table(per_class: dict, area: dict) -> pd.DataFrame:
    """One row per class of region_share_by_class: faces, the share of each region and the
    eyes' and mouth's share divided by their area share."""
    return pd.DataFrame([{"true class": name, "faces": v["faces"],
                          **{r: pct(v[r]) for r in area},
                          **{f"{r} / area": f"{v[r] / area[r]:.2f}x" for r in ("eyes", "mouth")}}
                         for name, v in per_class.items()])


def saliency_figures(model: keras.Model, images, labels, title: str, per_class: int,
                     threshold: float = 0.5, samples: int = 20, seed: int = 0) -> list[Figure]:
    """saliency_figure for faces chosen `per_class` per class, split by class into figures
    of about 8 rows so that each stays readable on a page; `title` opens each suptitle."""
    labels = np.asarray(labels)
    classes = [c for c in range(len(CLASS_NAMES)) if (labels == c).any()]
    per_figure = max(1, 8 // per_class)
    groups = [classes[i:i + per_figure] for i in range(0, len(classes), per_figure)]
    figures = []
    for part, group in enumerate(groups, 1):
        rows = np.isin(labels, group)
        fig = saliency_figure(model, images[rows], labels[rows], threshold=threshold,
                              samples=samples, seed=seed, cell_size=1.6)
        fig.suptitle(f"{title}: explanations of the predicted class"
                     + (f" ({part}/{len(groups)})" if len(groups) > 1 else ""), fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
        figures.append(fig)
    return figures


REGION_COLOURS = {"eyes": "lime", "mouth": "magenta", "rest": "white"}


def region_figure(mean_face, mean_saliency, mean_cam, faces: int, area: dict) -> Figure:
    """Three panels with the FACE_REGIONS boxes drawn on them: the mean face, the mean
    saliency and the mean Grad-CAM of `faces` faces; box labels give each region's `area`."""
    fig = Figure(figsize=(11, 3.9))
    axes = fig.subplots(1, 3)
    panels = [("mean validation face", mean_face, "gray", None),
              (f"mean saliency, {faces} faces", mean_saliency, "hot", "mean normalised saliency"),
              (f"mean Grad-CAM, {faces} faces", mean_cam, "jet", "mean normalised Grad-CAM")]
    for ax, (title, image, cmap, label) in zip(axes, panels):
        shown_image = ax.imshow(image, cmap=cmap)
        if label:
            fig.colorbar(shown_image, ax=ax, fraction=0.046, pad=0.04, label=label)
        for name, (r0, r1, c0, c1) in FACE_REGIONS.items():
            colour = REGION_COLOURS[name]
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, lw=1.8,
                                   ec=colour))
            ax.text(c0, r0 - 1, f"{name} ({pct(area[name], 0)} of area)", color=colour, fontsize=7,
                    va="bottom", bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))
        ax.set(title=title, xlabel="column (pixel)", ylabel="row (pixel)")
        ax.grid(False)
    fig.suptitle("Face regions (fixed boxes) and where the main CNN looks on average")
    fig.tight_layout()
    return fig
