"""What the tests share: tiny models, finite differences, runs in processes of their own, TensorBoard's
reader, a local HTTP server, the paper's data. Imported as a module (pytest puts this folder on the
path); the fixtures are in conftest.py."""
import base64
import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from draw_gluon import DRAW, DRAWConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEEDS_DATA = ("needs the paper's binarized MNIST: set DRAW_DATA_DIR to a folder holding binarized_mnist.npz "
              "(docs/training.md, Data, says how to get it)")


def tiny_config(attention=True, **changes):
    """A model small enough for finite differences and NumPy references, non-square on purpose."""
    fields = dict(image_shape=(1, 6, 5), num_steps=3, enc_size=7, dec_size=6, z_size=4,
                  attention=attention, read_size=2, write_size=3)
    fields.update(changes)
    return DRAWConfig(**fields)


def make_model(config, dtype="float32", scale=0.5):
    """An initialised model with random (not default-zero) initial states and biases."""
    return randomized(DRAW(config), config.image_shape, dtype, scale)


def randomized(model, image_shape, dtype="float32", scale=0.5):
    """``model`` initialised with every parameter uniform in [-scale, scale], cast to ``dtype``."""
    model.initialize(mx.init.Uniform(scale))
    model(mx.nd.zeros((1,) + image_shape))
    for p in model.collect_params().values():
        p.set_data(mx.nd.random.uniform(-scale, scale, shape=p.shape))
    if dtype != "float32":
        model.cast(dtype)
    return model


def check_gradients(loss, params, rng, per_param=3, h=1e-6):
    """Compare the autograd gradient of ``loss()`` (a float64 scalar NDArray) with central finite
    differences at ``per_param`` random entries of each of ``params`` ({name: Parameter});
    returns how many entries were checked."""
    with autograd.record():
        total = loss()
    total.backward()
    checked = 0
    for name, p in params.items():
        grad, data = p.grad().asnumpy(), p.data()
        for flat in rng.choice(data.size, size=min(per_param, data.size), replace=False):
            index = np.unravel_index(flat, data.shape)
            original = data[index].asscalar()
            values = []
            for sign in (1, -1):
                data[index] = original + sign * h
                values.append(loss().asscalar())
            data[index] = original
            assert grad[index] == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-4, abs=1e-6), (name, index)
            checked += 1
    return checked


def paper_data_dir(needs="binarized_mnist.npz"):
    """The folder of the paper's binarized MNIST, from ``$DRAW_DATA_DIR``, holding the file ``needs``.

    Without it the calling test is skipped, or fails when ``$DRAW_REQUIRE_DATA`` is set (as .ci/run
    sets it when the data are there), so that CI cannot pass by skipping the data tests.
    """
    folder = os.environ.get("DRAW_DATA_DIR")
    if folder and os.path.isfile(os.path.join(folder, needs)):
        return folder
    if os.environ.get("DRAW_REQUIRE_DATA"):
        pytest.fail(f"DRAW_REQUIRE_DATA is set but DRAW_DATA_DIR={folder!r} has no {needs}")
    pytest.skip(NEEDS_DATA if needs == "binarized_mnist.npz" else
                f"needs {needs} beside the data in DRAW_DATA_DIR (the shared data folder's README)")


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


# How long a test waits for a process before calling it hung: a guard against hangs, not a speed
# requirement, so far beyond what a slow, shared machine needs (a busy CI machine once took > 120 s).
HANG = 1800


def wait_for_checkpoint(run_dir, process, timeout=HANG, at_least=1):
    """Wait until ``run_dir`` has a checkpoint of at least ``at_least`` samples (``process`` running)."""
    from draw_gluon import checkpoint

    def newest():
        found = checkpoint.latest(str(run_dir))
        return int(os.path.basename(found)) if found else 0

    deadline = time.time() + timeout
    while newest() < at_least:
        assert process.poll() is None, stderr_of(process)
        assert time.time() < deadline, f"no checkpoint of {at_least} samples appeared"
        time.sleep(0.01)


@contextlib.contextmanager
def serving(directory):
    """An HTTP server on localhost serving the files of ``directory``: yields its base URL and the
    list of paths requested so far."""
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", requests
    finally:
        httpd.shutdown()
