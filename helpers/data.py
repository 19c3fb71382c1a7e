"""Load and validate FER2013 in the three forms users arrive with, cache it, split it.

Supported layouts of a data folder (the first one found wins):

* the course's CSVs: ``train.csv`` (``label,feature``) and ``test.csv`` (``id,feature``),
  plain or gzipped;
* Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), plain or gzipped;
* an image-folder tree ``train/<class>/*.png|jpg`` (and optionally ``test/<class>/...``).

Bad input raises :class:`DataError` with a one-line message naming the file, the line and the
problem. ``python -m helpers.data PATH`` validates a file or folder from the shell and prints a
summary, or that one line and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.config import CACHE_DIR, CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES
from helpers.results import atomic_path

NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm"}
CACHE_VERSION = 1

WHERE_TO_GET = (
    "FER2013 is not shipped with this project. Get it from the course page (train.csv, test.csv) "
    "or from Kaggle's 'Challenges in Representation Learning: Facial Expression Recognition "
    "Challenge' (fer2013.csv), and put the files in data/ (or pass DATA_DIR=...). See data/README.md."
)


class DataError(ValueError):
    """A problem with the user's data files; the message is one line meant for the user."""

    def _render_traceback_(self):
        # IPython (and so papermill) shows this instead of a traceback wall.
        return [f"DataError: {self}"]


@dataclass
class FER2013:
    """FER2013 as uint8 images (N, 48, 48) and int64 labels 0..6."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    test_ids: np.ndarray
    y_test: np.ndarray | None
    source_format: str
    files: list[str] = field(default_factory=list)
    checksum: str = ""

    def summary(self, val_fraction: float = 0.1, seed: int = 42) -> str:
        """A short human-readable description: rows, class counts, split sizes, checksum."""
        lines = [f"format: {self.source_format}"]
        lines += [f"file: {f}" for f in self.files]
        lines.append(f"train rows: {len(self.y_train)}")
        counts = np.bincount(self.y_train, minlength=NUM_CLASSES)
        for k, (name, n) in enumerate(zip(CLASS_NAMES, counts)):
            lines.append(f"  {k} {name:<9} {n:6d}  {100 * n / max(len(self.y_train), 1):5.1f}%")
        labelled = "with labels" if self.y_test is not None else "without labels"
        lines.append(f"test rows: {len(self.test_ids)} ({labelled})")
        if len(self.y_train):
            try:
                train_idx, val_idx = split_train_val(self.y_train, val_fraction, seed)
                lines.append(
                    f"split (validation {val_fraction:.0%}, seed {seed}): "
                    f"{len(train_idx)} train / {len(val_idx)} validation"
                )
            except ValueError:
                lines.append(f"split: too few rows per class for a stratified {val_fraction:.0%} "
                             f"validation split")
        lines.append(f"sha256: {self.checksum}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- finding the files


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _image_split_dir(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_dir():
            return folder / name
    return None


def describe_expected(folder: Path) -> str:
    return (
        f"no FER2013 data found in {folder}: expected train.csv[.gz] and test.csv[.gz] (course "
        f"format), fer2013.csv[.gz] (Kaggle format), or image folders train/<class>/*.png. "
        + WHERE_TO_GET
    )


def load_fer2013(path: str | os.PathLike, use_cache: bool = True) -> FER2013:
    """Load FER2013 from a data folder (or one of its CSV files), using the cache when possible."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. " + WHERE_TO_GET)
    sources, reader = _locate(path)
    images = path.is_dir() and sources and sources[0].suffix.lower() in IMAGE_SUFFIXES
    checksum = _checksum(sources, path if images else None)
    cache_file = CACHE_DIR / f"fer2013-v{CACHE_VERSION}-{checksum[:16]}.npz"
    if use_cache and cache_file.exists():
        try:
            return _read_cache(cache_file, sources, checksum)
        except Exception:  # noqa: BLE001 - any damage to the cache file: rebuild it below
            pass
    data = reader()
    data.files = [str(s) for s in sources]
    data.checksum = checksum
    if use_cache:
        _write_cache(cache_file, data)
    return data


