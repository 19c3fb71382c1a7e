"""End to end: `make report PROFILE=smoke` on a subset of the real data, then check the PDF,
results.json and the submission; and the pipeline's behavior on bad data and failing cells."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest

import helpers.pipeline.plan as pipeline_plan
import helpers.pipeline.run as pipeline_run
from conftest import lock_held_elsewhere
from helpers.core.config import BUILD_DIR, PROJECT_ROOT
from helpers.pipeline.report import SECTIONS
from helpers.pipeline.report import MISSING

SMOKE_REPORT = BUILD_DIR / "smoke" / "report"


@pytest.fixture(scope="module")
def smoke_run(fer2013_dir):
    """Run the README's command with the smoke profile once for this module."""
    shutil.rmtree(SMOKE_REPORT, ignore_errors=True)
    result = subprocess.run(
        ["make", "report", "PROFILE=smoke", f"DATA_DIR={fer2013_dir}", "RETRAIN=1"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=40 * 60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.pipeline
def test_pdf_has_every_section_filled(smoke_run):
    pdf = SMOKE_REPORT / "report.pdf"
    assert pdf.read_bytes()[:4] == b"%PDF"
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for number, title in SECTIONS.items():
        assert (f"{number}. {title}" if number else title) in text
    assert "smoke" in text  # the title table says which profile produced it
    missing = MISSING.strip("*").split("(")[0].strip()
    assert missing not in text, "a section of the report is empty"
    assert "Traceback" not in text and "Error" not in text.replace("error bars", "")


@pytest.mark.pipeline
def test_results_json_holds_the_reported_numbers(smoke_run):
    results = json.loads((SMOKE_REPORT / "results.json").read_text())
    assert results["profile"] == results["run"]["profile"] == "smoke"
    for model in ("cnn", "dnn"):
        assert results[model]["params"] > 0
        assert 0 <= results[model]["val_accuracy"] <= 1
        assert results[model]["seconds_per_epoch"] > 0
    assert abs(results["dnn"]["params"] - results["cnn"]["params"]) <= 0.02 * results["cnn"]["params"]
    for variant in ("none", "normalization", "normalization_augmentation"):
        assert 0 <= results["ablation"][variant]["val_accuracy"] <= 1


@pytest.mark.pipeline
def test_submission_covers_every_test_id(smoke_run):
    submission = pd.read_csv(SMOKE_REPORT / "submission.csv")
    assert list(submission.columns) == ["id", "label"]
    assert submission["id"].tolist() == list(range(7178))
    assert submission["label"].between(0, 6).all()


@pytest.mark.pipeline
def test_the_terminal_shows_progress_not_library_noise(smoke_run):
    shown = smoke_run.stdout + smoke_run.stderr
    assert "==> 02_cnn.ipynb" in shown and "done in" in shown
    for noise in ("oneDNN", "cuda drivers", "IPKernelApp", "absl::InitializeLog", "TqdmWarning"):
        assert noise not in shown
    assert (BUILD_DIR / "smoke" / pipeline_run.KERNEL_LOG).exists()  # kept there


@pytest.mark.pipeline
def test_executed_notebooks_are_kept(smoke_run):
    executed = sorted((BUILD_DIR / "smoke" / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in executed] == [p.name for p in pipeline_run.notebooks()]


def test_bad_data_dir_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "train.csv").write_text("label,feature\n9,1 2 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "helpers.pipeline", "--profile", "smoke", "--data-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "line 2" in lines[0]


def test_failing_notebook_is_kept_with_its_error(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    cells = [nbformat.v4.new_markdown_cell("# Data"), nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(notebooks / "01_broken.ipynb"))
    monkeypatch.setattr(pipeline_run, "NOTEBOOK_DIR", notebooks)
    monkeypatch.setattr(pipeline_run, "BUILD_DIR", tmp_path / "build")
    with pytest.raises(pipeline_run.PipelineError) as error:
        pipeline_run.run_notebooks({"profile": "t"})
    assert "01_broken.ipynb failed in cell" in str(error.value)
    assert "ValueError: broken on purpose" in str(error.value)
    executed = nbformat.read(str(tmp_path / "build" / "t" / "notebooks" / "01_broken.ipynb"), 4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert errors and errors[0].evalue == "broken on purpose"


# --------------------------------------------------------------------------- run record, outputs, Ctrl-C


def _notebook(path, *sources, parameters="output_dir = 'out'\nfail = False"):
    """A tiny numbered notebook: a '# Data' heading, a parameters cell, then `sources`."""
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    cells = [nbformat.v4.new_markdown_cell("# Data"), params,
             *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Notebooks, build/ and output_dir in tmp_path (nothing of the real project is touched)."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.setattr(pipeline_run, "NOTEBOOK_DIR", notebooks)
    monkeypatch.setattr(pipeline_run, "BUILD_DIR", tmp_path / "build")
    params = {"profile": "t", "output_dir": str(tmp_path / "report"), "data_dir": "data", "seed": 1}
    monkeypatch.setattr(pipeline_run, "profile_parameters", lambda profile, data_dir=None, retrain=False: dict(params))
    monkeypatch.setattr(pipeline_run, "check_data", lambda p: SimpleNamespace(checksum="sha-1", test_ids=[0]))
    monkeypatch.setattr(pipeline_plan, "show_plan", lambda params: None)  # tested in test_plan.py
    monkeypatch.setattr(pipeline_run, "record_compute", lambda params, path: None)  # idem
    return SimpleNamespace(root=tmp_path, notebooks=notebooks, params=params, report=tmp_path / "report",
                           staged=tmp_path / "build" / "t" / "outputs")


WRITES = ("from pathlib import Path\nfrom helpers.core.results import update_results\n"
          "if fail:\n    raise RuntimeError('failing on purpose')\n"
          "update_results(Path(output_dir) / 'results.json', {section!r}, {{'value': 1}})\n"
          "{extra}")


def _two_notebooks(sandbox):
    _notebook(sandbox.notebooks / "01_a.ipynb", WRITES.format(section="a", extra=""))
    _notebook(sandbox.notebooks / "02_b.ipynb", WRITES.format(
        section="b", extra="(Path(output_dir) / 'submission.csv').write_text('id,label\\n0,1\\n')"))


def test_outputs_of_a_complete_run_replace_the_previous_ones_and_only_them(sandbox):
    _two_notebooks(sandbox)
    sandbox.report.mkdir()
    for stale in ("results.json", "submission_ensemble.csv", "report.pdf"):  # an older run's
        (sandbox.report / stale).write_text("old")
    for mine in ("notes.txt", "submission_by_hand.csv"):  # made by the user: kept
        (sandbox.report / mine).write_text("mine")

    pipeline_run.run_notebooks(sandbox.params, None, "sha-1")
    assert pipeline_run.missing_from_record(pipeline_run.read_record("t")) == []
    pipeline_run.finish(sandbox.params, pdf=False)
    assert sorted(p.name for p in sandbox.report.iterdir()) == [
        "notes.txt", "results.json", "submission.csv", "submission_by_hand.csv"]
    assert json.loads((sandbox.report / "results.json").read_text()) == {"a": {"value": 1}, "b": {"value": 1}}
    record = pipeline_run.read_record("t")
    assert {n: e["status"] for n, e in record["notebooks"].items()} == {"01_a.ipynb": "complete",
                                                                       "02_b.ipynb": "complete"}
    assert record["notebooks"]["01_a.ipynb"]["data_checksum"] == "sha-1"
    assert len(record["runs"]) == 1 and record["runs"][0]["status"] == "complete"


def test_only_keeps_the_other_notebooks_results_and_a_failure_publishes_nothing(sandbox):
    _two_notebooks(sandbox)
    pipeline_run.run_notebooks(sandbox.params, None, "sha-1")
    pipeline_run.finish(sandbox.params, pdf=False)
    published = (sandbox.report / "results.json").read_text()

    pipeline_run.run_notebooks(sandbox.params, ["02"], "sha-1")  # 01's section survives
    assert set(json.loads((sandbox.staged / "results.json").read_text())) == {"a", "b"}
    assert pipeline_run.missing_from_record(pipeline_run.read_record("t")) == []

    with pytest.raises(pipeline_run.PipelineError, match="01_a.ipynb failed"):
        pipeline_run.run_notebooks(dict(sandbox.params, fail=True), ["01"], "sha-1")
    record = pipeline_run.read_record("t")
    assert record["notebooks"]["01_a.ipynb"]["status"] == "failed"
    assert "failing on purpose" in record["notebooks"]["01_a.ipynb"]["error"]
    assert record["runs"][-1]["status"] == "failed"
    # 02 ran with other parameters than the latest run (fail=True): not one set either
    assert pipeline_run.missing_from_record(record) == ["01_a.ipynb failed",
                                                    "02_b.ipynb ran with other parameters or data"]
    assert (sandbox.report / "results.json").read_text() == published  # output_dir untouched


def test_a_full_run_forgets_the_previous_runs_notebooks(sandbox):
    _two_notebooks(sandbox)
    pipeline_run.run_notebooks(sandbox.params, None, "sha-1")
    executed = sandbox.root / "build" / "t" / "notebooks"
    assert (executed / "02_b.ipynb").exists() and (sandbox.staged / "submission.csv").exists()
    with pytest.raises(pipeline_run.PipelineError):  # a new full run whose first notebook fails
        pipeline_run.run_notebooks(dict(sandbox.params, fail=True), None, "sha-1")
    assert [p.name for p in executed.iterdir()] == ["01_a.ipynb"]  # with its error; 02's old copy gone
    assert list(sandbox.staged.iterdir()) == []  # the old results.json and submission too
    assert pipeline_run.missing_from_record(pipeline_run.read_record("t")) == ["01_a.ipynb failed", "02_b.ipynb not run"]


def _write_record(sandbox, statuses, checksum="sha-1"):
    digest = pipeline_run.parameters_digest(sandbox.params)
    record = {"profile": "t", "runs": [{"id": "r1", "parameters": digest, "data_checksum": checksum}],
              "notebooks": {name: {"status": status, "run": "r1", "parameters": digest,
                                   "data_checksum": checksum} for name, status in statuses.items()}}
    (sandbox.root / "build" / "t").mkdir(parents=True, exist_ok=True)
    (sandbox.root / "build" / "t" / "run.json").write_text(json.dumps(record))


def test_pdf_only_after_a_failed_run_is_one_line_and_exit_1(sandbox, monkeypatch, capsys):
    for name in ("01_a", "02_b", "03_c"):
        _notebook(sandbox.notebooks / f"{name}.ipynb", "x = 1")
    monkeypatch.setattr(pipeline_run, "finish", lambda *a, **k: pytest.fail("must not build a PDF"))
    assert pipeline_run.main(["--profile", "t", "--pdf-only"]) == 1  # no record at all
    assert "01_a.ipynb not run, 02_b.ipynb not run, 03_c.ipynb not run" in capsys.readouterr().err

    _write_record(sandbox, {"01_a.ipynb": "complete", "02_b.ipynb": "failed"})
    assert pipeline_run.main(["--profile", "t", "--pdf-only"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: PipelineError: no PDF: ")
    assert "02_b.ipynb failed, 03_c.ipynb not run" in err and "01_a.ipynb" not in err
    assert "run 'make report PROFILE=t'" in err and "--only 02 03" in err


def test_pdf_only_with_a_complete_record_builds(sandbox, monkeypatch, capsys):
    _notebook(sandbox.notebooks / "01_a.ipynb", "x = 1")
    _write_record(sandbox, {"01_a.ipynb": "complete"})
    built = []
    monkeypatch.setattr(pipeline_run, "finish", lambda params, pdf: built.append(pdf) or sandbox.report / "report.pdf")
    assert pipeline_run.main(["--profile", "t", "--pdf-only"]) == 0
    assert built == [True]


def test_only_builds_the_pdf_only_when_the_record_is_complete(sandbox, monkeypatch, capsys):
    for name in ("01_a", "02_b"):
        _notebook(sandbox.notebooks / f"{name}.ipynb", "x = 1")
    calls = []
    monkeypatch.setattr(pipeline_run, "run_notebooks", lambda params, only, checksum: calls.append(only))
    monkeypatch.setattr(pipeline_run, "finish", lambda params, pdf: calls.append("pdf"))
    _write_record(sandbox, {"01_a.ipynb": "complete", "02_b.ipynb": "not run"})
    assert pipeline_run.main(["--profile", "t", "--only", "01"]) == 0
    assert calls == [["01"]]
    assert "no PDF: " in capsys.readouterr().out
    _write_record(sandbox, {"01_a.ipynb": "complete", "02_b.ipynb": "complete"})
    assert pipeline_run.main(["--profile", "t", "--only", "01"]) == 0
    assert calls == [["01"], ["01"], "pdf"]


@pytest.mark.parametrize("notebook,where", [(None, "interrupted: "),
                                             ("02_cnn.ipynb", "interrupted in 02_cnn.ipynb: ")])
def test_ctrl_c_is_one_line_and_exit_130(sandbox, monkeypatch, capsys, notebook, where):
    def run_notebooks(*args, **kwargs):  # papermill raises from inside its execution
        raise pipeline_run.Interrupted(notebook) if notebook else KeyboardInterrupt

    monkeypatch.setattr(pipeline_run, "run_notebooks", run_notebooks)
    assert pipeline_run.main(["--profile", "smoke"]) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{where}finished notebooks and the epochs trained so far are kept; "
        "run 'make report PROFILE=smoke' again to resume."]
    assert "Traceback" not in captured.out


def test_ctrl_c_in_a_notebook_stops_its_kernel(sandbox):
    """A real SIGINT while a cell runs: Interrupted names the notebook, the kernel is gone."""
    pid_file = sandbox.root / "kernel.pid"
    _notebook(sandbox.notebooks / "01_ctrl_c.ipynb",
              f"import os, signal, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
              "os.kill(os.getppid(), signal.SIGINT)\ntime.sleep(60)")
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    caught = None
    try:
        pipeline_run.run_notebooks(sandbox.params, None, "sha-1")
    except KeyboardInterrupt as exc:
        caught = exc
    finally:
        handler_after = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, before)
    assert isinstance(caught, pipeline_run.Interrupted) and caught.args == ("01_ctrl_c.ipynb",)
    assert handler_after is signal.default_int_handler
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), "the kernel outlived the interrupt"
    assert pipeline_run.read_record("t")["notebooks"]["01_ctrl_c.ipynb"]["status"] == "interrupted"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())  # a zombie is dead


def test_missing_test_file_is_announced_before_the_first_notebook(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    rows = [f"{label}," + " ".join(map(str, rng.integers(0, 256, 48 * 48))) for label in range(7) for _ in range(3)]
    (tmp_path / "train.csv").write_text("label,feature\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(pipeline_run, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setattr(pipeline_plan, "show_plan", lambda params: None)
    seen = []
    monkeypatch.setattr(pipeline_run, "run_notebooks",
                        lambda params, only, checksum: seen.append(capsys.readouterr().out))
    assert pipeline_run.main(["--profile", "smoke", "--data-dir", str(tmp_path), "--no-pdf"]) == 0
    assert len(seen) == 1
    note = seen[0]
    assert "no test images" in note and "submission.csv, submission_ensemble.csv" in note
    assert "train+test pseudo-label pool" in note


def test_no_notebook_resets_results_json():
    """Each notebook updates its own sections: `--only 01` must not wipe the others' results."""
    for path in pipeline_run.notebooks():
        code = "\n".join(c.source for c in nbformat.read(str(path), 4).cells if c.cell_type == "code")
        assert "write_json(" not in code, f"{path.name} rewrites results.json wholesale"


# --------------------------------------------------------------------------- never publish a broken report


def _published_set(sandbox):
    """A complete run published once with a good PDF; returns {name: bytes} of output_dir."""
    _two_notebooks(sandbox)
    pipeline_run.run_notebooks(sandbox.params, None, "sha-1")
    sandbox.report.mkdir(parents=True, exist_ok=True)
    (sandbox.report / "report.pdf").write_bytes(b"%PDF-1.5 the good one\n%%EOF\n")
    pipeline_run.finish(sandbox.params, pdf=False)
    (sandbox.report / "report.pdf").write_bytes(b"%PDF-1.5 the good one\n%%EOF\n")
    return {p.name: p.read_bytes() for p in sandbox.report.iterdir()}


def _contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_pdf_cut_short_by_a_full_disk_publishes_nothing(sandbox, monkeypatch, capsys):
    before = _published_set(sandbox)

    def truncated(executed_dir, pdf_path, results_path):  # what a full disk leaves behind
        from helpers.pipeline import report

        body = b"%PDF-1.5 half of a PDF"
        report.check_pdf(body, pdf_path)
        return pdf_path

    monkeypatch.setattr("helpers.pipeline.report.build_pdf", truncated)
    with pytest.raises(OSError, match="incomplete"):
        pipeline_run.finish(sandbox.params, pdf=True)
    assert _contents(sandbox.report) == before


def test_a_full_disk_while_publishing_leaves_output_dir_as_it_was(sandbox, monkeypatch):
    before = _published_set(sandbox)
    real_copy = shutil.copyfile
    calls = []

    def copy_until_full(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copy(src, dst)

    monkeypatch.setattr(shutil, "copyfile", copy_until_full)
    with pytest.raises(OSError) as info:
        pipeline_run.finish(sandbox.params, pdf=False)
    assert _contents(sandbox.report) == before  # no temporary file left either
    line = pipeline_run.error_line(info.value)
    assert "No space left on device while writing" in line and str(sandbox.report.name) in line
    assert "\n" not in line


def test_ctrl_c_during_the_pdf_build_keeps_the_published_report(sandbox, monkeypatch):
    before = _published_set(sandbox)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("helpers.pipeline.report.build_pdf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline_run.finish(sandbox.params, pdf=True)
    assert _contents(sandbox.report) == before


def test_check_pdf_accepts_a_whole_pdf_only(tmp_path):
    from helpers.pipeline.report import check_pdf

    check_pdf(b"%PDF-1.7\n" + b"x" * 5000 + b"\n%%EOF\n", tmp_path / "r.pdf")
    for body in (b"", b"%PDF-1.7\n" + b"x" * 5000, b"<html>%%EOF"):
        with pytest.raises(OSError, match="r.pdf: the PDF is incomplete"):
            check_pdf(body, tmp_path / "r.pdf")


def test_a_second_report_run_refuses_in_one_line_naming_the_first(sandbox, monkeypatch, capsys):
    before = _published_set(sandbox)
    lock = pipeline_run.report_lock("t")
    monkeypatch.setattr(pipeline_run, "run_notebooks",
                        lambda *a, **k: pytest.fail("the second run must not start a notebook"))
    with lock_held_elsewhere(lock) as pid:
        assert pipeline_run.main(["--profile", "t"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"is already running (pid {pid}, since" in err[0]
    assert err[0].startswith("error: a report run of profile 't'")
    assert _contents(sandbox.report) == before
