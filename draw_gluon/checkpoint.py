"""Checkpoints of a training run, each a complete folder or nothing, and none of it pickled.

``RUN_DIR/checkpoints/<samples seen, 10 digits>/`` holds ``config.json`` and ``model.params`` (so
:func:`load_model` reads it), ``optimizer.nd`` (the optimizer's per-parameter state, Adam's moments,
in MXNet's NDArray file format, keyed ``<parameter>/<k>``) and ``state.json`` (samples seen, data
order and RNG state, validation history, the optimizer's update counts, and the SHA-256 of the two
binary files). A checkpoint is written into a hidden temp folder, fsynced and renamed; older ones
are deleted only after that. A checkpoint damaged later (say, truncated by a failing disk) fails its
hash check and is set aside, and the previous one is used. One may leave out ``optimizer.nd`` and
its entries (a long run's committed snapshot, kept small): resuming from it starts the optimizer afresh.

Nothing here unpickles: the hashes in ``state.json`` sit beside the files they check, so they catch
damage, not a file made to attack. Checkpoints written before version 1.0 keep the optimizer in
``trainer.states``, MXNet's pickle; a resume refuses them, and :func:`convert_legacy` (``draw-gluon
convert-checkpoint``) rewrites one whose origin the user trusts.
"""
import dataclasses
import glob
import json
import os
import pickle
import shutil
import sys

import mxnet as mx
from mxnet.gluon import HybridBlock

from .config import DRAWConfig, read_config
from .io import atomic_dir, atomic_path, atomic_write, file_digest

KEEP = 2
OPTIMIZER = "optimizer.nd"
BINARIES = ("model.params", OPTIMIZER)
LEGACY = "trainer.states"  # before 1.0: the optimizer pickled by gluon.Trainer.save_states


class CheckpointError(ValueError):
    """A checkpoint is incomplete, damaged, or belongs to another model."""


