"""results.json: every number the report prints, written by the notebooks that compute them."""

from __future__ import annotations

import json
import os
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


def write_json(path, data) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_plain(data), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path) -> dict:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def update_results(path, section: str, values: dict) -> None:
    """Set results[section] = values in the JSON file at `path` (other sections are kept)."""
    results = read_json(path)
    results[section] = _plain(values)
    write_json(path, results)
