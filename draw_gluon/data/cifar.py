"""CIFAR-10 (Krizhevsky 2009): 60,000 colour images of 32x32 in 10 classes, for the paper's CIFAR-10
experiment (Table 3: 64 glimpses, 400 units, 200 latents, read and write 5x5).

Read from the official binary version, ``cifar-10-binary.tar.gz`` (each record: one label byte,
then 1024 red, 1024 green and 1024 blue bytes, rows top to bottom), found in ``--data-dir`` or the
cache or downloaded once and checked against the published MD5. The archive's members are read in
place: nothing is extracted, and no pickle is ever loaded. Splits: the first 45,000 of the 50,000
training images train, the last 5,000 validate, and the 10,000 test images test.
"""
import tarfile

import numpy as np

from .common import DataError, Dataset, find_or_fetch

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on https://www.cs.toronto.edu/~kriz/cifar.html
TRAIN = [f"cifar-10-batches-bin/data_batch_{k}.bin" for k in range(1, 6)]
TEST = ["cifar-10-batches-bin/test_batch.bin"]
RECORD = 1 + 3 * 32 * 32
NUM_VALID = 5000


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


def load(data_dir=None, cache_dir=None, url=URL, **_):
    """The registry's ``cifar10``: 45,000 / 5,000 / 10,000 images with their labels."""
    batches = read_archive(find_or_fetch(ARCHIVE, url, data_dir, cache_dir, md5=MD5))
    train_x, train_y = (np.concatenate(parts) for parts in zip(*(batches[m] for m in TRAIN)))
    test_x, test_y = batches[TEST[0]]
    cut = len(train_x) - NUM_VALID
    return Dataset({"train": train_x[:cut], "valid": train_x[cut:], "test": test_x},
                   {"train": train_y[:cut], "valid": train_y[cut:], "test": test_y}, False, {})
