"""Train DRAW on MNIST: ``python train_mnist.py --attention`` (``--help`` lists every flag)."""
import sys

from draw_gluon.runtime import train_main

if __name__ == "__main__":
    sys.exit(train_main())
