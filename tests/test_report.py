"""Unit tests for helpers/report.py: sections, merging and the PDF export.

The notebooks are built in memory with nbformat; only the last test runs LaTeX (and is skipped
when xelatex, pandoc or pdftotext is missing).
"""

import json
import re
import shutil
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from helpers.pipeline.report import SECTIONS
from helpers.sections import number
from helpers.pipeline.report import (build_pdf, group_sections, heading, merge_notebooks, MISSING, run_info_cell, section_of, TITLE)
from helpers.sections.answers import NOT_PRODUCED, anchor, questions

CHECKSUM = "0123456789abcdef" * 4
CNN, CURVES, SEMI, FURTHER = (number(s) for s in ("cnn", "curves", "semi", "further"))
PRESENT = {0, CNN, CURVES, FURTHER}  # the sections the two test notebooks produce


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


def code(source, *outputs, tags=()):
    cell = new_code_cell(source, outputs=list(outputs), execution_count=1)
    return tagged(cell, *tags) if tags else cell


def stdout(text):
    return new_output("stream", name="stdout", text=text)


def stderr(text):
    return new_output("stream", name="stderr", text=text)


def display(text):
    return new_output("display_data", data={"text/plain": text, "text/markdown": f"**{text}**"})


def result(text):
    return new_output("execute_result", data={"text/plain": text}, execution_count=1)


def notebook_a():
    """Data, CNN and the first part of Further analysis."""
    nb = new_notebook(cells=[
        code("import setup_a", stdout("setup A out\n")),
        code("profile = 'full'", tags=("parameters",)),
        code("profile = 'smoke'", tags=("injected-parameters",)),
        new_markdown_cell("# Data\n\nIntro to the data."),
        code("show_data()", stdout("data stdout\n"), stderr("data stderr warning\n"),
             display("display A")),
        new_markdown_cell("## Classes\nLevel-2 headings stay in their section."),
        new_markdown_cell("# CNN"),
        code("train_cnn()", stdout("hidden output\n"), display("hidden display"),
             tags=("hide_output",)),
        code("secret()", stdout("hidden cell\n"), tags=("hide",)),
        new_markdown_cell("# Further analysis\nExtra A."),
        new_markdown_cell("Analysis A."),
    ])
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke"}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def notebook_b():
    """Training curves, and the second part of Further analysis."""
    return new_notebook(cells=[
        code("import setup_b", stdout("setup B out\n")),
        new_markdown_cell("# 3. Training curves\nCurves body."),  # a stray number: the title decides
        code("curves()", result("curves result")),
        new_markdown_cell("# Further analysis"),
        new_markdown_cell("Analysis B."),
        new_markdown_cell("#Data is not a heading (no space)"),
    ])


def sources(cells):
    return [cell.source for cell in cells]


# --------------------------------------------------------------------------- section_of


@pytest.mark.parametrize("source,expected", [
    ("# Data", 0),
    ("# data", 0),
    ("# 0. Data", 0),
    ("# CNN", CNN),
    ("# DNN\n\nSome text.", number("dnn")),
    ("# 3. Training curves", CURVES),
    ("# 7. Training curves", CURVES),  # the title decides, whatever number a heading carries
    ("# Training curves", CURVES),
    ("#   Training curves   ", CURVES),
    ("\n\n# Semi-supervised learning", SEMI),
    ("# Further analysis", FURTHER),
    ("# Further Analysis", FURTHER),
])
def test_section_of_recognises_level_1_headings(source, expected):
    assert section_of(new_markdown_cell(source)) == expected


@pytest.mark.parametrize("source", [
    "## 1. CNN",
    "## Data",
    "### 9. Further analysis",
    "# 10. Extra",
    "# 5. Anything at all",
    "# Introduction",
    "#Data",
    "Data",
    "Some text\n# 1. CNN",
    "",
])
def test_section_of_ignores_other_markdown(source):
    assert section_of(new_markdown_cell(source)) is None


