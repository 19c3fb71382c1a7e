"""Static checks of the committed notebooks: numbered, output-free, one parameters cell whose
defaults are the full profile's, and a section heading the report builder recognizes."""

import ast
import re
import shutil
import subprocess

import nbformat
import papermill as pm
import pytest

from helpers.core.config import from_profile, load_profile, NOTEBOOK_DIR, PROFILE_SETTINGS, PROJECT_ROOT
from helpers.pipeline.run import notebooks
from helpers.pipeline.report import section_of

EXPECTED = ["01_data", "02_cnn", "03_dnn", "04_confusion_matrix", "05_saliency", "06_filters",
            "07_semi_supervised", "08_histogram_equalization", "09_ensemble"]
# Keys whose notebook default deliberately differs from the full profile.
INTERACTIVE_DEFAULTS = {"verbose": "auto", "profile": "full", "output_dir": "build/lab"}


def test_the_numbered_notebooks_exist_in_order():
    names = [p.stem for p in notebooks()]
    assert names[:len(EXPECTED)] == EXPECTED
    numbers = [int(name[:2]) for name in names]
    assert numbers == list(range(1, len(names) + 1)), f"notebook numbers with a gap or twice: {names}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], (f"{path.name} cell {index} has outputs: run `make strip` "
                                        "(notebooks are committed without outputs)")
            assert cell.execution_count is None, (f"{path.name} cell {index} has an execution count: "
                                                  "run `make strip`")


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_one_parameters_cell_with_full_profile_defaults(path):
    nb = nbformat.read(str(path), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one 'parameters' cell"
    declared = pm.inspect_notebook(str(path))
    assert declared, f"{path.name}: papermill sees no parameters"
    # papermill skips a line it cannot parse (an "=" in its comment), and make report then runs
    # the notebook's default instead of the profile's setting without a word.
    assigned = re.findall(r"^(\w+)\s*(?::[^=\n]*)?=", tagged[0].source, re.M)
    assert sorted(assigned) == sorted(declared), \
        f"{path.name}: papermill cannot read {sorted(set(assigned) - set(declared))} (no '=' in a parameter's comment)"
    full = load_profile("full")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    calls = re.findall(r"from_profile\(profile, ([^)]*)\)", code)
    for name, info in declared.items():
        default = ast.literal_eval(info["default"])
        if name in PROFILE_SETTINGS:
            # Too large to repeat: None in the cell, the profile's value once from_profile runs.
            assert default is None, f"{path.name}: {name} should default to None (read from the profile)"
            assert any(f"{name}={name}" in call for call in calls), \
                f"{path.name}: {name} is never read from the profile (from_profile(profile, {name}={name}))"
            continue
        expected = INTERACTIVE_DEFAULTS.get(name, full.get(name, KeyError))
        assert expected is not KeyError, f"{path.name}: parameter {name} is not in profiles/full.yaml"
        assert default == expected, f"{path.name}: {name} defaults to {default!r}, full profile has {expected!r}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_opens_with_a_report_section(path):
    nb = nbformat.read(str(path), as_version=4)
    assert section_of(nb.cells[0]) is not None, f"{path.name}: first cell must be a '# Title' heading of a section in helpers.sections.ORDER"


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_profiles_define_every_notebook_parameter(profile):
    params = load_profile(profile)
    for path in notebooks():
        for name in pm.inspect_notebook(str(path)):
            assert name == "profile" or name in params, f"{profile}.yaml lacks {name} ({path.name})"


def test_from_profile_fills_only_the_settings_left_as_none():
    full, smoke = load_profile("full"), load_profile("smoke")
    assert from_profile("full", cnn=None, training=None) == (full["cnn"], full["training"])
    assert from_profile("smoke", augmentation=None) == (smoke["augmentation"],)
    mine = {"filters": [8]}
    assert from_profile("full", cnn=mine, training=None) == (mine, full["training"])
    with pytest.raises(ValueError, match="seed: not a profile setting"):
        from_profile("full", seed=None)
    with pytest.raises(ValueError, match="unknown profile"):
        from_profile("nonexistent", cnn=None)


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_code_cell_is_introduced_by_a_sentence(path):
    """Notebooks read top to bottom: each code cell (but the parameters) follows a Markdown
    cell; intros that the PDF does not need are tagged "hide"."""
    cells = nbformat.read(str(path), as_version=4).cells
    bare = [i for i, cell in enumerate(cells)
            if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", [])
            and (i == 0 or cells[i - 1].cell_type != "markdown")]
    assert not bare, f"{path.name}: code cells {bare} have no sentence before them"


def test_from_profile_names_a_setting_the_profile_lacks(tmp_path, monkeypatch):
    import helpers.core.config as core_config

    (tmp_path / "bare.yaml").write_text("seed: 1\n")
    monkeypatch.setattr(core_config, "PROFILE_DIR", tmp_path)
    with pytest.raises(ValueError, match="profiles/bare.yaml has no cnn"):
        core_config.from_profile("bare", cnn=None)


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_section_headings_carry_no_number(path):
    """Numbers come from helpers.sections.ORDER only: a heading names its section by title."""
    nb = nbformat.read(str(path), as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            first = cell.source.lstrip().split("\n", 1)[0]
            assert not re.match(r"#\s+\d+\.", first), f"{path.name} cell {index}: {first!r} has a number"


def test_another_profile_inherits_the_full_profiles_settings(tmp_path, monkeypatch):
    import helpers.core.config as core_config

    (tmp_path / "full.yaml").write_text("seed: 42\nepochs_of_a_new_question: 20\n")
    (tmp_path / "quick.yaml").write_text("seed: 1\n")
    monkeypatch.setattr(core_config, "PROFILE_DIR", tmp_path)
    assert core_config.load_profile("quick") == {"seed": 1, "epochs_of_a_new_question": 20}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_strip_clears_a_notebook_saved_after_a_run(tmp_path):
    saved = tmp_path / "notebooks" / "01_x.ipynb"
    saved.parent.mkdir()
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(saved))
    planned = subprocess.run(["make", "-n", "--no-print-directory", "strip"], capture_output=True,
                             text=True, cwd=PROJECT_ROOT, check=True).stdout
    command = next(line for line in planned.splitlines() if "nbconvert --clear-output" in line)
    command = command.replace("notebooks/*.ipynb", str(saved))
    subprocess.run(command, shell=True, check=True, cwd=PROJECT_ROOT, capture_output=True)
    cleared = nbformat.read(str(saved), as_version=4).cells[0]
    assert cleared.outputs == [] and cleared.execution_count is None and cleared.source == "print(1)"


def test_a_relative_path_resolves_from_the_project_or_beside_the_notebooks(tmp_path, monkeypatch):
    import helpers.core.config as core_config

    monkeypatch.setattr(core_config, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(core_config, "NOTEBOOK_DIR", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "my_photo.jpg").write_bytes(b"x")
    (tmp_path / "data").mkdir()
    assert core_config.resolve("my_photo.jpg") == tmp_path / "notebooks" / "my_photo.jpg"
    assert core_config.resolve("data") == tmp_path / "data"
    assert core_config.resolve("report") == tmp_path / "report"  # to be written: from the project


@pytest.mark.pipeline
def test_a_notebook_run_in_the_lab_writes_build_lab_and_leaves_report_alone(fer2013_dir, tmp_path):
    """Run All as JupyterLab does: no papermill parameters (the user edits data_dir in the
    parameters cell), outputs saved in the notebook."""
    from nbclient import NotebookClient

    report = PROJECT_ROOT / "report"
    before = {p.name: p.read_bytes() for p in report.iterdir() if p.is_file()}
    nb = nbformat.read(str(NOTEBOOK_DIR / "04_confusion_matrix.ipynb"), as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace("data_dir: str = 'data'", f"data_dir: str = {str(fer2013_dir)!r}")
    lab = PROJECT_ROOT / "build" / "lab"
    shutil.rmtree(lab, ignore_errors=True)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Results of this run go to build/lab/" in text
    assert (lab / "results.json").exists()
    assert {p.name: p.read_bytes() for p in report.iterdir() if p.is_file()} == before


def test_a_users_mistake_is_one_line_in_a_notebook_and_still_fails_it(tmp_path):
    """A ValueError from the helpers (a bad setting) shows its message, not the engine's frames;
    papermill still reports the failed cell, so make report stops there."""
    import papermill as pm

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from helpers.sections import display as nbh\nnbh.setup()"),
        nbformat.v4.new_code_cell("def deep():\n    raise ValueError('ablation_epochs is 2: the shipped run is kept; run with RETRAIN=1')\n"
                                  "deep()"),
        nbformat.v4.new_code_cell("print('not reached')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, executed = tmp_path / "mistake.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, str(source))
    with pytest.raises(pm.PapermillExecutionError) as failed:
        pm.execute_notebook(str(source), str(executed), cwd=str(PROJECT_ROOT), progress_bar=False)
    assert failed.value.ename == "ValueError"
    code = [c for c in nbformat.read(str(executed), as_version=4).cells if c.cell_type == "code"]
    error = next(o for o in code[1].outputs if o.output_type == "error")
    assert error.traceback == ["ValueError: ablation_epochs is 2: the shipped run is kept; run with RETRAIN=1",
                               "(the full traceback: run %tb in a new cell)"]
    assert not code[2].outputs


def test_an_interrupt_in_a_notebook_says_how_to_resume():
    """Kernel > Interrupt during training: one line on what was kept and how to go on."""
    from IPython.core.interactiveshell import InteractiveShell

    from helpers.sections import display

    shown = []
    shell = InteractiveShell.instance()
    shell._showtraceback = lambda etype, value, stb: shown.append(stb)
    try:
        stb = display.user_error(shell, KeyboardInterrupt, KeyboardInterrupt(), None)
    finally:
        InteractiveShell.clear_instance()
    assert stb[0] == display.INTERRUPTED and "run the cell again to resume" in stb[0]
    assert shown == [stb]
