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

from typing import NamedTuple

from helpers.backend import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from tqdm import tqdm  # text bars with an ETA, in a terminal and in JupyterLab alike (no ipywidgets)

from helpers.config import CLASS_NAMES
from helpers.gradients import (_as_batch, _batches, _input_gradients, _layer, _normalise_max,
                               _submodel, _targets, conv_layer_names, predict_logits)
from helpers.models import logits_model
from helpers.notebook import pct, plural


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


# Summaries of notebook 05 (each is also its results.json section) and their sentences.

MIN_CLASS_FACES = 10  # classes with fewer sampled faces are left out of the per-class comparison


def _top(values: dict) -> str:
    return max(values, key=values.get)


def shown_summary(indices, true, predicted, kept, *, per_class: int, seed: int, missing,
                  threshold: float, smoothgrad_samples: int, smoothgrad_noise: float,
                  gradcam_layer: str) -> dict:
    """The faces of the saliency figures and the settings of their maps. `kept` is each face's
    share of pixels the mask keeps (mask_by_saliency); `missing` the classes with no face."""
    kept = np.asarray(kept, dtype=float)
    return {"faces": len(indices), "per_class": per_class, "seed": seed, "missing": list(missing),
            "threshold": threshold, "smoothgrad_samples": smoothgrad_samples,
            "smoothgrad_noise": smoothgrad_noise, "gradcam_layer": gradcam_layer,
            "shown_indices": indices, "shown_true": true, "shown_predicted": predicted,
            "correct": int((np.asarray(predicted) == np.asarray(true)).sum()),
            "kept_fraction": kept, "kept_fraction_mean": float(kept.mean()),
            "kept_fraction_range": [float(kept.min()), float(kept.max())]}


def shown_sentences(s: dict) -> str:
    """The paragraph that introduces the saliency figures (faces, threshold, methods)."""
    low, high = s["kept_fraction_range"]
    missing = f"; the validation split has no {', '.join(s['missing'])} face" if s["missing"] else ""
    return (
        f"**Faces**: {s['faces']} validation faces, {s['per_class']} per true class (drawn at random "
        f"with seed {s['seed']}){missing}. **Threshold**: the masked image keeps the pixels whose "
        f"saliency is at least {s['threshold']:g} of the face's maximum, on average "
        f"{pct(s['kept_fraction_mean'])} of the pixels (from {pct(low)} to {pct(high)}). "
        f"**SmoothGrad**: {s['smoothgrad_samples']} copies with Gaussian noise of standard deviation "
        f"{s['smoothgrad_noise']:g} x 255. **Grad-CAM** layer: `{s['gradcam_layer']}`. The CNN "
        f"predicts {s['correct']} of these {s['faces']} faces correctly (row labels: true class, "
        "then predicted class and its probability).")


def region_summary(shown: dict, sample: Maps, sample_labels,
                   min_class_faces: int = MIN_CLASS_FACES) -> dict:
    """Where the maps' mass lies. `shown` holds the maps of the faces in the figures
    ({"saliency", "smoothgrad", "gradcam"}); `sample` a larger sample's maps, with its true
    classes `sample_labels` for the per-class shares."""
    area = region_area(sample.saliency.shape[1:3])
    share = {f"{method}_shown": region_share(maps) for method, maps in shown.items()}
    share |= {"saliency_sample": region_share(sample.saliency),
              "gradcam_sample": region_share(sample.gradcam)}
    density = {r: share["saliency_sample"][r] / area[r] for r in area}
    per_class = region_share_by_class(sample.saliency, sample_labels)
    compared = [name for name, v in per_class.items() if v["faces"] >= min_class_faces]
    return {
        "shown_faces": len(next(iter(shown.values()))), "sample_size": len(sample.saliency),
        "region_boxes": FACE_REGIONS, "region_area": area, "region_share": share,
        "share_over_area_sample": density, "dominant_region": _top(share["saliency_sample"]),
        "densest_region": _top(density), "sparsest_region": min(density, key=density.get),
        "gradcam_dominant_region": _top(share["gradcam_sample"]),
        "per_class_sample": per_class, "min_class_faces": min_class_faces,
        "compared_classes": compared,
        "mouth_top": max(compared, key=lambda n: per_class[n]["mouth"]) if len(compared) > 1 else None,
        "eyes_top": max(compared, key=lambda n: per_class[n]["eyes"]) if len(compared) > 1 else None,
    }


_SHARE_NAMES = {"saliency_shown": "saliency, faces shown", "smoothgrad_shown": "SmoothGrad, faces shown",
                "gradcam_shown": "Grad-CAM, faces shown", "saliency_sample": "saliency, sample of {n}",
                "gradcam_sample": "Grad-CAM, sample of {n}"}