def _locate(path: Path):
    """Return (source files, a function that reads them) for a folder or a single CSV."""
    if path.is_file():
        name = path.name.lower().removesuffix(".gz")
        if name.startswith("fer2013"):
            return [path], lambda: read_kaggle_csv(path)
        if name.startswith("test"):
            return [path], lambda: _only_test(path)
        return [path], lambda: _course(path, None)
    train, test = _find(path, "train.csv"), _find(path, "test.csv")
    if train:
        return [p for p in (train, test) if p], lambda: _course(train, test)
    kaggle = _find(path, "fer2013.csv")
    if kaggle:
        return [kaggle], lambda: read_kaggle_csv(kaggle)
    train_dir = _image_split_dir(path, ("train", "Training", "training"))
    if train_dir:
        test_dir = _image_split_dir(path, ("test", "Test", "PublicTest"))
        files = _image_files(train_dir) + (_image_files(test_dir) if test_dir else [])
        return files, lambda: read_image_folders(train_dir, test_dir)
    raise DataError(describe_expected(path))


def _checksum(files: list[Path], root: Path | None = None) -> str:
    """sha256 of the files' contents; with `root`, of their paths below it too (image folders
    take their labels from the path)."""
    digest = hashlib.sha256()
    for f in files:
        if root is not None:
            digest.update(str(f.relative_to(root)).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_cache(cache_file: Path, sources, checksum: str) -> FER2013:
    with np.load(cache_file, allow_pickle=False) as z:
        y_test = z["y_test"] if z["has_y_test"] else None
        return FER2013(
            z["x_train"], z["y_train"], z["x_test"], z["test_ids"], y_test,
            str(z["source_format"]), [str(s) for s in sources], checksum,
        )


def _write_cache(cache_file: Path, data: FER2013) -> None:
    # Written atomically, so an interrupted run never leaves half a cache.
    with atomic_path(cache_file, suffix=".npz") as tmp:
        np.savez(
            tmp, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
            test_ids=data.test_ids,
            y_test=data.y_test if data.y_test is not None else np.zeros(0, np.int64),
            has_y_test=data.y_test is not None, source_format=data.source_format,
        )


# --------------------------------------------------------------------------- CSV parsing


def _read_table(path: Path, expected: list[str]) -> pd.DataFrame:
    """Read a CSV as strings and check its columns; line numbers in errors count the header as 1."""
    try:
        # Blank lines are read (then dropped below) so that reported line numbers stay true.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty (expected a header {','.join(expected)})") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV file: {_first_line(exc)}") from None
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as CSV text: {_first_line(exc)}") from None
    columns = [str(c).strip() for c in table.columns]
    if columns != expected:
        missing = [c for c in expected if c not in columns]
        detail = f"missing {', '.join(missing)}; " if missing else ""
        raise DataError(
            f"{path}: line 1: {detail}expected columns {','.join(expected)}, found {','.join(columns)}"
        )
    table.columns = columns
    table.index = np.arange(2, len(table) + 2)  # the file's line numbers (the header is line 1)
    table = table[(table != "").any(axis=1)]
    if len(table) == 0:
        raise DataError(f"{path}: the file has a header but no data rows")
    return table


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def parse_integers(path: Path, column: str, values: pd.Series, low: int, high: int) -> np.ndarray:
    """Parse a column of integer strings, checking each lies in low..high."""
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers) | (numbers != numbers.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: line {values.index[row]}: {column} {values.iloc[row]!r} is not an integer")
    out_of_range = (numbers < low) | (numbers > high)
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range.to_numpy())[0])
        raise DataError(
            f"{path}: line {values.index[row]}: {column} {int(numbers.iloc[row])} is outside {low}..{high}"
        )
    return numbers.to_numpy().astype(np.int64)


