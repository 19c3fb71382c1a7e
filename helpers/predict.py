"""Use a trained model: predictions for a test file, an image folder or your own photos.

    python -m helpers.predict INPUT... [--output FILE] [--model NAME] [--models-dir models]
                              [--tta run|flip|none] [--no-tta] [--explain DIR]
    make predict INPUT=... [OUTPUT=...] [MODEL=...] [EXPLAIN=DIR]

Two kinds of input:

* a test file: the course's ``test.csv`` (``id,feature``, plain or gzipped) or Kaggle's
  ``fer2013.csv`` (its PublicTest then PrivateTest rows, ids 0.. as helpers.data numbers them).
  The output is the leaderboard CSV ``id,label``, byte-identical to ``report/submission.csv``
  for the same run and data: the run predicts with its own test-time augmentation, the
  probabilities are rounded to float16 as the run stored its test predictions, then argmax.
* images: files or folders (searched recursively, hidden names skipped). A 48x48 image is a
  FER2013-style face and is used as it is (in grey); any other image is a photo, in which
  OpenCV's bundled Haar cascade finds the faces, each cropped, turned grey and resized to 48x48.
  The output has one row per face: source, face (index within the file), box x,y,w,h in the
  photo (empty for 48x48 faces), predicted class, one probability column per class.

``--model`` names a finished run in the models folder (default ``cnn``, the report's main CNN)
or ``ensemble``: the average of the profile's ``ensemble_members`` as notebook 09 computes it
(each member with its own test-time augmentation, its probabilities rounded to float16; a member
trained on histogram-equalized faces gets equalized inputs). ``--explain DIR`` also saves, per
face, a PNG with the face, its Grad-CAM overlay and the three most probable classes.

Bad input ends with one line on stderr (``error: ...``) and exit status 2, before anything is
written: the output file is only replaced, atomically, when every prediction is done.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from helpers.config import CLASS_NAMES, IMAGE_SIZE, MODELS_DIR, load_profile
from helpers.data import GZIP_MAGIC, DataError, _first_line
from helpers.runs import MAIN_CNN, profile_for, train_command

# --------------------------------------------------------------------------- settings

DEFAULT_MODEL = MAIN_CNN.name
"""The report's main CNN (notebook 02)."""
ENSEMBLE = "ensemble"
"""--model value that averages the profile's ensemble_members (notebook 09)."""
DEFAULT_OUTPUT = "predictions.csv"

TTA_MODES = ("run", "flip", "none")
"""Test-time augmentation: "run" = the run's own settings, as the report (mirror image and, for
cropping CNNs, the centre and four corner crops: ten views); "flip" = the face and its mirror
image (two views); "none" = one view."""
DEFAULT_TTA = "run"
"""The report's own: the leaderboard CSV then equals report/submission.csv byte for byte. Ten
views cost five times the two of "flip" (README, "Use the trained model", has the timings)."""

FACE_MARGIN = 0.0
"""Extra border around the detector's box, as a share of its width/height on each side.
FER2013's faces are framed like the Haar cascade's box: on 240 FER2013 test faces pasted,
upscaled 4x, into larger images, the cascade's box covered a median 0.98 of the 48x48 frame
(10%-90%: 0.80-1.11), and cropping the box with margin 0 reproduced the original faces best
(mean absolute grey difference 28.7, against 29.3 at 2%, 32.6 at 5%, 40.0 at 10% and 45.0 at
15%). A looser crop would show the network more hair and background than it was trained on."""
CASCADE_FILE = "haarcascade_frontalface_default.xml"
"""OpenCV's frontal-face Haar cascade, shipped inside the opencv package (no download)."""
DETECT_SCALE_FACTOR = 1.1
DETECT_MIN_NEIGHBORS = 5
MIN_FACE_PIXELS = 30
"""The smallest face the detector reports, in pixels of the (possibly downscaled) photo."""
DETECT_MAX_SIDE = 1280
"""Larger photos are searched at this size (faster, same faces); crops use the full image."""

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".gif", ".tif", ".tiff",
                  ".webp"}
