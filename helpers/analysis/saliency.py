"""Saliency maps (gradients, SmoothGrad, Grad-CAM), masks, face-region shares, and the measures
that check the maps (smoothness, the model-randomization test, bootstrap intervals): numbers only."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata
from helpers.core.progress import progress_bar
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf

from helpers.analysis.gradients import (
    as_batch,
    batch_ranges,
    checked_indices,
    conv_layer_names,
    input_gradients,
    layer_named,
    normalise_max,
    predict_logits,
    sub_model,
    target_classes,
)
from helpers.core.config import CLASS_NAMES
from helpers.modeling.models import RandomCrop, logits_model

# SmoothGrad as its paper recommends (Smilkov et al. 2017): noise of 10-20% of the input range,
# about 50 noisy copies (more changes little).
SMOOTHGRAD_NOISE = 0.15  # standard deviation of the noise, as a share of the 0..255 pixel range
SMOOTHGRAD_SAMPLES = 50
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


# Fixed boxes on the aligned 48x48 FER2013 faces, as (row_start, row_stop, col_start, col_stop),
# half-open like Python slices. FER2013 faces are centered and cropped to the face, so the eyes
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
    channels, normalized to 0..1 per image. `class_indices` defaults to the predicted class.
    Returns float32 (N, H, W)."""
    lmodel = logits_model(model)
    x = as_batch(images, model)
    idx = target_classes(model, lmodel, x, class_indices)
    grads = np.concatenate([input_gradients(lmodel, x[s], idx[s]) for s in batch_ranges(len(x))])
    return normalise_max(np.abs(grads).max(axis=-1))


def smoothgrad(model: keras.Model, images, class_indices=None, samples: int = SMOOTHGRAD_SAMPLES,
               noise: float = SMOOTHGRAD_NOISE, seed: int = 0) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the magnitude of the input gradient of logit_c averaged
    over `samples` copies of each image with Gaussian noise of standard deviation `noise` x 255
    added: mean |d logit_c / d pixel|, max over channels, normalized to 0..1 per image.
    `class_indices` defaults to the class predicted on the clean image. Returns float32 (N, H, W).

    Magnitudes are averaged, as the authors' library does by default (it averages squares): a
    signed average cancels the gradient's sign flips only slowly, so 50 copies leave it
    speckled, while the mean magnitude is the expected sensitivity of each pixel near the face."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    lmodel = logits_model(model)
    x = as_batch(images, model)
    idx = target_classes(model, lmodel, x, class_indices)
    rng = np.random.default_rng(seed)
    total = np.zeros_like(x)
    for _ in range(samples):
        noisy = x + rng.normal(0.0, noise * 255.0, size=x.shape).astype(np.float32)
        total += np.abs(np.concatenate([input_gradients(lmodel, noisy[s], idx[s])
                                        for s in batch_ranges(len(x))]))
    return normalise_max((total / samples).max(axis=-1))


