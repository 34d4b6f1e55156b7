"""Training on your own pictures: ``--dataset folder`` on image files the tests write, and ``fit()``
on NumPy arrays."""
import json

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from draw_gluon import DRAW, data
from draw_gluon.train import fit, main

SMALL = ["-b", "8", "-s", "2", "-u", "8", "-l", "3", "-t", "64", "-f", "32", "-v", "4"]


def write_constant(path, value, shape=(8, 8), dtype=np.uint8):
    """An image file whose every pixel is ``value``: the value tells which file it came from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.full(shape, value, dtype=dtype))


def test_split_subfolders_are_the_splits_and_pixels_are_scaled_to_one(tmp_path):
    for split, values in (("train", [10, 20, 30]), ("valid", [40]), ("test", [50, 60])):
        for v in values:
            write_constant(tmp_path / split / f"{v}.png", v)
    write_constant(tmp_path / "test" / "deep" / "wide.png", 65535, dtype=np.uint16)
    dataset = data.load("folder", str(tmp_path))
    assert {s: sorted(np.unique(x[:, 0, 0, 0] * 255).round().tolist()) for s, x in dataset.splits.items()} == \
        {"train": [10, 20, 30], "valid": [40], "test": [50, 60, 255]}
    assert dataset.splits["train"].dtype == np.float32 and dataset.splits["train"].shape == (3, 1, 8, 8)
    assert dataset.labels == {} and not dataset.dynamic


def test_a_flat_folder_is_split_80_10_10_the_same_way_every_time(tmp_path):
    for v in range(20):
        write_constant(tmp_path / f"img{v:02d}.png", v)
    first, again = (data.load("folder", str(tmp_path)).splits for _ in range(2))
    ids = {s: sorted((x[:, 0, 0, 0] * 255).round().astype(int).tolist()) for s, x in first.items()}
    assert [len(ids[s]) for s in data.SPLITS] == [16, 2, 2]
    assert sorted(sum(ids.values(), [])) == list(range(20)), "every file in exactly one split"
    for s in data.SPLITS:
        np.testing.assert_array_equal(first[s], again[s])


def test_mixed_sizes_need_resize_which_brings_them_to_one(tmp_path):
    for name, shape in (("a.png", (8, 8)), ("b.png", (12, 10)), ("c.png", (8, 8))):
        write_constant(tmp_path / name, 100, shape)
    with pytest.raises(data.DataError, match=r"[ac].png is 8x8, .*b.png is 12x10\); pass --resize HxW"):
        data.load("folder", str(tmp_path))
    resized = data.load("folder", str(tmp_path), resize=(6, 5)).splits
    for images in resized.values():
        assert images.shape[1:] == (1, 6, 5)
        np.testing.assert_allclose(images, 100 / 255, atol=1e-6)  # a flat image stays flat


def test_grey_and_colour_files_mix_in_colour_unless_grey_is_asked(tmp_path):
    rgb = np.zeros((4, 4, 4), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2], rgb[..., 3] = 200, 100, 50, 7  # alpha is dropped
    for split in data.SPLITS:
        (tmp_path / split).mkdir()
        iio.imwrite(tmp_path / split / "colour.png", rgb)
        write_constant(tmp_path / split / "grey.png", 80, (4, 4))
    colour = data.load("folder", str(tmp_path)).splits["train"]
    assert colour.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(colour[0, :, 0, 0], np.array([200, 100, 50]) / 255, atol=1e-6)
    np.testing.assert_allclose(colour[1, :, 0, 0], [80 / 255] * 3, atol=1e-6)
    grey = data.load("folder", str(tmp_path), grey=True).splits["train"]
    assert grey.shape == (2, 1, 4, 4)
    assert grey[0, 0, 0, 0] == pytest.approx((0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, abs=1e-6)


def test_grey_files_with_alpha_read_as_grey_alone_or_beside_colour_ones(tmp_path):
    grey_alpha = np.zeros((4, 4, 2), dtype=np.uint8)
    grey_alpha[..., 0], grey_alpha[..., 1] = 90, 255  # a PNG of mode LA
    for split in data.SPLITS:
        (tmp_path / "grey" / split).mkdir(parents=True)
        iio.imwrite(tmp_path / "grey" / split / "a.png", grey_alpha)
    assert Image.open(tmp_path / "grey" / "train" / "a.png").mode == "LA"
    grey = data.load("folder", str(tmp_path / "grey")).splits["train"]
    assert grey.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(grey, 90 / 255, atol=1e-6)
    for split in data.SPLITS:
        iio.imwrite(tmp_path / "grey" / split / "b.png", np.full((4, 4, 3), 30, dtype=np.uint8))
    mixed = data.load("folder", str(tmp_path / "grey")).splits["train"]
    assert mixed.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(mixed[0], 90 / 255, atol=1e-6)


def test_bad_folders_get_one_clear_error(tmp_path):
    for v in range(4):
        write_constant(tmp_path / "some" / f"{v}.png", v)
    (tmp_path / "some" / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(data.DataError, match=r"cannot read .*broken.png as an image"):
        data.load("folder", str(tmp_path / "some"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="holds 0 image file"):
        data.load("folder", str(tmp_path / "empty"))
    with pytest.raises(data.DataError, match="needs --data-dir"):
        data.load("folder", None)


def test_train_mnist_trains_on_a_folder_and_says_how_to_match_sizes(tmp_path, capsys):
    rng = np.random.RandomState(0)
    for k in range(40):
        write_constant(tmp_path / "pictures" / f"{k}.png", 0)
        iio.imwrite(tmp_path / "pictures" / f"{k}.png", (rng.rand(8, 8, 3) * 255).astype(np.uint8))
    common = ["--dataset", "folder", "--data-dir", str(tmp_path / "pictures"), "--logdir", str(tmp_path / "runs")]
    assert main(common + SMALL) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset images are 8x8" in err[0] and "pass -hh 8 -ww 8" in err[0]
    assert main(common + SMALL + ["-hh", "8", "-ww", "8", "--run_name", "mine"]) == 0
    assert DRAW.load(str(tmp_path / "runs" / "mine")).config.image_shape == (3, 8, 8), "colour from the files"
    assert main(common + SMALL + ["--resize", "6x7", "-hh", "6", "-ww", "7", "--grey", "--run_name", "small"]) == 0
    assert json.loads((tmp_path / "runs" / "small" / "config.json").read_text())["image_shape"] == [1, 6, 7]


def test_fit_trains_on_arrays_with_the_command_lines_run_folder(tmp_path):
    rng = np.random.RandomState(1)
    images = (rng.rand(48, 1, 6, 5) > 0.5).astype(np.float32)
    model, run_dir, metrics = fit(images[:32], images[32:40], images[40:], logdir=str(tmp_path), run_name="fit",
                                  num_train_samples=256, val_freq=128, num_val_samples=8, batch_size=16,
                                  num_steps=2, num_recurrent_units=8, latent_dim=3, attention=True,
                                  read_size=2, write_size=2)
    assert isinstance(model, DRAW) and model.config.image_shape == (1, 6, 5)
    assert metrics["samples_seen"] == 256 and len(metrics["validation"]) == 2
    assert (tmp_path / "fit" / "model.params").is_file() and list((tmp_path / "fit" / "checkpoints").iterdir())
    stored = json.loads((tmp_path / "fit" / "args.json").read_text())
    assert stored["dataset"] == "arrays" and stored["num_steps"] == 2
    # version 0.x's flag names are the fields they stand for
    assert (stored["enc_size"], stored["dec_size"], stored["z_size"]) == (8, 8, 3) and "latent_dim" not in stored
    with pytest.raises(TypeError, match="unknown flags epochs"):
        fit(images, images, epochs=3)
    with pytest.raises(data.DataError, match="the valid split holds values from 0 to 2"):
        fit(images, images * 2, logdir=str(tmp_path))