CSV_SUFFIXES = (".csv", ".csv.gz", ".gz")
TEST_COLUMNS = ["id", "feature"]
KAGGLE_COLUMNS = ["emotion", "pixels", "Usage"]
TRAIN_COLUMNS = ["label", "feature"]

TABLE_ROWS = 20
"""At most this many rows of the face table are printed; the rest are in the output file."""
PROBABILITY_FORMAT = "{:.4f}"
SOURCE_WIDTH = 40
"""Longer file names are shortened to their end in the terminal table (not in the file)."""


# --------------------------------------------------------------------------- models


@dataclass
class Member:
    """One trained run and how to feed it: equalized or raw pixels, which test-time views."""

    run: object  # helpers.training.Run (imported lazily: Keras is slow to import)
    hist_eq: bool
    flip: bool
    crops: bool

    @property
    def name(self) -> str:
        return self.run.name

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """float32 probabilities (N, classes) of uint8 faces (N, 48, 48), rounded to float16
        as the run stored its own test predictions (helpers.training._finish)."""
        from helpers.preprocess import to_model_input
        from helpers.training import predict_proba

        proba = predict_proba(self.run.model, to_model_input(faces, self.hist_eq), self.flip,
                              tta_crops=self.crops)
        return proba.astype(np.float16).astype(np.float32)

    def views(self) -> str:
        """The test-time views in words, e.g. "flip + 5 crops"."""
        parts = (["flip"] if self.flip else []) + (["5 crops"] if self.crops else [])
        return " + ".join(parts) or "no TTA"


@dataclass
class Predictor:
    """A single run or an ensemble of runs, averaged as notebook 09 averages them."""

    name: str
    members: list[Member]

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes), float64, of uint8 faces (N, 48, 48)."""
        from helpers.ensembles import average_probabilities

        if len(faces) == 0:
            return np.zeros((0, len(CLASS_NAMES)))
        return average_probabilities([m.predict(faces) for m in self.members])

    def describe(self) -> str:
        """e.g. "cnn (flip + 5 crops)" or "ensemble of cnn (flip + 5 crops), hist_eq (...)"."""
        runs = ", ".join(f"{m.name} ({m.views()})" for m in self.members)
        return runs if self.name != ENSEMBLE else f"ensemble of {runs}"


def member_names(model: str, models_dir: Path) -> list[str]:
    """The runs behind --model: the profile's ensemble_members, or the one run named."""
    if model == ENSEMBLE:
        names = load_profile(profile_for(models_dir)).get("ensemble_members") or []
        if not names:
            raise ValueError(f"profile {profile_for(models_dir)!r} lists no ensemble_members")
        return list(names)
    if not model or model in (".", "..") or "/" in model or os.sep in model:
        raise ValueError(f"--model {model!r}: expected a run name (a folder in {models_dir}) "
                         f"or {ENSEMBLE!r}")
    return [model]


def shown(path: Path) -> Path:
    """`path` relative to the current folder when it is inside it (shorter messages)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)


def load_member(name: str, models_dir: Path, tta: str) -> Member:
    """The finished run `name` with its weights, or ValueError naming the command that trains
    it (a missing or unfinished run, or one shipped with its predictions only)."""
    from helpers.training import load_finished, staging_dir

    run_dir = Path(models_dir) / name
    command = train_command(name, models_dir)
    run = load_finished(run_dir)
    if run is None:
        state = ("has not finished training" if staging_dir(run_dir).exists()
                 else "is not trained")
        raise ValueError(f"run {name!r} {state} (no finished run in {shown(run_dir)}): "
                         f"train it with `{command}`")
    try:
        run.model  # noqa: B018 - loads the weights now, so that a missing file fails early
    except FileNotFoundError:
        raise ValueError(f"run {name!r} has no weights in this clone ({shown(run_dir)} was shipped "
                         f"with its predictions only): train it with `{command} RETRAIN=1` "
                         "(it replaces the shipped run when it has finished)") from None
    config = run.config
    training = config.get("training", {})
    hist_eq = bool((config.get("data") or {}).get("hist_eq", False))
    flip = tta != "none" and (tta == "flip" or bool(training.get("tta_flip", False)))
    crops = tta == "run" and bool(training.get("tta_crops", False))
    return Member(run, hist_eq, flip, crops)


def load_predictor(model: str = DEFAULT_MODEL, models_dir=MODELS_DIR,
                   tta: str = DEFAULT_TTA) -> Predictor:
    """The run (or ensemble) `model` in models_dir, every member's weights loaded."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    models_dir = Path(models_dir)
    return Predictor(model, [load_member(n, models_dir, tta)
                             for n in member_names(model, models_dir)])


