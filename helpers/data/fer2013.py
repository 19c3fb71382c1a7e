"""Load and validate FER2013 in the three forms users arrive with, cache it, split it.

Supported layouts of a data folder (the first one found wins):

* the course's CSVs: ``train.csv`` (``label,feature``) and ``test.csv`` (``id,feature``),
  plain or gzipped;
* Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), plain or gzipped;
* an image-folder tree ``train/<class>/*.png|jpg`` (and optionally ``test/<class>/...``);
  hidden entries (``.ipynb_checkpoints/``, macOS ``._*`` files) are skipped.

A gzipped CSV is recognized by its content, whatever its name. The data's identity
(``checksum``, ``train_digest``, ``test_digest``) is a hash of the decoded arrays, so the same
data plain or gzipped has the same checksum, and adding or removing a test file leaves
``train_digest`` alone; a hash of the files' bytes only names the cache file.

Bad input raises :class:`DataError` with a one-line message naming the file, the line and the
problem. ``python -m helpers.data PATH`` validates a file or folder from the shell and prints a
summary, or that one line and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from helpers.core.config import CACHE_DIR, CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES
from helpers.core.results import atomic_path
from helpers.data.formats import (
    GZIP_MAGIC,
    IMAGE_SUFFIXES,
    KAGGLE_COLUMNS,
    TEST_COLUMNS,
    TRAIN_COLUMNS,
    DataError,
    csv_header,
    first_line,
)
from helpers.data.signature import REFERENCE_FILE, Reference, SameFaces, load_reference, recognize

NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE


CACHE_VERSION = 2  # 2: the cache stores the content digests


SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


COURSE_FORMAT = "course CSV (train.csv/test.csv)"


KAGGLE_FORMAT = "Kaggle fer2013.csv"


IMAGE_FORMAT = "image folders"


NO_TEST_REASONS = {
    COURSE_FORMAT: "no test.csv found",
    KAGGLE_FORMAT: "no PublicTest/PrivateTest rows in fer2013.csv",
    IMAGE_FORMAT: "no test/ image folder found",
}


WHERE_TO_GET = (
    "FER2013 is not shipped with this project. Get it from the course page (train.csv, test.csv) "
    "or from Kaggle's 'Challenges in Representation Learning: Facial Expression Recognition "
    "Challenge' (fer2013.csv), and put the files in data/ (or pass DATA_DIR=...). See data/README.md."
)


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
    checksum: str = ""       # identity of the whole decoded data: sha256 of the two digests
    train_digest: str = ""   # sha256 of the decoded training pixels and labels
    test_digest: str = ""    # sha256 of the decoded test pixels, ids (and labels, if any)
    folders: list[str] = field(default_factory=list)  # image folders: the split folders

    def summary(self, val_fraction: float = 0.1, seed: int = 42) -> str:
        """A short human-readable description: rows, class counts, split sizes, checksum."""
        lines = [f"format: {self.source_format}"]
        lines += self._source_lines()
        lines.append(f"train rows: {len(self.y_train)}")
        counts = np.bincount(self.y_train, minlength=NUM_CLASSES)
        for k, (name, n) in enumerate(zip(CLASS_NAMES, counts)):
            lines.append(f"  {k} {name:<9} {n:6d}  {100 * n / max(len(self.y_train), 1):5.1f}%")
        lines.append(self._test_line())
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

    def _source_lines(self) -> list[str]:
        """One line per CSV file; for image folders one line per folder with its image count."""
        if not self.folders:
            return [f"file: {f}" for f in self.files]
        return [f"files: {_count_under(self.files, folder):,} images under {folder}"
                for folder in self.folders]

    def _test_line(self) -> str:
        if len(self.test_ids):
            labeled = "with labels" if self.y_test is not None else "without labels"
            return f"test rows: {len(self.test_ids)} ({labeled})"
        reason = NO_TEST_REASONS.get(self.source_format, "no test file found")
        return f"test rows: 0 - {reason}: the leaderboard submissions will be skipped"


def _count_under(files: list[str], folder: str) -> int:
    prefix = folder.rstrip(os.sep) + os.sep
    return sum(1 for f in files if f.startswith(prefix))


def digest_arrays(*arrays: np.ndarray) -> str:
    """sha256 hex of the arrays in order: each one's dtype, shape and bytes (C order)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}\0".encode())
        digest.update(array.data)
    return digest.hexdigest()


def digest_train_set(x_train: np.ndarray, y_train: np.ndarray) -> str:
    """The training set's identity: its uint8 pixels and int64 labels."""
    return digest_arrays(np.asarray(x_train, np.uint8), np.asarray(y_train, np.int64))