def test_section_of_ignores_code_and_raw_cells():
    assert section_of(new_code_cell("# 1. CNN")) is None
    assert section_of(new_raw_cell("# Data")) is None


def test_heading():
    assert heading(0) == "# Data"
    assert heading(CNN) == f"# {CNN}. CNN"
    assert heading(FURTHER) == f"# {FURTHER}. Further analysis"
    assert all(section_of(new_markdown_cell(heading(k))) == k for k in SECTIONS)


# --------------------------------------------------------------------------- group_sections


@pytest.fixture
def grouped():
    return group_sections([notebook_a(), notebook_b()])


def test_group_sections_keys_follow_config_order(grouped):
    assert list(grouped) == list(SECTIONS)
    assert {k for k, cells in grouped.items() if cells} == PRESENT


def test_group_sections_data_section(grouped):
    cells = grouped[0]
    assert sources(cells) == ["# Data", "Intro to the data.", "import setup_a", "show_data()",
                              "## Classes\nLevel-2 headings stay in their section."]
    # set-up cells before the first heading go with that first section, after its heading
    assert cells[2].outputs[0]["text"] == "setup A out\n"
    shown = cells[3].outputs
    assert [o.output_type for o in shown] == ["stream", "display_data"]  # stderr removed
    assert shown[0]["name"] == "stdout" and shown[0]["text"] == "data stdout\n"
    assert shown[1]["data"]["text/plain"] == "display A"


def test_group_sections_hide_output_keeps_the_cell_without_outputs(grouped):
    assert sources(grouped[CNN]) == [heading(CNN), "train_cnn()"]
    assert grouped[CNN][1].outputs == []


def test_group_sections_cells_before_first_heading_of_second_notebook(grouped):
    cells = grouped[CURVES]
    assert sources(cells) == [heading(CURVES), "Curves body.", "import setup_b",
                              "curves()"]
    assert cells[3].outputs[0]["data"]["text/plain"] == "curves result"


def test_group_sections_merges_section_9_under_one_heading(grouped):
    assert sources(grouped[FURTHER]) == [heading(FURTHER), "Extra A.", "Analysis A.",
                                   "Analysis B.", "#Data is not a heading (no space)"]


def test_group_sections_order_of_notebooks_only_orders_within_a_section():
    grouped = group_sections([notebook_b(), notebook_a()])
    assert list(grouped) == list(SECTIONS)
    assert sources(grouped[FURTHER]) == [heading(FURTHER), "Analysis B.",
                                   "#Data is not a heading (no space)", "Extra A.",
                                   "Analysis A."]
    assert sources(grouped[0])[:3] == ["# Data", "Intro to the data.", "import setup_a"]


def test_group_sections_drops_parameters_injected_and_hidden_cells(grouped):
    every = [cell.source for cells in grouped.values() for cell in cells]
    for dropped in ("profile = 'full'", "profile = 'smoke'", "secret()"):
        assert dropped not in every
    texts = json.dumps([nbformat.from_dict(c) for cells in grouped.values() for c in cells])
    for hidden in ("hidden cell", "hidden output", "hidden display", "data stderr warning"):
        assert hidden not in texts


def test_group_sections_leaves_the_input_notebooks_unchanged():
    a, b = notebook_a(), notebook_b()
    before = json.dumps([a, b], sort_keys=True)
    group_sections([a, b])
    assert json.dumps([a, b], sort_keys=True) == before


def test_group_sections_heading_of_a_tagged_hide_cell_is_dropped():
    nb = new_notebook(cells=[new_markdown_cell("# Data\nx"),
                             tagged(new_markdown_cell("# CNN"), "hide"),
                             new_markdown_cell("still data")])
    grouped = group_sections([nb])
    assert sources(grouped[0]) == ["# Data", "x", "still data"]
    assert grouped[CNN] == []


# --------------------------------------------------------------------------- merge_notebooks


