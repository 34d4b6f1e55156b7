"""SVHN (Netzer et al. 2011), the cropped digits of "format 2": colour 32x32 house-number digits.

The paper trained on multi-digit SVHN, preprocessed as in Goodfellow et al. 2013 into 64x64 crops;
that preprocessing was never published as files, so this project uses the official cropped digits:
``train_32x32.mat`` and ``test_32x32.mat`` (MATLAB files read with scipy: ``X`` is 32x32x3xN
uint8, ``y`` the digit with 10 standing for 0), found in ``--data-dir`` or the cache or downloaded
once and checked against their MD5. Splits: the first 68,257 training digits train, the last 5,000
validate, and the 26,032 test digits test.
"""
import numpy as np

from .common import DataError, Dataset, find_or_fetch

URL = "http://ufldl.stanford.edu/housenumbers/{split}_32x32.mat"
MD5 = {"train": "e26dedcc434d2e4c54c9b2d4a06d8373", "test": "eb5a983be6a315427106f1b164d9cef3"}
NUM_VALID = 5000


def read_mat(path):
    """The images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) 0-9 of one ``.mat`` file."""
    from scipy.io import loadmat

    try:
        contents = loadmat(path)
        X, y = contents["X"], contents["y"]
    except (ValueError, KeyError, OSError, TypeError) as err:
        raise DataError(f"{path} is not an SVHN .mat file ({err}); delete it so that it is fetched again") from None
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.dtype != np.uint8 or y.size != X.shape[3]:
        raise DataError(f"{path} holds X {X.shape} {X.dtype} and y {y.shape}, not SVHN's 32x32x3xN digits "
                        "and N labels; delete it so that it is fetched again")
    labels = y.reshape(-1).astype(np.int64) % 10  # SVHN writes the digit 0 as 10
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1), dtype=np.float32) / np.float32(255), labels


def load(data_dir=None, cache_dir=None, url=URL, **_):
    """The registry's ``svhn``: 68,257 / 5,000 / 26,032 digits with their labels."""
    read = {s: read_mat(find_or_fetch(f"{s}_32x32.mat", url.format(split=s), data_dir, cache_dir, md5=MD5[s]))
            for s in ("train", "test")}
    (train_x, train_y), (test_x, test_y) = read["train"], read["test"]
    cut = len(train_x) - NUM_VALID
    return Dataset({"train": train_x[:cut], "valid": train_x[cut:], "test": test_x},
                   {"train": train_y[:cut], "valid": train_y[cut:], "test": test_y}, False, {})
