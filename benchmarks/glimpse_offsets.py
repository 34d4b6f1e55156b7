"""Where a cluttered-MNIST classifier's glimpses fall relative to the target digit (issue 14).

    python benchmarks/glimpse_offsets.py cluttered-mnist          # a pretrained name or a run folder
    python benchmarks/glimpse_offsets.py results/longrun-cluttered-mnist --images 3000

For each glimpse of the first ``--images`` cluttered test images: the median offset of the read
window's centre (gX, gY) from the centre of the target digit's 28x28 box, its spread, the grid's
span N * delta and its sigma, and how often the centre is more than 14 pixels (half a digit) from the
digit's, separately for images the classifier gets right and wrong. Prints a Markdown table.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon.runtime import cpu_defaults, start_engine  # noqa: E402

cpu_defaults()
start_engine()  # its log line first, not after our last one

import mxnet as mx  # noqa: E402
from draw_gluon import checkpoint, model_zoo  # noqa: E402
from draw_gluon.data import composed, mnist  # noqa: E402

DIGIT = 28


def offsets(model, images, labels, corners, batch=500):
    """Per image and glimpse: the window centre minus the digit's centre (dx, dy), and the window
    (B, T, 5); and whether the classifier was right, (B,)."""
    right, windows = [], []
    for start in range(0, len(images), batch):
        logits, window = model.glimpses(mx.nd.array(images[start:start + batch]))
        right.append(logits.argmax(axis=1).asnumpy() == labels[start:start + batch])
        windows.append(window.asnumpy())
    windows = np.concatenate(windows)
    # 1-based pixel coordinates, as gX and gY: the box's pixels are corner + 1 .. corner + 28
    centre = corners[:, ::-1] + (DIGIT + 1) / 2
    return windows[:, :, :2] - centre[:, None, :], windows, np.concatenate(right)


def table(shift, windows, right, read_size):
    rows = ["| glimpse | right: median dx, dy (IQR of dx) | wrong: median dx, dy | N delta | sigma | "
            "centre > 14 px off: right / wrong |", "| ---: | --- | --- | ---: | ---: | --- |"]
    for t in range(shift.shape[1]):
        distance = np.hypot(shift[:, t, 0], shift[:, t, 1])
        ok, bad = shift[right, t], shift[~right, t]
        q1, q3 = np.percentile(ok[:, 0], [25, 75])
        rows.append(f"| {t + 1} | {np.median(ok[:, 0]):+.1f}, {np.median(ok[:, 1]):+.1f} ({q1:+.1f} to {q3:+.1f}) | "
                    f"{np.median(bad[:, 0]):+.1f}, {np.median(bad[:, 1]):+.1f} | "
                    f"{read_size * np.median(windows[:, t, 3]):.1f} | {np.median(np.sqrt(windows[:, t, 2])):.2f} | "
                    f"{np.mean(distance[right] > DIGIT / 2):.0%} / {np.mean(distance[~right] > DIGIT / 2):.0%} |")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a pretrained classifier's name (cluttered-mnist) or a training run")
    p.add_argument("--images", type=int, default=3000, help="cluttered test images to look at")
    args = p.parse_args()
    model = checkpoint.load_run(model_zoo.resolve(args.model))
    images, labels, corners = (part[:args.images] for part in composed.cluttered_split("test", mnist.labelled()))
    shift, windows, right = offsets(model, images, labels, corners)
    print(f"{args.model}: {len(images)} test images, error {1 - right.mean():.2%}; offsets in pixels, "
          "+dx right, +dy down\n")
    print(table(shift, windows, right, model.config.read_size))


if __name__ == "__main__":
    main()
