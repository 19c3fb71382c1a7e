"""Run every notebook in order with papermill, then build one PDF with nbconvert.

    python -m helpers.pipeline --profile smoke --data-dir ../shared/fer2013
    python -m helpers.pipeline --pdf-only --profile full

Executed notebooks go to build/<profile>/notebooks/ and are kept even when one fails (the
failing cell shows its error). The PDF, results.json and submissions go to the profile's
output_dir (report/ for the full run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from helpers.config import BUILD_DIR, NOTEBOOK_DIR, PROJECT_ROOT, load_profile, resolve


def notebooks() -> list[Path]:
    """The report's notebooks, in the order they run (their number prefix)."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def profile_parameters(profile: str, data_dir=None, retrain: bool = False) -> dict:
    params = load_profile(profile)
    params["profile"] = profile
    if data_dir:
        params["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if retrain:
        params["retrain"] = True
    return params


def shown(path: Path) -> Path:
    """A path as the user should read it: relative to the project when inside it."""
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def executed_dir(profile: str) -> Path:
    return BUILD_DIR / profile / "notebooks"


def run_notebooks(params: dict, only: list[str] | None = None) -> list[Path]:
    """Execute the notebooks with the parameters each one declares; stop at the first failure."""
    import logging

    import papermill as pm

    # Stream the notebooks' own output (one line per training epoch) to the terminal.
    logging.basicConfig(level=logging.WARNING, format="    %(message)s")
    logger = logging.getLogger("papermill")
    logger.setLevel(logging.INFO)
    logger.addFilter(_only_cell_text)

    out_dir = executed_dir(params["profile"])
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    done = []
    for notebook in notebooks():
        if only and not any(notebook.name.startswith(prefix) for prefix in only):
            continue
        declared = pm.inspect_notebook(str(notebook))
        wanted = {k: v for k, v in params.items() if k in declared}
        target = out_dir / notebook.name
        print(f"==> {notebook.name} (profile {params['profile']})", flush=True)
        started = time.perf_counter()
        try:
            pm.execute_notebook(
                str(notebook), str(target), parameters=wanted, kernel_name="python3",
                cwd=str(NOTEBOOK_DIR), progress_bar=sys.stderr.isatty(), log_output=True,
            )
        except pm.PapermillExecutionError as exc:
            message = exc.evalue.strip().splitlines()[0] if exc.evalue.strip() else ""
            raise PipelineError(
                f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {message}\n"
                f"    executed copy with the error: {shown(target)}"
            ) from None
        print(f"    done in {time.perf_counter() - started:.0f} s -> {shown(target)}",
              flush=True)
        done.append(target)
    return done


_NOISE = ("Executing Cell", "Ending Cell", "Executing notebook", "Input notebook", "Output notebook",
          "Executing", "<", "[IPKernelApp]", "Kernel is running", "WARNING: All log messages")


def _only_cell_text(record) -> bool:
    """Keep what the cells print (e.g. one line per epoch), drop papermill's own chatter."""
    message = record.getMessage().strip()
    return bool(message) and not message.startswith(_NOISE)


class PipelineError(RuntimeError):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="full", help="profiles/<name>.yaml (default: full)")
    parser.add_argument("--data-dir", help="folder with FER2013 (default: the profile's, data/)")
    parser.add_argument("--retrain", action="store_true", help="retrain models even if saved")
    parser.add_argument("--only", nargs="*", help="run only notebooks whose name starts so, e.g. 01 02")
    parser.add_argument("--pdf-only", action="store_true", help="rebuild the PDF from executed notebooks")
    parser.add_argument("--no-pdf", action="store_true", help="run the notebooks, skip the PDF")
    args = parser.parse_args(argv)

    from helpers.data import DataError, load_fer2013
    from helpers.report import build_pdf

    try:
        params = profile_parameters(args.profile, args.data_dir, args.retrain)
        if not args.pdf_only:
            # Check the data before starting any notebook: a bad file is one clear line.
            load_fer2013(resolve(params["data_dir"]))
            run_notebooks(params, args.only)
        if not args.no_pdf:
            output_dir = resolve(params["output_dir"])
            pdf = build_pdf(executed_dir(args.profile), output_dir / "report.pdf",
                            output_dir / "results.json")
            print(f"==> PDF: {shown(pdf)}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PipelineError, ValueError, OSError) as exc:
        # OSError covers nbconvert's LatexFailed and a missing xelatex/pandoc: one line, the
        # full LaTeX log stays in the exception's text for --pdf-only debugging.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
