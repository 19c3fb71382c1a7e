"""Run every notebook in order with papermill, then build one PDF with nbconvert.

    python -m helpers.pipeline --profile smoke --data-dir ../shared/fer2013
    python -m helpers.pipeline --profile smoke --only 05 06     # rerun some notebooks
    python -m helpers.pipeline --pdf-only --profile full

Where things go (<profile> = the profile's name):

- build/<profile>/notebooks/: the executed notebooks, kept even when one fails (the failing
  cell shows its error).
- build/<profile>/outputs/: what the notebooks write (results.json, submission*.csv, ...).
- build/<profile>/run.json: the run record: each run's id and start, and for every notebook
  its status (complete, failed, interrupted, not run), the run that executed it, the digest of
  the parameters and the data checksum it ran with.
- the profile's output_dir (report/ for the full run): the published outputs of the last
  complete set (results.json, submission*.csv, cnn_architecture.png, report.pdf).

The rule: a PDF, and the outputs published beside it, come only from a complete record:
every notebook of the sequence completed, all with the same parameters (the profile's, less
retrain, verbose and data_dir) and the same data checksum. Then output_dir's previous outputs
(results.json, submission.csv, submission_ensemble.csv, cnn_architecture.png, report.pdf, and
no other file) are replaced by this set, so no file of an older run survives beside newer ones;
a failed or interrupted run leaves output_dir as it was.

- A full run (no --only) starts a new record: every notebook "not run", outputs/ and the
  executed copies emptied, so no section of an older run can slip into the new report.
- --only runs just those notebooks; the other notebooks' entries and their sections of
  results.json are kept. The PDF is built when the record is then complete; otherwise one line
  says what is missing.
- --pdf-only builds the PDF when the record is complete, else exits 1 with one line naming the
  notebooks that failed, did not run or ran with other parameters, and the command that fixes it.

Ctrl-C stops the run with one line (exit code 130): finished notebooks and the epochs trained
so far are kept, and rerunning resumes (saved models are reused, training continues from its
last epoch).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from helpers.core.config import (
    BUILD_DIR,
    LOCK_DIR,
    NOTEBOOK_DIR,
    profile_parameters,
    resolve,
)
from helpers.core.locks import Busy, exclusive
from helpers.core.messages import error_line, shown

OUTPUT_NAMES = ("results.json", "submission.csv", "submission_ensemble.csv", "cnn_architecture.png",
                "report.pdf")
"""The files a run publishes in output_dir; publishing a new set removes these (and only
these, plus any file of the new set) first."""


UNDIGESTED = ("retrain", "verbose", "data_dir")
"""Parameters that do not change the report (data identity is the data checksum)."""


INTERRUPTED = ("finished notebooks and the epochs trained so far are kept; "
               "run '{command}' again to resume.")


def notebooks() -> list[Path]:
    """The report's notebooks, in the order they run (their number prefix)."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def executed_dir(profile: str) -> Path:
    return BUILD_DIR / profile / "notebooks"


def outputs_dir(profile: str) -> Path:
    """Where the notebooks of a pipeline run write results.json and the submissions."""
    return BUILD_DIR / profile / "outputs"


def record_path(profile: str) -> Path:
    return BUILD_DIR / profile / "run.json"


def make_command(profile: str, data_dir: str | None = None) -> str:
    """The make command that reruns the whole report of a profile."""
    return ("make report" + ("" if profile == "full" else f" PROFILE={profile}")
            + (f" DATA_DIR={data_dir}" if data_dir else ""))