RESULTS = {"run": {"profile": "smoke", "data_checksum": CHECKSUM, "data_format": "course CSV",
                   "train_rows": 700, "test_rows": 70, "started": "2026-01-02 03:04",
                   "runtime": {"backend": "tensorflow", "keras": "3.15.1",
                               "tensorflow": "2.21.0", "python": "3.11.0", "cpu_count": 2,
                               "processor": "x86_64", "accelerator": "none"}}}


@pytest.fixture
def paths(tmp_path):
    a, b = tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"
    nbformat.write(notebook_a(), str(a))
    nbformat.write(notebook_b(), str(b))
    return [a, b]


def test_merge_puts_the_run_info_first(paths):
    merged = merge_notebooks(paths, RESULTS)
    info = merged.cells[0]
    assert info.cell_type == "markdown"
    assert section_of(info) is None
    assert "| Run | **smoke** (a quick smoke test on a subset: numbers are NOT the real " \
           "results) |" in info.source
    assert f"`{CHECKSUM[:32]}` `{CHECKSUM[32:]}` of the decoded faces and labels, not of a file" in info.source
    assert "course CSV, 700 training rows used, 70 test images" in info.source
    assert "28,709 training rows" in run_info_cell({"run": {"train_rows": 28709, "test_rows": 7178}}).source
    assert "keras 3.15.1, tensorflow 2.21.0, python 3.11.0" in info.source
    assert "| Notebooks executed | 2026-01-02 03:04 |" in info.source
    assert merged.cells[1].source == "# Data"


def test_run_info_for_a_full_run_has_no_smoke_warning():
    results = json.loads(json.dumps(RESULTS))
    results["run"]["profile"] = "full"
    text = run_info_cell(results).source
    assert "| Run | **full**: the complete report, every model trained for its full number of epochs |" in text
    assert "smoke" not in text and "NOT the real results" not in text


def test_run_info_without_results():
    text = run_info_cell({}).source
    assert "**unknown**" in text
    assert "`?`" in text  # no checksum


def test_merge_opens_with_the_answer_sheet_and_the_field_after_the_run_info(paths):
    text = merge_notebooks(paths, RESULTS).cells[0].source
    info, sheet, field = (text.index("| Run |"), text.index("\\newpage\n\n# Answers at a glance"),
                          text.index("# Where this stands in the field"))
    assert info < sheet < field
    assert text.count(NOT_PRODUCED) == len(questions())  # RESULTS has the run only
    assert "| Data | *Not produced in this run.* | Data, \\evidencepages{data}{end-data} |" in text
    assert "| **This run" not in text and "as the course homework lists them" in text
    assert text.startswith(run_info_cell(RESULTS).source.split("| PDF built |")[0])


def test_every_page_reference_of_the_sheet_is_a_label_of_the_merged_report(paths):
    """pandoc (nbconvert's Markdown to LaTeX, no LaTeX run) labels each section heading with the
    identifier helpers.sections.answers.anchor gives its title, and no other heading of the
    notebooks takes the same identifier. A row whose subsection the report has points to it;
    one whose subsection is missing (this merge has only some notebooks) to its section."""
    from nbconvert import LatexExporter

    if not shutil.which("pandoc"):
        pytest.skip("needs pandoc")
    merged = merge_notebooks(paths, RESULTS)
    latex, _ = LatexExporter().from_notebook_node(merged)
    labels = re.findall(r"\\label\{([^}]*)\}", latex)
    # \pageref{a}, or the template's \evidencepages{a}{b} for a row with two headings
    references = {label for pair in re.findall(r"\\(?:pageref|evidencepages)\{([^}]*)\}(?:\{([^}]*)\})?", latex)
                  for label in pair if label}
    from helpers.sections import title
    from helpers.sections.answers import end_label, subsection_headings

    present = {anchor(h) for h in subsection_headings()} & set(labels)
    expected = {anchor(name) for name in SECTIONS.values()} | present | {end_label(title("data"))}
    if "ensemble-of-cnns" in present:
        expected.add(end_label(title("further")))  # the ensemble's evidence runs to the report's end
    if present == {anchor(h) for h in subsection_headings()}:
        expected.discard(anchor(SECTIONS["further"]))  # every row of section 9 has its own page
    assert references == expected
    assert all(labels.count(ref) == 1 for ref in references), labels


