"""Faces in images: reading, Haar-cascade detection and cropping to FER2013's framing."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from helpers.core.config import IMAGE_SIZE
from helpers.data.formats import IMAGE_SUFFIXES, DataError, first_line, is_csv

FACE_MARGIN = 0.0
"""Extra border around the detector's box, as a share of its width/height on each side.
FER2013's faces are framed like the Haar cascade's box: on 240 FER2013 test faces pasted,
upscaled 4x, into larger images, the cascade's box covered a median 0.98 of the 48x48 frame
(10%-90%: 0.80-1.11), and cropping the box with margin 0 reproduced the original faces best
(mean absolute gray difference 28.7, against 29.3 at 2%, 32.6 at 5%, 40.0 at 10% and 45.0 at
15%). A looser crop would show the network more hair and background than it was trained on."""


CASCADE_FILE = "haarcascade_frontalface_default.xml"
"""OpenCV's frontal-face Haar cascade, shipped inside the opencv package (no download)."""


DETECT_SCALE_FACTOR = 1.1


DETECT_MIN_NEIGHBORS = 5


MIN_FACE_PIXELS = 30
"""The smallest face the detector reports, in pixels of the (possibly downscaled) photo."""


DETECT_MAX_SIDE = 1280
"""Larger photos are searched at this size (faster, same faces); crops use the full image."""


@dataclass
class Face:
    """A 48x48 gray face to predict: where it came from and where it was in the image."""

    source: str
    index: int
    pixels: np.ndarray
    box: tuple[int, int, int, int] | None = None  # x, y, w, h in the photo; None: 48x48 image


@dataclass
class ImageResult:
    """The faces found in one image file (none: the file is reported and skipped)."""

    path: Path
    faces: list[Face] = field(default_factory=list)


def image_files(folder: Path) -> list[Path]:
    """The image files below `folder` (subfolders too), sorted; hidden names ('.DS_Store',
    '._x.jpg', '.ipynb_checkpoints/') are skipped."""
    found = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder: {exc.strerror or first_line(exc)}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(folder) / entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:  # a symlink loop: listed, then named as unreadable and skipped
            is_dir = False
        if is_dir:
            if not entry.is_symlink():  # a linked folder could lead back up: not followed
                found += image_files(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return found


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 gray levels (H, W), turned upright by its EXIF orientation
    (photos from phones); DataError naming the file when it cannot be decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from helpers.data.fer2013 import grey_pixels

    try:
        with warnings.catch_warnings():
            # a very large photo is still read (up to Pillow's hard limit) without two lines of noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                return grey_pixels(ImageOps.exif_transpose(img), path)
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read the image)") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable image: {first_line(exc)}") from None


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = cv2.data.haarcascades + CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ValueError(f"OpenCV's face detector {path} cannot be loaded: reinstall "
                         "opencv-python-headless (pip install -r requirements.txt)")
    return cascade


def detect_faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of the frontal faces in a gray photo, left to right (then top to
    bottom), found by OpenCV's Haar cascade."""
    import cv2

    height, width = gray.shape
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = gray if scale == 1.0 else cv2.resize(
        gray, (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA)
    found = _cascade().detectMultiScale(small, scaleFactor=DETECT_SCALE_FACTOR,
                                        minNeighbors=DETECT_MIN_NEIGHBORS,
                                        minSize=(MIN_FACE_PIXELS, MIN_FACE_PIXELS))
    boxes = []
    for x, y, w, h in (np.asarray(found).reshape(-1, 4) / scale).round().astype(int).tolist():
        x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        boxes.append((x, y, min(w, width - x), min(h, height - y)))
    return sorted(boxes)


def crop_face(gray: np.ndarray, box: tuple[int, int, int, int],
              margin: float = FACE_MARGIN) -> np.ndarray:
    """The face in `box` with `margin` (share of the box on each side) added and clipped to
    the image, resized to 48x48 gray levels (area averaging)."""
    import cv2

    x, y, w, h = box
    dx, dy = round(margin * w), round(margin * h)
    top, left = max(y - dy, 0), max(x - dx, 0)
    bottom, right = min(y + h + dy, gray.shape[0]), min(x + w + dx, gray.shape[1])
    return cv2.resize(gray[top:bottom, left:right], (IMAGE_SIZE, IMAGE_SIZE),
                      interpolation=cv2.INTER_AREA)


def faces_in_image(path: Path) -> ImageResult:
    """The faces of one image file: itself if it is 48x48, else those the detector finds."""
    gray = read_image(path)
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return ImageResult(path, [Face(str(path), 0, gray)])
    faces = [Face(str(path), i, crop_face(gray, box), box)
             for i, box in enumerate(detect_faces(gray))]
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
