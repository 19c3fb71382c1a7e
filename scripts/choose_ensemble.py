"""Choose the full profile's ensemble after a candidate run changes (e.g. the main CNN retrained):
the best subset of `ensemble_candidates` on the validation split, by the shipped runs' stored
validation predictions, the fewest runs among equals (helpers.sections.ensemble.best_subset),
as tests/test_shipped_runs.py requires:

    python scripts/choose_ensemble.py --data-dir ../shared/fer2013           # prints the subsets
    python scripts/choose_ensemble.py --data-dir ../shared/fer2013 --write   # and sets it

--write sets `ensemble_members` in profiles/full.yaml and in notebook 09's parameters cell
(their defaults agree). Notebook 09 shows the same table in the report.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.analysis.ensembles import subset_accuracies  # noqa: E402
from helpers.core.config import load_profile  # noqa: E402
from helpers.experiments.inputs import load_inputs  # noqa: E402
from helpers.sections.ensemble import best_subset, load_members  # noqa: E402

PROFILE = ROOT / "profiles" / "full.yaml"
NOTEBOOK = ROOT / "notebooks" / "09_ensemble.ipynb"


def write_members(members: list[str]) -> None:
    """`ensemble_members` in the full profile and in notebook 09's parameters cell."""
    text = PROFILE.read_text()
    text, count = re.subn(r"^ensemble_members: \[.*\]$", f"ensemble_members: [{', '.join(members)}]",
                          text, flags=re.M)
    if count != 1:
        raise ValueError(f"{PROFILE}: expected one ensemble_members line, found {count}")
    PROFILE.write_text(text)
    notebook = json.loads(NOTEBOOK.read_text())
    found = 0
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        source, n = re.subn(r"ensemble_members: list = \[[^\]]*\]", f"ensemble_members: list = {members!r}",
                            source)
        if n:
            cell["source"], found = source.splitlines(keepends=True), found + n
    if found != 1:
        raise ValueError(f"{NOTEBOOK}: expected one ensemble_members parameter, found {found}")
    NOTEBOOK.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data", help="folder with FER2013")
    parser.add_argument("--write", action="store_true", help="set ensemble_members to the best subset")
    args = parser.parse_args()
    params = load_profile("full")
    inputs = load_inputs(args.data_dir, params["val_fraction"], params["seed"], params["max_train_rows"])
    candidates = params["ensemble_candidates"]
    runs = load_members(ROOT / params["models_dir"], candidates, len(inputs.y_val))  # as notebook 09
    subsets = subset_accuracies(candidates, [run.val_proba for run in runs], inputs.y_val)
    print(subsets.assign(accuracy=(100 * subsets["accuracy"]).round(2)).to_string(index=False))
    best = best_subset(subsets)
    print(f"best: {' + '.join(best)} (profile: {' + '.join(params['ensemble_members'])})")
    if args.write:
        write_members(best)
        print(f"==> ensemble_members set in {PROFILE.relative_to(ROOT)} and {NOTEBOOK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
