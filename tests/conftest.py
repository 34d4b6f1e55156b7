import os
import sys

import mxnet as mx
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data", "binarized_mnist.npz")

from draw_gluon import DRAW, DRAWConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    mx.random.seed(0)
    np.random.seed(0)


def tiny_config(attention=True, **changes):
    """A model small enough for finite differences and NumPy references, non-square on purpose."""
    fields = dict(image_shape=(1, 6, 5), num_steps=3, enc_size=7, dec_size=6, z_size=4,
                  attention=attention, read_size=2, write_size=3)
    fields.update(changes)
    return DRAWConfig(**fields)


def make_model(config, dtype="float32", scale=0.5):
    """An initialised model with random (not default-zero) initial states and biases."""
    model = DRAW(config)
    model.initialize(mx.init.Uniform(scale))
    model(mx.nd.zeros((1,) + config.image_shape))
    for p in model.collect_params().values():
        p.set_data(mx.nd.random.uniform(-scale, scale, shape=p.shape))
    if dtype != "float32":
        model.cast(dtype)
    return model


def binarized_mnist(split="train", n=None):
    """Images (N, 1, 28, 28) float32 from the shared copy of the paper's dataset."""
    with np.load(SHARED_DATA) as f:
        packed = f[split][:n]
    return np.unpackbits(packed, axis=1)[:, :784].reshape(-1, 1, 28, 28).astype(np.float32)
