"""Images composed of MNIST digits, built deterministically from a seed (the paper's section 4).

``two_digit_mnist``: two random digits at random positions on a 60x60 black canvas, overlaps summed
and capped at 1 (the paper's Fig. 8). ``cluttered_mnist``: the task of Mnih et al. 2014 (RAM), built
as DeepMind's released generator does: on a 100x100 black canvas, 8 distractors, each an 8x8 crop at
a random offset of a random digit of the same split, then the 28x28 target digit, all placed
uniformly and fully inside; overlaps summed and clipped to [0, 1]; the label is the target's class.
Each split is built from the same split of labelled MNIST (:func:`mnist.labelled`), one composed
image per source digit, from its own seed: the test images are built from held-out digits only.
"""
import numpy as np

from . import mnist
from .common import SPLITS, Dataset


def place(canvas, patch, top, left):
    """Add ``patch`` (h, w) into ``canvas`` (H, W) at (top, left), in place."""
    h, w = patch.shape
    canvas[top:top + h, left:left + w] += patch


def two_digits(digits, n, rng, size=60):
    """``n`` images (n, 1, size, size) of two digits (from ``digits``, (N, 1, 28, 28)) each."""
    out = np.zeros((n, 1, size, size), dtype=np.float32)
    picks = rng.randint(len(digits), size=(n, 2))
    corners = rng.randint(size - 28 + 1, size=(n, 2, 2))
    for k in range(n):
        for d in range(2):
            place(out[k, 0], digits[picks[k, d], 0], *corners[k, d])
    return np.minimum(out, 1, out=out)


def cluttered(digits, labels, n, rng, size=100, num_clutter=8, clutter_size=8, targets=None):
    """``n`` cluttered images (n, 1, size, size), their targets' labels (n,) and the targets' top-left
    corners (n, 2) as (row, column); the targets are random digits, or the digits numbered ``targets`` (n,)."""
    out = np.zeros((n, 1, size, size), dtype=np.float32)
    sources = rng.randint(len(digits), size=(n, num_clutter))
    crops = rng.randint(28 - clutter_size + 1, size=(n, num_clutter, 2))
    spots = rng.randint(size - clutter_size + 1, size=(n, num_clutter, 2))
    targets = rng.randint(len(digits), size=n) if targets is None else np.asarray(targets)
    corners = rng.randint(size - 28 + 1, size=(n, 2))
    for k in range(n):
        for c in range(num_clutter):
            (top, left), piece = crops[k, c], digits[sources[k, c], 0]
            place(out[k, 0], piece[top:top + clutter_size, left:left + clutter_size], *spots[k, c])
        place(out[k, 0], digits[targets[k], 0], *corners[k])
    return np.minimum(out, 1, out=out), labels[targets], corners


def load_two_digit(data_dir=None, seed=0, **_):
    """The registry's ``two_digit_mnist``: 50k / 10k / 10k grey 60x60 images (about 1 GB)."""
    source = mnist.labelled(data_dir)
    return Dataset({s: two_digit_split(s, source, seed) for s in SPLITS}, {}, False, {})


def two_digit_split(split, source, seed=0):
    """One split of ``two_digit_mnist`` from ``source`` (:func:`mnist.labelled`): as many images as
    the split has digits, each of two digits drawn from that split."""
    x = source[split][0]
    return two_digits(x, len(x), np.random.RandomState(seed + SPLITS.index(split)))


def load_cluttered(data_dir=None, seed=0, **_):
    """The registry's ``cluttered_mnist``: 50k / 10k / 10k grey 100x100 images with labels (2.8 GB).

    Training image ``i`` has training digit ``i`` as its target, and every training batch is built
    afresh (``Dataset.remake``): each pass places each training digit at a new spot among new
    clutter. The valid and test images are fixed.
    """
    source = mnist.labelled(data_dir)
    built = {s: cluttered_split(s, source, seed) for s in SPLITS}
    digits, labels = source["train"]

    def remake(picked, rng):
        return cluttered(digits, labels, len(picked), rng, targets=picked)[0]

    return Dataset({s: v[0] for s, v in built.items()}, {s: v[1] for s, v in built.items()}, False, {}, remake)


def cluttered_split(split, source, seed=0):
    """One split of ``cluttered_mnist`` (images, labels, the targets' corners) from ``source``
    (:func:`mnist.labelled`)."""
    x, y = source[split]
    targets = np.arange(len(x)) if split == "train" else None
    return cluttered(x, y, len(x), np.random.RandomState(seed + SPLITS.index(split)), targets=targets)
