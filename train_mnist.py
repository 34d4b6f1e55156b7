"""Train DRAW on MNIST: ``python train_mnist.py --attention`` (``--help`` lists every flag)."""
import sys

from draw_gluon.train import main

if __name__ == "__main__":
    sys.exit(main())
