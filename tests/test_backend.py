"""helpers.modeling.backend: Keras and TensorFlow import without start-up lines on stderr."""

import os
import subprocess
import sys

from helpers.core.config import PROJECT_ROOT


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_importing_the_training_engine_prints_nothing():
    done = run_python("import helpers.modeling.engine, helpers.analysis.saliency, helpers.analysis.ascent,"
                      " helpers.analysis.adversarial, helpers.analysis.filters, helpers.sections.saliency;"
                      "helpers.modeling.store.runtime_info(); print('ok')")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert done.stderr == ""


def test_errors_after_the_import_still_reach_stderr():
    done = run_python("import helpers.modeling.backend, os; os.write(2, b'native\\n');"
                      "import sys; print('python', file=sys.stderr)")
    assert done.returncode == 0
    assert done.stderr == "native\npython\n"


def test_training_and_predicting_print_only_the_progress_lines(tmp_path):
    """No TensorFlow log lines (e.g. tf.data graph warnings) from a whole run, as a notebook or
    the terminal would show it: stdout has the epoch lines, stderr nothing."""
    code = f"""
import numpy as np
from helpers.modeling.models import build_cnn
from helpers.modeling.engine import fit_or_load, TrainingData
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (1200, 48, 48, 1)).astype(np.float32)
y = rng.integers(0, 7, 1200)
build = lambda: build_cnn(filters=[4], convs_per_block=1, dense_units=[8],
                          augmentation={{"flip": True, "crop": 44}})
config = {{"training": {{"epochs": 2, "batch_size": 64, "learning_rate": 0.01, "tta_flip": True,
                         "tta_crops": True}}}}
data = TrainingData(x[:1000], y[:1000], x[1000:1100], y[1000:1100], "data", x[1100:])
fit_or_load("run", build, config, data, {str(tmp_path)!r}, verbose=2)
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == ["==> run", "run", "run"]


ASCENT = """
import hashlib, numpy as np
from helpers.modeling.backend import keras
from helpers.modeling.models import build_cnn
from helpers.analysis.ascent import class_maximization, filter_patterns
keras.utils.set_random_seed(0)
model = build_cnn(filters=[8, 16], dense_units=[16], augmentation={"crop": 44, "flip": True},
                  normalization={"mean": 128.0, "std": 64.0}, name="cnn")
patterns, start, final = filter_patterns(model, "block2_conv1", range(6), steps=60, progress=False)
classes = class_maximization(model, steps=60)
digest = hashlib.sha256()
for values in (patterns, start, final, classes.images, classes.logits, classes.probabilities):
    digest.update(np.ascontiguousarray(values).tobytes())
print(digest.hexdigest())
"""


def test_gradient_ascent_gives_the_same_images_with_onednn_on_and_off():
    """Hundreds of ascent steps amplify float32's summation order (oneDNN's differs from
    TensorFlow's own kernels, and between CPUs); the ascent runs in float64, so it does not."""
    digests = []
    for onednn in ("1", "0"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn}
        done = subprocess.run([sys.executable, "-c", ASCENT], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.strip())
    assert digests[0] == digests[1]
