"""Datasets composed of MNIST digits: two digits on 60x60, one digit among clutter on 100x100."""
import numpy as np
import pytest

from draw_gluon import data
from draw_gluon.data import composed


def full_squares(images, side=28):
    """For each image (N, 1, H, W), whether some side x side block is all ones (an integral image)."""
    ones = (images[:, 0] == 1).astype(np.int64)
    total = np.pad(ones.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    blocks = (total[:, side:, side:] - total[:, :-side, side:] - total[:, side:, :-side]
              + total[:, :-side, :-side])
    return (blocks == side * side).any(axis=(1, 2))


def test_two_digits_are_placed_whole_anywhere_and_capped_at_one():
    digits = np.ones((3, 1, 28, 28), dtype=np.float32)
    out = composed.two_digits(digits, 2000, np.random.RandomState(0))
    assert out.shape == (2000, 1, 60, 60) and out.dtype == np.float32 and out.max() == 1
    ink = (out[:, 0] > 0).sum(axis=(1, 2))
    assert ink.min() >= 784 and ink.max() <= 2 * 784  # two whole squares, overlapping or not
    assert full_squares(out).all()
    rows = np.nonzero(out[:, 0].any(axis=2))
    assert rows[1].min() == 0 and rows[1].max() == 59, "the digits reach every edge of the canvas"


def test_cluttered_label_is_the_target_digits():
    digits = np.zeros((10, 1, 28, 28), dtype=np.float32)
    digits[3] = 1  # only digit 3 has ink: its 28x28 square appears whole only when it is the target
    labels = np.arange(10)
    out, y, corners = composed.cluttered(digits, labels, 600, np.random.RandomState(1))
    assert out.shape == (600, 1, 100, 100) and y.shape == (600,) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(full_squares(out), y == 3)  # 8 clutter crops of 8x8 cannot cover 28x28
    assert all(out[k, 0, top:top + 28, left:left + 28].min() == 1 for k, (top, left) in enumerate(corners) if y[k] == 3)
    assert set(np.unique(y)) == set(range(10))
    ink = (out[:, 0] > 0).sum(axis=(1, 2))
    assert ink[y == 3].min() >= 784 and ink.max() <= 784 + 8 * 64


def test_clutter_is_eight_crops_of_eight_pixels_square():
    digits = np.ones((2, 1, 28, 28), dtype=np.float32)
    out = composed.cluttered(digits, np.zeros(2, dtype=np.int64), 300, np.random.RandomState(2))[0]
    ink = (out[:, 0] > 0).sum(axis=(1, 2))
    assert 784 <= ink.min() and ink.max() <= 784 + 8 * 64 and ink.max() > 784 + 64


DIGITS = np.random.RandomState(0).random_sample((20, 1, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("build", [lambda rng: composed.two_digits(DIGITS, 50, rng),
                                   lambda rng: composed.cluttered(DIGITS, np.arange(20) % 10, 50, rng)[0]])
def test_the_seed_decides_everything(build):
    same = [build(np.random.RandomState(7)) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    assert not np.array_equal(same[0], build(np.random.RandomState(8)))


def test_registry_builds_each_split_from_the_same_split_of_mnist(monkeypatch):
    source = {s: (np.full((n, 1, 28, 28), k / 4, dtype=np.float32), np.full(n, k, dtype=np.int64))
              for k, (s, n) in enumerate(zip(data.SPLITS, (40, 20, 10)), 1)}
    monkeypatch.setattr(composed.mnist, "labelled", lambda data_dir=None: source)
    clut = data.load("cluttered_mnist")
    assert {s: v.shape for s, v in clut.splits.items()} == {s: (len(source[s][0]), 1, 100, 100) for s in data.SPLITS}
    for k, split in enumerate(data.SPLITS, 1):
        assert set(clut.labels[split]) == {k}  # test images come from test digits only
        values = np.unique(clut.splits[split])  # sums of this split's pixels (k / 4 each), capped at 1
        multiples = np.isclose(values, np.round(values / (k / 4)) * (k / 4), atol=1e-6)
        assert (multiples | (values == 1)).all(), values
    two = data.load("two_digit_mnist")
    assert two.splits["train"].shape == (40, 1, 60, 60) and two.labels == {}
    assert set(np.unique(two.splits["valid"])) <= {0.0, 0.5, 1.0}  # valid digits are 0.5: one or two of them


def test_cluttered_training_batches_are_built_afresh_around_the_same_targets(monkeypatch):
    digits = np.random.RandomState(0).uniform(0.01, 0.1, (30, 1, 28, 28)).astype(np.float32)
    digits[3::10] = 1  # only the digits labelled 3 are solid squares; the others are faint noise
    source = {s: (digits, np.arange(30) % 10) for s in data.SPLITS}
    monkeypatch.setattr(composed.mnist, "labelled", lambda data_dir=None: source)
    clut = data.load("cluttered_mnist")
    np.testing.assert_array_equal(clut.labels["train"], np.arange(30) % 10)  # image i's target is digit i
    np.testing.assert_array_equal(full_squares(clut.splits["train"]), clut.labels["train"] == 3)
    batches = data.Batches(clut.splits["train"], 30, seed=0, labels=clut.labels["train"], remake=clut.remake)
    first, second = batches.next(), batches.next()
    for images, labels in (first, second):
        np.testing.assert_array_equal(full_squares(images), labels == 3)
    static = {image.tobytes() for image in clut.splits["train"]}
    assert not any(image.tobytes() in static for image in np.concatenate([first[0], second[0]])), \
        "each batch is built afresh, not taken from the stored training images"
    plain = data.Batches(clut.splits["train"], 30, seed=0, labels=clut.labels["train"]).next()[0]
    assert all(image.tobytes() in static for image in plain)
