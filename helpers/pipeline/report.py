"""Merge the executed notebooks into one report notebook, one section per homework question,
and export it to PDF with nbconvert (code hidden).

Each notebook opens its part with a level-1 heading that is a section's title, such as
``# CNN`` (helpers.sections.ORDER gives the titles and the numbers the PDF shows). A
notebook may contribute to several sections and several notebooks to one section (the "further" section
gathers the extra analyses): cells are grouped by section and the sections are put in the order
of helpers.sections.ORDER, each heading shown once.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path

import nbformat

from helpers.core.config import PROJECT_ROOT
from helpers.core.results import atomic_path, read_json
from helpers.pipeline.plan import compute_words
from helpers.sections import numbered_titles
from helpers.sections.answers import anchor, answers_markdown, end_label, field_markdown

SECTIONS = numbered_titles()
"""{number: title} of the report's sections (their order is helpers.sections.ORDER)."""

HEADING = re.compile(r"^#\s+(?:(\d+)\.\s+)?(.+?)\s*$")


TITLE = "Facial expression recognition on FER2013"


SKIP_TAGS = {"parameters", "injected-parameters", "hide"}


TEMPLATE_DIR = PROJECT_ROOT / "report" / "template"


MISSING = "*This run produced nothing for this question (see the issue tracker).*"


def section_of(cell) -> int | None:
    """The section a cell opens, if its first line is a level-1 heading of a known section."""
    if cell.cell_type != "markdown":
        return None
    first = cell.source.lstrip().split("\n", 1)[0]
    match = HEADING.match(first)
    if not match:
        return None
    _, title = match.groups()  # a number in the heading is ignored: the title decides
    for key, name in SECTIONS.items():
        if title.lower() == name.lower():
            return key
    return None


def heading(section: int) -> str:
    name = SECTIONS[section]
    return f"# {section}. {name}" if section else f"# {name}"


def clean_cell(cell):
    """A copy of the cell fit for the PDF: no stderr, no outputs where tagged hide_output."""
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        if "hide_output" in cell.metadata.get("tags", []):
            cell.outputs = []
        else:
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.get("name") == "stderr")]
    return cell


def group_sections(notebook_nodes) -> dict[int, list]:
    """Cells of all notebooks grouped by section; each section's heading cell comes first."""
    sections: dict[int, list] = {key: [] for key in SECTIONS}
    for nb in notebook_nodes:
        current, pending = None, []
        for cell in nb.cells:
            if SKIP_TAGS & set(cell.metadata.get("tags", [])):
                continue
            section = section_of(cell)
            if section is not None:
                current = section
                rest = cell.source.lstrip().split("\n", 1)
                body = rest[1].strip() if len(rest) > 1 else ""
                if not sections[section]:
                    sections[section].append(nbformat.v4.new_markdown_cell(heading(section)))
                if body:
                    sections[section].append(nbformat.v4.new_markdown_cell(body))
                sections[section].extend(pending)
                pending = []
                continue
            if current is None:
                pending.append(clean_cell(cell))  # set-up cells before the first heading
            else:
                sections[current].append(clean_cell(cell))
    return sections


PROFILE_WORDS = {
    "smoke": " (a quick smoke test on a subset: numbers are NOT the real results)",
    "full": ": the complete report, every model trained for its full number of epochs",
}
"""What each profile (profiles/*.yaml) means to a reader of the title page."""


