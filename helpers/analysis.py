"""What the trained networks look at: saliency maps, filter visualization, adversarial examples.

Every function takes the project's functional Keras 3 models (helpers.models): raw pixels
float32 (N, 48, 48, 1) in 0..255, a Dense layer named ``logits`` (pre-softmax class scores)
followed by ``probabilities``. Models always run in inference mode (``training=False``), so the
augmentation and dropout layers inside them are inactive while we differentiate.

Gradients are taken with ``tf.GradientTape`` (as in the keras-io examples), so this module
needs the TensorFlow backend. tf-keras-vis 0.8.7 does work on Keras 3.15 functional models in
this venv: ``Saliency`` with ``ReplaceToLinear`` gives exactly our vanilla saliency (after
max-normalisation), ``Gradcam`` the same class activation map (it upsamples with scipy's zoom
rather than a bilinear resize), and ``ActivationMaximization`` runs. We still write every method
directly on the tape, in a few lines each: tf-keras-vis clones the model for every visualizer
and warns about the input structure under Keras 3, has no adversarial search, and its
activation maximization uses its own regularisers instead of the normalised-gradient, blur and
jitter recipe below. tests/test_analysis.py cross-checks saliency_maps and grad_cam against it.

Maps (saliency, SmoothGrad, Grad-CAM) are non-negative and normalised per image by dividing by
their maximum, so 0 still means "no influence" and 1 is the image's most influential pixel.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot: in a notebook, make the
figure the cell's value (or ``display(fig)``) to show it once; ``fig.savefig`` saves it.

The later sections hold what notebooks/05_saliency.ipynb and 06_filters.ipynb do around these
methods, so that the notebooks only call and show: loading a trained run checked against the
data split, seeded samples of faces, summaries of maps (mass in the top 10% of pixels,
correlation between two models' maps, region tables), adversarial and class-maximization tables
and figures. The measures of filter patterns and feature maps are in helpers.filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from helpers.backend import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from tqdm.auto import tqdm

from helpers.config import CLASS_NAMES

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"helpers.analysis computes gradients with TensorFlow, but Keras runs on the "
        f"{keras.backend.backend()} backend: run the analysis notebooks with KERAS_BACKEND=tensorflow"
    )
from helpers.models import logits_model
from helpers.notebook import pct, plural

BATCH_SIZE = 64  # images per gradient computation (bounds memory on large sets)
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


# ----------------------------------------------------------------------------- input handling

def _as_batch(images, model: keras.Model | None = None) -> np.ndarray:
    """Images as float32 (N, H, W, C): accepts (H, W), (H, W, 1), (N, H, W) or (N, H, W, C)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None] if x.shape[-1] == 1 else x[..., None]
    elif x.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W[, C]), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("no images given")
    if model is not None:
        expected = tuple(model.inputs[0].shape[1:])
        if any(e is not None and e != s for e, s in zip(expected, x.shape[1:])):
            raise ValueError(f"images of shape {x.shape[1:]} do not fit the model input {expected}")
    return x


def _layer(model: keras.Model, layer_name: str):
    try:
        return model.get_layer(layer_name)
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no layer {layer_name!r}") from error


def _submodel(model: keras.Model, outputs, name: str | None = None) -> keras.Model:
    """model's input -> `outputs`. A single-input model gets its input as a tensor, not a
    one-element list, so that calling the sub-model on a tensor raises no structure warning."""
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=name)


def _class_indices(class_indices, n: int, num_classes: int) -> np.ndarray | None:
    """Validate `class_indices` (None, one int for all n images, or n ints) as an int array."""
    if class_indices is None:
        return None
    idx = np.asarray(class_indices)
    idx = _indices(np.full(n, idx) if idx.ndim == 0 else idx, num_classes, "class_indices")
    if len(idx) != n:
        raise ValueError(f"need one class index per image: {len(idx)} for {n} images")
    return idx.astype(np.int32)