def parameters_digest(params: dict) -> str:
    """A short digest of the parameters that shape the report."""
    kept = {k: v for k, v in params.items() if k not in UNDIGESTED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_record(profile: str) -> dict:
    path = record_path(profile)
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        return {}  # a damaged record counts as no record: the next full run writes a new one


def write_record(profile: str, record: dict) -> None:
    from helpers.core.results import write_json

    write_json(record_path(profile), record)


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def start_record(params: dict, full: bool, data_checksum: str | None) -> tuple[dict, str]:
    """Open a run in the record (a fresh record for a full run) and return (record, run id)."""
    profile = params["profile"]
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()
    record = {} if full else read_record(profile)
    record.setdefault("profile", profile)
    record.setdefault("notebooks", {})
    record.setdefault("runs", [])
    record["runs"].append({"id": run_id, "started": _now(), "full": full,
                           "parameters": parameters_digest(params), "data_checksum": data_checksum,
                           "status": "running"})
    for notebook in notebooks():
        record["notebooks"].setdefault(notebook.name, {"status": "not run"})
    write_record(profile, record)
    return record, run_id


def missing_from_record(record: dict, names: list[str] | None = None) -> list[str]:
    """What keeps a record from being one complete set, e.g. ["02_cnn.ipynb failed",
    "03_dnn.ipynb not run"]; [] when complete. Reference: the latest run's parameters and data."""
    names = [p.name for p in notebooks()] if names is None else names
    entries = record.get("notebooks", {})
    latest = (record.get("runs") or [{}])[-1]
    missing = []
    for name in names:
        entry = entries.get(name, {})
        status = entry.get("status", "not run")
        if status == "running":
            status = "did not finish"
        if status != "complete":
            missing.append(f"{name} {status}")
        elif (entry.get("parameters"), entry.get("data_checksum")) != (
                latest.get("parameters"), latest.get("data_checksum")):
            missing.append(f"{name} ran with other parameters or data")
    return missing


def incomplete_message(profile: str, missing: list[str], data_dir: str | None = None) -> str:
    """One line: what the record lacks and how to complete it."""
    prefixes = " ".join(m.split("_", 1)[0] for m in missing)
    only = (f"python -m helpers.pipeline --profile {profile}"
            + (f" --data-dir {data_dir}" if data_dir else "") + f" --only {prefixes}")
    return (f"the run record {shown(record_path(profile))} is not one complete run: "
            f"{', '.join(missing)}; run '{make_command(profile, data_dir)}' (or '{only}')")


def run_notebooks(params: dict, only: list[str] | None = None, data_checksum: str | None = None) -> list[Path]:
    """Execute the notebooks with the parameters each one declares; stop at the first failure.

    A full run (no `only`) first empties build/<profile>/outputs/ and the executed copies and
    starts a new run record; `only` keeps both and updates just those notebooks' entries. The
    notebooks write their outputs to build/<profile>/outputs/ (see :func:`publish`).
    """
    import logging

    from helpers.core.progress import PIPELINE_RUN

    os.environ[PIPELINE_RUN] = "1"  # the kernels' progress bars: stderr, out of the PDF
    # Stream the notebooks' own output (one line per training epoch) to the terminal.
    logging.basicConfig(level=logging.WARNING, format="    %(message)s")
    logger = logging.getLogger("papermill")
    logger.setLevel(logging.INFO)
    logger.addFilter(_only_cell_text)

    selected = [nb for nb in notebooks()
                if not only or any(nb.name.startswith(prefix) for prefix in only)]
    if not selected:
        raise PipelineError(f"no notebook matches --only {' '.join(only)}: "
                            f"expected prefixes of {', '.join(p.name for p in notebooks())}")
    profile = params["profile"]
    out_dir, staged = executed_dir(profile), outputs_dir(profile)
    if not only:  # a new run: nothing of an older one may end up in its report
        shutil.rmtree(staged, ignore_errors=True)
        for old in out_dir.glob("[0-9][0-9]_*.ipynb"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    staged.mkdir(parents=True, exist_ok=True)
    (staged / "report.pdf").unlink(missing_ok=True)  # built again only from a complete record
    record, run_id = start_record(params, full=not only, data_checksum=data_checksum)
    digest = parameters_digest(params)
    run_params = dict(params, output_dir=str(staged))

    def mark(name: str, status: str, **info) -> None:
        record["notebooks"][name] = {"status": status, "run": run_id, "parameters": digest,
                                     "data_checksum": data_checksum, "updated": _now(), **info}
        if status != "running":
            record["runs"][-1]["status"] = "running" if status == "complete" else status
        write_record(profile, record)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _INTERRUPTED.clear()
    previous_handler = None
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        previous_handler = signal.signal(signal.SIGINT, _on_sigint)
    # What the kernels print to their stderr outside any cell (native library start-up lines)
    # would scroll past the progress lines; it is kept in a log file instead.
    kernel_log = open(BUILD_DIR / profile / KERNEL_LOG, "wb")  # this run's
    _KERNEL_LOG[:] = [kernel_log]
    try:
        done = _run_each(selected, run_params, out_dir, mark)
    finally:
        _KERNEL_LOG.clear()
        kernel_log.close()
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    record["runs"][-1]["status"] = "complete"
    record["runs"][-1]["finished"] = _now()
    write_record(profile, record)
    return done


KERNEL_LOG = "kernels-stderr.log"
"""In build/<profile>/: the notebook kernels' own stderr during the last run, for when one fails
to start."""


def _run_each(selected: list[Path], run_params: dict, out_dir: Path, mark) -> list[Path]:
    import papermill as pm

    done = []
    for notebook in selected:
        declared = pm.inspect_notebook(str(notebook))
        wanted = {k: v for k, v in run_params.items() if k in declared}
        target = out_dir / notebook.name
        print(f"==> {notebook.name} (profile {run_params['profile']})", flush=True)
        started = time.perf_counter()
        mark(notebook.name, "running")
        try:
            pm.execute_notebook(
                str(notebook), str(target), parameters=wanted, kernel_name="python3",
                cwd=str(NOTEBOOK_DIR), progress_bar=sys.stderr.isatty(), log_output=True,
                kernel_manager_class=_tracked_kernel_manager(),
            )
        except KeyboardInterrupt:
            previous = _ignore_sigint()  # a second Ctrl-C while cleaning up: no traceback
            try:
                _stop_kernels()
                mark(notebook.name, "interrupted")
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
            raise Interrupted(notebook.name) from None
        except pm.PapermillExecutionError as exc:
            message = exc.evalue.strip().splitlines()[0] if exc.evalue.strip() else ""
            mark(notebook.name, "failed", error=f"cell {exc.exec_count}: {exc.ename}: {message}")
            raise PipelineError(
                f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {message}\n"
                f"    executed copy with the error: {shown(target)}"
            ) from None
        except BaseException as exc:
            mark(notebook.name, "failed", error=f"{type(exc).__name__}: {exc}"[:300])
            raise
        _KERNELS.clear()  # papermill shut this notebook's kernel down
        seconds = time.perf_counter() - started
        mark(notebook.name, "complete", seconds=round(seconds, 1))
        print(f"    done in {seconds:.0f} s -> {shown(target)}", flush=True)
        done.append(target)
    return done


_KERNELS: list = []


_KERNEL_LOG: list = []  # the open file that receives the kernels' stderr during a run


_INTERRUPTED = threading.Event()


def _on_sigint(signum, frame):
    """Ctrl-C: note it, so that papermill kills the kernel instead of asking it to shut down (a
    kernel stopped mid-cell prints a traceback of its own), then interrupt as usual."""
    _INTERRUPTED.set()
    raise KeyboardInterrupt


@functools.cache
def _tracked_kernel_manager():
    """papermill's kernel manager class, remembering every kernel it starts so that an
    interrupted run can stop them all (built on first use: jupyter_client is slow to import)."""
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs):
            _KERNELS.append(self)
            if _KERNEL_LOG:  # the kernel's own stderr: TensorFlow's start-up lines, ipykernel's notes
                kwargs.setdefault("stderr", _KERNEL_LOG[0])
            return await super().start_kernel(**kwargs)

        async def shutdown_kernel(self, now: bool = False, restart: bool = False):
            return await super().shutdown_kernel(now=now or _INTERRUPTED.is_set(), restart=restart)

    return TrackedKernelManager


def _ignore_sigint():
    """Ignore Ctrl-C for a moment; returns the handler to restore (None off the main thread)."""
    try:
        return signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        return None


def _stop_kernels() -> None:
    """Kill every kernel this process started that is still alive (papermill normally shuts
    the kernel down itself; this covers an interrupt while it starts or stops one)."""
    while _KERNELS:
        km = _KERNELS.pop()
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is None or process.poll() is not None:
            continue
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the kernel leads its own process group
        except OSError:
            process.kill()
        try:
            process.wait(timeout=10)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        try:
            km.cleanup_connection_file()
        except Exception:  # noqa: BLE001
            pass


_NOISE = tuple(text.lower() for text in (
    "Executing Cell", "Ending Cell", "Executing notebook", "Input notebook", "Output notebook",
    "Working directory", "Executing", "<", "[IPKernelApp]", "Kernel is running",
    "WARNING: All log messages"))


def _only_cell_text(record) -> bool:
    """Keep what the cells print (e.g. one line per epoch), drop papermill's own chatter."""
    message = record.getMessage().strip()
    return bool(message) and not message.lower().startswith(_NOISE)


class PipelineError(RuntimeError):
    pass


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a notebook; args[0] is the notebook's name."""


def check_data(params: dict):
    """Load the data before any notebook runs (a bad file is one clear line) and say up front
    what a data folder without test images skips."""
    from helpers.data.fer2013 import load_fer2013

    data = load_fer2013(resolve(params["data_dir"]))
    if len(data.test_ids) == 0:
        skipped = "the leaderboard submissions (submission.csv, submission_ensemble.csv)"
        if params.get("semi_use_test"):
            skipped += " and the train+test pseudo-label pool of the semi-supervised section"
        print(f"==> note: no test images in {shown(resolve(params['data_dir']))} (no test.csv): "
              f"this run skips {skipped}", flush=True)
    return data


def publish(profile: str, output_dir: Path) -> list[Path]:
    """Replace the previous outputs in output_dir (OUTPUT_NAMES only) by the files in
    build/<profile>/outputs/, all or nothing: every file is first copied beside its target under
    a temporary name (a full disk or an interrupt there leaves output_dir as it was), then each
    is renamed over its target; outputs of the previous set that the new one lacks are removed
    last. Other files in output_dir are left alone."""
    staged = outputs_dir(profile)
    new = sorted(p for p in staged.iterdir() if p.is_file() and not p.name.startswith("."))
    output_dir.mkdir(parents=True, exist_ok=True)
    copies: list[tuple[Path, Path]] = []
    try:
        for path in new:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".publishing", dir=output_dir)
            os.close(fd)
            copies.append((Path(tmp), output_dir / path.name))
            try:
                shutil.copyfile(path, tmp)
            except OSError as exc:
                raise OSError(exc.errno, f"{exc.strerror} while writing {shown(output_dir / path.name)}; "
                                         f"{shown(output_dir)} was left as it was") from None
            os.chmod(tmp, 0o644)
    except BaseException:
        for tmp, _ in copies:
            tmp.unlink(missing_ok=True)
        raise
    previous = _ignore_sigint()  # the renames take milliseconds: never half of them
    try:
        for tmp, target in copies:
            os.replace(tmp, target)
        names = {p.name for p in new}
        for name in OUTPUT_NAMES:
            old = output_dir / name
            if name not in names and (old.is_file() or old.is_symlink()):
                old.unlink()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return [target for _, target in copies]


