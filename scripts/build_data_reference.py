"""Build the reference of the data the shipped runs were trained on (models/fer2013_reference.npz),
with which another copy of the same faces (pixels within about a gray level, rows in any order,
e.g. Kaggle's fer2013.csv) is recognized and lined up with them (helpers.data.signature):

    python scripts/build_data_reference.py --data-dir ../shared/fer2013

It keeps each face's 4x4 block means (uint8), the training labels, the data's digests and what
the runs' configs take from the data with the profile's split (normalization statistics and
label digests, raw and histogram-equalized). tests/test_data_reference.py checks that the
committed file is what this script computes from the shipped data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.core.config import load_profile  # noqa: E402
from helpers.data.fer2013 import load_fer2013  # noqa: E402
from helpers.data.signature import REFERENCE_FILE, Reference, build_reference, save_reference  # noqa: E402
from helpers.experiments.inputs import data_identity, load_inputs  # noqa: E402


def compute_reference(data_dir, profile: str = "full") -> Reference:
    """The reference of the data in data_dir with the profile's split (taken as it is: no
    earlier reference applies)."""
    params = load_profile(profile)
    data = load_fer2013(data_dir)
    args = (data_dir, params["val_fraction"], params["seed"], params.get("max_train_rows"))
    identity = data_identity(load_inputs(*args, reference=None),
                             load_inputs(*args, hist_eq=True, reference=None))
    return build_reference(data.x_train, data.y_train, data.x_test, data.train_digest,
                           data.test_digest, identity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="the shipped runs' FER2013 folder")
    parser.add_argument("--profile", default="full", help="the profile whose split the runs used")
    parser.add_argument("--output", default=str(REFERENCE_FILE))
    args = parser.parse_args(argv)
    reference = compute_reference(Path(args.data_dir).expanduser(), args.profile)
    save_reference(reference, args.output)
    size = Path(args.output).stat().st_size
    print(f"{args.output}: {len(reference.train_labels):,} training and "
          f"{len(reference.test_signatures):,} test faces, {size / 1024:.0f} KiB, "
          f"train digest {reference.train_digest[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
