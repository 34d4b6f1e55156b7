"""What a colour model's bound means: the paper's cost for two models that need no training (issue 14).

    python benchmarks/colour_baselines.py cifar10 [--data-dir DIR] [--split test]

The paper's cost for colour images treats each value x in [0, 1] as a Bernoulli probability and
charges the cross-entropy -x log p - (1 - x) log(1 - p). Per image, summed over its values, it
prints the cost of predicting every value by the training split's mean image, and the floor no
model can go below: each value's cross-entropy against itself, its binary entropy. A trained
model's reconstruction term L_x sits between the two.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon import data  # noqa: E402
from draw_gluon.evaluation import colour_baselines  # noqa: E402

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=("cifar10", "svhn"))
    p.add_argument("--data_dir", "--data-dir", default=None)
    p.add_argument("--split", default="test", choices=("valid", "test"))
    args = p.parse_args()
    splits = data.load(args.dataset, data_dir=args.data_dir).splits
    mean_cost, floor = colour_baselines(splits["train"], splits[args.split])
    n = len(floor)
    print(f"{args.dataset} {args.split} ({n:,} images), nats per image:")
    print(f"  mean training image: {mean_cost.mean():.1f} ± {mean_cost.std(ddof=1) / np.sqrt(n):.1f}")
    print(f"  floor (entropy of the values): {floor.mean():.1f} ± {floor.std(ddof=1) / np.sqrt(n):.1f}")


if __name__ == "__main__":
    main()
