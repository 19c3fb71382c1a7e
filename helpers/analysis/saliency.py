"""Saliency maps (gradients, SmoothGrad, Grad-CAM), masks and face-region shares: numbers only."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf
from tqdm import (
    tqdm,  # text bars with an ETA, in a terminal and in JupyterLab alike (no ipywidgets)
)

from helpers.analysis.gradients import (
    as_batch,
    batch_ranges,
    conv_layer_names,
    input_gradients,
    layer_named,
    normalise_max,
    predict_logits,
    sub_model,
    target_classes,
)
from helpers.core.config import CLASS_NAMES
from helpers.modeling.models import logits_model

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
    x = as_batch(images, model)
    idx = target_classes(model, lmodel, x, class_indices)
    grads = np.concatenate([input_gradients(lmodel, x[s], idx[s]) for s in batch_ranges(len(x))])
    return normalise_max(np.abs(grads).max(axis=-1))


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
    x = as_batch(images, model)
    idx = target_classes(model, lmodel, x, class_indices)
    rng = np.random.default_rng(seed)
    total = np.zeros_like(x)
    for _ in range(samples):
        noisy = x + rng.normal(0.0, noise * 255.0, size=x.shape).astype(np.float32)
        total += np.concatenate([input_gradients(lmodel, noisy[s], idx[s])
                                 for s in batch_ranges(len(x))])
    return normalise_max(np.abs(total / samples).max(axis=-1))


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
    x = as_batch(images, model)
    idx = target_classes(model, lmodel, x, class_indices)
    features = layer_named(model, layer_name).output
    if len(features.shape) != 4:
        raise ValueError(f"layer {layer_name!r} has output {features.shape}, not (N, h, w, C)")
    cam_model = sub_model(model, [features, lmodel.outputs[0]])
    cams = []
    for s in batch_ranges(len(x)):
        with tf.GradientTape() as tape:
            maps, logits = cam_model(tf.convert_to_tensor(x[s]), training=False)
            scores = tf.gather(logits, idx[s], axis=1, batch_dims=1)
        weights = tf.reduce_mean(tape.gradient(scores, maps), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
        cams.append(tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy())
    return normalise_max(np.concatenate(cams))


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


def explain(model: keras.Model, images, samples: int = 20, noise: float = SMOOTHGRAD_NOISE,
            seed: int = 0):
    """The predicted class of each image and its three maps for that class:
    (predicted (N,), saliency, Grad-CAM, SmoothGrad (N, H, W) each)."""
    predicted = predict_logits(model, images).argmax(axis=1)
    return (predicted, saliency_maps(model, images, predicted), grad_cam(model, images, predicted),
            smoothgrad(model, images, predicted, samples=samples, noise=noise, seed=seed))


class Maps(NamedTuple):
    """A model's predicted classes (N,) and its saliency and Grad-CAM maps (N, H, W) for them."""

    predicted: np.ndarray
    saliency: np.ndarray
    gradcam: np.ndarray


def predicted_maps(model: keras.Model, images, batch: int = 100, desc: str | None = None,
                   progress: bool = True) -> Maps:
    """Predicted class, saliency and Grad-CAM for many images, `batch` at a time with a tqdm
    bar over batches."""
    parts = []
    for start in tqdm(range(0, len(images), batch), desc=desc, unit="batch", disable=not progress):
        x = images[start:start + batch]
        predicted = predict_logits(model, x).argmax(axis=1)
        parts.append((predicted, saliency_maps(model, x, predicted), grad_cam(model, x, predicted)))
    return Maps(*(np.concatenate(p) for p in zip(*parts)))


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


def region_area(shape=(48, 48)) -> dict:
    """Share of the image area in each region of region_masks: {"eyes", "mouth", "rest"}."""
    return {name: float(mask.mean()) for name, mask in region_masks(shape).items()}


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
