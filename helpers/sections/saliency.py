"""The "saliency" section, where the network looks: saliency maps, SmoothGrad and Grad-CAM, and the
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

import numpy as np
import pandas as pd
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.analysis.gradients import as_batch, conv_layer_names, predict_logits
from helpers.analysis.saliency import (
    FACE_REGIONS,
    Maps,
    grad_cam,
    mask_by_saliency,
    region_area,
    region_boxes,
    region_share,
    region_share_by_class,
    saliency_maps,
    smoothgrad,
)
from helpers.core.config import CLASS_NAMES
from helpers.core.words import pct


def saliency_figure(model: keras.Model, images, labels=None, threshold: float = 0.5,
                    samples: int = 20, seed: int = 0, cell_size: float = 1.8) -> Figure:
    """The standard explanation figure, one row per image: original | saliency | masked
    (pixels with saliency >= `threshold` kept) | Grad-CAM over the face | SmoothGrad. Maps are
    for the predicted class; rows are titled with the true (if `labels` given) and predicted
    class. Models without a Conv2D layer (the DNN) get no Grad-CAM column."""
    x = as_batch(images, model)
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


def correlation_strength(r: float) -> str:
    """'weak' (|r| < 0.3), 'moderate' (< 0.6) or 'strong'."""
    return "weak" if abs(r) < 0.3 else "moderate" if abs(r) < 0.6 else "strong"


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


MIN_CLASS_FACES = 10  # classes with fewer sampled faces are left out of the per-class comparison


def top_region(values: dict) -> str:
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
        "share_over_area_sample": density, "dominant_region": top_region(share["saliency_sample"]),
        "densest_region": top_region(density), "sparsest_region": min(density, key=density.get),
        "gradcam_dominant_region": top_region(share["gradcam_sample"]),
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
    shown_top, sg_top = top_region(shown_sal), top_region(shown_sg)
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