EMPTY_TEST_DIGEST = digest_arrays(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
                                  np.zeros(0, np.int64))


def digest_test_set(x_test: np.ndarray, test_ids: np.ndarray, y_test: np.ndarray | None) -> str:
    """The test set's identity: uint8 pixels, int64 ids and labels if any; EMPTY_TEST_DIGEST
    for an empty test set (with or without an empty label array)."""
    if len(test_ids) == 0:
        return EMPTY_TEST_DIGEST
    arrays = [np.asarray(x_test, np.uint8), np.asarray(test_ids, np.int64)]
    if y_test is not None:
        arrays.append(np.asarray(y_test, np.int64))
    return digest_arrays(*arrays)


def content_checksum(train_digest: str, test_digest: str) -> str:
    """The whole data's identity, from its two digests."""
    return hashlib.sha256(f"train {train_digest}\ntest {test_digest}\n".encode()).hexdigest()


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
    try:
        return _load(path, use_cache)
    except OSError as exc:  # anything not caught nearer the file, e.g. a folder we may not enter
        where = Path(exc.filename) if exc.filename else path
        raise _os_error(where, exc, "access it") from None


def _load(path: Path, use_cache: bool) -> FER2013:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. " + WHERE_TO_GET)
    source = _locate(path)
    key = _files_key(source.files, source.root)
    cache_file = CACHE_DIR / f"fer2013-v{CACHE_VERSION}-{key[:16]}.npz"
    data = _read_cache(cache_file) if use_cache else None
    if data is None:
        data = source.read()
        data.train_digest = digest_train_set(data.x_train, data.y_train)
        data.test_digest = digest_test_set(data.x_test, data.test_ids, data.y_test)
        if use_cache:
            _write_cache(cache_file, data)
    data.files = [str(s) for s in source.files]
    data.folders = [str(f) for f in source.folders]
    data.checksum = content_checksum(data.train_digest, data.test_digest)
    return data


@dataclass
class _Source:
    """The files a load reads, and the function that reads them."""

    files: list[Path]
    read: Callable[[], FER2013]
    root: Path | None = None  # image folders: labels come from the paths below it
    folders: list[Path] = field(default_factory=list)


def _locate(path: Path) -> _Source:
    """Find the data in a folder (or a single CSV) and how to read it."""
    if path.is_file():
        name = path.name.lower().removesuffix(".gz")
        if name.startswith("fer2013"):
            return _Source([path], lambda: read_kaggle_csv(path))
        if name.startswith("test"):
            return _Source([path], lambda: _only_test(path))
        return _Source([path], lambda: _course(path, None))
    train, test = _find(path, "train.csv"), _find(path, "test.csv")
    if train:
        return _Source([p for p in (train, test) if p], lambda: _course(train, test))
    kaggle = _find(path, "fer2013.csv")
    if kaggle:
        return _Source([kaggle], lambda: read_kaggle_csv(kaggle))
    train_dir = _image_split_dir(path, ("train", "Training", "training"))
    if train_dir:
        test_dir = _image_split_dir(path, ("test", "Test", "PublicTest"))
        folders = [d for d in (train_dir, test_dir) if d]
        files = [f for d in folders for f in _image_files(d)]
        return _Source(files, lambda: read_image_folders(train_dir, test_dir), path, folders)
    raise DataError(describe_expected(path))


def _files_key(files: list[Path], root: Path | None = None) -> str:
    """sha256 of the files' bytes (the cache file's name); with `root`, of their paths below it
    too (image folders take their labels from the path)."""
    digest = hashlib.sha256()
    for f in files:
        if root is not None:
            digest.update(str(f.relative_to(root)).encode() + b"\0")
        try:
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise _os_error(f, exc) from None
    return digest.hexdigest()


def _os_error(path: Path, exc: OSError, action: str = "read the file") -> DataError:
    """A one-line DataError for a file or folder the system would not let us read."""
    if isinstance(exc, PermissionError):
        return DataError(f"{path}: permission denied (cannot {action})")
    return DataError(f"{path}: cannot {action}: {exc.strerror or first_line(exc)}")


def _read_cache(cache_file: Path) -> FER2013 | None:
    """The cached arrays and digests, or None when there is no usable cache file."""
    if not cache_file.exists():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as z:
            y_test = z["y_test"] if z["has_y_test"] else None
            return FER2013(
                z["x_train"], z["y_train"], z["x_test"], z["test_ids"], y_test,
                str(z["source_format"]), train_digest=str(z["train_digest"]),
                test_digest=str(z["test_digest"]),
            )
    except Exception:  # noqa: BLE001 - any damage to the cache file: rebuild it
        return None