def parse_pixels(path: Path, column: str, values: pd.Series) -> np.ndarray:
    """Parse space-separated pixel strings into uint8 images (N, 48, 48), checking every row."""
    # Counting single spaces is fast; rows whose count looks wrong (or that use other
    # whitespace) are recounted exactly.
    counts = values.str.count(" ").to_numpy() + 1
    for row in np.flatnonzero(counts != NUM_PIXELS):
        counts[row] = len(values.iloc[row].split())
    wrong = np.flatnonzero(counts != NUM_PIXELS)
    if len(wrong):
        row = int(wrong[0])
        raise DataError(
            f"{path}: line {values.index[row]}: {column} has {counts[row]} values, expected {NUM_PIXELS} (48x48)"
        )
    try:
        flat = np.fromstring(" ".join(values), dtype=np.int64, sep=" ")
    except ValueError:
        flat = None
    if flat is None or flat.size != len(values) * NUM_PIXELS:
        # Some token is not an integer: find the first one and name it.
        for line, text in values.items():
            token = next((t for t in text.split() if not (t.isascii() and t.isdigit())), None)
            if token is not None:
                raise DataError(
                    f"{path}: line {line}: {column} value {token!r} is not an integer 0..255"
                )
    out_of_range = np.flatnonzero((flat < 0) | (flat > 255))
    if len(out_of_range):
        row, value = int(out_of_range[0] // NUM_PIXELS), int(flat[out_of_range[0]])
        raise DataError(f"{path}: line {values.index[row]}: {column} value {value} is outside 0..255")
    return flat.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def read_train_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The course's train.csv: columns label,feature."""
    table = _read_table(path, ["label", "feature"])
    y = parse_integers(path, "label", table["label"], 0, NUM_CLASSES - 1)
    return parse_pixels(path, "feature", table["feature"]), y


def read_test_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The course's test.csv: columns id,feature, ids unique."""
    table = _read_table(path, ["id", "feature"])
    ids = parse_integers(path, "id", table["id"], 0, np.iinfo(np.int64).max)
    duplicated = pd.Series(ids).duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero(ids == ids[row])[0])
        lines = table.index
        raise DataError(f"{path}: line {lines[row]}: duplicate id {ids[row]} (first at line {lines[first]})")
    return parse_pixels(path, "feature", table["feature"]), ids


def _course(train: Path, test: Path | None) -> FER2013:
    x_train, y_train = read_train_csv(train)
    if test is not None:
        x_test, test_ids = read_test_csv(test)
    else:
        x_test, test_ids = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros(0, np.int64)
    return FER2013(x_train, y_train, x_test, test_ids, None, "course CSV (train.csv/test.csv)")


def _only_test(test: Path) -> FER2013:
    x_test, test_ids = read_test_csv(test)
    empty = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    return FER2013(empty, np.zeros(0, np.int64), x_test, test_ids, None, "course CSV (test.csv)")


KAGGLE_USAGES = ("Training", "PublicTest", "PrivateTest")


def read_kaggle_csv(path: Path) -> FER2013:
    """Kaggle's fer2013.csv: emotion,pixels,Usage; the test set is PublicTest then PrivateTest."""
    table = _read_table(path, ["emotion", "pixels", "Usage"])
    y = parse_integers(path, "emotion", table["emotion"], 0, NUM_CLASSES - 1)
    usage = table["Usage"].str.strip()
    unknown = ~usage.isin(KAGGLE_USAGES)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"{path}: line {usage.index[row]}: Usage {usage.iloc[row]!r} is not one of {', '.join(KAGGLE_USAGES)}"
        )
    x = parse_pixels(path, "pixels", table["pixels"])
    train = (usage == "Training").to_numpy()
    test = np.concatenate([np.flatnonzero(usage == u) for u in KAGGLE_USAGES[1:]])
    return FER2013(
        x[train], y[train], x[test], np.arange(len(test), dtype=np.int64), y[test],
        "Kaggle fer2013.csv",
    )