@dataclasses.dataclass
class RunState:
    """Where a training run stands: what its checkpoints' ``state.json`` record, besides the
    optimizer's update counts and the files' hashes that :func:`save` adds."""

    samples_seen: int = 0
    skipped_updates: int = 0  # updates skipped for a non-finite loss or gradient
    train_time_s: float = 0.0  # in training steps, waiting for data included
    data_time_s: float = 0.0  # waiting for data
    wall_time_s: float = 0.0
    validation: list = dataclasses.field(default_factory=list)  # {samples, wall_time_s, scores...} each
    schedule: dict = dataclasses.field(default_factory=dict)  # the flags it trains under now (-t, -r)
    data_sha256: dict = dataclasses.field(default_factory=dict)  # of each split as read now
    accepted_unverified_data: bool = False
    batches: dict = None  # data.Batches.state(): the data order and its RNG

    def updates(self, batch_size):
        """The updates the run has made: its batches less the skipped ones."""
        return -(-self.samples_seen // batch_size) - self.skipped_updates

    @classmethod
    def from_json(cls, fields):
        """The state a ``state.json`` holds (the fields of earlier versions it lacks take their defaults)."""
        return cls(**{f.name: fields[f.name] for f in dataclasses.fields(cls) if f.name in fields})


class SavedBlock(HybridBlock):
    """A block built from one config object (``self.config``, of type ``config_class``), saved as
    ``config.json`` plus ``model.params`` and rebuilt from them: :class:`~draw_gluon.DRAW` and
    :class:`~draw_gluon.Classifier`."""

    config_class = DRAWConfig

    def save(self, directory):
        """Write ``config.json`` and ``model.params`` into ``directory`` (created if missing)."""
        os.makedirs(directory, exist_ok=True)
        self.config.to_json(os.path.join(directory, "config.json"))
        with atomic_path(os.path.join(directory, "model.params")) as tmp:
            self.save_parameters(tmp)

    @classmethod
    def load(cls, directory, ctx=None):
        """Rebuild a model saved with :meth:`save` (config and parameters) on ``ctx``; from a checkpoint
        of a run with ``--ema``, with the parameter average (``ema.params``), the model it validates."""
        model = cls(cls.config_class.from_json(os.path.join(directory, "config.json")))
        average = os.path.join(directory, "ema.params")
        params = average if os.path.isfile(average) else os.path.join(directory, "model.params")
        model.load_parameters(params, ctx=ctx or mx.current_context())
        return model


def trainable(block):
    """The parameters that Adam updates (learned initial states included; fixed ones excluded)."""
    return [p for p in block.collect_params().values() if p.grad_req != "null"]


def save(run_dir, model, trainer, state, average=None):
    """Write a checkpoint of ``model``, ``trainer``, the :class:`RunState` ``state`` and the parameter
    ``average`` (``--ema``, or None); return its path."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"{state.samples_seen:010d}")
    if os.path.isdir(final):  # same sample count, same state: nothing new to write
        return final
    # Left by a process killed while saving; the run's lock says no one else is writing here.
    for stale in glob.glob(os.path.join(root, ".partial-*")) + glob.glob(os.path.join(root, ".old-*")):
        shutil.rmtree(stale, ignore_errors=True)
    with atomic_dir(final) as partial:
        model.save(partial)
        counts = save_optimizer(trainer, parameter_names(model, trainer._params), os.path.join(partial, OPTIMIZER))
        extra = {}
        if average is not None:
            average.save(os.path.join(partial, average.FILE))
            extra["ema_updates"] = average.updates
        files = {name: file_digest(os.path.join(partial, name), "sha256") for name in sorted(os.listdir(partial))
                 if name != "config.json"}
        atomic_write(os.path.join(partial, "state.json"),
                     json.dumps(dict(dataclasses.asdict(state), optimizer=counts, files=files, **extra)).encode())
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
    """The contents of checkpoint ``path``'s ``state.json`` once its files are all there and match
    their hashes (listed in its ``files``); raises :class:`CheckpointError` otherwise."""
    try:
        with open(os.path.join(path, "state.json")) as f:
            state = json.load(f)
        read_config(os.path.join(path, "config.json"))
        for name, digest in state["files"].items():
            if file_digest(os.path.join(path, name), "sha256") != digest:
                raise CheckpointError(f"{name} does not match the hash written with it")
        if OPTIMIZER in state["files"] and "optimizer" not in state:
            raise CheckpointError("state.json lacks the optimizer's update counts")
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
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


def restore(run_dir, model, trainer, ctx, set_aside=True, average=None):
    """Load the newest usable checkpoint of ``run_dir`` into ``model`` (on the contexts ``ctx``),
    ``trainer`` and the parameter ``average`` (which starts at the parameters where the checkpoint has
    none); return its :class:`RunState`, or None when the run has no checkpoint yet. ``set_aside``:
    see :func:`usable` (only the process that holds the run's lock may move folders).
    """
    had_any = bool(checkpoints(run_dir))
    path, state = usable(run_dir, set_aside)
    if path is None:
        if had_any:
            raise CheckpointError(f"every checkpoint of {run_dir} is damaged; start a new run")
        return None
    stored = read_config(os.path.join(path, "config.json"))
    if stored != model.config:
        raise CheckpointError(f"checkpoint {path} was written by a different model ({stored}); "
                              "resume it with the flags it was trained with")
    files, counts, averaged = state.pop("files"), state.pop("optimizer", None), state.pop("ema_updates", 0)
    if LEGACY in files:
        raise CheckpointError(f"checkpoint {path} keeps the optimizer in {LEGACY}, a pickle, which can run any "
                              "code when loaded, so it is not read; if you trust where it came from, convert it "
                              f"once with: draw-gluon convert-checkpoint {run_dir}")
    model.load_parameters(os.path.join(path, "model.params"), ctx=ctx)
    if OPTIMIZER in files:
        load_optimizer(trainer, parameter_names(model, trainer._params), os.path.join(path, OPTIMIZER), counts)
    else:  # verify passed, so its state.json lists no optimizer: a snapshot kept small on purpose
        print(f"WARNING: {path} holds no optimizer state; the optimizer starts afresh", file=sys.stderr)
    if average is not None:
        try:
            average.load(os.path.join(path, average.FILE), averaged) if average.FILE in files else average.reset()
        except ValueError as err:
            raise CheckpointError(str(err)) from None
    return RunState.from_json(state)


# ------------------------------------------------------------------ the optimizer's state, unpickled
# gluon.Trainer can only pickle its optimizer (save_states), so these read its updaters' states and
# the optimizer's update counts directly: private attributes of MXNet 1.9.1, the last MXNet 1.x.

def parameter_names(model, params):
    """The structural names (those of ``model.params``) of ``params``, parameters of ``model``."""
    names = {id(p): name for name, p in model._collect_params_with_prefix().items()}
    return [names[id(p)] for p in params]


def _leaves(state):
    """The NDArrays of an optimizer state (Adam's: ``(mean, var)``), in a fixed order."""
    if isinstance(state, mx.nd.NDArray):
        return [state]
    return [leaf for part in (state or ()) for leaf in _leaves(part)]


def save_optimizer(trainer, names, path):
    """Write the per-parameter state of ``trainer``'s optimizer to ``path`` (MXNet's NDArray file,
    keys ``<name>/<k>`` for the parameters ``names`` in the trainer's order); return its update
    counts as a JSON-able dict."""
    states = trainer._updaters[0].states  # every device's updater holds the same, after all-reduce
    arrays = {f"{names[i]}/{k}": leaf for i, state in states.items() for k, leaf in enumerate(_leaves(state))}
    with atomic_path(path) as tmp:
        mx.nd.save(tmp, arrays)
    return optimizer_counts(trainer.optimizer, names)


def optimizer_counts(optimizer, names):
    """The optimizer's update counts: in all (the learning-rate schedule's clock), and per parameter
    (Adam's bias correction)."""
    counts = optimizer._index_update_count
    return {"num_update": optimizer.num_update,
            "update_count": {names[i]: count for i, count in counts.items()}}


def load_optimizer(trainer, names, path, counts):
    """Give ``trainer`` the optimizer state :func:`save_optimizer` wrote, on every device, exactly."""
    arrays, optimizer = mx.nd.load(path), trainer.optimizer
    try:
        for i, (name, param) in enumerate(zip(names, trainer._params)):
            if f"{name}/0" not in arrays:
                continue  # never updated
            for updater, ctx in zip(trainer._updaters, trainer._contexts):
                state = optimizer.create_state_multi_precision(i, param.data(ctx))
                for k, leaf in enumerate(_leaves(state)):
                    stored = arrays[f"{name}/{k}"]
                    if stored.shape != leaf.shape:  # an NDArray assignment would broadcast it
                        raise KeyError(f"{name}/{k} has shape {stored.shape}, the parameter {leaf.shape}")
                    stored.copyto(leaf)
                updater.states[i], updater.states_synced[i] = state, True
        index = {name: i for i, name in enumerate(names)}
        per_parameter = {index[name]: count for name, count in counts["update_count"].items()}
    except KeyError as err:
        raise CheckpointError(f"{path} does not fit this model's optimizer ({err.args[0]}); resume it with the "
                              "flags it was trained with") from None
    optimizer._all_index_update_counts = {ctx.device_id: dict(per_parameter) for ctx in trainer._contexts}
    optimizer._index_update_count = optimizer._all_index_update_counts[trainer._contexts[0].device_id]
    optimizer.num_update = counts["num_update"]


def drop_optimizer(path):
    """Leave the parameters alone in checkpoint ``path`` (a long run's committed state, kept small):
    a resume from it starts the optimizer afresh and keeps the learning-rate schedule where it was."""
    state = verify(path)
    del state["files"][OPTIMIZER], state["optimizer"]
    atomic_write(os.path.join(path, "state.json"), json.dumps(state).encode())
    os.remove(os.path.join(path, OPTIMIZER))


def checkpoint_folders(path):
    """The checkpoint folders at ``path``: itself if it is one, else a run's ``checkpoints/*`` and a
    long run's committed ``checkpoint/``."""
    if os.path.isfile(os.path.join(path, "state.json")):
        return [path]
    committed = os.path.join(path, "checkpoint")
    return checkpoints(path) + ([committed] if os.path.isfile(os.path.join(committed, "state.json")) else [])


def convert_legacy(path):
    """Rewrite the checkpoint folder ``path`` of version 0.x, whose optimizer is pickled in
    ``trainer.states``, into :func:`save`'s form; return whether there was anything to convert.

    This unpickles ``trainer.states``, which runs whatever code the file asks for: call it only on
    files whose origin you trust. Each step is atomic, so an interrupted conversion can be repeated.
    """
    state = verify(path)
    legacy = os.path.join(path, LEGACY)
    if LEGACY not in state["files"]:
        if os.path.exists(legacy):  # left by a conversion interrupted after its state.json
            os.remove(legacy)
        return False
    with open(legacy, "rb") as f:
        stored = pickle.load(f)  # noqa: S301 -- the user vouched for this file
    states, optimizer = stored if isinstance(stored, tuple) else (stored, None)
    if optimizer is None:
        raise CheckpointError(f"{legacy} lacks the optimizer's update counts; it cannot be converted")
    model = load_model(path)
    names = parameter_names(model, trainable(model))
    arrays = {f"{names[i]}/{k}": leaf for i, s in states.items() for k, leaf in enumerate(_leaves(s))}
    with atomic_path(os.path.join(path, OPTIMIZER)) as tmp:
        mx.nd.save(tmp, arrays)
    files = dict(state.pop("files"))
    del files[LEGACY]
    files[OPTIMIZER] = file_digest(os.path.join(path, OPTIMIZER), "sha256")
    state.update(optimizer=optimizer_counts(optimizer, names), files=files)
    atomic_write(os.path.join(path, "state.json"), json.dumps(state).encode())
    os.remove(legacy)
    return True


def load_model(directory, ctx=None):
    """The model saved in ``directory`` by ``save``: a :class:`DRAW` or a :class:`Classifier`, as its
    ``config.json`` says."""
    from .classifier import Classifier  # imported here: the models' modules import this one
    from .model import DRAW

    config = read_config(os.path.join(directory, "config.json"))
    model_class = next(m for m in (DRAW, Classifier) if m.config_class is type(config))
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