def _write_cache(cache_file: Path, data: FER2013) -> None:
    # Written atomically, so an interrupted run never leaves half a cache.
    with atomic_path(cache_file, suffix=".npz") as tmp:
        np.savez(
            tmp, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
            test_ids=data.test_ids,
            y_test=data.y_test if data.y_test is not None else np.zeros(0, np.int64),
            has_y_test=data.y_test is not None, source_format=data.source_format,
            train_digest=data.train_digest, test_digest=data.test_digest,
        )


def _read_table(path: Path, expected: list[str]) -> pd.DataFrame:
    """Read a CSV as strings and check its columns; line numbers in errors count the header as 1."""
    try:
        # Blank lines are read (then dropped below) so that reported line numbers stay true.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, compression=_compression(path))
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty (expected a header {','.join(expected)})") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV file: {first_line(exc)}") from None
    except PermissionError as exc:
        raise _os_error(path, exc) from None
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as CSV text: {first_line(exc)}") from None
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


def _compression(path: Path) -> str:
    """'gzip' for a gzipped file whatever its name (train.csv that is really train.csv.gz);
    otherwise pandas infers it from the name."""
    with open(path, "rb") as fh:
        return "gzip" if fh.read(2) == GZIP_MAGIC else "infer"


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
    counts = np.fromiter((text.count(" ") for text in values), dtype=np.int64,
                         count=len(values)) + 1  # str.count: pandas' .str.count is a regex
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
    return FER2013(x_train, y_train, x_test, test_ids, None, COURSE_FORMAT)


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
        KAGGLE_FORMAT,
    )


def _visible_entries(folder: Path) -> list[os.DirEntry]:
    """The folder's entries without hidden ones (names starting with '.': .ipynb_checkpoints/,
    macOS ._* files, .DS_Store), sorted by name."""
    try:
        with os.scandir(folder) as entries:
            return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        raise _os_error(folder, exc, "list the folder") from None