def thousands(value) -> str:
    """28709 -> '28,709' as the report writes counts; anything else ('?') as it is."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def run_info_cell(results: dict):
    """The title page's table: what produced this report."""
    run = results.get("run", {})
    runtime = run.get("runtime", {})
    checksum = run.get("data_checksum", "?")
    libraries = ", ".join(f"{k} {runtime[k]}" for k in ("keras", "tensorflow", "jax", "python")
                          if k in runtime)
    test_rows = run.get("test_rows", "?")
    tests = ("no test images (no leaderboard submission)" if test_rows == 0 else
             f"{thousands(test_rows)} test images")
    rows = [
        ("Run", f"**{run.get('profile', 'unknown')}**" + PROFILE_WORDS.get(run.get("profile"), "")),
        ("Data", f"{run.get('data_format', '?')}, {thousands(run.get('train_rows', '?'))} training rows "
                 f"used, {tests}"),
        ("Data checksum (sha256)", " ".join(f"`{checksum[i:i + 32]}`" for i in range(0, len(checksum), 32))
         + " of the decoded faces and labels, not of a file (the same for plain or gzipped files; "
           "`python -m helpers.data DATA_DIR` prints it)"),
        ("Report built on", f"{runtime.get('processor', '?')}, {runtime.get('cpu_count', '?')} CPU "
                            f"cores, accelerator: {runtime.get('accelerator', 'none')}"),
        ("Backend and libraries", f"Keras backend {runtime.get('backend', '?')}; {libraries}"),
        ("Training compute", compute_words(results.get("compute", {}))),
        ("Notebooks executed", run.get("started", "?")),
        ("PDF built", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    # A narrow first column and small type keep the title page to one page, so that the answer
    # sheet after it opens page 2 (the dashes set pandoc's column widths).
    text = ("\\begingroup\\small\n\n| | |\n|-----|--------------|\n"
            + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n\n\\endgroup")
    text += ("\n\nSections 1 and 2 state where and how the main CNN and the DNN were trained; the other "
             "models' sections say how their training differs. Every number "
             "and every sentence of analysis in this report is computed by the build that made it, from the "
             "data and the trained models (trained by this build or earlier and reloaded; the reference "
             "points come from the homework and published work).")
    return nbformat.v4.new_markdown_cell(text)


def front_cell(results: dict, anchors=None):
    """The report's opening: the title page's table (run_info_cell), then, from a new page, the
    answer sheet (one row per homework question, the page of its section, or of its subsection
    among `anchors`, the labels of the report's headings) and where this run stands among the
    homework's reference points (helpers.sections.answers)."""
    cell = run_info_cell(results)
    cell.source += "\n\n" + answers_markdown(results, anchors=anchors) + "\n\n" + field_markdown(results)
    return cell


def heading_anchors(cells) -> set[str]:
    """The labels pandoc gives the Markdown headings of these cells (helpers.sections.answers.anchor)."""
    return {anchor(line.lstrip("#").strip()) for cell in cells if cell.cell_type == "markdown"
            for line in cell.source.split("\n") if line.startswith("#")}


TEXT_HEIGHT = 11 - 2 * 0.6
"""Inches of text a page of the report holds (letter paper, report/template's 0.6in margins)."""
LINE = 10 * 1.2 / 72
"""Inches of one line of 10pt text."""
LINE_CHARS = 105
"""About how many characters of 10pt text fill one line of the report's 7.3in text width."""


def image_height(data: str) -> float:
    """How tall a base64 PNG output prints, in inches: its own size (pixels over its dpi, as
    LaTeX reads it), shrunk to fit plotting.PRINT_WIDTH as the template's \\adjustimage does."""
    import base64
    import io

    from PIL import Image

    from helpers.core.plotting import PRINT_WIDTH

    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        dpi = image.info.get("dpi", (72, 72))
        width, height = image.width / float(dpi[0] or 72), image.height / float(dpi[1] or 72)
    return height * min(1.0, PRINT_WIDTH / width)


def text_height(text: str) -> float:
    """About how tall a piece of Markdown prints, in inches (wrapped lines, a gap per paragraph)."""
    lines = [line for line in text.split("\n") if line.strip()]
    paragraphs = text.count("\n\n") + 1
    return LINE * sum(1 + len(line) // LINE_CHARS for line in lines) + 0.08 * paragraphs


def keep_headings_with_figures(cells) -> list:
    """Cells where a heading followed by its figure (its introduction between them) starts a
    new page unless both fit: a raw LaTeX \\Needspace of their height goes before the heading.
    Without it LaTeX keeps the heading and its first lines at the foot of a page and moves the
    figure, which does not fit, to the next one."""
    cells = [copy.deepcopy(cell) for cell in cells]
    starts = [i for i, cell in enumerate(cells) if cell.cell_type == "markdown"
              and cell.source.lstrip().startswith("#")]
    for i in starts:
        height = 0.0
        for j, cell in enumerate(cells[i:], start=i):
            if j > i and j in starts:
                break
            if cell.cell_type == "markdown":
                height += text_height(cell.source) + 0.2  # a heading's own space
                continue
            found = None
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" in data:
                    found = height + image_height(data["image/png"]) + 0.15
                    break
                if "text/markdown" in data:
                    height += text_height(data["text/markdown"])
            if found is not None:
                # only a short introduction: a long one fills the page before the figure anyway
                if height <= 1.5 and found < 0.85 * TEXT_HEIGHT:
                    cells[i].source = (f"```{{=latex}}\n\\Needspace{{{found:.2f}in}}\n```\n\n"
                                       + cells[i].source)
                break
    return cells


def merge_notebooks(paths, results: dict):
    """One notebook: title table and answer sheet, then the sections in order (an honest note
    where empty)."""
    nodes = [nbformat.read(str(p), as_version=4) for p in paths]
    sections = group_sections(nodes)
    cells = []
    for key in SECTIONS:
        body = sections[key] or [nbformat.v4.new_markdown_cell(heading(key)),
                                 nbformat.v4.new_markdown_cell(MISSING)]
        cells.extend(body)
        # the answer sheet's evidence can end here, a page or more past the section's last heading
        cells.append(nbformat.v4.new_markdown_cell(f"```{{=latex}}\n\\label{{{end_label(SECTIONS[key])}}}\n```"))
    cells = [front_cell(results, heading_anchors(cells)), *keep_headings_with_figures(cells)]
    merged = nbformat.v4.new_notebook(cells=cells)
    merged.metadata.update(nodes[0].metadata if nodes else {})
    merged.metadata.pop("papermill", None)
    merged.metadata["title"] = TITLE
    merged.metadata["authors"] = [{"name": r"Homework report"}]
    merged.metadata["date"] = dt.date.today().isoformat()
    return merged


def build_pdf(executed_dir, pdf_path, results_path) -> Path:
    """Merge the executed notebooks of a run and write the PDF (and the merged .ipynb beside
    the executed notebooks, for inspection)."""
    from nbconvert import PDFExporter
    from traitlets.config import Config

    executed_dir, pdf_path = Path(executed_dir), Path(pdf_path)
    paths = sorted(executed_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no executed notebooks in {executed_dir}: run the notebooks first")
    merged = merge_notebooks(paths, read_json(results_path))
    nbformat.write(merged, str(executed_dir.parent / "report.ipynb"))

    config = Config()
    config.TemplateExporter.exclude_input = True
    config.TemplateExporter.exclude_input_prompt = True
    config.TemplateExporter.exclude_output_prompt = True
    config.TemplateExporter.extra_template_paths = [str(TEMPLATE_DIR)]
    config.PDFExporter.template_file = "fer_report.tex.j2"
    exporter = PDFExporter(config=config)
    from nbconvert.exporters.pdf import LatexFailed

    try:
        body, _ = exporter.from_notebook_node(merged, resources={"metadata": {"name": TITLE}})
    except LatexFailed as exc:
        log = executed_dir.parent / "latex.log"
        log.write_text(exc.output or "")
        raise OSError(f"LaTeX could not build the PDF; its log is in {log}") from None
    check_pdf(body, pdf_path)
    with atomic_path(pdf_path, suffix=".pdf") as tmp:
        tmp.write_bytes(body)
    check_pdf(pdf_path.read_bytes(), pdf_path)
    return pdf_path


def check_pdf(body: bytes, path: Path) -> None:
    """A PDF that is whole: the header, and the end-of-file marker in its last kilobyte
    (a truncated write, for instance on a full disk, has none)."""
    if not body.startswith(b"%PDF-") or b"%%EOF" not in body[-1024:]:
        raise OSError(f"{path}: the PDF is incomplete ({len(body):,} bytes, no end-of-file "
                      "marker); nothing was published")
