"""helpers.core.progress: bars on stdout when interactive, on stderr in a report run."""

import sys

from helpers.core import progress


def test_bars_go_to_stdout_interactively_and_to_stderr_in_a_report_run(monkeypatch, capsys):
    monkeypatch.delenv(progress.PIPELINE_RUN, raising=False)
    assert progress.progress_stream() is sys.stdout
    list(progress.progress_bar(range(3), desc="interactive"))
    out, err = capsys.readouterr()
    assert "interactive" in out and "interactive" not in err
    monkeypatch.setenv(progress.PIPELINE_RUN, "1")
    list(progress.progress_bar(range(3), desc="pipeline"))
    out, err = capsys.readouterr()
    assert "pipeline" in err and "pipeline" not in out
