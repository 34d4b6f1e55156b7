import base64
import json
import os
import subprocess
import sys
import tempfile
import time

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


# A tiny training run on the 5,000 offline digits: a few seconds.
TINY = ["-b", "64", "-s", "4", "-u", "32", "-l", "5", "-v", "100", "--dataset", "mnist5k"]


def events(run_dir):
    """Scalars ``{tag: [[step, value]]}`` and images ``{tag: [{step, width, height, encoded}]}`` as
    TensorBoard's reader sees them (in a process of its own, see read_events.py)."""
    reader = os.path.join(os.path.dirname(os.path.abspath(__file__)), "read_events.py")
    found = json.loads(subprocess.run([sys.executable, reader, str(run_dir)], check=True,
                                      capture_output=True, text=True).stdout)
    for images in found["images"].values():
        for image in images:
            image["encoded"] = base64.b64decode(image["encoded"])
    return found


def scalar_steps(run_dir, tag):
    return [step for step, _ in events(run_dir)["scalars"].get(tag, [])]


def start(argv):
    """train_mnist.py in a process of its own; its stderr goes to a file (``stderr_of``), as a pipe
    nobody reads would fill up with progress bars and block it."""
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train_mnist.py")] + argv,
                               stdout=subprocess.DEVNULL, stderr=log, text=True)
    process.log = log
    return process


def stderr_of(process):
    process.log.seek(0)
    return process.log.read()


def wait_for_checkpoint(run_dir, process, timeout=120):
    from draw_gluon import checkpoint

    deadline = time.time() + timeout
    while not checkpoint.latest(str(run_dir)):
        assert process.poll() is None, stderr_of(process)
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
