"""The paper's binarized MNIST (Larochelle & Murray 2011; Table 2): 50k / 10k / 10k fixed binary images.

Found in a data folder (``binarized_mnist.npz`` or the ``.amat`` files) or downloaded once into a
cache folder; every split is checked against the published SHA-256, and a split that differs stops
everything (a damaged or altered test split would silently give a wrong Table 2) unless the caller
accepts unverified data.
"""
import hashlib
import os
import sys

import numpy as np

from .common import SPLITS, DataError, Dataset, as_images, cache_folder, find_or_fetch

AMAT_URL = ("https://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
            "binarized_mnist_{split}.amat")
COUNTS = {"train": 50000, "valid": 10000, "test": 10000}
# SHA-256 of each split as uint8 (N, 784), C order, as published with the data.
SHA256 = {
    "train": "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a",
    "valid": "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e",
    "test": "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86",
}


def load(data_dir=None, accept_unverified=False, **_):
    """The registry's loader: every split, checked, as a :class:`Dataset`."""
    splits, hashes = read(data_dir, accept_unverified=accept_unverified)
    return Dataset(splits, {}, False, hashes)


def read(data_dir=None, cache_dir=None, url=AMAT_URL, splits=SPLITS, accept_unverified=False):
    """The paper's binarized MNIST: ``(images, sha256)``, two dicts keyed by split.

    Looks for ``binarized_mnist.npz`` (one ``numpy.packbits`` array per split) or ``binarized_mnist_{split}.amat`` in
    ``data_dir``, then the ``.amat`` files in ``cache_dir``; downloads what is missing from ``url``
    into ``cache_dir``. Each split is checked (image count, 784 values of 0/1) and its SHA-256
    compared with the published one (:func:`check_split`).
    """
    cache_dir = cache_folder(cache_dir)
    npz = os.path.join(data_dir, "binarized_mnist.npz") if data_dir else None
    if npz and os.path.isfile(npz):
        sources = dict.fromkeys(splits, npz)
        flat = unpack_npz(npz, splits)
    else:
        sources = {s: _find_or_download(s, data_dir, cache_dir, url) for s in splits}
        flat = {s: read_amat(sources[s]) for s in splits}
    hashes = {s: check_split(flat[s], s, sources[s], accept_unverified) for s in splits}
    return {s: as_images(flat[s]) for s in splits}, hashes


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


def check_split(flat, split, source, accept_unverified=False):
    """Check count and values of a split read from the file ``source``; return its SHA-256. One
    that is not the published hash raises :class:`DataError`, or with ``accept_unverified`` warns."""
    if flat.shape != (COUNTS[split], 784):
        raise DataError(f"the {split} split has shape {flat.shape}, expected ({COUNTS[split]}, 784); "
                        f"{source} is truncated or not binarized MNIST: delete it and fetch it again")
    if flat.max() > 1:
        raise DataError(f"the {split} split in {source} holds values other than 0 and 1")
    digest = hashlib.sha256(np.ascontiguousarray(flat, dtype=np.uint8).tobytes()).hexdigest()
    if digest != SHA256[split]:
        problem = (f"the binarized MNIST {split} split in {source} has SHA-256 {digest}, not the published "
                   f"{SHA256[split]}")
        if not accept_unverified:
            raise DataError(f"{problem}: the file is damaged or altered; delete it so that it is fetched again, "
                            "or pass --accept_unverified_data to use it anyway")
        print(f"WARNING: {problem}: results are not comparable with the paper's", file=sys.stderr)
    return digest


def _find_or_download(split, data_dir, cache_dir, url):
    name = f"binarized_mnist_{split}.amat"
    try:
        return find_or_fetch(name, url.format(split=split), data_dir, cache_dir)
    except DataError as err:
        raise DataError(f"{err} (or binarized_mnist.npz in --data-dir)") from None