def test_no_notebook_heading_takes_a_sections_page_label():
    """A second heading with a section's identifier would be a second LaTeX label of that name
    (pandoc converts each cell alone): the sheet's page number could point to it."""
    from helpers.core.config import PROJECT_ROOT

    own = {anchor(name) for name in SECTIONS.values()}
    clashes = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type != "markdown" or section_of(cell) is not None:
                continue  # a section's own heading: merged into one
            for line in cell.source.split("\n"):
                if line.startswith("#") and anchor(line.lstrip("#").strip()) in own:
                    clashes.append(f"{path.name}: {line}")
    assert not clashes, clashes


def test_merge_shows_every_section_once_in_order(paths):
    merged = merge_notebooks(paths, RESULTS)
    headings = [cell.source for cell in merged.cells if section_of(cell) is not None]
    assert headings == [heading(k) for k in SECTIONS]


def test_merge_marks_missing_sections(paths):
    merged = merge_notebooks(paths, RESULTS)
    cells = merged.cells
    for i, cell in enumerate(cells):
        section = section_of(cell)
        if section is None:
            continue
        missing = i + 1 < len(cells) and cells[i + 1].source == MISSING
        assert missing == (section not in PRESENT), heading(section)
    assert sum(cell.source == MISSING for cell in cells) == len(SECTIONS) - len(PRESENT)


def test_merged_notebook_content_and_metadata(paths):
    merged = merge_notebooks(paths, RESULTS)
    nbformat.validate(merged)
    assert merged.metadata["title"] == TITLE
    assert "papermill" not in merged.metadata
    assert merged.metadata["kernelspec"]["name"] == "python3"
    assert sources(merged.cells[1:6]) == ["# Data", "Intro to the data.", "import setup_a",
                                          "show_data()", "## Classes\nLevel-2 headings stay "
                                          "in their section."]
    every = [cell.source for cell in merged.cells]
    assert "profile = 'full'" not in every and "secret()" not in every
    assert every.count(heading(FURTHER)) == 1


def test_build_pdf_needs_executed_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="no executed notebooks"):
        build_pdf(tmp_path, tmp_path / "report.pdf", tmp_path / "results.json")
    nbformat.write(notebook_a(), str(tmp_path / "report.ipynb"))  # not a numbered notebook
    with pytest.raises(FileNotFoundError):
        build_pdf(tmp_path, tmp_path / "report.pdf", tmp_path / "results.json")
    assert not (tmp_path / "report.pdf").exists()


# --------------------------------------------------------------------------- end to end


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("xelatex", "pandoc", "pdftotext")),
                    reason="needs xelatex, pandoc and pdftotext")
def test_build_pdf_end_to_end(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(notebook_a(), str(executed / "01_a.ipynb"))
    nbformat.write(notebook_b(), str(executed / "02_b.ipynb"))
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    pdf = build_pdf(executed, tmp_path / "out" / "report.pdf", results)

    assert pdf == tmp_path / "out" / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "report.ipynb").exists()  # the merged notebook, for inspection
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    words = " ".join(text.split())
    for key, name in SECTIONS.items():
        title = f"{key}. {name}" if key else name
        assert title in words, title
    assert "Data" in words
    assert TITLE in words
    assert "smoke" in words
    assert words.count(" ".join(MISSING.strip("*").split())) == len(SECTIONS) - len(PRESENT)
    assert "data stdout" in words and "Analysis A." in words and "Analysis B." in words
    for hidden in ("hidden output", "hidden cell", "data stderr warning", "show_data()"):
        assert hidden not in words  # code is not shown, nor hidden outputs

    # the answer sheet opens page 2, and its page references resolve to the sections' pages
    page = lambda n: subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout
    assert "Answers at a glance" in page(2) and "Notebooks executed" not in page(2)
    assert "??" not in words
    data_page = int(re.search(r"produced in this run\. Data, p\. (\d+)", words).group(1))
    assert "Intro to the data." in page(data_page)
    assert "Where this stands in the field" in words
    assert "Where this stands in the field" in page(1)  # in the contents, as a section


