"""Checkpoints of a training run, each a complete folder or nothing.

``RUN_DIR/checkpoints/<samples seen, 10 digits>/`` holds ``config.json`` and ``model.params`` (so
:func:`load_model` reads it), ``trainer.states`` (the optimizer, its moments and update count) and
``state.json`` (samples seen, data order and RNG state, validation history, and the SHA-256 of the
two binary files). A checkpoint is written into a hidden temp folder, fsynced and renamed; older ones
are deleted only after that. A checkpoint damaged later (say, truncated by a failing disk) fails its
hash check and is set aside, and the previous one is used. One may leave out ``trainer.states`` and
its hash (a long run's committed snapshot, kept small): resuming from it starts the optimizer afresh.
"""
import glob
import json
import os
import shutil
import sys

from .classifier import Classifier
from .config import read_config
from .io import atomic_dir, atomic_write, file_digest
from .model import DRAW

MODELS = (DRAW, Classifier)

KEEP = 2
BINARIES = ("model.params", "trainer.states")


class CheckpointError(ValueError):
    """A checkpoint is incomplete, damaged, or belongs to another model."""


def save(run_dir, model, trainer, state):
    """Write a checkpoint of ``model``, ``trainer`` and the JSON-able ``state`` dict; return its path."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"{state['samples_seen']:010d}")
    if os.path.isdir(final):  # same sample count, same state: nothing new to write
        return final
    # Left by a process killed while saving; the run's lock says no one else is writing here.
    for stale in glob.glob(os.path.join(root, ".partial-*")) + glob.glob(os.path.join(root, ".old-*")):
        shutil.rmtree(stale, ignore_errors=True)
    with atomic_dir(final) as partial:
        model.save(partial)
        trainer.save_states(os.path.join(partial, "trainer.states"))
        files = {name: file_digest(os.path.join(partial, name), "sha256") for name in BINARIES}
        atomic_write(os.path.join(partial, "state.json"), json.dumps(dict(state, files=files)).encode())
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


def verify(path):
    """The state dict of checkpoint ``path`` once its files are all there and match their hashes;
    raises :class:`CheckpointError` otherwise."""
    try:
        with open(os.path.join(path, "state.json")) as f:
            state = json.load(f)
        read_config(os.path.join(path, "config.json"))
        for name, digest in state.pop("files").items():
            if file_digest(os.path.join(path, name), "sha256") != digest:
                raise CheckpointError(f"{name} does not match the hash written with it")
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {path} is damaged ({err})") from None
    return state


def usable(run_dir, set_aside=False):
    """The newest checkpoint of ``run_dir`` that passes :func:`verify` and its state, or (None, None).

    Damaged ones are skipped with a warning; with ``set_aside`` (for the run's own process, which
    holds its lock) they are moved to ``checkpoints/.damaged-<name>``, so that the run can write a
    fresh checkpoint at the same sample count.
    """
    for path in reversed(checkpoints(run_dir)):
        try:
            return path, verify(path)
        except CheckpointError as err:
            if not set_aside:
                print(f"WARNING: {err}; trying the previous checkpoint", file=sys.stderr)
                continue
            aside = os.path.join(os.path.dirname(path), ".damaged-" + os.path.basename(path))
            shutil.rmtree(aside, ignore_errors=True)
            os.rename(path, aside)
            print(f"WARNING: {err}; set aside as {aside}, trying the previous checkpoint", file=sys.stderr)
    return None, None


def restore(run_dir, model, trainer, ctx):
    """Load the newest usable checkpoint of ``run_dir`` into ``model`` (on the contexts ``ctx``) and
    ``trainer``; return its state dict, or None when the run has no checkpoint yet.
    """
    had_any = bool(checkpoints(run_dir))
    path, state = usable(run_dir, set_aside=True)
    if path is None:
        if had_any:
            raise CheckpointError(f"every checkpoint of {run_dir} is damaged; start a new run")
        return None
    stored = read_config(os.path.join(path, "config.json"))
    if stored != model.config:
        raise CheckpointError(f"checkpoint {path} was written by a different model ({stored}); "
                              "resume it with the flags it was trained with")
    model.load_parameters(os.path.join(path, "model.params"), ctx=ctx)
    states = os.path.join(path, "trainer.states")
    if os.path.exists(states):
        trainer.load_states(states)
    else:  # verify passed, so its state.json lists no optimizer: a snapshot kept small on purpose
        print(f"WARNING: {path} holds no optimizer state; the optimizer starts afresh", file=sys.stderr)
    return state


def load_model(directory, ctx=None):
    """The model saved in ``directory`` by ``save``: a :class:`DRAW` or a :class:`Classifier`, as its
    ``config.json`` says."""
    config = read_config(os.path.join(directory, "config.json"))
    model_class = next(m for m in MODELS if m.config_class is type(config))
    return model_class.load(directory, ctx)


def newest(run_dir):
    """The folder holding ``run_dir``'s newest model and the state that counts its images, or
    (None, None): its final ``model.params`` (counted by ``metrics.json``; ``{}`` for a saved model
    that is no run's end), unless the run was resumed past its end and a usable checkpoint has seen
    more images since."""
    path, state = usable(run_dir)
    if not os.path.isfile(os.path.join(run_dir, "model.params")):
        return path, state
    try:
        with open(os.path.join(run_dir, "metrics.json")) as f:
            final = json.load(f)
    except OSError:
        final = {}
    if path is None or final.get("samples_seen", -1) >= state["samples_seen"]:
        return run_dir, final
    return path, state


def load_run(run_dir, ctx=None):
    """The trained model of a run folder (a :class:`DRAW`, or a :class:`Classifier` for a classification
    run): its newest (see :func:`newest`). A long run's committed state (``runs/<name>/``, its one
    checkpoint in ``checkpoint/``) loads too."""
    committed = os.path.join(run_dir, "checkpoint")
    path = committed if os.path.isfile(os.path.join(committed, "model.params")) else newest(run_dir)[0]
    if path is None:
        raise FileNotFoundError(f"{run_dir} holds neither model.params nor a usable checkpoint; "
                                "pass the folder of a training run")
    return load_model(path, ctx)
