"""The model zoo: trained models shipped inside the package, ready on CPU with no network access.

Each model is a folder ``draw_gluon/zoo/<name>/`` holding what ``save`` writes (``config.json``,
``model.params`` in float32) and ``info.json``: what it was trained on, for how long, with which
command, and how it scores.
"""
import json
import os
import shutil

import mxnet as mx

from . import checkpoint, data
from .checkpoint import load_model
from .classifier import Classifier
from .evaluation import evaluate_classifier, evaluate_nll
from .io import atomic_dir, atomic_write
from .recipes import RECIPES

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


def score(model, dataset_name, data_dir, samples=1):
    """The test score of ``model`` on ``dataset_name``'s test split, as ``draw-gluon evaluate`` gives
    it: a classifier's error rate; a DRAW's bound and, with ``samples`` K > 1, the importance-weighted
    estimate."""
    dataset = data.load(dataset_name, data_dir)
    images = dataset.splits["test"]
    model.hybridize(static_alloc=True)
    if isinstance(model, Classifier):
        return evaluate_classifier(model, images, dataset.labels["test"])
    result = evaluate_nll(model, images, samples)
    result.pop("per_image")
    return result


def summary(result):
    """A :func:`score` in one line."""
    if "error" in result:
        return f"test error {100 * result['error']:.2f}% +- {100 * result['error_se']:.2f}%"
    bound, nll = result["bound"], result["nll"]
    text = f"test bound {bound['nats']:.2f} +- {bound['nats_se']:.2f} nats"
    if result["num_samples"] > 1:
        text += f", -log p(x) <= {nll['nats']:.2f} +- {nll['nats_se']:.2f} (K={result['num_samples']})"
    return text


def ship(name, run_dir, data_dir):
    """Copy ``run_dir``'s model into the zoo as ``name`` with its ``info.json`` (the test score measured
    now, the training flags, its recipe); returns the info. For the project's own releases
    (``benchmarks/zoo.py ship``): it writes into the installed package."""
    path, state = checkpoint.newest(run_dir)
    if not state:
        raise ValueError(f"{run_dir} holds no trained state yet; let it train past a checkpoint")
    with open(os.path.join(run_dir, "args.json")) as f:
        flags = json.load(f)
    flags.update(state.get("schedule", {}))  # a resume may have changed them (args.json keeps the first)
    model = checkpoint.load_model(path)
    result = score(model, flags["dataset"], data_dir)
    recipe = flags.get("recipe") or (name if name in RECIPES else None)
    info = {"name": name, "recipe": recipe, "dataset": flags["dataset"], "task": flags.get("task", "generate"),
            "images_seen": state["samples_seen"],
            "flags": {k: v for k, v in flags.items() if k not in ("data_dir", "logdir", "resume")},
            "test": result, "summary": summary(result)}
    target = os.path.join(ZOO, name)
    with atomic_dir(target + ".new", replace=False) as tmp:
        model.save(tmp)  # float32 parameters and the config
        atomic_write(os.path.join(tmp, "info.json"), (json.dumps(info, indent=2) + "\n").encode())
    if os.path.isdir(target):  # shipping a newer state of the model: swap, then drop the old one
        os.rename(target, target + ".old")
    os.rename(target + ".new", target)
    shutil.rmtree(target + ".old", ignore_errors=True)
    return info