def _image_files(folder: Path) -> list[Path]:
    """The image files below `folder` (subfolders included, hidden entries skipped), sorted."""
    files = []
    for entry in _visible_entries(folder):
        if entry.is_dir() and not entry.is_symlink():
            files += _image_files(Path(entry.path))
        elif not entry.is_dir() and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
            files.append(Path(entry.path))
    return sorted(files)


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
    class_dirs = [Path(e.path) for e in _visible_entries(folder) if e.is_dir()]
    if not class_dirs:
        raise DataError(f"{folder}: no class folders (expected {folder}/<class>/*.png)")
    for class_dir in class_dirs:
        label = _class_index(class_dir)
        for file in _image_files(class_dir):
            try:
                with Image.open(file) as img:
                    pixels = grey_pixels(img, file)
            except PermissionError as exc:
                raise _os_error(file, exc) from None
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{file}: not a readable image: {first_line(exc)}") from None
            if pixels.shape != (IMAGE_SIZE, IMAGE_SIZE):
                raise DataError(
                    f"{file}: image is {pixels.shape[1]}x{pixels.shape[0]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
                )
            images.append(pixels)
            labels.append(label)
    if not images:
        raise DataError(f"{folder}: no images found (expected {folder}/<class>/*.png or *.jpg)")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def grey_pixels(img, file: Path) -> np.ndarray:
    """An image's gray levels as uint8; 16-bit grayscale is scaled (v * 255 / 65535, rounded)
    rather than clipped at 255."""
    if img.mode not in SIXTEEN_BIT_MODES:
        return np.asarray(img.convert("L"), dtype=np.uint8)
    values = np.asarray(img).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise DataError(f"{file}: {img.mode} image has values outside 0..65535 "
                        f"({values.min()}..{values.max()}); expected 8- or 16-bit grayscale")
    return ((values * 255 + 65535 // 2) // 65535).astype(np.uint8)


def read_image_folders(train_dir: Path, test_dir: Path | None) -> FER2013:
    x_train, y_train = read_image_folder(train_dir)
    if test_dir is None:
        x_test, y_test = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), None
    else:
        x_test, y_test = read_image_folder(test_dir)
    ids = np.arange(len(x_test), dtype=np.int64)
    return FER2013(x_train, y_train, x_test, ids, y_test, IMAGE_FORMAT)


def split_problem(y: np.ndarray, val_fraction: float = 0.1) -> str | None:
    """Why these training labels cannot give the report's stratified split of all seven classes
    (None when they can)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=NUM_CLASSES)
    missing = [CLASS_NAMES[k] for k in range(NUM_CLASSES) if counts[k] == 0]
    if missing:
        return (f"no training faces of class {', '.join(missing)}: the report needs all seven "
                f"classes ({', '.join(CLASS_NAMES)})")
    val_rows = int(np.ceil(val_fraction * len(y)))
    if counts.min() < 2 or val_rows < NUM_CLASSES or len(y) - val_rows < NUM_CLASSES:
        return (f"{len(y)} training rows ({counts.min()} in class {CLASS_NAMES[int(counts.argmin())]}) "
                f"are too few for a stratified {val_fraction:.0%} validation split of seven "
                f"classes: use the whole train.csv (FER2013 has 28,709 training rows)")
    return None


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
    # Keyword-only, so that subclasses (experiments.Inputs) may add fields without defaults
    # and keep being constructed positionally.
    train_digest: str = field(default="", kw_only=True)  # the whole training file's identity
    test_digest: str = field(default="", kw_only=True)
    same_faces: SameFaces | None = field(default=None, kw_only=True)
    """The training set recognized as the shipped runs' faces (see align_to_reference)."""


_recognised: dict[tuple[str, ...], SameFaces | None] = {}


def align_to_reference(data: FER2013, reference: Reference | None) -> tuple[FER2013, SameFaces | None]:
    """The data lined up with the reference's faces when it is another copy of them
    (helpers.data.signature.recognize): the training rows in the reference's row order, so that
    the stratified split (which works on row order) picks the shipped runs' validation faces, and
    the reference's train digest, so that the shipped runs' fingerprints match; a recognized test
    set likewise (its ids, labels and faces move together, so a submission stays right). Data
    that is the reference byte for byte, or another dataset, is returned as it is. Recognitions
    are kept for the process (load_inputs is called once per notebook and flavour)."""
    if reference is None:
        return data, None
    key = (data.train_digest, data.test_digest, reference.train_digest, reference.test_digest)
    if key not in _recognised:
        _recognised[key] = recognize(data.x_train, data.y_train, data.x_test, data.train_digest,
                                     data.test_digest, reference)
    same = _recognised[key]
    if same is None or not same.changes:
        return data, same
    aligned = replace(data, x_train=data.x_train[same.train_order],
                      y_train=data.y_train[same.train_order], train_digest=reference.train_digest)
    if same.test == "matched":
        order = same.test_order
        aligned = replace(aligned, x_test=data.x_test[order], test_ids=data.test_ids[order],
                          y_test=None if data.y_test is None else data.y_test[order],
                          test_digest=reference.test_digest)
    aligned.checksum = content_checksum(aligned.train_digest, aligned.test_digest)
    return aligned, same


def load_splits(data_dir, val_fraction: float = 0.1, seed: int = 42,
                max_train_rows: int | None = None, reference=REFERENCE_FILE) -> Splits:
    """Load the data and return the shared split. `max_train_rows` takes a stratified subset
    of the training file first (smoke runs); the validation split is cut from that subset.
    Another copy of the shipped runs' faces (`reference`, a file of
    helpers.data.signature.save_reference; None: none) is lined up with them first
    (align_to_reference)."""
    data = load_fer2013(data_dir)
    if len(data.y_train) == 0:
        raise DataError(f"{data_dir}: no training rows found (train.csv is needed)")
    problem = split_problem(data.y_train, val_fraction)
    if problem:
        raise DataError(f"{data_dir}: {problem}")
    data, same = align_to_reference(data, load_reference(reference) if reference else None)
    keep = stratified_subset(data.y_train, max_train_rows, seed)
    x, y = data.x_train[keep], data.y_train[keep]
    train_idx, val_idx = split_train_val(y, val_fraction, seed)
    return Splits(x[train_idx], y[train_idx], x[val_idx], y[val_idx],
                  data.x_test, data.test_ids, data.y_test, data.checksum, data.source_format,
                  train_digest=data.train_digest, test_digest=data.test_digest, same_faces=same)


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
    problem = split_problem(data.y_train, args.val_fraction) if len(data.y_train) else None
    if problem:
        print(f"error: {args.path}: {problem}", file=sys.stderr)
        return 2
    _, same = align_to_reference(data, load_reference())
    split = {"val_fraction": args.val_fraction, "seed": args.seed, "max_train_rows": None}
    if same is not None and same.changes and same.identity.get("split") == split:
        print(same.describe(args.path))
    return 0



def read_test_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(uint8 faces (N, 48, 48), ids, labels or None) of a course test.csv or of Kaggle's
    fer2013.csv (PublicTest then PrivateTest rows). A training file or any other CSV raises
    DataError with one line (the data readers' own messages for a malformed file)."""
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


if __name__ == "__main__":
    sys.exit(main())
