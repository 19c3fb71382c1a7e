"""Progress bars with an ETA (tqdm's text bars) where the user looks for them.

In JupyterLab a bar on stderr shows in a pink box, like an error, so an interactive run (a
notebook or a terminal) draws on stdout. A `make report` run sets PIPELINE_RUN for its kernels:
there the bars go to stderr, which the pipeline keeps in its kernel log and out of the PDF.
"""

from __future__ import annotations

import os
import sys

PIPELINE_RUN = "FER_REPORT_PIPELINE"
"""Set (to 1) by helpers.pipeline.run for the notebook kernels it starts."""


def progress_stream():
    return sys.stderr if os.environ.get(PIPELINE_RUN) else sys.stdout


def progress_bar(iterable=None, **kwargs):
    """tqdm(iterable, **kwargs) on the stream for this kind of run (see the module's doc)."""
    from tqdm import tqdm

    return tqdm(iterable, file=progress_stream(), **kwargs)
