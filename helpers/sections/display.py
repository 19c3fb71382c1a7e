"""Small display helpers shared by the notebooks: plot style, tables and computed prose."""

from __future__ import annotations

import re
from pathlib import Path



def setup() -> None:
    """Plot style and display options for every notebook (call once, at the top)."""
    import matplotlib as mpl
    import pandas as pd
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid")
    # 90 dpi keeps every figure legible and the committed PDF small (the tracked tree stays
    # < 12 MB); images drawn pixel for pixel ("nearest") compress several times better in PNG
    # than smoothed ones and show the 48x48 faces as they are.
    mpl.rcParams.update({"figure.dpi": 90, "savefig.dpi": 150, "figure.autolayout": False,
                         "image.interpolation": "nearest"})
    pd.set_option("display.precision", 3)
    try:
        from IPython import get_ipython

        ipython = get_ipython()
        if ipython is not None:
            ipython.run_line_magic("matplotlib", "inline")
            ipython.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            ipython.set_custom_exc(USER_ERRORS, user_error)
    except ImportError:
        pass


USER_ERRORS = (ValueError, FileNotFoundError, KeyboardInterrupt)
"""What the helpers raise for a user's mistake (a bad setting, missing data or run), and Kernel >
Interrupt: a notebook shows its message, not the frames of the code that found it."""

INTERRUPTED = ("Interrupted (Kernel > Interrupt). A training run keeps its finished epochs: run the "
               "cell again to resume it.")


def user_error(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's handler for USER_ERRORS: shows the message in one line and how to see the rest,
    as the cell's error output (IPython ignores what a handler returns), so the cell still fails
    and papermill and Run All stop there."""
    first = INTERRUPTED if issubclass(etype, KeyboardInterrupt) else f"{etype.__name__}: {value}"
    stb = [first, "(the full traceback: run %tb in a new cell)"]
    shell._showtraceback(etype, value, stb)
    return stb


def table(frame, floatfmt: str = ".3f", index: bool = False):
    """Show a DataFrame as a Markdown table (renders cleanly in JupyterLab and in the PDF)."""
    from IPython.display import Markdown

    return Markdown(column_widths(frame.to_markdown(index=index, floatfmt=floatfmt)))


def column_widths(text: str, slack: int = 3) -> str:
    """A Markdown table whose separator gives each column as many dashes as its longest cell or
    its header's longest word, plus `slack`. Pandoc sizes a wide table's columns by these dashes:
    a long header (which wraps) no longer takes the width a short cell such as '63.7-67.2%' or
    'Grad-CAM' needs on one line."""
    lines = text.split("\n")
    if len(lines) < 3 or not set(lines[1]) <= set("|:- "):
        return text
    split = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, rule, body = split[0], split[1], split[2:]
    widths = [max([len(w) for w in header[i].split()] + [len(row[i]) for row in body if i < len(row)] + [1])
              + slack for i in range(len(rule))]
    cells = [(":" if r.startswith(":") else "-") + "-" * (w - 2) + (":" if r.endswith(":") else "-")
             for r, w in zip(rule, widths)]
    return "\n".join([lines[0], "|" + "|".join(cells) + "|", *lines[2:]])


def md(text: str):
    """Show computed prose as Markdown (list_breaks: a list is a list in the PDF too)."""
    from IPython.display import Markdown

    return Markdown(list_breaks(text))


def list_breaks(text: str) -> str:
    """A blank line before a bullet list that follows a paragraph line. JupyterLab starts the list
    either way, but pandoc (the PDF) runs it into the paragraph as "... . - item" without one."""
    return re.sub(r"(?m)^((?![-*] ).*\S.*)\n(?=[-*] )", r"\1\n\n", text)


LAB_OUTPUT = "build/lab"
"""Where a notebook run by hand (JupyterLab) writes its results: only `make report` writes report/."""


def say_where_results_go(output) -> None:
    """In an interactive run (the lab default output_dir), say where results.json and the
    figures go; a pipeline run passes its own folder and prints nothing (the PDF stays clean)."""
    from helpers.core.config import PROJECT_ROOT

    output = Path(output)
    if output.resolve() == (PROJECT_ROOT / LAB_OUTPUT).resolve():
        print(f"Results of this run go to {LAB_OUTPUT}/ (results.json, figures); report/ changes "
              "only with a complete `make report`.")