def region_table(s: dict) -> pd.DataFrame:
    """region_share_table of a region_summary: every map's shares and the sample's saliency
    per unit of area."""
    shares = {_SHARE_NAMES[key].format(n=s["sample_size"]): v for key, v in s["region_share"].items()}
    return region_share_table(shares, s["region_area"],
                              density=("saliency (sample) / area", s["region_share"]["saliency_sample"]))


def region_sentences(s: dict) -> str:
    """The bullets on a region_summary: the largest share, the share per unit of area, and the
    faces shown."""
    sal, cam = s["region_share"]["saliency_sample"], s["region_share"]["gradcam_sample"]
    top, cam_top = s["dominant_region"], s["gradcam_dominant_region"]
    dense, sparse, density = s["densest_region"], s["sparsest_region"], s["share_over_area_sample"]
    shown_sal, shown_sg = s["region_share"]["saliency_shown"], s["region_share"]["smoothgrad_shown"]
    shown_top, sg_top = _top(shown_sal), _top(shown_sg)
    cam_words = (f"Grad-CAM agrees ({cam_top} {pct(cam[cam_top])})." if cam_top == top else
                 "Grad-CAM, which sees the face at the coarse resolution of the last convolution "
                 f"layer, puts most of its mass on the **{cam_top}** region instead ({pct(cam[cam_top])}).")
    why = (" (the rest of the image is large, so its raw share is high even though each of its "
           "pixels matters less)." if top == "rest" and density["rest"] < 1 else ".")
    return "\n".join([
        f"- **Largest share**: over {s['sample_size']} validation faces (seeded sample), the "
        f"**{top}** region holds {pct(sal[top])} of the saliency mass ({format_shares(sal, skip=top)}). "
        + cam_words,
        f"- **Per unit of area**: the **{dense}** region is the most salient, with "
        f"{density[dense]:.2f}x the mass a uniform map would give it; the {sparse} region gets "
        f"{density[sparse]:.2f}x" + why,
        f"- On the {s['shown_faces']} faces shown above, the largest share of saliency is in the "
        f"{shown_top} region ({pct(shown_sal[shown_top])}) and of SmoothGrad in the {sg_top} region "
        f"({pct(shown_sg[sg_top])})."])


def class_region_sentences(s: dict) -> str:
    """Which class's maps weigh the mouth and the eyes most, over the classes with enough faces."""
    if s["mouth_top"] is None:
        return (f"Too few classes have {s['min_class_faces']} or more faces in this sample to "
                "compare them.")
    per_class, area = s["per_class_sample"], s["region_area"]
    mouth, eyes = per_class[s["mouth_top"]]["mouth"], per_class[s["eyes_top"]]["eyes"]
    return (f"Among the {len(s['compared_classes'])} classes with at least {s['min_class_faces']} "
            f"faces in the sample, the mouth gets the largest share for **{s['mouth_top']}** faces "
            f"({pct(mouth)} of the saliency, {mouth / area['mouth']:.2f}x its area share) and the "
            f"eyes for **{s['eyes_top']}** faces ({pct(eyes)}, {eyes / area['eyes']:.2f}x).")


def model_comparison(main: Maps, weak: Maps, threshold: float, main_metrics: dict,
                     weak_metrics: dict, shown_true, weak_shown_predicted) -> dict:
    """The weak model's maps against the main CNN's on the same sample of faces: region shares,
    concentration, maps kept by the threshold, correlation and agreement of predictions. The
    metrics are the two runs' metrics.json; the last two arguments are the true classes of the
    faces in the figures and the weak model's predictions of them."""
    def both(measure):
        return {"main": float(measure(main)), "weak": float(measure(weak))}

    main_sal, weak_sal = region_share(main.saliency), region_share(weak.saliency)
    change = {r: weak_sal[r] - main_sal[r] for r in weak_sal}
    r_sal = map_correlation(main.saliency, weak.saliency)
    r_cam = map_correlation(main.gradcam, weak.gradcam)
    r_other = map_correlation(main.saliency, np.roll(main.saliency, 1, axis=0))  # another face
    return {
        "model": "ablation_none", "val_accuracy": weak_metrics["val_accuracy"],
        "main_val_accuracy": main_metrics["val_accuracy"], "epochs": weak_metrics["epochs_run"],
        "main_epochs": main_metrics["epochs_run"], "sample_size": len(main.saliency),
        "region_share": {"saliency_sample": weak_sal, "gradcam_sample": region_share(weak.gradcam)},
        "main_region_share": {"saliency_sample": main_sal, "gradcam_sample": region_share(main.gradcam)},
        "top10_mass": {"saliency": both(lambda m: top_share(m.saliency).mean()),
                       "gradcam": both(lambda m: top_share(m.gradcam).mean())},
        "threshold": threshold,
        "kept_fraction_sample": both(lambda m: (m.saliency >= threshold).mean()),
        "dominant_region": _top(weak_sal), "main_dominant_region": _top(main_sal),
        "saliency_share_change": change,
        "largest_change_region": max(change, key=lambda r: abs(change[r])),
        "correlation_with_main": {"saliency_mean": float(r_sal.mean()),
                                  "saliency_median": float(np.median(r_sal)),
                                  "gradcam_mean": float(r_cam.mean()),
                                  "baseline_other_faces": float(r_other.mean())},
        "prediction_agreement": float((main.predicted == weak.predicted).mean()),
        "shown_predicted": weak_shown_predicted,
        "shown_correct": int((np.asarray(weak_shown_predicted) == np.asarray(shown_true)).sum()),
    }