# --------------------------------------------------------------------------- image folders


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _class_index(folder: Path) -> int:
    name = folder.name.lower()
    if name in CLASS_NAMES:
        return CLASS_NAMES.index(name)
    if name.isdigit() and int(name) < NUM_CLASSES:
        return int(name)
    raise DataError(
        f"{folder}: folder name {folder.name!r} is not a class: expected one of {', '.join(CLASS_NAMES)}"
    )


def read_image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read <folder>/<class>/*.png|jpg into uint8 images and labels."""
    from PIL import Image, UnidentifiedImageError

    images, labels = [], []
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir())
    if not class_dirs:
        raise DataError(f"{folder}: no class folders (expected {folder}/<class>/*.png)")
    for class_dir in class_dirs:
        label = _class_index(class_dir)
        for file in _image_files(class_dir):
            try:
                with Image.open(file) as img:
                    pixels = np.asarray(img.convert("L"), dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{file}: not a readable image: {_first_line(exc)}") from None
            if pixels.shape != (IMAGE_SIZE, IMAGE_SIZE):
                raise DataError(
                    f"{file}: image is {pixels.shape[1]}x{pixels.shape[0]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
                )
            images.append(pixels)
            labels.append(label)
    if not images:
        raise DataError(f"{folder}: no images found (expected {folder}/<class>/*.png or *.jpg)")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def read_image_folders(train_dir: Path, test_dir: Path | None) -> FER2013:
    x_train, y_train = read_image_folder(train_dir)
    if test_dir is None:
        x_test, y_test = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), None
    else:
        x_test, y_test = read_image_folder(test_dir)
    ids = np.arange(len(x_test), dtype=np.int64)
    return FER2013(x_train, y_train, x_test, ids, y_test, "image folders")


# --------------------------------------------------------------------------- splits


def split_train_val(y: np.ndarray, val_fraction: float = 0.1, seed: int = 42):
    """Stratified, seeded split of the training rows: (train indices, validation indices), sorted."""
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    indices = np.arange(len(y))
    train_idx, val_idx = train_test_split(
        indices, test_size=val_fraction, stratify=y, random_state=seed
    )
    return np.sort(train_idx), np.sort(val_idx)


def stratified_subset(y: np.ndarray, size: int | None, seed: int = 42) -> np.ndarray:
    """Sorted indices of a stratified random subset of `size` rows (all rows when size is None)."""
    if size is None or size >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return np.sort(keep)


@dataclass
class Splits:
    """The train/validation/test arrays every notebook works on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    test_ids: np.ndarray
    y_test: np.ndarray | None
    checksum: str
    source_format: str


def load_splits(data_dir, val_fraction: float = 0.1, seed: int = 42,
                max_train_rows: int | None = None) -> Splits:
    """Load the data and return the shared split. `max_train_rows` takes a stratified subset
    of the training file first (smoke runs); the validation split is cut from that subset."""
    data = load_fer2013(data_dir)
    if len(data.y_train) == 0:
        raise DataError(f"{data_dir}: no training rows found (train.csv is needed)")
    keep = stratified_subset(data.y_train, max_train_rows, seed)
    x, y = data.x_train[keep], data.y_train[keep]
    train_idx, val_idx = split_train_val(y, val_fraction, seed)
    return Splits(x[train_idx], y[train_idx], x[val_idx], y[val_idx],
                  data.x_test, data.test_ids, data.y_test, data.checksum, data.source_format)


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data",
        description="Validate a FER2013 file or folder and print a summary.",
    )
    parser.add_argument("path", help="a data folder, or train.csv / test.csv / fer2013.csv (.gz)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-cache", action="store_true", help="parse the files even if cached")
    args = parser.parse_args(argv)
    try:
        data = load_fer2013(args.path, use_cache=not args.no_cache)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(data.summary(args.val_fraction, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