def grad_cam(model: keras.Model, images, class_indices=None, layer_name: str | None = None
             ) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): the feature maps of `layer_name` (default: the last
    Conv2D layer) weighted by the spatial mean of d logit_c / d feature map, summed, ReLU,
    placed on the input pixels its cells cover (`feature_grid`, `place_cells`: a model that
    center-crops 48 to 44 and pools 'valid' sees none of the border pixels, which get 0) and
    normalized to 0..1 per image. Any layer with a (N, h, w, C) output works (e.g. a block's
    ReLU or pooling layer). Returns float32 (N, H, W)."""
    if layer_name is None:
        names = conv_layer_names(model)
        if not names:
            raise ValueError(f"model {model.name!r} has no Conv2D layer for Grad-CAM")
        layer_name = names[-1]
    lmodel = logits_model(model)
    x = as_batch(images, model)
    idx = target_classes(model, lmodel, x, class_indices)
    features = layer_named(model, layer_name).output
    if len(features.shape) != 4:
        raise ValueError(f"layer {layer_name!r} has output {features.shape}, not (N, h, w, C)")
    offset, stride = feature_grid(model, layer_name)
    cam_model = sub_model(model, [features, lmodel.outputs[0]])
    cams = []
    for s in batch_ranges(len(x)):
        with tf.GradientTape() as tape:
            maps, logits = cam_model(tf.convert_to_tensor(x[s]), training=False)
            scores = tf.gather(logits, idx[s], axis=1, batch_dims=1)
        weights = tf.reduce_mean(tape.gradient(scores, maps), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
        cams.append(place_cells(cam[..., 0].numpy(), x.shape[1:3], offset, stride))
    return normalise_max(np.concatenate(cams))


def feature_grid(model: keras.Model, layer_name: str) -> tuple[float, float]:
    """Where the cells of `layer_name`'s (N, h, w, C) output sit on the model's input: cell j of
    each axis is centered on input pixel `offset + stride * j` (pixel p spans p - 0.5 .. p + 0.5)
    and covers `stride` pixels. Follows the center crop, convolutions and pooling from the input
    to the layer; a layer that moves or resizes the map in another way raises ValueError."""
    offset, stride = 0.0, 1.0
    target = layer_named(model, layer_name)
    for layer in model.layers:
        if isinstance(layer, RandomCrop):
            offset += stride * ((int(layer.input.shape[1]) - layer.size) // 2)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D,
                                keras.layers.AveragePooling2D)):
            offset, stride = _window_grid(layer, offset, stride)
        elif isinstance(layer, keras.layers.InputLayer):
            continue
        elif (len(layer.output.shape) == 4
              and tuple(layer.output.shape[1:3]) != tuple(keras.tree.flatten(layer.input)[0].shape[1:3])):
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) resizes the feature "
                             f"maps in a way Grad-CAM cannot place on the input")
        if layer is target:
            return offset, stride
    raise ValueError(f"layer {layer_name!r} is not on model {model.name!r}'s path")


def grad_cam_cover(model: keras.Model, layer_name: str | None = None) -> dict:
    """What grad_cam's map of `layer_name` (default: the last Conv2D layer) covers on the input:
    {"cells": h, "stride": pixels between cell centers, "first", "last": the first and last
    input row (and column) any cell covers}; grad_cam puts 0 outside."""
    layer_name = layer_name or conv_layer_names(model)[-1]
    offset, stride = feature_grid(model, layer_name)
    cells = int(layer_named(model, layer_name).output.shape[1])
    covered = np.flatnonzero(_cell_positions(int(model.inputs[0].shape[1]), cells, offset, stride)[1])
    return {"cells": cells, "stride": stride, "first": int(covered[0]), "last": int(covered[-1])}


def grid_edges(cams, cover: dict) -> dict:
    """Mean Grad-CAM (N, H, W maps, as grad_cam returns them) on the footprints of its grid's
    first and last row and column of cells, and on the other cells ("inner"), `cover` being
    grad_cam_cover's. Shows whether a lopsided mean map follows the grid rather than the face:
    on mirrored faces (maps mirrored back), a grid effect stays on the same side of the grid."""
    cams = np.asarray(cams, dtype=np.float64)
    first, last, stride = cover["first"], cover["last"] + 1, int(cover["stride"])
    edge_low, edge_high = first + stride, last - stride
    return {"first_row": float(cams[:, first:edge_low, first:last].mean()),
            "last_row": float(cams[:, edge_high:last, first:last].mean()),
            "first_column": float(cams[:, first:last, first:edge_low].mean()),
            "last_column": float(cams[:, first:last, edge_high:last].mean()),
            "inner": float(cams[:, edge_low:edge_high, edge_low:edge_high].mean())}


def unread_cells(model: keras.Model, layer_name: str) -> int:
    """How many trailing rows (and columns) of `layer_name`'s output the next pooling or
    convolution window of the model never reads ('valid' windows that do not tile it): 1 for a
    5x5 map pooled 2x2 to 2x2. The classifier cannot use those cells."""
    layers = model.layers
    start = next(i for i, layer in enumerate(layers) if layer.name == layer_name)
    for layer in layers[start + 1:]:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            if layer.padding != "valid":
                return 0
            kernel, step = _window(layer)
            size, out = int(layer.input.shape[1]), int(layer.output.shape[1])
            return size - ((out - 1) * step + kernel)
        if len(layer.output.shape) != 4:
            return 0
    return 0


def _window(layer) -> tuple[int, int]:
    """A convolution's or pooling's (square) window and stride; ValueError for other shapes."""
    if isinstance(layer, keras.layers.Conv2D):
        kernel, step = layer.kernel_size, layer.strides
        if tuple(layer.dilation_rate) != (1, 1):
            raise ValueError(f"layer {layer.name!r}: dilated convolutions are not supported")
    else:
        kernel, step = layer.pool_size, layer.strides
    (k, k2), (s, s2) = kernel, step
    if k != k2 or s != s2:
        raise ValueError(f"layer {layer.name!r}: only square windows and strides are supported")
    return k, s


def _window_grid(layer, offset: float, stride: float) -> tuple[float, float]:
    """A convolution's or pooling's effect on the cell grid: output cell j reads input cells
    s*j - pad_before .. s*j - pad_before + k - 1 (TensorFlow's 'same' padding puts the odd
    padding pixel after), so its center is s*j - pad_before + (k - 1) / 2 input cells."""
    k, s = _window(layer)
    pad_before = 0
    if layer.padding == "same":
        size = int(layer.input.shape[1])
        pad_before = max(k - (s if size % s == 0 else size % s), 0) // 2
    return offset + stride * ((k - 1) / 2 - pad_before), stride * s


def _cell_positions(size: int, count: int, offset: float, stride: float):
    """Each of `size` input pixels of one axis in cell units (cell j's center is j), and whether
    it lies in some cell's footprint (within half a cell of the first and last centers)."""
    position = (np.arange(size) - offset) / stride
    return position, (position >= -0.5) & (position < count - 0.5)


def place_cells(cells: np.ndarray, shape: tuple[int, int], offset: float, stride: float) -> np.ndarray:
    """Upsample (N, h, w) cell maps onto (N, H, W) input pixels: bilinear between the cell
    centers, each border cell's value held to the edge of its footprint, and 0 on the pixels no
    cell covers (those a crop or a 'valid' pooling leaves out)."""
    cells = np.asarray(cells, dtype=np.float32)
    axes = []
    for size, count in zip(shape, cells.shape[1:3]):
        position, covered = _cell_positions(size, count, offset, stride)
        t = np.clip(position, 0, count - 1)
        low = np.minimum(np.floor(t).astype(int), count - 1)
        high = np.minimum(low + 1, count - 1)
        axes.append((low, high, (t - low).astype(np.float32), covered))
    (r0, r1, fr, rows), (c0, c1, fc, cols) = axes
    top = cells[:, r0][:, :, c0] * (1 - fc) + cells[:, r0][:, :, c1] * fc
    bottom = cells[:, r1][:, :, c0] * (1 - fc) + cells[:, r1][:, :, c1] * fc
    out = top * (1 - fr)[:, None] + bottom * fr[:, None]
    return out * (rows[:, None] & cols[None, :])


def top_share_mask(maps, keep: float) -> np.ndarray:
    """Boolean masks of each map's round(keep x pixels) highest pixels (at least one; equal
    values taken in row-major order), less any of them whose value is 0 (no influence at all).
    `maps` is one map (H, W) or a stack (N, H, W); the masks have its shape."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim not in (2, 3):
        raise ValueError(f"expected maps of shape (H, W) or (N, H, W), got {maps.shape}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must lie in (0, 1], got {keep}")
    flat = maps.reshape(-1, maps.shape[-2] * maps.shape[-1])
    k = max(1, int(round(keep * flat.shape[1])))
    chosen = np.argsort(-flat, axis=1, kind="stable")[:, :k]
    mask = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    return (mask & (flat > 0)).reshape(maps.shape)


def apply_mask(images, mask):
    """`images` with every pixel outside the boolean `mask` set to 0 (black). `images` is
    (N, H, W) or (N, H, W, C) (or one image without N); `mask` matches it without the channel
    axis. Returns the same shape and dtype as `images`."""
    images, mask = np.asarray(images), np.asarray(mask, dtype=bool)
    if mask.ndim < 2 or images.shape[:mask.ndim] != mask.shape or images.ndim - mask.ndim > 1:
        raise ValueError(f"mask {mask.shape} does not match images {images.shape}")
    mask = mask[..., None] if images.ndim > mask.ndim else mask
    return np.where(mask, images, np.zeros((), dtype=images.dtype)).astype(images.dtype)


def connected_regions(masks) -> np.ndarray:
    """Number of separate regions (8-connected groups of kept pixels) of each mask (N, H, W)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"expected masks of shape (N, H, W), got {masks.shape}")
    eight = np.ones((3, 3), dtype=bool)
    return np.array([ndimage.label(m, structure=eight)[1] for m in masks])