def weak_model_sentence(s: dict) -> str:
    """The two models' validation accuracies and the weak model's score on the faces shown."""
    gap = 100 * (s["main_val_accuracy"] - s["val_accuracy"])
    compared = f"{abs(gap):.1f} points {'lower' if gap > 0 else 'higher'}." if gap else "the same."
    return (f"Validation accuracy: weak model **{pct(s['val_accuracy'])}** "
            f"({plural(s['epochs'], 'epoch')}) against **{pct(s['main_val_accuracy'])}** for the main "
            f"CNN ({plural(s['main_epochs'], 'epoch')}), {compared} It predicts {s['shown_correct']} of "
            f"the {len(s['shown_predicted'])} faces below correctly.")


def comparison_table(s: dict) -> pd.DataFrame:
    """model_comparison as a table: one row per measure, a column per model."""
    main, weak = s["main_region_share"], s["region_share"]
    rows = [("validation accuracy", pct(s["main_val_accuracy"]), pct(s["val_accuracy"]))]
    rows += [(f"saliency share: {r}", pct(main["saliency_sample"][r]), pct(weak["saliency_sample"][r]))
             for r in weak["saliency_sample"]]
    rows += [(f"Grad-CAM share: {r}", pct(main["gradcam_sample"][r]), pct(weak["gradcam_sample"][r]))
             for r in weak["gradcam_sample"]]
    for name, values in [("saliency mass in the top 10% pixels", s["top10_mass"]["saliency"]),
                         ("Grad-CAM mass in the top 10% pixels", s["top10_mass"]["gradcam"]),
                         (f"pixels with saliency >= {s['threshold']:g}", s["kept_fraction_sample"])]:
        rows.append((name, pct(values["main"]), pct(values["weak"])))
    return pd.DataFrame(rows, columns=["measure", "main CNN", "weak model"])


def _more_less(a: float, b: float) -> str:
    """'more', 'less' or 'as' (equal to a tenth of a percentage point)."""
    a, b = round(100 * a, 1), round(100 * b, 1)
    return "more" if a > b else "less" if a < b else "as"


def comparison_sentences(s: dict) -> str:
    """The bullets on model_comparison: concentration, regions, agreement."""
    top10 = s["top10_mass"]["saliency"]
    weak, main = s["region_share"]["saliency_sample"], s["main_region_share"]["saliency_sample"]
    top, main_top, moved = s["dominant_region"], s["main_dominant_region"], s["largest_change_region"]
    r = s["correlation_with_main"]
    return "\n".join([
        f"- **Concentration**: the 10% most salient pixels hold {pct(top10['weak'])} of the weak "
        f"model's saliency mass against {pct(top10['main'])} for the main CNN, so the weak model's "
        f"maps are {_more_less(top10['weak'], top10['main'])} concentrated (a uniform map would "
        "give 10%).",
        f"- **Regions**: the weak model's largest share is in the {top} region ({pct(weak[top])}; "
        f"main CNN: {main_top}, {pct(main[main_top])}). The largest change is in the {moved} region, "
        f"{100 * s['saliency_share_change'][moved]:+.1f} points.",
        f"- **Agreement**: the two models' saliency maps of the same face correlate with "
        f"r = {r['saliency_mean']:.2f} on average ({correlation_strength(r['saliency_mean'])} "
        f"correlation; Grad-CAM: r = {r['gradcam_mean']:.2f}), against "
        f"r = {r['baseline_other_faces']:.2f} between the main CNN's maps of two different faces. "
        f"They predict the same class for {pct(s['prediction_agreement'])} of the faces."])