def record_compute(params: dict, results_path: Path) -> None:
    """results.json's "compute": what every run of the report cost (helpers.pipeline.plan)."""
    from helpers.core.results import update_results
    from helpers.data.fer2013 import load_splits
    from helpers.pipeline.plan import training_compute

    splits = load_splits(resolve(params["data_dir"]), params["val_fraction"], params["seed"],
                         params.get("max_train_rows"))
    update_results(results_path, "compute",
                   training_compute(params, len(splits.y_train), len(splits.test_ids)))


def finish(params: dict, pdf: bool) -> Path | None:
    """Build the PDF of a complete record (when `pdf`) and publish the set in output_dir, only
    when every step succeeded: a failed or interrupted PDF build publishes nothing, so
    output_dir keeps the previous set, whole."""
    from helpers.pipeline.report import build_pdf

    profile = params["profile"]
    staged = outputs_dir(profile)
    output_dir = resolve(params["output_dir"])
    record_compute(params, staged / "results.json")
    built = None
    stale = staged / "report.pdf"
    if pdf:
        built = build_pdf(executed_dir(profile), stale, staged / "results.json")
    elif stale.exists():
        stale.unlink()  # an earlier run's PDF does not describe these results
    published = publish(profile, output_dir)
    print(f"==> outputs in {shown(output_dir)}: {', '.join(p.name for p in published)}", flush=True)
    return output_dir / built.name if built else None