def region_masks(shape=(48, 48)) -> dict:
    """Boolean masks of FACE_REGIONS (and "rest", the complement) for an image of `shape`."""
    masks = {}
    for name, (r0, r1, c0, c1) in FACE_REGIONS.items():
        masks[name] = np.zeros(shape, dtype=bool)
        masks[name][r0:r1, c0:c1] = True
    masks["rest"] = ~np.logical_or.reduce(list(masks.values()))
    return masks


def region_shares(saliency) -> dict:
    """Each map's share of its mass in each face region: {"eyes", "mouth", "rest"} -> (N,)
    array (one map (H, W) counts as N = 1). A map with no mass at all gets NaN."""
    sal = np.asarray(saliency, dtype=np.float64)
    sal = sal[None] if sal.ndim == 2 else sal
    if sal.ndim != 3:
        raise ValueError(f"expected saliency of shape (H, W) or (N, H, W), got {sal.shape}")
    if sal.min() < 0:
        raise ValueError("saliency must be non-negative")
    total = sal.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    return {name: np.where(total > 0, sal[:, mask].sum(axis=1) / safe, np.nan)
            for name, mask in region_masks(sal.shape[1:]).items()}


def region_share(saliency) -> dict:
    """Mean share of saliency mass in each face region: {"eyes", "mouth", "rest"} -> float.

    `saliency` is one non-negative map (H, W) or a stack (N, H, W). Each map's shares (mass in
    the region / total mass) sum to 1; maps with no mass at all are left out of the mean."""
    shares = region_shares(saliency)
    if np.isnan(shares["rest"]).all():
        raise ValueError("every saliency map is all zero: no mass to share")
    return {name: float(np.nanmean(values)) for name, values in shares.items()}