# --------------------------------------------------------------------------- test files


def csv_header(path: Path) -> list[str]:
    """The column names on a CSV file's first line (gzipped or not)."""
    try:
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == GZIP_MAGIC
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as fh:
            line = fh.readline().decode("utf-8-sig")
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read the file)") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as CSV text: {_first_line(exc)}") from None
    return [c.strip() for c in next(csv.reader([line]), [])]


def read_test_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(uint8 faces (N, 48, 48), ids, labels or None) of a course test.csv or of Kaggle's
    fer2013.csv (PublicTest then PrivateTest rows). A training file or any other CSV raises
    DataError with one line (the data readers' own messages for a malformed file)."""
    from helpers.data import read_kaggle_csv, read_test_csv

    columns = csv_header(path)
    if columns == KAGGLE_COLUMNS:
        data = read_kaggle_csv(path)
        if len(data.test_ids) == 0:
            raise DataError(f"{path}: no PublicTest/PrivateTest rows: nothing to predict")
        return data.x_test, data.test_ids, data.y_test
    if columns == TRAIN_COLUMNS:
        # A training file's faces were learned by the model (or are the validation split):
        # their predictions say nothing about the test leaderboard, and it has no ids.
        raise DataError(f"{path}: has labels (columns {','.join(TRAIN_COLUMNS)}): a training file, "
                        f"not a test file; give test.csv ({','.join(TEST_COLUMNS)}) or fer2013.csv")
    x, ids = read_test_csv(path)  # any other header: its DataError names what was expected
    return x, ids, None


# --------------------------------------------------------------------------- images


@dataclass
class Face:
    """A 48x48 grey face to predict: where it came from and where it was in the image."""

    source: str
    index: int
    pixels: np.ndarray
    box: tuple[int, int, int, int] | None = None  # x, y, w, h in the photo; None: 48x48 image


@dataclass
class ImageResult:
    """The faces found in one image file (none: the file is reported and skipped)."""

    path: Path
    faces: list[Face] = field(default_factory=list)


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(CSV_SUFFIXES)


def image_files(folder: Path) -> list[Path]:
    """The image files below `folder` (subfolders too), sorted; hidden names ('.DS_Store',
    '._x.jpg', '.ipynb_checkpoints/') are skipped."""
    found = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder: {exc.strerror or _first_line(exc)}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(folder) / entry.name
        if entry.is_dir():
            if not entry.is_symlink():  # a linked folder could lead back up: not followed
                found += image_files(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return found


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 grey levels (H, W), turned upright by its EXIF orientation
    (photos from phones); DataError naming the file when it cannot be decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from helpers.data import grey_pixels

    try:
        with Image.open(path) as img:
            img.load()
            return grey_pixels(ImageOps.exif_transpose(img), path)
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read the image)") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable image: {_first_line(exc)}") from None


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = cv2.data.haarcascades + CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ValueError(f"OpenCV's face detector {path} cannot be loaded: reinstall "
                         "opencv-python-headless (pip install -r requirements.txt)")
    return cascade