def test_run_info_without_test_images_says_so():
    results = json.loads(json.dumps(RESULTS))
    results["run"]["test_rows"] = 0
    text = run_info_cell(results).source
    assert "course CSV, 700 training rows used, no test images (no leaderboard submission)" in text


def png_output(width_px: int, height_px: int, dpi: int = 90):
    """A display_data output holding a blank PNG of that size and resolution."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width_px, height_px), 255).save(buffer, format="PNG", dpi=(dpi, dpi))
    return new_output("display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode()})


def test_a_heading_is_kept_with_its_figure():
    """A heading, a line of introduction and a figure: a \\Needspace of their height goes before
    the heading (else LaTeX leaves the heading at the foot of a page and moves the figure);
    nothing when a long text fills the page before the figure, or when the next heading comes
    first."""
    from helpers.pipeline.report import image_height, keep_headings_with_figures

    figure = png_output(450, 270)                        # 5 x 3 inches at 90 dpi
    assert image_height(figure["data"]["image/png"]) == pytest.approx(3.0, abs=0.02)
    wide = png_output(900, 270)                          # 10 inches: shrunk to the print width
    from helpers.core.plotting import PRINT_WIDTH
    assert image_height(wide["data"]["image/png"]) == pytest.approx(3.0 * PRINT_WIDTH / 10, abs=0.02)
    cells = [new_markdown_cell("## Sample faces\n\nRandom faces of each class."), code("show()", figure),
             new_markdown_cell("## Next\n\nOnly text."), code("x = 1"),
             new_markdown_cell("## Long\n\n" + "word " * 600), code("show()", figure)]
    kept = keep_headings_with_figures(cells)
    space = re.match(r"```\{=latex\}\n\\Needspace\{([\d.]+)in\}\n```\n\n## Sample faces", kept[0].source)
    assert space and 3.4 < float(space.group(1)) < 4.0
    assert kept[2].source == cells[2].source and kept[4].source == cells[4].source
    assert cells[0].source.startswith("## Sample faces")  # the input cells are left as they were


def test_table_columns_are_as_wide_as_their_cells_not_their_long_headers():
    import pandas as pd
    from helpers.sections.display import column_widths, table

    frame = pd.DataFrame({"variant": ["(a) neither"], "95% interval": ["63.7-67.2%"],
                          "last epoch: validation (one view)": ["63.7%"]})
    rule = column_widths(frame.to_markdown(index=False)).split("\n")[1]
    # each column: its longest cell or header word, plus 3 (alignment colons kept)
    assert [len(c) for c in rule.strip("|").split("|")] == [14, 13, 13] and rule.startswith("|:-")
    assert table(frame).data.split("\n")[1] == rule
    assert column_widths("no table here") == "no table here"


def test_the_template_puts_no_empty_line_under_a_figure():
    """nbconvert's figure ends with an empty line ({ \\hspace*{\\fill} \\\\}); summed over the
    report's figures it pushed the PDF past 20 pages. The report's template draws the figure
    alone."""
    from nbconvert import LatexExporter
    from traitlets.config import Config

    from helpers.pipeline.report import TEMPLATE_DIR

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    cell = nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data={"image/png": png})])
    config = Config()
    config.TemplateExporter.extra_template_paths = [str(TEMPLATE_DIR)]
    config.LatexExporter.template_file = "fer_report.tex.j2"
    latex, _ = LatexExporter(config=config).from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    assert latex.count("\\adjustimage{max size={0.9\\linewidth}{0.9\\paperheight}}") == 1
    assert "\\hspace*{\\fill} \\\\}" not in latex
    plain, _ = LatexExporter().from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    assert "\\hspace*{\\fill} \\\\}" in plain   # what nbconvert's own template does
