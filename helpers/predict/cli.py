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
  FER2013-style face and is used as it is (in gray); any other image is a photo, in which
  OpenCV's bundled Haar cascade finds the faces, each cropped, turned gray and resized to 48x48.
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
import io
import sys
from pathlib import Path

import numpy as np

from helpers.core.config import CLASS_NAMES, MODELS_DIR
from helpers.data.fer2013 import read_test_file
from helpers.data.formats import DataError, first_line, is_csv
from helpers.predict.faces import MIN_FACE_PIXELS, Face, collect_images, faces_in_image
from helpers.predict.figures import explanation_figure
from helpers.predict.predictor import (
    DEFAULT_MODEL,
    DEFAULT_TTA,
    ENSEMBLE,
    TTA_MODES,
    grad_cams,
    load_predictor,
)

DEFAULT_OUTPUT = "predictions.csv"


TABLE_ROWS = 20
"""At most this many rows of the face table are printed; the rest are in the output file."""


PROBABILITY_FORMAT = "{:.4f}"


SOURCE_WIDTH = 40
"""Longer file names are shortened to their end in the terminal table (not in the file)."""


def check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse an output whose folder is missing, that is a folder, that is an input or a file
    inside an input folder, or that is an existing file other than a CSV (a photo, say)."""
    folder = output.parent
    if not folder.is_dir():
        raise ValueError(f"{output}: the folder {folder} does not exist")
    if output.is_dir():
        raise ValueError(f"{output}: is a folder; give a file name, e.g. {output / DEFAULT_OUTPUT}")
    target = output.resolve()
    for path in inputs:
        source = Path(path).resolve()
        if target == source:
            raise ValueError(f"{output}: is also an input; give another --output")
        if source.is_dir() and target.is_relative_to(source) and not is_csv(target):
            raise ValueError(f"{output}: is inside the input folder {path} and is not a .csv; "
                             "give another --output")
    if output.exists() and not is_csv(output):
        raise ValueError(f"{output}: exists and is not a CSV file; the predictions would "
                         "overwrite it: give another --output (a .csv)")


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
    from helpers.core.results import atomic_path

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


def explanation_name(number: int, face: Face) -> str:
    """A PNG name that is unique per face and says where it came from."""
    return f"{number:04d}_{Path(face.source).stem}_face{face.index}.png"


def save_explanations(folder: Path, faces: list[Face], proba: np.ndarray, cams: np.ndarray,
                      cam_run: str) -> list[Path]:
    """One PNG per face in `folder` (created), each written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from helpers.core.results import atomic_path

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
    from helpers.analysis.submissions import write_submission

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
    files = collect_images(paths)
    results = []
    for path in files:
        try:
            results.append(faces_in_image(path))
        except DataError as exc:
            if len(files) == 1:
                raise
            print(f"warning: {exc} (skipped)", file=sys.stderr)  # one bad file: the others go on
    if not results:
        raise DataError(f"none of the {len(files)} images could be read ({files[0]}, ...)")
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
        print(f"error: {where}{exc.strerror or first_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.output} was not written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
