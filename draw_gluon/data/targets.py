"""Training toward another image than the input (DCRAW's targets): the model reads a corrupted
image and is scored on the clean one.

``denoise`` flips each pixel of a binary image with probability ``noise`` (or, for grey images,
adds Gaussian noise of standard deviation ``noise`` and clips to [0, 1]); ``inpaint`` blacks out
one random ``mask`` x ``mask`` square of each image. Training pairs are drawn afresh for every batch
from the batch generator's RNG (so a resumed run draws the same ones); the validation and test
pairs are fixed, the same for every run (:meth:`Corruption.fixed`).
"""
import collections

import numpy as np

TARGETS = ("identity", "denoise", "inpaint")
DEFAULT_NOISE = 0.1


class Corruption(collections.namedtuple("Corruption", "kind amount binary")):
    """What the model reads in place of an image: ``kind`` (``denoise`` or ``inpaint``), its
    ``amount`` (flip rate or noise deviation, or the square's side in pixels) and whether the images
    are ``binary`` (0 or 1 only: noise then flips pixels)."""

    def __call__(self, images, rng):
        """Corrupted copies of ``images`` (N, C, H, W), drawn with the NumPy generator ``rng``."""
        if self.kind == "inpaint":
            return mask_squares(images, self.amount, rng)
        if self.binary:
            return np.abs(images - (rng.random_sample(images.shape) < self.amount)).astype(np.float32)
        return np.clip(images + self.amount * rng.standard_normal(images.shape), 0, 1).astype(np.float32)

    def fixed(self, images, split):
        """The held-out pairs' inputs: ``images`` of ``split`` corrupted from a seed of its own."""
        return self(images, np.random.RandomState(1 + ("train", "valid", "test").index(split)))


def mask_squares(images, side, rng):
    """``images`` (N, C, H, W) with one ``side`` x ``side`` square each, placed uniformly inside, set to 0."""
    out = np.array(images, dtype=np.float32)
    n, _, height, width = out.shape
    tops, lefts = rng.randint(height - side + 1, size=n), rng.randint(width - side + 1, size=n)
    for k in range(n):
        out[k, :, tops[k]:tops[k] + side, lefts[k]:lefts[k] + side] = 0
    return out


def corruption(target, noise, mask, images, dynamic=False):
    """The :class:`Corruption` of ``--target`` (None for ``identity``) for a dataset whose training
    ``images`` (N, C, H, W) are binarised afresh (``dynamic``) or binary already; ``mask`` None
    takes half the smaller side."""
    if target == "identity":
        return None
    if target == "inpaint":
        return Corruption("inpaint", mask or min(images.shape[2:]) // 2, False)
    binary = dynamic or bool(np.isin(images[:1000], (0, 1)).all())
    return Corruption("denoise", noise, binary)
