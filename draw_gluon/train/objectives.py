"""What the training loop optimises, one class per task (``--task``).

An objective builds its model from a config, gives the per-sample terms of its loss for a batch
(the loss itself first, then the metrics logged beside it) and draws the pictures of each
validation. The loop knows nothing else about the model it trains.
"""
import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import pictures, viz
from ..data import targets
from ..classifier import Classifier
from ..evaluation import evaluate_classifier, evaluate_nll
from ..loss import DRAWLoss
from ..model import DRAW, first_context

NUM_PICTURES = 16


class VariationalBound:
    """DRAW's negative variational bound ``L = L^x + L^z`` (eqs 9-12), in nats, with its two terms.

    With a ``corruption`` (:class:`~draw_gluon.data.targets.Corruption`) the model reads corrupted
    images and ``L^x`` scores its canvas against the clean ones, which the batches bring in the
    labels' place.

    Its pictures are samples drawn from the same noise at every validation (``seed``): a PNG grid
    of the finished samples and a GIF of the drawing; with a corruption also a table of inputs,
    reconstructions and targets.
    """

    names = ("loss", "L_x", "L_z")
    needs_labels = False

    def __init__(self, config, seed, corruption=None):
        self.config, self.corruption, self._loss = config, corruption, DRAWLoss()
        self._z = np.random.RandomState(seed).standard_normal((NUM_PICTURES, config.num_steps, config.z_size))

    def build(self):
        return DRAW(self.config)

    @staticmethod
    def score(model, images, targets=None, batch_size=128):
        """A whole split's scores, as ``draw-gluon evaluate`` gives them (K = 1): the bound with its
        standard error, its terms, the KL of each glimpse; against ``targets`` when given."""
        scores = evaluate_nll(model, images, 1, batch_size, progress=False, targets=targets)
        scores.pop("per_image")
        return scores

    @staticmethod
    def score_summary(scores):
        bound = scores["bound"]
        return f"bound {bound['nats']:.2f} +- {bound['nats_se']:.2f} nats"

    def terms(self, model, x, y=None):
        canvas, mu, log_sigma = model(x)
        L_x, L_z = self._loss.terms(canvas, x if y is None else y, mu, log_sigma)[:2]
        return [L_x + L_z, L_x, L_z]

    def pictures(self, model, images, labels):
        """``{name: (encoded bytes, extension, frame)}``; the frame gives TensorBoard the size."""
        drawings, final = pictures.sample_frames(model, mx.nd.array(self._z, ctx=first_context(model)))
        frames = viz.grid_frames(drawings)
        shown = {"samples": (viz.png_bytes(final), "png", final),
                 "drawing": (viz.gif_bytes(frames), "gif", frames[-1])}
        if self.corruption is not None:
            table = pictures.restoration_table(model, images[:NUM_PICTURES // 2], labels[:NUM_PICTURES // 2])
            shown["restoration"] = (viz.png_bytes(table), "png", table)
        return shown

    @staticmethod
    def summary(scores):
        return f"NLL bound {scores['loss']:.2f} nats"


class Classification:
    """Cross-entropy of the classifier's softmax (the paper names no loss; this is the natural one),
    in nats, and the error rate.

    Its pictures are the glimpse paths of the first validation images, as in the paper's Figure 4:
    the read window (green, border as wide as the filters' standard deviation) at each glimpse.
    """

    names = ("loss", "error")
    needs_labels = True
    corruption = None
    num_pictures = 8
    scale = 2

    def __init__(self, config, seed):
        self.config, self._loss = config, gluon.loss.SoftmaxCrossEntropyLoss()

    def build(self):
        return Classifier(self.config)

    @staticmethod
    def score(model, images, labels, batch_size=128):
        """A whole split's scores, as ``draw-gluon evaluate`` gives them: the error rate with its
        standard error, and the cross-entropy."""
        return evaluate_classifier(model, images, labels, batch_size, progress=False)

    @staticmethod
    def score_summary(scores):
        return f"error {100 * scores['error']:.2f}% +- {100 * scores['error_se']:.2f}%"

    def terms(self, model, x, y):
        logits = model(x)
        return [self._loss(logits, y), mx.nd.argmax(logits, axis=1) != y]

    def pictures(self, model, images, labels):
        """A GIF of the glimpses (all images at once) and a PNG table, one image per row."""
        steps, table = pictures.glimpse_pictures(model, images[:self.num_pictures], self.scale)
        return {"glimpses": (viz.png_bytes(table), "png", table),
                "glimpse_path": (viz.gif_bytes(steps), "gif", steps[-1])}

    @staticmethod
    def summary(scores):
        return f"error {100 * scores['error']:.2f}% (cross-entropy {scores['loss']:.4f} nats)"


TASKS = {"generate": VariationalBound, "classify": Classification}


def objective_of(args, config, dataset):
    """The objective of ``--task`` for a model of ``config`` on ``dataset``, with ``--target``'s corruption."""
    if args.task == "classify":
        return Classification(config, args.seed)
    train = dataset.splits["train"]
    return VariationalBound(config, args.seed, targets.corruption(args.target, args.noise, args.mask, train,
                                                                  dataset.dynamic))
