"""Checkpoints of a training run, each a complete folder or nothing.

``RUN_DIR/checkpoints/<samples seen, 10 digits>/`` holds ``config.json`` and ``model.params`` (so
``DRAW.load`` reads it), ``trainer.states`` (the optimizer, its moments and update count) and
``state.json`` (samples seen, data order and RNG state, validation history). A checkpoint is written
into a hidden temp folder, fsynced and renamed into place; older ones are deleted only after that.
"""
import json
import os
import shutil

from .io import atomic_dir, atomic_write
from .model import DRAW

KEEP = 2


def save(run_dir, model, trainer, state):
    """Write a checkpoint of ``model``, ``trainer`` and the JSON-able ``state`` dict; return its path."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"{state['samples_seen']:010d}")
    if os.path.isdir(final):  # same sample count, same state: nothing new to write
        return final
    with atomic_dir(final) as partial:
        model.save(partial)
        trainer.save_states(os.path.join(partial, "trainer.states"))
        atomic_write(os.path.join(partial, "state.json"), json.dumps(state).encode())
    for old in checkpoints(run_dir)[:-KEEP]:
        shutil.rmtree(old)
    return final


def checkpoints(run_dir):
    """Complete checkpoint folders of ``run_dir``, oldest first."""
    root = os.path.join(run_dir, "checkpoints")
    names = sorted(n for n in os.listdir(root) if n.isdigit()) if os.path.isdir(root) else []
    return [os.path.join(root, n) for n in names]


def latest(run_dir):
    """The newest checkpoint folder of ``run_dir``, or None."""
    found = checkpoints(run_dir)
    return found[-1] if found else None


def restore(path, model, trainer, ctx):
    """Load parameters (onto the contexts ``ctx``) and optimizer state from checkpoint ``path``;
    return its state dict."""
    model.load_parameters(os.path.join(path, "model.params"), ctx=ctx)
    trainer.load_states(os.path.join(path, "trainer.states"))
    with open(os.path.join(path, "state.json")) as f:
        return json.load(f)


def load_run(run_dir, ctx=None):
    """The trained DRAW of a run folder: its final parameters, else its newest checkpoint's."""
    if os.path.isfile(os.path.join(run_dir, "model.params")):
        return DRAW.load(run_dir, ctx)
    path = latest(run_dir)
    if path is None:
        raise FileNotFoundError(f"{run_dir} holds neither model.params nor a checkpoint; "
                                "pass the folder of a training run")
    return DRAW.load(path, ctx)

