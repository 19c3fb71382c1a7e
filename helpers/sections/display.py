"""Small display helpers shared by the notebooks: plot style, tables and computed prose."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ chatter out of the report


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
    except ImportError:
        pass


def table(frame, floatfmt: str = ".3f", index: bool = False):
    """Show a DataFrame as a Markdown table (renders cleanly in JupyterLab and in the PDF)."""
    from IPython.display import Markdown

    return Markdown(frame.to_markdown(index=index, floatfmt=floatfmt))


def md(text: str):
    """Show computed prose as Markdown."""
    from IPython.display import Markdown

    return Markdown(text)
