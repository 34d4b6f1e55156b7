"""The tests' set-up: MXNet's CPU settings before it loads, and a fixed seed for every test. What the
tests share otherwise is in helpers.py."""
# Before MXNet loads: the tests' own process must run with the same engine and threads as the
# train_mnist.py processes they start, or the two sum floats in different orders (resume tests
# compare their parameters bit for bit).
from draw_gluon.runtime import cpu_defaults

cpu_defaults()

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    mx.random.seed(0)
    np.random.seed(0)
