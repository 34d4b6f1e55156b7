"""What every dataset shares: the split names, the checks, the download, the batches."""
import collections
import os
import urllib.error
import urllib.request

import numpy as np
from tqdm import tqdm

from ..io import atomic_path, file_digest

SPLITS = ("train", "valid", "test")
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "draw-gluon")


class DataError(ValueError):
    """A dataset is missing, malformed or not what it claims to be."""


class Unreachable(DataError):
    """A file is neither at hand nor downloadable."""


Dataset = collections.namedtuple("Dataset", "splits labels dynamic sha256 remake", defaults=(None,))
Dataset.__doc__ = """A dataset's splits by name (``train``, ``valid``, ``test``).

splits : {split: float32 (N, C, H, W) images with values in [0, 1]}
labels : {split: int (N,) class labels}, empty when the dataset has none
dynamic : training batches must go through :func:`binarize_batch` (grey levels sampled afresh)
sha256 : {split: hash of the data as read}, empty when the dataset has no published hashes
remake : None, or ``remake(indices, rng)``: fresh training images standing for the training
    images ``indices`` (same labels), drawn with the NumPy generator ``rng``
"""


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


def cache_folder(cache_dir=None):
    """The download cache: ``cache_dir`` if given, else ``$DRAW_CACHE_DIR``, else ~/.cache/draw-gluon."""
    return cache_dir or os.environ.get("DRAW_CACHE_DIR", DEFAULT_CACHE)


def find(name, data_dir=None, cache_dir=None):
    """The path of the file ``name`` in ``data_dir`` or else the cache (:func:`cache_folder`); None
    if in neither."""
    for folder in (data_dir, cache_folder(cache_dir)):
        if folder and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def find_or_fetch(name, url, data_dir=None, cache_dir=None, md5=None):
    """The path of the file ``name``: from ``data_dir``, else the cache (``cache_dir``, default
    ``$DRAW_CACHE_DIR`` or ~/.cache/draw-gluon), else downloaded from ``url`` into the cache.

    With ``md5`` (the published checksum) a download is checked, and a bad one deleted, so that the
    next attempt fetches it again. Offline with nothing found, the error says where to put the file.
    """
    found = find(name, data_dir, cache_dir)
    if found:
        return found
    cache_dir = cache_folder(cache_dir)
    target = os.path.join(cache_dir, name)
    os.makedirs(cache_dir, exist_ok=True)
    try:
        download(url, target)
    except (urllib.error.URLError, OSError) as err:
        raise Unreachable(f"cannot download {url} ({err}); put {name} in --data-dir, or in {cache_dir}") from None
    if md5 and file_digest(target, "md5") != md5:
        os.remove(target)
        raise DataError(f"the download of {url} is damaged (its MD5 is not the published {md5}); "
                        "run again to fetch it again")
    return target


def binarize_batch(grey, rng):
    """Dynamic binarisation: each pixel is 1 with probability equal to its grey level."""
    return (rng.random_sample(grey.shape) < grey).astype(np.float32)


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


def as_images(flat, shape=(1, 28, 28)):
    """Flat rows as contiguous float32 images ``(N,) + shape``."""
    return np.ascontiguousarray(flat, dtype=np.float32).reshape((-1,) + tuple(shape))


class Batches:
    """Shuffled training batches, pass after pass, whose position can be saved and restored exactly.

    Each pass visits the images in a fresh random order; a pass ends when fewer than a full batch
    remain. With ``dynamic`` the images are grey levels and each batch is binarised afresh; with
    ``remake`` (see :class:`Dataset`) each batch is built afresh. With ``labels`` (N,), each batch
    comes with its images' labels. With ``corrupt`` (a ``corrupt(images, rng)`` such as
    :class:`~draw_gluon.data.targets.Corruption`), each batch is a pair: the corrupted images, and
    the images themselves in place of labels.
    """

    def __init__(self, images, batch_size, seed, dynamic=False, labels=None, remake=None, corrupt=None):
        self.images, self.labels, self.batch_size, self.dynamic = images, labels, batch_size, dynamic
        self.remake, self.corrupt = remake, corrupt
        self.rng = np.random.RandomState(seed)
        self.order, self.position = self.rng.permutation(len(images)), 0

    def next(self, limit=None):
        """The next batch: float32 images ``(n, C, H, W)``, ``n = min(batch_size, limit)``, and their
        labels ``(n,)`` (None without labels)."""
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = self.rng.permutation(len(self.images)), 0
        n = min(self.batch_size, limit or self.batch_size)
        picked = self.order[self.position:self.position + n]
        self.position += n
        batch = self.images[picked] if self.remake is None else self.remake(picked, self.rng)
        batch = binarize_batch(batch, self.rng) if self.dynamic else batch
        if self.corrupt is not None:
            return self.corrupt(batch, self.rng), batch
        return batch, None if self.labels is None else self.labels[picked]

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
