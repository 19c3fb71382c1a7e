"""Move training to a lent GPU machine and its runs back (see scripts/gpu_train.sh).

The GPU machine gets a copy of the repository and at most 64 MiB in all, so the training data
travels as one xz-compressed array file (~47 MB instead of the 76 MB train.csv.gz), and the
runs come back as one archive per run (at most 8 files of 16 MiB).

Here, before the GPU call:
    python scripts/gpu_bundle.py pack-data [DATA_DIR] [.gpu/train.npz.xz]
There, inside scripts/gpu_train.sh:
    python scripts/gpu_bundle.py unpack-data .gpu/train.npz.xz build/gpu-data
    python scripts/gpu_bundle.py pack-runs models $OUT RUN ...
Here, after it:
    python scripts/gpu_bundle.py unpack-runs FOLDER [models]

A finished run comes back without its checkpoints; an unfinished one with its newest
checkpoint, so that `make train` resumes it here. Runs already finished here are never
replaced; an unfinished local copy is replaced by a finished one (stop `make train` first).
"""

from __future__ import annotations

import argparse
import io
import lzma
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.data.fer2013 import digest_train_set, load_fer2013  # noqa: E402
from helpers.modeling.store import CHECKPOINTS, is_finished, latest_checkpoint, staging_dir  # noqa: E402

DEFAULT_BUNDLE = ROOT / ".gpu" / "train.npz.xz"
# Neighbouring images' rows are alike: a delta filter over one image row (48 bytes) helps xz.
FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 48}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
MAX_FILE_BYTES = 16 * 2**20


def pack_data(data_dir: Path, bundle: Path) -> None:
    data = load_fer2013(data_dir, use_cache=False)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=data.x_train, y_train=data.y_train,
             train_digest=np.array(data.train_digest))
    bundle.parent.mkdir(parents=True, exist_ok=True)
    tmp = bundle.with_name(bundle.name + ".tmp")
    tmp.write_bytes(lzma.compress(buffer.getvalue(), format=lzma.FORMAT_XZ, filters=FILTERS))
    tmp.replace(bundle)
    print(f"{bundle}: {len(data.y_train):,} training images, {bundle.stat().st_size / 1e6:.1f} MB, "
          f"train digest {data.train_digest[:16]}")


def unpack_data(bundle: Path, data_dir: Path) -> None:
    """Write the course's train.csv from the bundle, after checking the pixels' digest."""
    with np.load(io.BytesIO(lzma.decompress(bundle.read_bytes()))) as z:
        x, y, expected = z["x_train"], z["y_train"], str(z["train_digest"])
    if digest_train_set(x, y) != expected:
        raise ValueError(f"{bundle}: the training images do not match their digest")
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = ["label,feature"] + [f"{label},{' '.join(map(str, image.ravel()))}"
                                 for label, image in zip(y.tolist(), x)]
    (data_dir / "train.csv").write_text("\n".join(lines) + "\n")
    print(f"{data_dir / 'train.csv'}: {len(y):,} training images")


def _archive(source: Path, archive: Path, arcname: str, skip_checkpoints: bool) -> None:
    newest = latest_checkpoint(source)
    keep = None if skip_checkpoints or newest is None else newest[2]

    def chosen(info: tarfile.TarInfo):
        parts = Path(info.name).parts
        if len(parts) > 1 and parts[1] == CHECKPOINTS:
            if keep is None or (len(parts) > 2 and parts[2] != keep.name):
                return None
        return info

    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname, filter=chosen)


def pack_runs(models_dir: Path, out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        run_dir, staged = models_dir / name, staging_dir(models_dir / name)
        if is_finished(run_dir):
            source, what = run_dir, "finished"
        elif staged.exists() and latest_checkpoint(staged) is not None:
            source, what = staged, f"{latest_checkpoint(staged)[0]} epochs"
        else:
            print(f"{name}: nothing trained")
            continue
        archive = out / f"{name}.tar.gz"
        _archive(source, archive, source.name, skip_checkpoints=source is run_dir)
        size = archive.stat().st_size
        note = "" if size <= MAX_FILE_BYTES else "  (over 16 MiB: will not come back)"
        print(f"{name}: {what}, {size / 1e6:.1f} MB{note}")


def unpack_runs(folder: Path, models_dir: Path, replace: bool = False) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    for archive in sorted(folder.glob("*.tar.gz")):
        with tempfile.TemporaryDirectory(dir=models_dir) as tmp:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            (source,) = Path(tmp).iterdir()
            name = source.name.removesuffix(".training")
            run_dir = models_dir / name
            finished = is_finished(source)
            target = run_dir if finished else staging_dir(run_dir)
            if is_finished(run_dir) and not replace:
                print(f"{name}: kept the finished run here (--replace to take the GPU's)")
                continue
            if not finished:
                here = latest_checkpoint(target)
                if here is not None and here[0] >= latest_checkpoint(source)[0]:
                    print(f"{name}: kept the local checkpoint ({here[0]} epochs)")
                    continue
            for old in (run_dir, staging_dir(run_dir)) if finished else (target,):
                if old.exists():
                    shutil.rmtree(old)
            source.rename(target)
            print(f"{name}: {'finished' if finished else 'checkpoint'} -> {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack-data")
    p.add_argument("data_dir", nargs="?", default=str(ROOT / "data"), type=Path)
    p.add_argument("bundle", nargs="?", default=DEFAULT_BUNDLE, type=Path)
    p = sub.add_parser("unpack-data")
    p.add_argument("bundle", type=Path)
    p.add_argument("data_dir", type=Path)
    p = sub.add_parser("pack-runs")
    p.add_argument("models_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("runs", nargs="+")
    p = sub.add_parser("unpack-runs")
    p.add_argument("folder", type=Path)
    p.add_argument("models_dir", nargs="?", default=ROOT / "models", type=Path)
    p.add_argument("--replace", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "pack-data":
        pack_data(args.data_dir, args.bundle)
    elif args.command == "unpack-data":
        unpack_data(args.bundle, args.data_dir)
    elif args.command == "pack-runs":
        pack_runs(args.models_dir, args.out, args.runs)
    else:
        unpack_runs(args.folder, args.models_dir, args.replace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
