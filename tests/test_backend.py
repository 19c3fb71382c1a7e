"""helpers.backend: Keras and TensorFlow import without start-up lines on stderr."""

import os
import subprocess
import sys

from helpers.config import PROJECT_ROOT


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_importing_the_training_engine_prints_nothing():
    done = run_python("import helpers.training, helpers.analysis, helpers.filters;"
                      "helpers.training.runtime_info(); print('ok')")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert done.stderr == ""


def test_errors_after_the_import_still_reach_stderr():
    done = run_python("import helpers.backend, os; os.write(2, b'native\\n');"
                      "import sys; print('python', file=sys.stderr)")
    assert done.returncode == 0
    assert done.stderr == "native\npython\n"
