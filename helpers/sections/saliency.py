"""The "saliency" section, where the network looks: saliency maps, SmoothGrad and Grad-CAM, the
answer to "which face regions" with bootstrap intervals, the checks on the maps (smoothness, the
model-randomization test) and the figures notebook 05 shows.

Maps are non-negative and normalized per image by dividing by their maximum, so 0 still means
"no influence" and 1 is the image's most influential pixel. Region statistics are per unit of
area ("density"): a region's share of a map's mass divided by its share of the pixels the method
can weigh (the model's center crop; Grad-CAM's cells), so that a map spread evenly over those
pixels gives every region 1x.

tf-keras-vis 0.8.7 does work on Keras 3.15 functional models: ``Saliency`` with
``ReplaceToLinear`` gives exactly our vanilla saliency (after max-normalization), ``Gradcam`` the
same class activation map (it upsamples with scipy's zoom rather than a bilinear resize). We still
write each method directly on the tape, in a few lines: tf-keras-vis clones the model for every
visualizer and warns about the input structure under Keras 3. tests/test_gradient_methods.py
cross-checks saliency_maps and grad_cam against it.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot: make the figure the cell's
value (or ``display(fig)``) to show it once; ``fig.savefig`` saves it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from helpers.modeling.backend import keras  # first: silences TensorFlow's start-up lines
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.analysis.gradients import as_batch, conv_layer_names, predict_logits
from helpers.analysis.saliency import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    FACE_REGIONS,
    SMOOTHGRAD_NOISE,
    SMOOTHGRAD_SAMPLES,
    apply_mask,
    bootstrap_mean,
    connected_regions,
    grad_cam,
    lag1_autocorrelation,
    rank_correlation,
    region_area,
    region_boxes,
    region_density,
    region_share,
    region_share_by_class,
    region_shares,
    saliency_maps,
    seen_pixels,
    smoothgrad,
    top_share_mask,
)
from helpers.core.config import CLASS_NAMES, IMAGE_SIZE
from helpers.core.plotting import set_fonts
from helpers.core.words import capital, join_words, layer_words, pct, plural

METHODS = {"saliency": "saliency", "smoothgrad": "SmoothGrad", "gradcam": "Grad-CAM"}
MASK_METHOD = "saliency"  # the map whose most salient pixels the masked faces keep: the answer's
MASK_SMOOTHING = 2.0  # pixels: a Gaussian blur joins saliency's speckle into regions before the cut
# Model randomization: a method whose maps keep at least this mean rank correlation with the
# maps of the same network with random weights "barely changes" and fails the check.
SANITY_MAX_CORRELATION = 0.5
MAX_FACES_ACROSS = 7  # faces (columns) of one explanation figure at the page's width
SANITY_ROWS = 2  # faces in the randomization figure
MIN_CLASS_FACES = 10  # classes with fewer sampled faces are left out of the per-class comparison
REGION_WORDS = {"eyes": "the eyes", "mouth": "the mouth", "rest": "the rest of the image"}
REGION_COLOURS = {"eyes": "lime", "mouth": "magenta", "rest": "white"}


# ----------------------------------------------------------------------------- words

def number(value: float, digits: int = 2, sign: bool = False) -> str:
    """0.5 -> '0.50'; with sign, '+0.50'; -0.0 is written 0.00."""
    value = 0.0 if round(value, digits) == 0 else value
    return f"{value:{'+' if sign else ''}.{digits}f}"


def interval_words(d: dict, unit: str = "", sign: bool = False, label: bool = True,
                   brackets: bool = True) -> str:
    """A bootstrap_mean dict as '1.54x (95% CI 1.51 to 1.57)'; label=False: '1.54x (1.51 to
    1.57)'; brackets=False: '1.54x, 95% CI 1.51 to 1.57'. A narrow interval gets a third (or
    fourth) decimal rather than print as '0.92 to 0.92'."""
    digits = 2
    while digits < 4 and d["low"] != d["high"] and number(d["low"], digits) == number(d["high"], digits):
        digits += 1
    level = f"{100 * CONFIDENCE:.0f}% CI " if label or not brackets else ""
    bounds = f"{level}{number(d['low'], digits, sign)} to {number(d['high'], digits, sign)}"
    return f"{number(d['mean'], digits, sign)}{unit}" + (f" ({bounds})" if brackets else f", {bounds}")


def top_region(values: dict) -> str:
    return max(values, key=values.get)


# ----------------------------------------------------------------------------- the faces shown

def explanation_maps(model: keras.Model, images, samples: int = SMOOTHGRAD_SAMPLES,
                     noise: float = SMOOTHGRAD_NOISE, seed: int = 0) -> dict:
    """What the explanation figure draws, for each image's predicted class: {"predicted" (N,),
    "probability" (N,, of that class), "saliency", "smoothgrad" and, for a model with a Conv2D
    layer (not the DNN), "gradcam" (N, H, W)}."""
    x = as_batch(images, model)
    probs = tf.nn.softmax(predict_logits(model, x)).numpy()
    predicted = probs.argmax(axis=1)
    maps = {"predicted": predicted, "probability": probs[np.arange(len(x)), predicted],
            "saliency": saliency_maps(model, x, predicted),
            "smoothgrad": smoothgrad(model, x, predicted, samples=samples, noise=noise, seed=seed)}
    if conv_layer_names(model):
        maps["gradcam"] = grad_cam(model, x, predicted)
    return maps


def mask_source(maps: dict) -> str:
    """The method whose map the masked faces keep the top of: MASK_METHOD when the maps have
    it, otherwise SmoothGrad."""
    return MASK_METHOD if MASK_METHOD in maps else "smoothgrad"


def mask_smoothing(method: str) -> float:
    """The Gaussian blur (pixels) a method's map gets before the masks cut it: MASK_SMOOTHING for
    plain saliency, whose pixel-level speckle would otherwise keep scattered pixels; 0 for the
    smooth maps."""
    return MASK_SMOOTHING if method == "saliency" else 0.0


def mask_words(method: str, sigma: float) -> str:
    """'saliency (blurred by a Gaussian of 2 pixels)' or 'Grad-CAM': the map the masks cut."""
    return METHODS[method] + (f" (blurred by a Gaussian of {sigma:g} pixels)" if sigma else "")


def masked_faces(images, maps: dict, keep: float):
    """(masked faces (N, H, W), masks): each face keeps the `keep` share of its pixels where
    the map of mask_source, blurred by mask_smoothing, is highest; the other pixels are black."""
    method = mask_source(maps)
    values = np.asarray(maps[method], dtype=np.float64)
    sigma = mask_smoothing(method)
    if sigma:
        values = gaussian_filter(values, sigma=(0, sigma, sigma), mode="constant")
    mask = top_share_mask(values, keep)
    return apply_mask(as_batch(images)[..., 0], mask), mask


def saliency_figure(images, maps: dict, labels=None, keep: float = 0.25,
                    cell_size: float = 0.62) -> Figure:
    """The explanation figure, one column per face: original | saliency | SmoothGrad | Grad-CAM
    over the face | the masked face (masked_faces), one row each. `maps` is explanation_maps of
    the faces; columns are titled with the true class (if `labels` given), the predicted class
    and its probability. Maps without Grad-CAM (the DNN) get no Grad-CAM row. Text is 8 points;
    with the default `cell_size` seven faces and the row labels take 5.1 inches, within the
    printed page's width, and the figure 3.9 inches of its height."""
    x = as_batch(images)[..., 0]
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and labels.shape != (len(x),):
        raise ValueError(f"need one label per image, got {labels.shape} for {len(x)} images")
    if any(len(v) != len(x) for v in maps.values()):
        raise ValueError(f"need maps for each of the {len(x)} images")
    rows = {"original": None, "saliency": maps["saliency"], "SmoothGrad": maps["smoothgrad"]}
    if "gradcam" in maps:
        rows["Grad-CAM"] = maps["gradcam"]
    masked, mask = masked_faces(x, maps, keep)
    method = mask_source(maps)
    blurred = "blurred\n" if mask_smoothing(method) else ""
    rows[f"masked to\ntop {pct(keep, 0)} of\n{blurred}{METHODS[method]}"] = masked
    # the row labels (up to 10 characters) take 0.8 inches; the titles three 8-point lines
    fig = Figure(figsize=(cell_size * len(x) + 0.8, cell_size * len(rows) + 0.75),
                 layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = fig.subplots(len(rows), len(x), squeeze=False)
    for row, (name, values) in enumerate(rows.items()):
        for face, ax in enumerate(axes[row]):
            draw_map(ax, x[face], name, None if values is None else values[face])
        axes[row, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    # column titles without "true"/"pred" in each (those words made "true surprise" wider than
    # its column): one key to their lines, left of the first title
    for face, ax in enumerate(axes[0]):
        title = f"{CLASS_NAMES[maps['predicted'][face]]}\n({maps['probability'][face]:.0%})"
        if labels is not None:
            title = f"{CLASS_NAMES[labels[face]]}\n{title}"
        ax.set_title(title, fontsize=8)
        if not mask[face].any():  # a map that is 0 everywhere keeps nothing: say so
            axes[-1, face].text(0.5, 0.5, f"{METHODS[mask_source(maps)]}\nis 0\neverywhere",
                                color="white", fontsize=8, ha="center", va="center",
                                transform=axes[-1, face].transAxes)
    key = ("true class\n" if labels is not None else "") + "predicted\n(probability)"
    axes[0, 0].annotate(key, xy=(0, 1), xycoords="axes fraction", xytext=(-4, 6),  # the title's pad
                        textcoords="offset points", fontsize=8, ha="right", va="bottom")
    return fig


def draw_map(ax, image: np.ndarray, column: str, values) -> None:
    """One cell of the explanation figures: the face (gray), a masked face (gray), Grad-CAM over
    the face, or a map (0..1, "hot"); no ticks."""
    if column == "original" or column.startswith("masked"):
        ax.imshow(image if values is None else values, cmap="gray", vmin=0, vmax=255)
    elif column.startswith("Grad-CAM"):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.imshow(values, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    else:
        ax.imshow(values, cmap="hot", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def saliency_figures(images, maps: dict, labels, title: str, per_class: int,
                     keep: float = 0.25) -> list[Figure]:
    """saliency_figure for faces chosen `per_class` per class, split by class into figures of
    at most 7 faces (columns) so that each fits the page's width; `title` opens each suptitle."""
    if per_class > MAX_FACES_ACROSS:
        raise ValueError(f"saliency_per_class is {per_class}: at most {MAX_FACES_ACROSS} faces fit "
                         "across the page")
    labels = np.asarray(labels)
    classes = [c for c in range(len(CLASS_NAMES)) if (labels == c).any()]
    per_figure = max(1, MAX_FACES_ACROSS // per_class)
    groups = [classes[i:i + per_figure] for i in range(0, len(classes), per_figure)]
    figures = []
    for part, group in enumerate(groups, 1):
        rows = np.isin(labels, group)
        fig = saliency_figure(images[rows], {k: v[rows] for k, v in maps.items()}, labels[rows],
                              keep=keep)
        fig.suptitle(f"{title}: explanations of the predicted class"
                     + (f" ({part}/{len(groups)})" if len(groups) > 1 else ""), fontsize=10)
        figures.append(fig)
    return figures


def shown_summary(indices, true, maps: dict, *, per_class: int, seed: int, missing, keep: float,
                  smoothgrad_samples: int, smoothgrad_noise: float, gradcam_layer: str,
                  gradcam_cover: dict | None = None, grid_biased: bool = False) -> dict:
    """The faces of the explanation figures (`maps`: their explanation_maps), the settings of
    their maps and what the masked faces keep: how many separate regions, and where."""
    mask = masked_faces(np.zeros(maps["saliency"].shape), maps, keep)[1]
    regions = connected_regions(mask)
    kept = region_share(mask.astype(float))
    # against the pixels the masks' method can weigh, like the region table (not the whole image)
    area = region_area(mask.shape[1:], seen_pixels(maps[mask_source(maps)]))
    predicted = np.asarray(maps["predicted"])
    return {"faces": len(indices), "per_class": per_class, "seed": seed, "missing": list(missing),
            "keep": keep, "mask_method": mask_source(maps),
            "mask_smoothing": mask_smoothing(mask_source(maps)), "smoothgrad_samples": smoothgrad_samples,
            "smoothgrad_noise": smoothgrad_noise, "gradcam_layer": gradcam_layer,
            "gradcam_cover": gradcam_cover, "grid_biased": grid_biased,
            "shown_indices": indices, "shown_true": true, "shown_predicted": predicted,
            "correct": int((predicted == np.asarray(true)).sum()),
            "kept_fraction_mean": float(mask.mean()), "mask_regions": regions,
            "mask_regions_mean": float(regions.mean()),
            "mask_regions_range": [int(regions.min()), int(regions.max())],
            "mask_region_share": kept, "mask_region_density": {r: kept[r] / area[r] if area[r] else None for r in kept}}


def shown_sentences(s: dict) -> str:
    """The paragraph that introduces the explanation figures (faces, map settings, masks)."""
    missing = f"; the validation split has no {', '.join(s['missing'])} face" if s["missing"] else ""
    low, high = s["mask_regions_range"]
    regions = (f"{s['mask_regions_mean']:.1f} connected regions per face on average (from {low} to {high})"
               if low != high else f"{plural(low, 'connected region')} on every face")
    share = s["mask_region_share"]
    inside = join_words(f"{pct(share[r])} in the {r} box ({s['mask_region_density'][r]:.1f}x its "
                        "share of the pixels the map weighs)" for r in FACE_REGIONS)
    c = s.get("gradcam_cover")
    caveat = (" Grad-CAM's weak grid edges (see below) shape these masks too: they show where "
              "Grad-CAM looks, not the regions of the answer above."
              if s.get("grid_biased") and s["mask_method"] == "gradcam" else "")
    cover = "" if not c else (
        f", whose {c['cells']} x {c['cells']} cells, {c['stride']:g} pixels apart, cover rows and "
        f"columns {c['first']} to {c['last']} of the {IMAGE_SIZE} x {IMAGE_SIZE} face (counted from 0), interpolated "
        "between cell centers; the border outside, which that layer does not see, is 0")
    return (
        f"**Faces**: {s['faces']} validation faces, {s['per_class']} per true class (drawn at random "
        f"with seed {s['seed']}){missing}; the CNN predicts {s['correct']} of them correctly (column "
        "titles: true class, then predicted class and its probability). **SmoothGrad**: gradient "
        f"magnitude averaged over {s['smoothgrad_samples']} copies with Gaussian noise of standard "
        f"deviation {s['smoothgrad_noise']:g} x 255 ({s['smoothgrad_noise'] * 255:.0f} gray levels). "
        f"**Grad-CAM** layer: the last convolution layer ({layer_words(s['gradcam_layer'])}){cover}. **Masked**: each "
        f"face keeps the {pct(s['keep'], 0)} of its pixels where "
        f"{mask_words(s['mask_method'], s.get('mask_smoothing', 0.0))} is highest, {regions}, with "
        f"{inside}.{caveat}")


# ----------------------------------------------------------------------------- checks on the maps

def interval_or_none(values, seed: int) -> dict | None:
    """bootstrap_mean of `values`, or None when every value is NaN (no map had any mass)."""
    values = np.asarray(values, dtype=np.float64)
    return bootstrap_mean(values, seed) if (~np.isnan(values)).any() else None


def sanity_summary(trained: dict, randomized: dict, seed: int,
                   max_correlation: float = SANITY_MAX_CORRELATION) -> dict:
    """Smoothness and the model-randomization test per method. `trained` and `randomized` map a
    method to its maps (N, H, W) of the same faces, for the same (the trained model's predicted)
    classes, by the trained CNN and by randomized_copy of it. Per method: the lag-1
    autocorrelation of the trained maps (smoothness), the rank correlation between the trained
    and the randomized maps of each face, and as a reference that between the trained maps of
    two different faces (each face against the next one); intervals are bootstraps over faces."""
    methods = {}
    for name, maps in trained.items():
        random_maps = np.asarray(randomized[name])
        r = rank_correlation(maps, random_maps)
        others = rank_correlation(maps, np.roll(maps, 1, axis=0)) if len(maps) > 1 else None
        methods[name] = {
            "faces": len(maps), "smoothness": bootstrap_mean(lag1_autocorrelation(maps), seed),
            "random_smoothness": float(lag1_autocorrelation(random_maps).mean()),
            "rank_correlation": bootstrap_mean(r, seed),
            "different_faces": None if others is None else float(others.mean()),
            "random_zero_maps": int((random_maps.reshape(len(random_maps), -1).max(axis=1) == 0).sum()),
            "passes": bool(r.mean() < max_correlation)}
    smoothness = {m: v["smoothness"]["mean"] for m, v in methods.items()}
    return {"max_correlation": max_correlation, "seed": seed, "confidence": CONFIDENCE,
            "resamples": BOOTSTRAP_RESAMPLES, "methods": methods,
            "passed": [m for m, v in methods.items() if v["passes"]],
            "failed": [m for m, v in methods.items() if not v["passes"]],
            "smoothest": max(smoothness, key=smoothness.get), "mask_method": MASK_METHOD,
            "mask_smoothing": mask_smoothing(MASK_METHOD)}


def smoother(a: dict, b: dict) -> str:
    """'smoother than', 'less smooth than' or 'as smooth as' (intervals that overlap) for two
    smoothness intervals."""
    return ("smoother than" if a["low"] > b["high"] else "less smooth than" if a["high"] < b["low"]
            else "as smooth as")


def sanity_sentences(s: dict) -> str:
    """The bullets on sanity_summary: smoothness per method, the randomization test and its
    verdicts, and what that means for the masked faces."""
    m = s["methods"]
    smooth = ("- **Smoothness** (lag-1 autocorrelation: the correlation of each pixel with its "
              "neighbor, about 0 for pixel-level speckle and near 1 for a map that varies slowly): "
              + ", ".join(f"{METHODS[k]} {interval_words(v['smoothness'])}" for k, v in m.items()) + ".")
    if "smoothgrad" in m and "saliency" in m:
        smooth += (f" SmoothGrad is {smoother(m['smoothgrad']['smoothness'], m['saliency']['smoothness'])}"
                   " plain saliency.")
    counts = {v["faces"] for v in m.values()}
    faces = (f"{counts.pop()} faces" if len(counts) == 1 else
             join_words(f"{v['faces']} faces for {METHODS[k]}" for k, v in m.items()))
    others = [f"{METHODS[k]} {number(v['different_faces'])}" for k, v in m.items()
              if v["different_faces"] is not None]
    randomization = (
        f"- **Model randomization** (Adebayo et al. 2018; {faces}): the rank correlation between the "
        "trained CNN's map of a face and the map of the same network with random weights, for the "
        "same class, is "
        + ", ".join(f"{METHODS[k]} {interval_words(v['rank_correlation'])}" for k, v in m.items())
        + (f"; between the trained CNN's maps of two different faces it is {', '.join(others)}"
           if others else "") + ".")
    verdicts = []
    if s["passed"]:
        many = len(s["passed"]) > 1
        verdicts.append(f"{join_words(METHODS[k] for k in s['passed'])} "
                        f"{'change' if many else 'changes'} with the weights (mean below "
                        f"{s['max_correlation']:g}) and {'pass' if many else 'passes'}")
    for k in s["failed"]:
        verdicts.append(f"{METHODS[k]} barely changes and fails: what it shows is set by the "
                        "architecture rather than learned")
    verdict = "; ".join(verdicts)
    common = [k for k in s["passed"]
              if m[k]["different_faces"] is not None and m[k]["different_faces"] >= s["max_correlation"]]
    if common:
        verdict += (f". {capital(join_words(METHODS[k] for k in common))}'s maps of two different faces "
                    f"correlate {join_words(number(m[k]['different_faces']) for k in common)} too: what "
                    "training put there is much the same for every face")
    lines = [smooth, randomization, f"- {capital(verdict)}."]
    mask = s["mask_method"]
    if mask in m:
        traits = ["passes the model-randomization test" if m[mask]["passes"] else "fails the model-randomization test"]
        if s["smoothest"] == mask:
            traits.append("is the smoothest map")
        lines.append(f"- The masked faces keep the top of "
                     f"{mask_words(mask, s.get('mask_smoothing', 0.0))}, which {join_words(traits)}.")
    return "\n".join(lines)


def sanity_figure(images, trained: dict, randomized: dict, rows: int = SANITY_ROWS,
                  cell_size: float = 0.78) -> Figure:
    """The first `rows` faces: the face, then per method its map by the trained CNN and by the
    same network with random weights (sanity_summary's maps). 8-point titles; with the default
    `cell_size` the face and three methods take 5.5 inches, within the printed width (plotting.PRINT_WIDTH)."""
    x = as_batch(images)[..., 0][:rows]
    fig = Figure(figsize=(cell_size * (1 + 2 * len(trained)), cell_size * len(x) + 0.75),
                 layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = fig.subplots(len(x), 1 + 2 * len(trained), squeeze=False)
    for row, ax_row in enumerate(axes):
        draw_map(ax_row[0], x[row], "original", None)
        for i, name in enumerate(trained):
            for ax, maps, which in ((ax_row[1 + 2 * i], trained, "trained"),
                                    (ax_row[2 + 2 * i], randomized, "random")):
                draw_map(ax, x[row], METHODS[name], maps[name][row])
                if row == 0:
                    ax.set_title(f"{METHODS[name]}\n{which}", fontsize=8)
    axes[0, 0].set_title("face", fontsize=8)
    fig.suptitle("Model randomization: each method's maps by the trained CNN and by\nthe same "
                 "network with random weights", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- face regions

def method_focus(maps, random_maps, seed: int) -> dict:
    """The region densities of one method's maps (N, H, W) with bootstrap intervals over faces,
    their order, the lead of the densest region over the next one (a tie when the interval of
    the difference holds 0), and, from `random_maps` (the randomized network's maps of the same
    faces, or None), what training changed per region."""
    seen = seen_pixels(maps)  # the same network with random weights sees the same pixels
    density = region_density(maps, seen)
    means = {r: float(np.nanmean(v)) for r, v in density.items()}
    order = sorted(means, key=means.get, reverse=True)
    lead = bootstrap_mean(density[order[0]] - density[order[1]], seed)
    out = {"faces": len(maps), "seen_pixels": int(seen.sum()), "seen_area": region_area(seen.shape, seen),
           "density": {r: bootstrap_mean(v, seed) for r, v in density.items()},
           "order": order,
           "lead": {"first": order[0], "second": order[1], **lead, "tie": lead["low"] <= 0}}
    if random_maps is not None:
        random_density = region_density(random_maps, seen)
        out["random_density"] = {r: interval_or_none(v, seed) for r, v in random_density.items()}
        out["learned"] = {r: interval_or_none(density[r] - random_density[r], seed) for r in density}
    return out


def class_spread(saliency, labels, compared, seed: int) -> dict:
    """For the eyes and the mouth: the classes (of `compared`) whose saliency maps give the region
    the highest and the lowest mean share, with bootstrap intervals over each class's faces, and
    whether those intervals are apart ("separated": a clear difference, not a tie)."""
    shares, labels = region_shares(saliency), np.asarray(labels)
    spread = {}
    for region in ("eyes", "mouth"):
        per = {name: bootstrap_mean(shares[region][labels == CLASS_NAMES.index(name)], seed)
               for name in compared}
        top = max(per, key=lambda n: per[n]["mean"])
        bottom = min(per, key=lambda n: per[n]["mean"])
        spread[region] = {"top": top, "top_share": per[top], "bottom": bottom,
                          "bottom_share": per[bottom],
                          "separated": per[top]["low"] > per[bottom]["high"]}
    return spread


def region_summary(trained: dict, randomized: dict, labels, trusted, seed: int,
                   min_class_faces: int = MIN_CLASS_FACES, excluded: dict | None = None) -> dict:
    """Which face regions the maps weigh. `trained` maps a method to the main CNN's maps
    (N, H, W), `randomized` to the randomized network's maps of the same faces; `labels` are the
    true classes of the saliency maps' faces (for the per-class shares); `trusted` the methods
    that passed the randomization test: the answer rests on them (on every method when none
    did), except those `excluded` ({method: why}, e.g. grid_excluded's). The focus regions are
    those whose density interval lies above 1 for every answer method, ordered by the first
    one's density."""
    excluded = excluded or {}
    area = region_area(next(iter(trained.values())).shape[1:])
    methods = {m: method_focus(maps, randomized.get(m), seed) for m, maps in trained.items()}
    answer = ([m for m in trained if m in trusted and m not in excluded]
              or [m for m in trained if m not in excluded] or list(trained))
    focus = [r for r in methods[answer[0]]["order"]
             if all(methods[m]["density"][r]["low"] > 1 for m in answer)]
    per_class = region_share_by_class(trained["saliency"], labels)
    compared = [name for name, v in per_class.items() if v["faces"] >= min_class_faces]
    spread = class_spread(trained["saliency"], labels, compared, seed) if len(compared) > 1 else None
    return {
        "region_boxes": FACE_REGIONS, "region_area": area, "confidence": CONFIDENCE,
        "resamples": BOOTSTRAP_RESAMPLES, "seed": seed, "methods": methods,
        "answer_methods": answer, "answer_trusted": bool(set(answer) & set(trusted)),
        "excluded": {m: why for m, why in excluded.items() if m in trained},
        "focus_regions": focus,
        "per_class_sample": per_class, "min_class_faces": min_class_faces,
        "compared_classes": compared, "class_spread": spread,
        "mouth_top": spread["mouth"]["top"] if spread else None,
        "eyes_top": spread["eyes"]["top"] if spread else None,
    }


def lead_words(f: dict) -> str:
    """'the eyes lead the mouth by 0.13x (95% CI ...)' or 'the eyes and the mouth do
    not clearly differ (difference 0.02x, 95% CI ...)'."""
    lead = f["lead"]
    first, second = REGION_WORDS[lead["first"]], REGION_WORDS[lead["second"]]
    # the difference of the two densities as printed, so that it adds up on the page
    lead = lead | {"mean": float(number(f["density"][lead["first"]]["mean"]))
                   - float(number(f["density"][lead["second"]]["mean"]))}
    if lead["tie"]:
        return f"{first} and {second} do not clearly differ (difference {interval_words(lead, 'x', brackets=False)})"
    return f"{first} lead {second} by {interval_words(lead, 'x')}"


def trained_words(f: dict, regions) -> str | None:
    """What training did to each region's density, against the randomized network, by the sign
    of the change's interval: 'raised the mouth (+0.25x) and lowered the eyes (-0.11x)', 'left
    the eyes unchanged'. None without the randomized network."""
    if "learned" not in f or any(f["learned"][r] is None for r in regions):
        return None
    done = {"raised": [], "lowered": [], "left unchanged": []}
    for r in regions:
        d = f["learned"][r]
        change = f"{REGION_WORDS[r]} ({change_words(f, r)})"
        if d["low"] > 0:
            done["raised"].append(change)
        elif d["high"] < 0:
            done["lowered"].append(change)
        else:
            done["left unchanged"].append(REGION_WORDS[r])
    return join_words(f"{verb} {join_words(items)}" if verb != "left unchanged" else
                      f"left {join_words(items)} unchanged" for verb, items in done.items() if items)


def change_words(f: dict, region: str) -> str:
    """'+0.25x, 95% CI +0.22 to +0.27': what training changed in a region's density, as the
    difference of the two printed densities (trained minus random weights) and its interval."""
    d = f["learned"][region]
    shown = float(number(f["density"][region]["mean"])) - float(number(f["random_density"][region]["mean"]))
    return (f"{number(shown, sign=True)}x, {100 * CONFIDENCE:.0f}% CI "
            f"{number(d['low'], sign=True)} to {number(d['high'], sign=True)}")


def origin(f: dict, focus) -> dict | None:
    """Where a method's focus comes from, against the same network with random weights:
    "architecture", the focus regions the random network already puts above an even spread
    (interval above 1x) and training did not raise; "raised", the regions whose change by
    training has an interval above 0. None without the randomized network."""
    learned, random = f.get("learned"), f.get("random_density")
    if not learned or not random or any(learned.get(r) is None for r in ("eyes", "mouth")):
        return None
    return {"architecture": [r for r in focus if random.get(r) and random[r]["low"] > 1
                             and not learned.get(r, {"low": 0})["low"] > 0],
            "raised": [r for r in ("eyes", "mouth") if learned[r]["low"] > 0]}


def origin_lead(f: dict, focus) -> str:
    """'; the eyes mostly by the architecture, the mouth raised by training' for the answer's
    first line ('' when neither applies)."""
    o = origin(f, focus)
    if o is None:
        return ""
    architecture, trained = o["architecture"], [r for r in o["raised"] if r in focus]
    if architecture and trained:
        return (f"; {join_words(REGION_WORDS[r] for r in architecture)} mostly by the architecture, "
                f"{join_words(REGION_WORDS[r] for r in trained)} raised by training")
    if architecture:
        return ("; mostly by the architecture" if set(architecture) == set(focus) else
                f"; {join_words(REGION_WORDS[r] for r in architecture)} mostly by the architecture")
    if trained:
        return (f"; {'both ' if len(focus) == 2 else ''}raised by training" if set(trained) == set(focus)
                else f"; {join_words(REGION_WORDS[r] for r in trained)} raised by training")
    return ""


def origin_words(f: dict, focus) -> str:
    """The answer sheet's short form of origin_lead, with its numbers: '; the eyes mostly by the
    architecture (random weights already give 1.56x), the mouth raised by training (+0.25x, 95%
    CI +0.22 to +0.27)' ('' when neither applies)."""
    o = origin(f, focus)
    if o is None:
        return ""
    clauses = []
    if o["architecture"]:
        given = join_words(f"{number(f['random_density'][r]['mean'])}x" for r in o["architecture"])
        clauses.append(f"{join_words(REGION_WORDS[r] for r in o['architecture'])} mostly by the architecture "
                       f"(random weights already give {given})")
    raised = [r for r in o["raised"] if r in focus]
    if raised:
        clauses.append(f"{join_words(REGION_WORDS[r] for r in raised)} raised by training "
                       f"({'; '.join(change_words(f, r) for r in raised)})")
    return "; " + ", ".join(clauses) if clauses else ""


EXCLUDED_WHY = {"grid": ("a grid whose edge cells are weak whatever the face",
                         "its grid's edge cells are weak whatever the face (a weak column stays weak on "
                         "the mirrored faces), which shifts its region shares")}
"""Why a method is left out of the region answer (region_summary's `excluded`, {method: reason}):
the reason in a few words (the answer sheet) and as a clause (the section)."""


def excluded_why(s: dict, method: str, long: bool = False) -> str:
    """EXCLUDED_WHY's words for why `method` is left out of summary `s`'s answer."""
    reason = s["excluded"][method]
    return EXCLUDED_WHY.get(reason, (reason, reason))[1 if long else 0]


def share_words(s: dict, region: str) -> str:
    """How a region outside the focus fares by the answer methods: 'less than', 'about' or
    'more than (by some methods)' its share, with the first answer method's density."""
    intervals = [s["methods"][m]["density"][region] for m in s["answer_methods"]]
    first = f"{number(intervals[0]['mean'])}x by {METHODS[s['answer_methods'][0]]}"
    if all(d["high"] < 1 for d in intervals):
        return f"less than its share ({first})"
    if any(d["low"] > 1 for d in intervals):
        return f"more than its share by some methods ({first})"
    return f"about its share ({first})"


def focus_sentences(s: dict) -> str:
    """The section's answer, first: the focus regions and what training changed, then per
    answer method the density of each region with its interval and whether the top two tie."""
    answer = s["answer_methods"]
    area = s["methods"][answer[0]].get("seen_area") or s["region_area"]
    focus = s["focus_regions"]
    methods = join_words(METHODS[m] for m in answer)
    if s["answer_trusted"]:
        how = (f"by {methods}, the method{'s that pass' if len(answer) > 1 else ' that passes'} "
               "the model-randomization test below")
        if s.get("excluded"):
            how = f"by {methods}, which passes the model-randomization test below"
    else:
        how = f"by {methods} (no method passes the model-randomization test below: read with care)"
    if focus:
        leads = [s["methods"][m]["lead"] for m in answer]
        equal = len(focus) == 2 and all(d["tie"] and {d["first"], d["second"]} == set(focus[:2])
                                       for d in leads)
        named = sorted(focus, key=list(REGION_WORDS).index) if equal else focus  # a tie has no order
        head = (f"**Answer: {join_words(REGION_WORDS[r] for r in named)}"
                f"{', about equally' if equal else ''}{origin_lead(s['methods'][answer[0]], focus)}.** "
                f"{'Each gets' if len(focus) > 1 else 'They get' if focus[0] == 'eyes' else 'It gets'} "
                "more of the map's mass per pixel "
                f"than a map spread evenly over the pixels the model sees would (interval above 1x), {how}")
        others = [f"{REGION_WORDS[r]} ({pct(area[r])} of the pixels the model sees) gets {share_words(s, r)}"
                  for r in area if r not in focus]
        if others:
            head += "; " + "; ".join(others)
        head += "."
        inherited = []
        for m in answer:  # grouped by method: 'the eyes 1.56x and the mouth 1.16x by saliency'
            random = s["methods"][m].get("random_density") or {}
            above = [f"{REGION_WORDS[r]} {number(random[r]['mean'])}x" for r in focus
                     if random.get(r) and random[r]["low"] > 1]
            if above:
                inherited.append(f"{join_words(above)} by {METHODS[m]}")
        if inherited:
            head += (f" The same network with random weights already gives {join_words(inherited)}: "
                     "part of this focus comes from the architecture and the faces' layout, not from "
                     "training.")
        moved = [trained_words(s["methods"][m], ["eyes", "mouth"]) for m in answer]
        moved = [(m, words) for m, words in zip(answer, moved) if words]
        if moved:
            head += (" What training itself did, against those random weights (a change whose "
                     f"{100 * CONFIDENCE:.0f}% interval holds 0 counts as none): " + "; ".join(
                         f"by {METHODS[m]}, it {words}" for m, words in moved) + ".")
    else:
        above = {m: [r for r in s["methods"][m]["order"] if s["methods"][m]["density"][r]["low"] > 1]
                 for m in answer}
        detail = "; ".join(f"{METHODS[m]} puts {join_words(REGION_WORDS[r] for r in above[m])} above it"
                           if above[m] else f"{METHODS[m]} none" for m in answer)
        head = (f"**Answer: no region stands out by every method** {how}: the methods disagree on "
                f"which regions get more than an even spread ({detail})." if any(above.values()) else
                f"**Answer: no region stands out** {how}: none gets more than an even spread would give.")
    lines = [head]
    for m in s.get("excluded") or []:  # left out of the answer: why, and what it gives
        density = s["methods"].get(m, {}).get("density") or {}
        gives = join_words(f"{REGION_WORDS[r]} {number(density[r]['mean'])}x" for r in focus if density.get(r))
        lines.append(f"- **Left out: {METHODS[m]}.** It passes the test too, but {excluded_why(s, m, long=True)}"
                     + (" and the masked faces cut by it" if MASK_METHOD == m else "")
                     + f" (see below){f'; it gives {gives}' if gives else ''}.")
    for m in answer:  # each region's density with its interval: region_table
        f = s["methods"][m]
        lines.append(f"- **{capital(METHODS[m])}** ({f['faces']} faces): {lead_words(f)}.")
    return "\n".join(lines)


def region_table(s: dict) -> pd.DataFrame:
    """One row per measure, one column per region: the box, its share of the image, and per
    method the density (mass per pixel against an even map) with its interval, of the trained
    CNN and of the randomized network."""
    area = s["region_area"]
    rows = [["box", *(region_boxes()[r] for r in area)],
            ["share of the image", *(pct(area[r]) for r in area)]]
    for m, f in s["methods"].items():
        if f.get("seen_area") and any(pct(f["seen_area"][r]) != pct(area[r]) for r in area):
            # the area its densities are measured against, when the method cannot weigh every pixel
            rows.append([f"{METHODS[m]}: share of the {f['seen_pixels']:,} pixels it weighs",
                         *(pct(f["seen_area"][r]) for r in area)])
        rows.append([f"{METHODS[m]}, trained ({f['faces']} faces)",
                     *(interval_words(f["density"][r], "x", label=False) for r in area)])
        if "random_density" in f:
            rows.append([f"{METHODS[m]}, random weights",
                         *(("n/a" if f["random_density"][r] is None
                            else f"{number(f['random_density'][r]['mean'])}x") for r in area)])
    return pd.DataFrame(rows, columns=["measure", *area])


def class_region_sentences(s: dict) -> str:
    """How much the eyes' and the mouth's share of the saliency varies between the classes with
    enough faces: the highest and the lowest class with intervals, and whether they differ."""
    if s["class_spread"] is None:
        return (f"Too few classes have {s['min_class_faces']} or more faces in this sample to "
                "compare them.")
    parts = []
    for region, d in s["class_spread"].items():
        verdict = (("a clear difference (the intervals are apart)" if not parts else "the intervals again apart") if d["separated"] else
                   "the intervals overlap: no class clearly differs")
        parts.append(f"the {region}' share is highest for **{d['top']}** faces "
                     f"({share_interval(d['top_share'])}) and lowest for **{d['bottom']}** faces "
                     f"({share_interval(d['bottom_share'])}), {verdict}"
                     .replace("the mouth' ", "the mouth's "))
    compared = len(s["compared_classes"])
    among = (f"By saliency, across all {compared} classes" if compared == len(CLASS_NAMES) else
             f"By saliency, among the {compared} classes with at least {s['min_class_faces']} faces in "
             "the sample")
    return f"{among}, {parts[0]}; {parts[1]}."


EDGE_WORDS = {"first_row": "top row", "last_row": "bottom row", "first_column": "left column",
              "last_column": "right column"}
MIRROR = {"first_column": "last_column", "last_column": "first_column"}  # a column's mirror image
WEAK_EDGE = 0.5
"""An edge of Grad-CAM's grid is weak when its mean is below this share of the inner cells' mean."""


def grid_excluded(edges: dict, mirrored: dict) -> dict:
    """{"gradcam": "grid"} when Grad-CAM's grid has a weak column that stays weak on the
    mirrored faces (grid_sentence's test: the network's grid, not the faces), else {}: the
    region answer then leaves Grad-CAM out (region_summary's `excluded`)."""
    if any(edges[k] < WEAK_EDGE * edges["inner"] and _stays_weak(mirrored, k) for k in MIRROR):
        return {"gradcam": "grid"}
    return {}


def _stays_weak(mirrored: dict, column: str) -> bool:
    """On the mirrored faces, the same `column` of the grid is weak and its mirror image is not."""
    return mirrored[column] < WEAK_EDGE * mirrored["inner"] <= mirrored[MIRROR[column]]


def grid_sentence(edges: dict, mirrored: dict, cover: dict, unread: int = 0) -> str:
    """Whether the mean Grad-CAM map is weak on an edge of its grid of cells, and whether that
    follows the grid or the face: `edges` and `mirrored` are grid_edges of the faces' maps and
    of the mirrored faces' maps (as computed, not mirrored back). A weak column that stays on
    the same side for the mirrored faces belongs to the grid: the same cells are weak whichever
    half of the face they see."""
    inner = edges["inner"]
    grid = f"{cover['cells']} x {cover['cells']} grid of cells"
    weak = [k for k in EDGE_WORDS if edges[k] < WEAK_EDGE * inner]
    if not weak:
        low = min(edges[k] for k in EDGE_WORDS)
        high = max(edges[k] for k in EDGE_WORDS)
        return (f"No edge of Grad-CAM's {grid} is much weaker than its inner cells on average (edges "
                f"{number(low)} to {number(high)}, inner cells {number(inner)}).")
    text = (f"The mean Grad-CAM map is weak on the {join_words(EDGE_WORDS[k] for k in weak)} of its "
            f"{grid} ({', '.join(number(edges[k]) for k in weak)} on average, against "
            f"{number(inner)} for the inner cells).")
    if unread:
        last = "row and column" if unread == 1 else f"{unread} rows and columns"
        text += (f" The pooling after that layer never reads its last {last} ('valid' windows that do not tile {cover['cells']} cells), "
                 "so the classifier cannot use those cells: a flaw of this architecture's odd-sized "
                 "maps, which padding them to an even size would remove.")
    columns = [k for k in weak if k in MIRROR]
    if columns:
        k, other = columns[0], MIRROR[columns[0]]
        stays = _stays_weak(mirrored, k)
        text += (" On the mirrored faces the same " + EDGE_WORDS[k]
                 + (f" stays weak ({number(mirrored[k])}; the {EDGE_WORDS[other]} "
                    f"{number(mirrored[other])}): it belongs to the network's grid, not to the faces, "
                    "and shifts Grad-CAM's region shares, so the answer above leaves them out."
                    if stays else
                    f" is {number(mirrored[k])} and the {EDGE_WORDS[other]} {number(mirrored[other])}: "
                    "the weak side follows the faces, not the grid."))
    return text


def share_interval(d: dict) -> str:
    """A bootstrap_mean dict of shares as '22.8%, 95% CI 21.9% to 23.7%'."""
    return f"{pct(d['mean'])}, {100 * CONFIDENCE:.0f}% CI {pct(d['low'])} to {pct(d['high'])}"


def region_figure(mean_face, mean_saliency, mean_cam, faces: int, area: dict) -> Figure:
    """Three panels with the FACE_REGIONS boxes drawn on them: the mean face, the mean
    saliency and the mean Grad-CAM of `faces` faces; the boxes on the mean face are labeled
    with their region's share of the image (`area`). Drawn at print size, 8-point text."""
    fig = Figure(figsize=(5.6, 2.55), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [("mean validation face", mean_face, "gray", None),
              (f"mean saliency,\n{faces} faces", mean_saliency, "hot", "mean normalized\nsaliency"),
              (f"mean Grad-CAM,\n{faces} faces", mean_cam, "jet", "mean normalized\nGrad-CAM")]
    for i, (ax, (title, image, cmap, label)) in enumerate(zip(axes, panels)):
        shown_image = ax.imshow(image, cmap=cmap)
        if label:
            bar = fig.colorbar(shown_image, ax=ax, fraction=0.07, pad=0.03)
            bar.set_label(label, fontsize=8)
            bar.ax.tick_params(labelsize=8)
        for name, (r0, r1, c0, c1) in FACE_REGIONS.items():
            color = REGION_COLOURS[name]
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, lw=1.5,
                                   ec=color))
            if i == 0:  # one set of labels, inside the boxes: the same boxes on every panel
                ax.text((c0 + c1) / 2 - 0.5, r0 + 0.5, f"{name} ({pct(area[name], 0)})",
                        color=color, fontsize=8, ha="center", va="top",
                        bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))
        if i == 0:  # pixel coordinates once: the panels share them
            ax.set(xlabel="column (pixel)", ylabel="row (pixel)")
        else:
            ax.set(xticks=[], yticks=[])
        ax.set_title(title)
        set_fonts(ax, title=9, labels=8, ticks=8)
        ax.grid(False)
    fig.suptitle("Face regions (fixed boxes; on the face: their share of the image's area)\n"
                 "and where the main CNN looks on average", fontsize=10)
    return fig
