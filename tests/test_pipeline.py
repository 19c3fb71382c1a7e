"""End to end: `make report PROFILE=smoke` on a subset of the real data, then check the PDF,
results.json and the submission; and the pipeline's behaviour on bad data and failing cells."""

import json
import shutil
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from helpers import pipeline
from helpers.config import BUILD_DIR, PROJECT_ROOT, SECTIONS
from helpers.report import MISSING

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
def test_executed_notebooks_are_kept(smoke_run):
    executed = sorted((BUILD_DIR / "smoke" / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in executed] == [p.name for p in pipeline.notebooks()]


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
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", notebooks)
    monkeypatch.setattr(pipeline, "BUILD_DIR", tmp_path / "build")
    with pytest.raises(pipeline.PipelineError) as error:
        pipeline.run_notebooks({"profile": "t"})
    assert "01_broken.ipynb failed in cell" in str(error.value)
    assert "ValueError: broken on purpose" in str(error.value)
    executed = nbformat.read(str(tmp_path / "build" / "t" / "notebooks" / "01_broken.ipynb"), 4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert errors and errors[0].evalue == "broken on purpose"