def report_lock(profile: str) -> Path:
    """One report run per profile at a time (outside build/, which make clean deletes)."""
    return LOCK_DIR / f"report-{profile}.lock"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="full", help="profiles/<name>.yaml (default: full)")
    parser.add_argument("--data-dir", help="folder with FER2013 (default: the profile's, data/)")
    parser.add_argument("--retrain", action="store_true", help="retrain models even if saved")
    parser.add_argument("--only", nargs="+", metavar="PREFIX",
                        help="run only notebooks whose name starts so, e.g. 01 02; the PDF is "
                             "built when the run record is then complete")
    parser.add_argument("--pdf-only", action="store_true",
                        help="rebuild the PDF of the last complete run (exit 1 if incomplete)")
    parser.add_argument("--no-pdf", action="store_true", help="run the notebooks, skip the PDF")
    args = parser.parse_args(argv)
    command = make_command(args.profile, args.data_dir)
    try:
        with exclusive(report_lock(args.profile), f"a report run of profile {args.profile!r}"):
            return _main(args, command)
    except Busy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _main(args, command: str) -> int:
    from helpers.data.formats import DataError
    from helpers.experiments.registry import trains_models
    from helpers.pipeline.plan import show_plan

    try:
        params = profile_parameters(args.profile, args.data_dir, args.retrain)
        if not args.pdf_only:
            # Check the data before starting any notebook: a bad file is one clear line.
            data = check_data(params)
            if trains_models(args.only):
                show_plan(params)
            run_notebooks(params, args.only, data.checksum)
        missing = missing_from_record(read_record(args.profile))
        if missing and args.pdf_only:
            raise PipelineError("no PDF: " + incomplete_message(args.profile, missing, args.data_dir))
        if missing:
            print("==> no PDF: " + incomplete_message(args.profile, missing, args.data_dir), flush=True)
        else:
            pdf = finish(params, pdf=not args.no_pdf)
            if pdf:
                print(f"==> PDF: {shown(pdf)}")
    except KeyboardInterrupt as exc:
        where = f" in {exc.args[0]}" if isinstance(exc, Interrupted) and exc.args else ""
        print(f"interrupted{where}: " + INTERRUPTED.format(command=command), file=sys.stderr)
        return 130
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PipelineError, ValueError, OSError) as exc:
        # OSError covers nbconvert's LatexFailed and a missing xelatex/pandoc: one line, the
        # full LaTeX log stays in the exception's text for --pdf-only debugging.
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. a kernel killed for memory: one line, not a wall
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
