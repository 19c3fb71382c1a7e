"""Keras and its backend, imported without TensorFlow's start-up lines.

TensorFlow's C++ start-up messages (oneDNN, CUDA drivers, CPU features) are written to the
process's stderr before any logging setting applies, so TF_CPP_MIN_LOG_LEVEL cannot stop them;
they would fill the terminal and, through the notebook kernel, the PDF. The import therefore
runs with the native stderr pointed at /dev/null. Python errors still surface as usual.

    pass
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextmanager
def native_stderr_silenced():
    """Send what C/C++ code writes to file descriptor 2 to /dev/null inside the block."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to silence
        yield
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with native_stderr_silenced():
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # prints the "no CUDA driver" error once, here
        tf.get_logger().setLevel(logging.ERROR)  # e.g. retracing warnings


__all__ = ["keras", "native_stderr_silenced"]
