"""No number written into the report's prose by hand.

The strict reads of the PDF found sentences that contradicted the run they describe: the DNN
"with dropout" when its run had none, "section 4's run (c)" beside the main CNN's accuracy,
three ensemble members where two were used, "95%" and "5% level" typed where the level is a
setting. What let them through: a sentence written against one run's settings instead of read
from the run shown. Every number in a sentence of helpers/sections must therefore come from
the results or from a named constant; a digit typed into a string literal there fails this
test unless it is listed below with the reason it cannot change with the run.
"""

from __future__ import annotations

import ast
import re

from helpers.core.config import PROJECT_ROOT

SECTIONS = PROJECT_ROOT / "helpers" / "sections"

ALLOWED = {
    # facts of the dataset and of the homework, not settings of a run
    "FER2013": "the dataset's name",
    "0..255": "the range of an 8-bit gray level",
    "0..255)": "the range of an 8-bit gray level",
    "0..255).": "the range of an 8-bit gray level",
    "255": "the largest 8-bit gray level",
    # notation and names
    "(lag-1": "the name of a statistic (autocorrelation at a shift of one pixel)",
    "top10_mass": "a results.json key",
    "2018;": "a citation year (Adebayo et al. 2018)",
    "Conv2D": "a Keras layer class name",
    "MaxPooling2D": "a Keras layer class name",
    "float32": "a number format",
    "float16": "a number format",
    "bfloat16": "a number format",
    "mixed_bfloat16": "a Keras precision policy name",
    "tab10": "a matplotlib color map",
    "#e8f0fb": "a color",
    "#4a78b5": "a color",
    "round,pad=0.3": "a matplotlib box style",
    "RETRAIN=1).": "a command-line option (make train RETRAIN=1)",
    "2x2": "the pooling size of every block (build_cnn has no other)",
    "0-": "the first filter index of a figure title ('filters 0-7')",
    "1x),": "a ratio's neutral value (a map spread evenly)",
    "10%": "the top-10% concentration statistic, named by its results.json key top10_mass",
    "10%).": "the top-10% concentration statistic, named by its results.json key top10_mass",
    "1/": "'at most 1/N of the field': the N is computed",
    "0": "mathematical zero (a mean of 0, 'about 0 for ...', 'is 0 everywhere')",
    "0,": "mathematical zero",
    "0),": "mathematical zero ('its run's dropout is 0')",
    "0).*": "mathematical zero ('adversarial_images = 0')",
    "1": "mathematical one (a cosine of 1, a standard deviation of 1)",
    "1)": "mathematical one",
    "\\par\\ifdim\\dimexpr\\pagegoal-\\pagetotal<0.3\\textheight\\newpage\\fi": "LaTeX layout",
    "\\begingroup\\footnotesize\\renewcommand{\\arraystretch}{1.1}": "LaTeX layout",
    "\\n{3,}": "a regular expression",
    "\\1\\n\\n": "a regular expression's replacement (display.list_breaks)",
}
"""Tokens with a digit that may appear in a string literal of helpers/sections, and why."""

FORMAT_SPEC = re.compile(r"^[,+]?\.\d+[fg%]$")
PUBLISHED = "REFERENCES"
"""helpers.sections.answers' table of published results (HOMEWORK.md): fixed numbers, quoted."""


def skipped(tree: ast.AST) -> set[int]:
    """Bare strings (docstrings) and the constants of the published-results table."""
    found = set()
    for node in ast.walk(tree):
        # A bare string statement (a docstring, or one under a constant) is never shown.
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.add(id(node.value))
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == PUBLISHED for t in targets):
            found |= {id(c) for c in ast.walk(node) if isinstance(c, ast.Constant)}
    return found


def literal_numbers(source: str) -> list[tuple[int, str]]:
    """(line, token) for every whitespace-separated token with a digit in a string literal
    (docstrings, format specs and the published-results table left out)."""
    tree = ast.parse(source)
    skip = skipped(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for token in re.findall(r"\S*\d\S*", node.value):
                if not FORMAT_SPEC.match(token):
                    found.append((node.lineno, token))
    return found


def test_the_checker_finds_a_typed_number_and_skips_formats_docstrings_and_published_results():
    source = ('def f(p):\n    """Docstring with 95% in it."""\n'
              '    return f"{p:.2g} at the 5% level, {p:+.1f} points, DNN without dropout"\n'
              'REFERENCES = [("winner", 0.7116, "71.16%")]\n')
    assert literal_numbers(source) == [(3, "5%")]


def test_no_sentence_of_the_report_types_a_number_of_the_run():
    unexplained = []
    for path in sorted(SECTIONS.glob("*.py")):
        for line, token in literal_numbers(path.read_text()):
            if not ALLOWED.get(token):
                unexplained.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: {token!r}")
    assert not unexplained, ("numbers typed into the report's prose; read them from the run or a "
                             "named constant (or explain them in ALLOWED):\n" + "\n".join(unexplained))


def test_the_allowlist_has_no_stale_entry():
    seen = set()
    for path in SECTIONS.glob("*.py"):
        seen |= {token for _, token in literal_numbers(path.read_text())}
    stale = {token for token, why in ALLOWED.items() if why and token not in seen}
    assert not stale, f"ALLOWED lists tokens no sentence uses any more: {sorted(stale)}"