def _indices(values, n: int, what: str) -> np.ndarray:
    """`values` (default: all of 0..n-1) as a non-empty 1-D int array of indices below n."""
    idx = np.arange(n) if values is None else np.asarray(values)
    if (idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer)
            or idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{what} must be a non-empty list of ints in 0..{n - 1}, got {values!r}")
    return idx


def _normalise_max(maps: np.ndarray) -> np.ndarray:
    """Divide each non-negative map by its maximum (all-zero maps stay zero)."""
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, *([1] * (maps.ndim - 1)))
    return (maps / np.where(peak > 0, peak, 1.0)).astype(np.float32)


def _drop_channel(x: np.ndarray) -> np.ndarray:
    """(..., H, W, 1) -> (..., H, W); other channel counts are left as they are."""
    return x[..., 0] if x.shape[-1] == 1 else x


def _batches(n: int, size: int = BATCH_SIZE):
    return (slice(start, min(start + size, n)) for start in range(0, n, size))


# ----------------------------------------------------------------------------- saliency maps

def _input_gradients(lmodel: keras.Model, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """d logit[idx] / d input for a batch (each image only affects its own score)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = tf.gather(lmodel(x, training=False), idx, axis=1, batch_dims=1)
    return tape.gradient(scores, x).numpy()


def predict_logits(model: keras.Model, images) -> np.ndarray:
    """Pre-softmax class scores (N, classes) of `images`, in inference mode."""
    lmodel = logits_model(model)
    x = _as_batch(images, model)
    return np.concatenate([lmodel(x[s], training=False).numpy() for s in _batches(len(x))])


def _targets(model, lmodel, x, class_indices) -> np.ndarray:
    num_classes = lmodel.outputs[0].shape[-1]
    idx = _class_indices(class_indices, len(x), num_classes)
    return predict_logits(model, x).argmax(axis=1).astype(np.int32) if idx is None else idx


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


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the model's Conv2D layers, input to output."""
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


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


# ----------------------------------------------------------------------------- gradient ascent

def _blur(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """Gaussian blur of a (N, H, W, C) batch, per channel, with reflected borders."""
    radius = max(1, math.ceil(2 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = np.outer(taps, taps) / np.outer(taps, taps).sum()
    channels = x.shape[-1]
    kernel = tf.constant(np.tile(kernel[:, :, None, None], (1, 1, channels, 1)), tf.float32)
    padded = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


def _unit_score(outputs: tf.Tensor, units: tf.Tensor) -> tf.Tensor:
    """Per image i: the mean of channel units[i] of `outputs` over the other (spatial) axes."""
    chosen = tf.gather(outputs, units, axis=len(outputs.shape) - 1, batch_dims=1)
    if len(chosen.shape) == 1:  # a Dense layer: one value per unit
        return chosen
    return tf.reduce_mean(chosen, axis=list(range(1, len(chosen.shape))))


def _score_and_gradient(submodel: keras.Model):
    """A compiled step: each image's score (_unit_score) and d score / d input."""
    @tf.function(reduce_retracing=True)
    def step(x, units):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = _unit_score(submodel(x, training=False), units)
        return score, tape.gradient(score, x)
    return step


@dataclass
class AscentSettings:
    """Gradient-ascent schedule shared by filter and class visualization. Each step moves the
    image by `step_size` pixels (RMS over the image) along the normalised gradient, computed on
    the image rolled by a random shift of up to `jitter` pixels; pixels are clipped to 0..255
    and every `blur_every` steps the image is blurred with a Gaussian of `blur_sigma` pixels
    (0 disables jitter or blur). The start is mid-grey plus Gaussian noise of `noise` pixels."""

    steps: int = 100
    step_size: float = 2.0
    blur_every: int = 4
    blur_sigma: float = 0.5
    jitter: int = 2
    noise: float = 20.0

    def check(self) -> None:
        if self.steps < 0 or self.step_size <= 0 or self.blur_every < 0 or self.jitter < 0:
            raise ValueError(f"invalid gradient-ascent settings: {self}")
        if self.blur_every and self.blur_sigma <= 0:
            raise ValueError(f"blur_sigma must be > 0 when blurring, got {self.blur_sigma}")


def _ascend(step, units, shape, settings: AscentSettings, seed: int, progress=None):
    """Maximise unit units[i] on image i with `step` (from _score_and_gradient), starting from
    noise of `shape` (H, W, C). Returns (images, start scores, final scores)."""
    rng = np.random.default_rng(seed)
    start_image = np.clip(127.5 + rng.normal(0, settings.noise, (1, *shape)), 0, 255)
    x = tf.constant(np.repeat(start_image, len(units), axis=0), tf.float32)
    units = tf.constant(units, tf.int32)
    start = step(x, units)[0].numpy()
    for i in range(settings.steps):
        dy, dx = (int(v) for v in rng.integers(-settings.jitter, settings.jitter + 1, 2))
        grad = tf.roll(step(tf.roll(x, (dy, dx), (1, 2)), units)[1], (-dy, -dx), (1, 2))
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=(1, 2, 3), keepdims=True))
        x = tf.clip_by_value(x + settings.step_size * grad / (rms + 1e-8), 0.0, 255.0)
        if settings.blur_every and (i + 1) % settings.blur_every == 0:
            x = _blur(x, settings.blur_sigma)
        if progress is not None:
            progress(i + 1)
    return x.numpy(), start, step(x, units)[0].numpy()


def to_display(images) -> np.ndarray:
    """Contrast-stretch images for display (as in the keras-io filter example): per image,
    standardise, scale by 0.15, centre on mid-grey, clip; uint8, channel axis dropped if 1."""
    x = np.asarray(images, dtype=np.float64)
    axes = tuple(range(1, x.ndim))
    x = (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + 1e-5)
    x = np.clip(x * 0.15 + 0.5, 0, 1) * 255
    return (_drop_channel(x) if x.ndim == 4 else x).round().astype(np.uint8)


def filter_patterns(model: keras.Model, layer_name: str, filter_indices=None,
                    steps: int = AscentSettings.steps, step_size: float = AscentSettings.step_size,
                    seed: int = 0, blur_every: int = AscentSettings.blur_every,
                    blur_sigma: float = AscentSettings.blur_sigma,
                    jitter: int = AscentSettings.jitter, batch_size: int = 64,
                    progress: bool = True):
    """What excites each filter of `layer_name`: gradient ascent on the input, from the same
    noisy grey image, to maximise the filter's mean activation over its feature map (on the
    sub-model input -> layer, in inference mode). Gradients are RMS-normalised; jitter, blur
    and clipping to 0..255 regularise the image (see AscentSettings); the blur costs some
    activation but turns high-frequency noise into visible structure (blur_every=0 turns it
    off). Filters are optimised `batch_size` at a time, one image each, with a tqdm bar over
    filters when `progress`.
    On a 2-core CPU the full-size CNN takes about 0.9 s (first block) to 2.7 s (last block)
    per filter at 100 steps, so pick a subset of a wide layer with `filter_indices`.

    Returns (patterns: uint8 (F, H, W) display-ready via to_display, start_activation (F,),
    final_activation (F,)), for the filters in `filter_indices` (default: all) in that order."""
    output = _layer(model, layer_name).output
    units = _indices(filter_indices, output.shape[-1], "filter_indices")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    step = _score_and_gradient(_submodel(model, output, name=f"{model.name}_{layer_name}"))
    shape = tuple(model.inputs[0].shape[1:])

    results = []
    with tqdm(total=len(units), desc=layer_name, unit="filter", disable=not progress) as bar:
        for s in _batches(len(units), batch_size):
            results.append(_ascend(step, units[s], shape, settings, seed))
            bar.update(len(units[s]))
    images, start, final = (np.concatenate(parts) for parts in zip(*results))
    return to_display(images), start, final


def feature_maps(model: keras.Model, layer_name: str, image) -> np.ndarray:
    """The output of `layer_name` for one image, as an (H, W, F) array (inference mode)."""
    x = _as_batch(image, model)
    if len(x) != 1:
        raise ValueError(f"feature_maps takes one image, got {len(x)}")
    submodel = _submodel(model, _layer(model, layer_name).output)
    return submodel(x, training=False).numpy()[0]


@dataclass
class ClassMaximization:
    """Images that maximise each class's logit, and what the model makes of them."""

    images: np.ndarray          # float32 (K, H, W), raw model inputs in 0..255
    classes: np.ndarray         # (K,) class index optimised in each image
    start_logits: np.ndarray    # (K,) logit of the class on the starting noise
    logits: np.ndarray          # (K,) logit of the class on the final image
    probabilities: np.ndarray   # (K,) probability of the class on the final image
    predicted: np.ndarray       # (K,) class the model predicts for each final image


def class_maximization(model: keras.Model, steps: int = 200,
                       step_size: float = AscentSettings.step_size, seed: int = 0, classes=None,
                       blur_every: int = AscentSettings.blur_every,
                       blur_sigma: float = AscentSettings.blur_sigma,
                       jitter: int = AscentSettings.jitter, progress: bool = False) -> ClassMaximization:
    """Gradient ascent from the same noisy grey image on each class's logit (default: every
    class), with the regularisation of filter_patterns (see AscentSettings). Use to_display on
    `.images` for a contrast-stretched view."""
    lmodel = logits_model(model)
    num_classes = lmodel.outputs[0].shape[-1]
    classes = _indices(classes, num_classes, "classes")
    settings = AscentSettings(steps, step_size, blur_every, blur_sigma, jitter)
    settings.check()
    with tqdm(total=steps, desc="class maximization", unit="step", disable=not progress) as bar:
        images, start, final = _ascend(_score_and_gradient(lmodel), classes,
                                       tuple(model.inputs[0].shape[1:]), settings, seed,
                                       progress=lambda i: bar.update(1))
    logits = predict_logits(model, images)
    probs = tf.nn.softmax(logits).numpy()
    rows = np.arange(len(classes))
    return ClassMaximization(_drop_channel(images), classes, start, final, probs[rows, classes],
                             logits.argmax(axis=1))


# ----------------------------------------------------------------------------- adversarial

@dataclass
class AdversarialResult:
    """Outcome of adversarial_example (pixels in 0..255, images (H, W) for one channel)."""

    image: np.ndarray               # the adversarial image
    perturbation: np.ndarray        # image - original
    steps: int                      # gradient steps taken
    original_class: int             # predicted on the original image
    new_class: int                  # predicted on the adversarial image
    original_probability: float     # of original_class on the original image
    new_probability: float          # of new_class on the adversarial image
    max_abs_change: float           # largest pixel change
    mean_abs_change: float          # mean pixel change
    flipped: bool                   # the attack succeeded (see adversarial_example)
    target_class: int | None = None


def adversarial_example(model: keras.Model, image, target_class: int | None = None,
                        step_size: float = 1.0, max_steps: int = 100) -> AdversarialResult:
    """Iterative fast-gradient-sign attack on one natural image (Kurakin et al. 2016).

    Each step moves every pixel by `step_size` along the sign of the gradient, raising the logit
    of `target_class`, or, when it is None, lowering the logit of the originally predicted
    class; pixels are clipped to 0..255. The search stops as soon as the prediction changes
    (untargeted) or becomes `target_class` (targeted); `flipped` says whether that happened
    within `max_steps`. With integer pixels and an integer step the image stays integer."""
    if step_size <= 0 or max_steps < 1:
        raise ValueError(f"need step_size > 0 and max_steps >= 1, got {step_size}, {max_steps}")
    lmodel = logits_model(model)
    x0 = _as_batch(image, model)
    if len(x0) != 1:
        raise ValueError(f"adversarial_example takes one image, got {len(x0)}")
    num_classes = lmodel.outputs[0].shape[-1]
    if target_class is not None and not 0 <= target_class < num_classes:
        raise ValueError(f"target_class must lie in 0..{num_classes - 1}, got {target_class}")
    x = tf.constant(x0)
    probs = tf.nn.softmax(lmodel(x, training=False)[0]).numpy()
    original = int(probs.argmax())
    if target_class is None:
        x, logits, steps = _sign_steps(lmodel, x, original, -step_size, max_steps,
                                       stop=lambda predicted: predicted != original)
    else:
        x, logits, steps = _sign_steps(lmodel, x, target_class, step_size, max_steps,
                                       stop=lambda predicted: predicted == target_class)
    new_class = int(logits.argmax())
    adv, orig = _drop_channel(x.numpy()[0]), _drop_channel(x0[0])
    change = np.abs(adv - orig)
    return AdversarialResult(
        adv, adv - orig, steps, original, new_class, float(probs[original]),
        float(tf.nn.softmax(logits).numpy()[new_class]), float(change.max()),
        float(change.mean()),
        new_class != original if target_class is None else new_class == target_class,
        target_class)


def _sign_steps(lmodel, x, unit: int, step: float, max_steps: int, stop):
    """Move x by `step` x sign(d logit[unit] / dx), clipped to 0..255, until stop(predicted
    class) or `max_steps` steps. Returns (x, logits at x, steps taken)."""
    steps = 0
    while True:
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = lmodel(x, training=False)[0]
            score = logits[unit]
        if stop(int(tf.argmax(logits))) or steps == max_steps:
            return x, logits.numpy(), steps
        x = tf.clip_by_value(x + step * tf.sign(tape.gradient(score, x)), 0.0, 255.0)
        steps += 1


# ----------------------------------------------------------------------------- figures

def plot_grid(images, titles=None, ncols: int = 8, cmap: str = "gray", vmin=None, vmax=None,
              cell_size: float = 1.3, suptitle: str | None = None) -> Figure:
    """A grid of images (filters, feature maps, class images): one axes per image, no ticks,
    figure height scaled to the number of rows. `images` is (N, H, W) or (N, H, W, 1); for
    feature maps (H, W, F) pass ``np.moveaxis(maps, -1, 0)``. `vmin`/`vmax` fix the colour
    range (default: per image)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected images of shape (N, H, W), got {images.shape}")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    fig = Figure(figsize=(cell_size * ncols, cell_size * nrows + (0.4 if suptitle else 0)))
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


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


# ----------------------------------------------------------------------------- runs, samples, text

def seeded_subset(n: int, size: int, seed: int) -> np.ndarray:
    """min(size, n) distinct indices of 0..n-1 drawn with `seed`, sorted."""
    return np.sort(np.random.default_rng(seed).choice(n, min(size, n), replace=False))


def per_class_subset(labels, per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Up to `per_class` indices of each class (in class order, sorted within a class), drawn
    with one generator seeded `seed`; and the names of the classes with no member at all."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen, missing = [], []
    for c, name in enumerate(CLASS_NAMES):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            missing.append(name)
            continue
        chosen.extend(np.sort(rng.choice(members, min(per_class, len(members)), replace=False)))
    return np.asarray(chosen), missing




# ----------------------------------------------------------------------------- saliency summaries

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


# ----------------------------------------------------------------------------- attack summaries

def pick_correct(predicted, labels, n: int, seed: int) -> list[int]:
    """Up to n indices of correctly predicted images, in an order shuffled with `seed`: first
    one per true class (as they come), then any others."""
    labels = np.asarray(labels)
    correct = np.flatnonzero(np.asarray(predicted) == labels)
    correct = np.random.default_rng(seed).permutation(correct)
    picked, seen = [], set()
    for i in correct:
        if labels[i] not in seen and len(picked) < n:
            picked.append(int(i))
            seen.add(labels[i])
    picked += [int(i) for i in correct if int(i) not in picked][:n - len(picked)]
    return picked


def mean_pair_difference(images, pairs: int = 500, seed: int = 0) -> float:
    """Mean absolute pixel difference between two different images, over `pairs` random
    pairs drawn with `seed` (pairs of an image with itself are dropped)."""
    images = np.asarray(images)
    drawn = np.random.default_rng(seed).integers(len(images), size=(pairs, 2))
    drawn = drawn[drawn[:, 0] != drawn[:, 1]]
    return float(np.abs(images[drawn[:, 0]] - images[drawn[:, 1]]).mean())


def attack_record(index: int, true: int, attack: AdversarialResult) -> dict:
    """One attack for results.json: the image's index and true class and the attack's numbers
    (no images)."""
    return {"index": index, "true": int(true), "original_class": attack.original_class,
            "original_probability": attack.original_probability, "new_class": attack.new_class,
            "new_probability": attack.new_probability, "steps": attack.steps,
            "flipped": attack.flipped, "max_abs_change": attack.max_abs_change,
            "mean_abs_change": attack.mean_abs_change}


def adversarial_table(indices, labels, attacks) -> pd.DataFrame:
    """One row per attack: face index, true class, prediction before and after, steps,
    largest and mean pixel change, whether it flipped. `labels` are the faces' true classes."""
    return pd.DataFrame([{
        "face": i, "true": CLASS_NAMES[y],
        "predicted before": f"{CLASS_NAMES[a.original_class]} ({pct(a.original_probability, 0)})",
        "steps": a.steps,
        "predicted after": f"{CLASS_NAMES[a.new_class]} ({pct(a.new_probability, 0)})",
        "max abs change": a.max_abs_change, "mean abs change": a.mean_abs_change,
        "flipped": "yes" if a.flipped else "no",
    } for i, y, a in zip(indices, labels, attacks)])


def adversarial_figure(originals, labels, attacks, step_size: float) -> Figure:
    """One row per attack: original face | perturbation (colour range filled) | adversarial
    face, titled with the predictions. `originals` (N, H, W, 1) in 0..255, `labels` true classes."""
    fig = Figure(figsize=(8.4, 2.7 * len(attacks)))
    axes = fig.subplots(len(attacks), 3, squeeze=False)
    for row, original, label, a in zip(axes, originals, labels, attacks):
        row[0].imshow(original[..., 0], cmap="gray", vmin=0, vmax=255)
        row[0].set_title(f"original: true {CLASS_NAMES[label]}\npredicted "
                         f"{CLASS_NAMES[a.original_class]} ({pct(a.original_probability, 0)})",
                         fontsize=9)
        limit = max(a.max_abs_change, 1e-6)
        shown_change = row[1].imshow(a.perturbation, cmap="seismic", vmin=-limit, vmax=limit)
        fig.colorbar(shown_change, ax=row[1], fraction=0.046, pad=0.04,
                     label="pixel change (grey levels)")
        row[1].set_title(f"perturbation after {plural(a.steps, 'step')}\n"
                         f"(amplified {255 / limit:.0f}x)", fontsize=9)
        row[2].imshow(a.image, cmap="gray", vmin=0, vmax=255)
        row[2].set_title(f"adversarial: predicted\n{CLASS_NAMES[a.new_class]} "
                         f"({pct(a.new_probability, 0)})", fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Adversarial examples of the main CNN (steps of "
                 f"{plural(step_size, 'grey level')}; each perturbation is shown amplified\n"
                 "to fill its colour range)", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- class maximization

def class_maximization_figure(result: ClassMaximization, steps: int) -> Figure:
    """The images of class_maximization side by side (contrast-stretched), titled with the
    class, its probability and, where it differs, the class the model predicts."""
    titles = [f"{CLASS_NAMES[c]}\np = {pct(p, 0)}"
              + ("" if k == c else f"\n(predicted {CLASS_NAMES[k]})")
              for c, p, k in zip(result.classes, result.probabilities, result.predicted)]
    return plot_grid(to_display(result.images), titles=titles, ncols=len(result.classes),
                     cell_size=1.6,
                     suptitle=f"Main CNN: inputs that maximise each class logit ({steps} steps; "
                              "p = probability of that class)")


def class_maximization_table(result: ClassMaximization) -> pd.DataFrame:
    """One row per class: logit on the start noise -> final image, probability, prediction."""
    return pd.DataFrame({
        "class": [CLASS_NAMES[c] for c in result.classes],
        "logit start -> final": [f"{s:.2f} -> {f:.2f}"
                                 for s, f in zip(result.start_logits, result.logits)],
        "probability of the class": [pct(p) for p in result.probabilities],
        "predicted class": [CLASS_NAMES[k] for k in result.predicted]})