def detect_faces(grey: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of the frontal faces in a grey photo, left to right (then top to
    bottom), found by OpenCV's Haar cascade."""
    import cv2

    height, width = grey.shape
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = grey if scale == 1.0 else cv2.resize(
        grey, (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA)
    found = _cascade().detectMultiScale(small, scaleFactor=DETECT_SCALE_FACTOR,
                                        minNeighbors=DETECT_MIN_NEIGHBORS,
                                        minSize=(MIN_FACE_PIXELS, MIN_FACE_PIXELS))
    boxes = []
    for x, y, w, h in (np.asarray(found).reshape(-1, 4) / scale).round().astype(int).tolist():
        x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        boxes.append((x, y, min(w, width - x), min(h, height - y)))
    return sorted(boxes)


def crop_face(grey: np.ndarray, box: tuple[int, int, int, int],
              margin: float = FACE_MARGIN) -> np.ndarray:
    """The face in `box` with `margin` (share of the box on each side) added and clipped to
    the image, resized to 48x48 grey levels (area averaging)."""
    import cv2

    x, y, w, h = box
    dx, dy = round(margin * w), round(margin * h)
    top, left = max(y - dy, 0), max(x - dx, 0)
    bottom, right = min(y + h + dy, grey.shape[0]), min(x + w + dx, grey.shape[1])
    return cv2.resize(grey[top:bottom, left:right], (IMAGE_SIZE, IMAGE_SIZE),
                      interpolation=cv2.INTER_AREA)


def faces_in_image(path: Path) -> ImageResult:
    """The faces of one image file: itself if it is 48x48, else those the detector finds."""
    grey = read_image(path)
    if grey.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return ImageResult(path, [Face(str(path), 0, grey)])
    faces = [Face(str(path), i, crop_face(grey, box), box)
             for i, box in enumerate(detect_faces(grey))]
    return ImageResult(path, faces)


def collect_images(paths: list[Path]) -> list[Path]:
    """The image files named or inside the folders named, in the order given."""
    files = []
    for path in paths:
        if path.is_dir():
            inside = image_files(path)
            if not inside:
                tables = sorted(p.name for p in path.iterdir()
                                if is_csv(p) and p.name.lower().startswith(("test", "fer2013")))
                hint = f" (for a test file, give it: {path / tables[0]})" if tables else ""
                raise DataError(f"{path}: no images found in the folder{hint}")
            files += inside
        else:
            files.append(path)
    return files


# --------------------------------------------------------------------------- outputs


def check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse an output whose folder is missing, that is a folder, or that is an input."""
    folder = output.parent
    if not folder.is_dir():
        raise ValueError(f"{output}: the folder {folder} does not exist")
    if output.is_dir():
        raise ValueError(f"{output}: is a folder; give a file name, e.g. {output / DEFAULT_OUTPUT}")
    if output.exists() and any(output.resolve() == path.resolve() for path in inputs):
        raise ValueError(f"{output}: is also an input; give another --output")


def face_rows(faces: list[Face], proba: np.ndarray) -> list[list[str]]:
    """The face table's rows: source, face, x, y, w, h, predicted, one probability per class."""
    rows = []
    for face, p in zip(faces, proba):
        box = [str(v) for v in face.box] if face.box else ["", "", "", ""]
        rows.append([face.source, str(face.index), *box, CLASS_NAMES[int(np.argmax(p))],
                     *(PROBABILITY_FORMAT.format(v) for v in p)])
    return rows


FACE_COLUMNS = ["source", "face", "x", "y", "w", "h", "predicted", *CLASS_NAMES]


def write_face_table(path: Path, faces: list[Face], proba: np.ndarray) -> Path:
    """Write the face table CSV atomically (a reader never sees half a file)."""
    from helpers.results import atomic_path

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FACE_COLUMNS)
    writer.writerows(face_rows(faces, proba))
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())
    return path


def face_table_text(faces: list[Face], proba: np.ndarray, output: Path,
                    limit: int = TABLE_ROWS) -> str:
    """A short terminal table: source, face, box, predicted class and its probability, and
    the three runner-up classes; at most `limit` rows, then where the rest are."""
    lines = []
    for face, p in list(zip(faces, proba))[:limit]:
        order = np.argsort(-p, kind="stable")
        box = ",".join(map(str, face.box)) if face.box else "(48x48)"
        others = ", ".join(f"{CLASS_NAMES[k]} {p[k]:.0%}" for k in order[1:3])
        source = face.source if len(face.source) <= SOURCE_WIDTH else "..." + face.source[3 - SOURCE_WIDTH:]
        lines.append((source, str(face.index), box,
                      f"{CLASS_NAMES[order[0]]} {p[order[0]]:.0%}", others))
    header = ("source", "face", "box x,y,w,h", "predicted", "next")
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *lines]]
    if len(faces) > limit:
        text.append(f"... {len(faces) - limit} more rows in {output}")
    return "\n".join(text)


