"""Fig. 8 counted: the share of a two-digit model's samples that hold two separate digits.

    python benchmarks/two_digits.py [MODEL] [--num 1000] [--seed 0] [--pictures docs/two-digit-share.png]

The rule: threshold the final canvas at 0.5, label its 8-connected components (scipy.ndimage.label)
and keep those of at least MIN_PIXELS pixels (smaller ones are specks); a sample with two or more
holds two separate digits. The same rule on as many test images of ``two_digit_mnist``, which always
hold two digits (sometimes touching, so one component), gives the rule's own ceiling. The picture
shows failure cases: samples counted as one digit, then samples with three or more parts.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon.runtime import cpu_defaults  # noqa: E402

cpu_defaults()

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from draw_gluon import model_zoo, viz  # noqa: E402
from draw_gluon.checkpoint import load_run  # noqa: E402
from draw_gluon.data import composed, mnist  # noqa: E402
from draw_gluon.io import atomic_write  # noqa: E402
from draw_gluon.pictures import noise  # noqa: E402

# An MNIST digit covers 100-200 pixels above 0.5. Measured on 1,000 samples of the shipped model and
# 1,000 test images: at 15 pixels, 40% of samples fell into three or more parts (strokes broken by a
# gap); at 50, 53% of test images (two digits each) counted as one; 30 keeps both errors small.
MIN_PIXELS = 30
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=int)


def parts(images):
    """How many separate parts of at least MIN_PIXELS pixels each image (N, 1, H, W) in [0, 1] holds."""
    counts = []
    for image in images[:, 0] > 0.5:
        labels, found = ndimage.label(image, structure=EIGHT_NEIGHBOURS)
        sizes = np.bincount(labels.ravel())[1:]
        counts.append(int((sizes >= MIN_PIXELS).sum()))
    return np.array(counts)


def shares(counts):
    return {k: float(np.mean(pick)) for k, pick in
            (("none", counts == 0), ("one", counts == 1), ("two", counts == 2), ("more", counts > 2))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="two-digit-mnist", help="a shipped model's name or a run folder")
    p.add_argument("--num", type=int, default=1000, help="samples (and test images) to count")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples' noise")
    p.add_argument("--pictures", default=None, help="write the failure cases to this PNG")
    args = p.parse_args()
    model = load_run(model_zoo.resolve(args.model))
    z = noise(model.config, args.num, args.seed)
    samples = model.generate(args.num, z=mx.nd.array(z))[0][:, -1].asnumpy()
    sampled = parts(samples)
    real = parts(composed.two_digit_split("test", mnist.labelled())[:args.num])
    print(f"rule: 8-connected parts of >= {MIN_PIXELS} pixels above 0.5; {args.num} of each")
    print("| images | no part | one part | two parts (two digits) | three or more |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for what, counts in ((f"samples of {args.model} (seed {args.seed})", sampled),
                         ("two_digit_mnist test images", real)):
        s = shares(counts)
        print(f"| {what} | {s['none']:.1%} | {s['one']:.1%} | {s['two']:.1%} | {s['more']:.1%} |")
    if args.pictures:
        failures = np.concatenate([samples[sampled == 1][:8], samples[sampled > 2][:8]])
        grid = viz.drawing_frames(failures[:, None], scale=2, nrow=8)[0]
        atomic_write(args.pictures, viz.png_bytes(grid))
        print(f"failure cases (first row: one part; second: three or more) -> {args.pictures}")


if __name__ == "__main__":
    main()
