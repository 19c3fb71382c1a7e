"""results.json: every number the report prints, written by the notebooks that compute them."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _plain(value):
    """Convert numpy scalars and arrays so that json can write them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


@contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temporary path beside `path`; when the block succeeds it becomes `path` (mode
    0644) in one rename, so a reader or an interrupted run never sees half a file. On error
    the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, data) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_plain(data), indent=2, sort_keys=True) + "\n")


def read_json(path) -> dict:
    """The JSON file at `path` ({} when it does not exist); ValueError naming the file when it
    is not valid JSON (a truncated or edited file)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}): damaged or edited") from None


def update_results(path, section: str, values) -> None:
    """Set results[section] = values in the JSON file at `path` (other sections are kept, so a
    notebook rerun alone replaces only its own sections). `values` is any JSON-able value."""
    results = read_json(path)
    results[section] = _plain(values)
    write_json(path, results)