def class_shares(labels: np.ndarray) -> str:
    """e.g. "happy 25.1%, neutral 17.0%, ..." (most frequent first)."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    order = np.argsort(-counts, kind="stable")
    return ", ".join(f"{CLASS_NAMES[k]} {counts[k] / max(len(labels), 1):.1%}" for k in order
                     if counts[k])


# --------------------------------------------------------------------------- explanations


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
    where = f"face {face.index}" + (f" at {face.box[0]},{face.box[1]}" if face.box else "")
    fig.suptitle(f"{Path(face.source).name}, {where}: {CLASS_NAMES[top[0]]}", fontsize=10)
    fig.tight_layout()
    return fig


def predictions_figure(faces: np.ndarray, labels, proba: np.ndarray):
    """Faces (N, 48, 48) in a row, titled with their true and predicted class and its
    probability (red where the prediction is wrong). A matplotlib Figure (no pyplot)."""
    from helpers.plots import plot_grid

    titles = [f"true {CLASS_NAMES[true]}\npred {CLASS_NAMES[p.argmax()]} {p.max():.0%}"
              for true, p in zip(labels, proba)]
    colours = ["black" if p.argmax() == true else "tab:red" for true, p in zip(labels, proba)]
    return plot_grid(faces, titles=titles, title_colors=colours, ncols=len(faces), vmin=0, vmax=255,
                     cell_size=1.7)


def photo_figure(grey: np.ndarray, boxes, proba: np.ndarray):
    """A photo with the detector's face boxes, each labelled with its most probable class. A
    matplotlib Figure (no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(6, 6 * grey.shape[0] / grey.shape[1]))
    ax = fig.subplots()
    ax.imshow(grey, cmap="gray", vmin=0, vmax=255)
    for (x, y, w, h), p in zip(boxes, proba):
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="yellow", linewidth=2))
        ax.text(x, y - 6, f"{CLASS_NAMES[p.argmax()]} {p.max():.0%}", color="yellow", fontsize=10,
                weight="bold")
    ax.axis("off")
    return fig


def grad_cams(predictor: Predictor, faces: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, str]:
    """Grad-CAM maps (N, 48, 48) of the predicted classes, from the first member with a
    convolution layer (its own input: equalized for a histogram-equalized run), and its name."""
    from helpers.gradients import conv_layer_names
    from helpers.saliency import grad_cam
    from helpers.preprocess import to_model_input

    for member in predictor.members:
        if conv_layer_names(member.run.model):
            x = to_model_input(faces, member.hist_eq)
            return grad_cam(member.run.model, x, proba.argmax(axis=1)), member.name
    raise ValueError(f"--explain needs a CNN: {predictor.describe()} has no convolution layer")


def explanation_name(number: int, face: Face) -> str:
    """A PNG name that is unique per face and says where it came from."""
    return f"{number:04d}_{Path(face.source).stem}_face{face.index}.png"


