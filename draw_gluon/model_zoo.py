"""The model zoo: trained models shipped inside the package, ready on CPU with no network access.

Each model is a folder ``draw_gluon/zoo/<name>/`` holding what ``save`` writes (``config.json``,
``model.params`` in float32) and ``info.json``: what it was trained on, for how long, with which
command, and how it scores.
"""
import json
import os

import mxnet as mx

from .checkpoint import load_model

ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")


def names():
    """The names of the shipped models, sorted."""
    if not os.path.isdir(ZOO):
        return []
    return sorted(n for n in os.listdir(ZOO) if os.path.isfile(os.path.join(ZOO, n, "model.params")))


def _folder(name):
    if name not in names():
        raise ValueError(f"no pretrained model {name!r}; the shipped ones are {', '.join(names()) or 'none'}")
    return os.path.join(ZOO, name)


def pretrained(name, ctx=None):
    """A shipped model by name, loaded on ``ctx`` (default CPU): a :class:`~draw_gluon.DRAW` or a
    :class:`~draw_gluon.Classifier`. Raises ``ValueError`` naming the shipped models for an unknown name.

    Examples
    --------
    >>> classifier = draw_gluon.pretrained("cluttered-mnist")
    >>> logits = classifier(images)                    # (B, 1, 100, 100) in [0, 1] -> (B, 10)
    """
    return load_model(_folder(name), ctx or mx.cpu())


def info(name):
    """What is known about a shipped model: its ``info.json`` as a dict."""
    with open(os.path.join(_folder(name), "info.json")) as f:
        return json.load(f)


def resolve(run_or_name):
    """The folder to load for a command-line argument that is a run folder or a shipped model's name;
    raises ``ValueError`` naming the shipped models when it is neither."""
    if os.path.exists(run_or_name):
        return run_or_name
    if run_or_name not in names():
        raise ValueError(f"{run_or_name} is neither a folder nor a shipped model; the shipped models are "
                         f"{', '.join(names()) or 'none'}")
    return os.path.join(ZOO, run_or_name)