def region_density(saliency, seen=None) -> dict:
    """region_shares divided by each region's share of the area: 1 is what a uniform map gives,
    2 twice as much mass per pixel. {"eyes", "mouth", "rest"} -> (N,) array. `seen` (H, W):
    the pixels the method can weigh at all (seen_pixels); the areas count only those, so that a
    border the model never sees (its center crop's) does not count as a region ignoring it."""
    shares = region_shares(saliency)
    area = region_area(np.asarray(saliency).shape[-2:], seen)
    return {name: values / area[name] for name, values in shares.items()}


def seen_pixels(saliency) -> np.ndarray:
    """The pixels (H, W) that hold mass in at least one of the maps (N, H, W): those the method
    can weigh. A model that center-crops its input gives the border no gradient, Grad-CAM leaves
    the pixels outside its grid's cells at 0. Every pixel when no map has any mass."""
    sal = np.asarray(saliency, dtype=np.float64)
    sal = sal[None] if sal.ndim == 2 else sal
    seen = sal.sum(axis=0) > 0
    return seen if seen.any() else np.ones(sal.shape[1:], dtype=bool)


def explain(model: keras.Model, images, samples: int = SMOOTHGRAD_SAMPLES,
            noise: float = SMOOTHGRAD_NOISE, seed: int = 0):
    """The predicted class of each image and its three maps for that class:
    (predicted (N,), saliency, Grad-CAM, SmoothGrad (N, H, W) each)."""
    predicted = predict_logits(model, images).argmax(axis=1)
    return (predicted, saliency_maps(model, images, predicted), grad_cam(model, images, predicted),
            smoothgrad(model, images, predicted, samples=samples, noise=noise, seed=seed))


class Maps(NamedTuple):
    """A sample's target classes (N,) and its saliency and Grad-CAM maps (N, H, W) for them;
    optionally SmoothGrad maps for the faces at positions `subset` of the sample."""

    predicted: np.ndarray
    saliency: np.ndarray
    gradcam: np.ndarray
    smoothgrad: np.ndarray | None = None
    subset: np.ndarray | None = None

    def methods(self) -> dict:
        """The maps by method: {"saliency", "smoothgrad" (the subset's, when computed), "gradcam"}."""
        found = {"saliency": self.saliency, "smoothgrad": self.smoothgrad, "gradcam": self.gradcam}
        return {name: maps for name, maps in found.items() if maps is not None}

    def on_subset(self) -> dict:
        """The three methods' maps of the SmoothGrad faces: {"saliency", "smoothgrad", "gradcam"}."""
        if self.smoothgrad is None:
            raise ValueError("these maps have no SmoothGrad subset")
        return {"saliency": self.saliency[self.subset], "smoothgrad": self.smoothgrad,
                "gradcam": self.gradcam[self.subset]}