def save_explanations(folder: Path, faces: list[Face], proba: np.ndarray, cams: np.ndarray,
                      cam_run: str) -> list[Path]:
    """One PNG per face in `folder` (created), each written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from helpers.results import atomic_path

    folder.mkdir(exist_ok=True)
    paths = []
    for number, (face, p, cam) in enumerate(zip(faces, proba, cams)):
        fig = explanation_figure(face, p, cam, cam_run)
        FigureCanvasAgg(fig)
        path = folder / explanation_name(number, face)
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict",
        description="Predict the expression of faces with a trained run: a test file "
                    "(test.csv, fer2013.csv) gives the leaderboard CSV id,label; images and "
                    "folders of images (48x48 faces or photos) give one row per face.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="test.csv[.gz] or fer2013.csv[.gz]; or image files and folders")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"the CSV to write (default: {DEFAULT_OUTPUT} in this folder)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"a run in the models folder, or {ENSEMBLE!r} (default: {DEFAULT_MODEL})")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR,
                        help="where the trained runs are (default: the project's models/)")
    parser.add_argument("--tta", choices=TTA_MODES, default=DEFAULT_TTA,
                        help="test-time augmentation: the run's own, as the report (default), "
                             "mirror image only, or none")
    parser.add_argument("--no-tta", dest="tta", action="store_const", const="none",
                        help="no test-time augmentation (same as --tta none)")
    parser.add_argument("--explain", type=Path, metavar="DIR",
                        help="also save a PNG per face: the face, Grad-CAM, top 3 classes")
    return parser.parse_args(argv)


def predict_test_file(path: Path, args: argparse.Namespace) -> int:
    """Leaderboard CSV for a test file; returns the exit status."""
    from helpers.submissions import write_submission

    if args.explain:
        raise ValueError("--explain is for images and photos, not a test file")
    x, ids, labels = read_test_file(path)
    predictor = load_predictor(args.model, args.models_dir, args.tta)
    proba = predictor.predict(x)
    write_submission(args.output, ids, proba)
    predicted = proba.argmax(axis=1)
    print(f"wrote {args.output}: {len(ids):,} test faces from {path}, model {predictor.describe()}")
    print(f"predicted: {class_shares(predicted)}")
    if labels is not None:
        print(f"accuracy against the labels in {path.name}: {np.mean(predicted == labels):.2%}")
    return 0


def predict_images(paths: list[Path], args: argparse.Namespace) -> int:
    """Face table for images and photos; returns the exit status."""
    results = [faces_in_image(p) for p in collect_images(paths)]
    faces = [face for result in results for face in result.faces]
    missed = [r.path for r in results if not r.faces]
    if not faces:
        where = (f"{missed[0]}: no face found" if len(missed) == 1 else
                 f"no face found in any of the {len(missed)} images ({missed[0]}, ...)")
        raise ValueError(f"{where}: nothing to predict (the detector finds frontal faces at "
                         f"least {MIN_FACE_PIXELS} pixels wide)")
    for path in missed:
        print(f"warning: {path}: no face found (skipped)", file=sys.stderr)
    predictor = load_predictor(args.model, args.models_dir, args.tta)
    pixels = np.stack([f.pixels for f in faces])
    proba = predictor.predict(pixels)
    if args.explain:  # before the table: the output file is written last, when all is done
        saved = save_explanations(args.explain, faces, proba, *grad_cams(predictor, pixels, proba))
        print(f"wrote {len(saved)} explanation{'s' * (len(saved) != 1)} to {args.explain}/")
    write_face_table(args.output, faces, proba)
    print(face_table_text(faces, proba, args.output))
    print(f"wrote {args.output}: {len(faces)} face{'s' * (len(faces) != 1)} from "
          f"{len(results) - len(missed)} of {len(results)} image{'s' * (len(results) != 1)}, "
          f"model {predictor.describe()}")
    return 0


def existing(path: Path) -> Path:
    """The input file or folder; for a missing x.csv, x.csv.gz when it exists (as the data
    loader finds data/test.csv.gz for data/test.csv)."""
    if path.exists():
        return path
    gzipped = path.with_name(path.name + ".gz")
    if is_csv(path) and gzipped.is_file():
        return gzipped
    raise DataError(f"{path}: no such file or folder")


def run(args: argparse.Namespace) -> int:
    """Check the arguments, read the inputs, predict, write."""
    paths = [existing(Path(p).expanduser()) for p in args.inputs]
    args.output = Path(args.output).expanduser()
    check_output(args.output, paths)
    if args.explain and not Path(args.explain).parent.is_dir():
        raise ValueError(f"--explain {args.explain}: the folder {Path(args.explain).parent} "
                         "does not exist")
    if args.explain and Path(args.explain).exists() and not Path(args.explain).is_dir():
        raise ValueError(f"--explain {args.explain}: is a file; give a folder for the figures")
    tables = [p for p in paths if p.is_file() and is_csv(p)]
    if tables:
        if len(paths) > 1:
            raise ValueError("give one test file on its own (images and test files are "
                             "predicted by separate commands)")
        return predict_test_file(tables[0], args)
    return predict_images(paths, args)


def main(argv: list[str] | None = None) -> int:
    """python -m helpers.predict ...: 0 on success; 2 with one line on stderr on bad input."""
    args = parse_args(argv)
    try:
        return run(args)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. no permission to write the output
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or _first_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.output} was not written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