def predicted_maps(model: keras.Model, images, batch: int = 100, desc: str | None = None,
                   progress: bool = True, classes=None, smoothgrad_subset=None,
                   samples: int = SMOOTHGRAD_SAMPLES, noise: float = SMOOTHGRAD_NOISE,
                   seed: int = 0) -> Maps:
    """Saliency and Grad-CAM of many images for `classes` (default: each image's predicted
    class), `batch` at a time with a tqdm bar over batches; with `smoothgrad_subset` (positions
    in `images`) also SmoothGrad for those images (the costly part: `samples` gradients each)."""
    parts = []
    for start in progress_bar(range(0, len(images), batch), desc=desc, unit="batch", disable=not progress):
        x = images[start:start + batch]
        target = (predict_logits(model, x).argmax(axis=1) if classes is None
                  else np.asarray(classes)[start:start + batch])
        parts.append((target, saliency_maps(model, x, target), grad_cam(model, x, target)))
    maps = Maps(*(np.concatenate(p) for p in zip(*parts)))
    if smoothgrad_subset is None:
        return maps
    subset = checked_indices(smoothgrad_subset, len(images), "smoothgrad_subset")
    sg = smoothgrad(model, np.asarray(images)[subset], maps.predicted[subset], samples=samples,
                    noise=noise, seed=seed)
    return maps._replace(smoothgrad=sg, subset=subset)


def top_share(maps, fraction: float = 0.1, seen=None) -> np.ndarray:
    """Per map (N, H, W): the share of its mass held by its `fraction` most salient pixels
    (at least one pixel). A uniform map gives `fraction`; an all-zero map gives 0. `seen`
    (H, W): the pixels the method can weigh at all (seen_pixels); the fraction counts only
    those, so that a model seeing a center crop is not credited with its border's zeros."""
    maps = np.asarray(maps)
    flat = maps[:, np.asarray(seen, dtype=bool)] if seen is not None else maps.reshape(len(maps), -1)
    flat = np.sort(flat, axis=1)[:, ::-1]
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


def region_area(shape=(48, 48), seen=None) -> dict:
    """Share of the area in each region of region_masks: {"eyes", "mouth", "rest"}; of the
    whole image, or of the `seen` pixels (H, W) only."""
    seen = np.ones(shape, dtype=bool) if seen is None else np.asarray(seen, dtype=bool)
    return {name: float((mask & seen).sum() / seen.sum()) for name, mask in region_masks(shape).items()}


def region_boxes() -> dict:
    """Each region's box in words ("rows 10-23, columns 4-43"; rest: "every other pixel")."""
    boxes = {name: f"rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1}"
             for name, (r0, r1, c0, c1) in FACE_REGIONS.items()}
    boxes["rest"] = "every other pixel"
    return boxes


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


def lag1_autocorrelation(maps) -> np.ndarray:
    """How smooth each map (N, H, W) is: the correlation between every pixel and its right-hand
    neighbor, averaged with that between every pixel and the one below it. About 0 for
    pixel-level speckle (white noise), near 1 for a map that varies slowly; a constant map gives 0."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"expected maps of shape (N, H, W), got {maps.shape}")
    across = map_correlation(maps[:, :, 1:], maps[:, :, :-1])
    down = map_correlation(maps[:, 1:, :], maps[:, :-1, :])
    return (across + down) / 2


def rank_correlation(a, b) -> np.ndarray:
    """Spearman rank correlation of each pair of maps (a[i], b[i]), shape (N,), over the pixels
    where at least one of the two is non-zero (pixels neither map gives any weight, such as
    those a cropping model never sees, say nothing about agreement). Equal values share their
    mean rank; a pair with fewer than 3 such pixels or a constant map there counts as 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"expected two stacks of maps of the same shape (N, H, W), got {a.shape} and {b.shape}")
    out = np.zeros(len(a))
    for i, (u, v) in enumerate(zip(a.reshape(len(a), -1), b.reshape(len(b), -1))):
        seen = (u != 0) | (v != 0)
        if seen.sum() >= 3:
            out[i] = map_correlation(rankdata(u[seen])[None], rankdata(v[seen])[None])[0]
    return out


def randomized_copy(model: keras.Model, seed: int = 0) -> keras.Model:
    """The model-randomization test's network (Adebayo et al. 2018): the same architecture with
    every weight drawn afresh by its initializer (batch-norm statistics reset to mean 0,
    variance 1), seeded with `seed`. Fixed settings in layer configs (the input normalization's
    mean and variance, the center crop) stay. Sets Keras's global random seed."""
    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)


def bootstrap_mean(values, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES,
                   level: float = CONFIDENCE) -> dict:
    """The mean of `values` (NaNs left out) and its percentile bootstrap interval over
    `resamples` resamples drawn with `seed`: {"mean", "low", "high", "n"}."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if len(values) == 0:
        raise ValueError("no values to average")
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got {level} and {resamples}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": len(values)}
