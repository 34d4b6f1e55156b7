"""The training loop, counted in samples: validation, pictures, TensorBoard, checkpoints and resume.

A run lives in ``--logdir/<run name>/``: ``args.json`` (the flags), ``config.json``, the mxboard
event file, ``checkpoints/``, ``pictures/`` and, once finished, ``model.params`` and ``metrics.json``.
"""
import collections
import contextlib
import json
import os
import signal
import sys
import time

import mxnet as mx
import numpy as np
from gluoncv.utils import LRScheduler
from mxnet import autograd, gluon
from tqdm import tqdm

from .. import checkpoint, data, model_zoo
from ..io import atomic_dir, atomic_write, exclusive
from ..runlog import RunLog, SilentLog
from .average import ParameterAverage
from ..checkpoint import trainable
from .flags import SCHEDULE, config_from_args, data_options, fields_of, from_flags, inconsistency, parse_args
from .objectives import TASKS, objective_of
INTERRUPTED = 130  # exit code after Ctrl-C, as a shell reports for SIGINT
DIVERGED = 3  # exit code when training stopped on non-finite losses


def evaluate(objective, model, images, labels, ctx, batch_size):
    """The means of the objective's terms (``objective.names``) over ``images`` (N, C, H, W) and
    their ``labels`` (N,) (None for a task without labels).

    Training calls it with the training batch size: under MXNet's threaded engine on CPU, one pass
    at a larger batch made every later training step over 2x slower (docs/performance.md).
    """
    totals = np.zeros(len(objective.names))
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        [part] = split_batch(images[batch], None if labels is None else labels[batch], [ctx])
        totals += [t.sum().asscalar() for t in objective.terms(model, part.x, part.y)]
    return dict(zip(objective.names, (totals / len(images)).tolist()))


def make_trainer(model, args, num_devices, kvstore=None):
    """Adam over the trainable parameters, with a gluoncv learning-rate schedule over the run.

    Gradients are all-reduced across devices (and, with a dist ``kvstore``, across workers) by the
    kvstore and clipped before each update, so the kvstore must not apply the update itself.
    """
    return gluon.Trainer(trainable(model), "adam", {"learning_rate": args.learning_rate,
                                                     "lr_scheduler": lr_schedule(args)},
                         kvstore=kvstore or ("device" if num_devices > 1 else None), update_on_kvstore=False)


Workers = collections.namedtuple("Workers", "kvstore rank count")
Workers.__doc__ = """This process's place in a job: the dist kvstore (None alone), its rank and the
number of workers. Rank 0 leads: it alone writes the run folder."""
ALONE = Workers(None, 0, 1)


def join_workers(args):
    """The job this process belongs to: a dist kvstore for ``--kvstore dist_*``, else alone."""
    if not (args.kvstore or "").startswith("dist"):
        return ALONE
    kvstore = mx.kv.create(args.kvstore)
    return Workers(kvstore, kvstore.rank, kvstore.num_workers)


def lr_schedule(args, done=0):
    """gluoncv's ``LRScheduler`` for ``--lr_schedule`` over the run's ``-t`` samples, for an optimizer
    that counts its updates from 0 although the run has already made ``done`` of them."""
    steps = max(1, -(-args.num_train_samples // args.batch_size))
    # MXNet's optimizer counts updates from 1: offset 1 gives the first update the base rate, and
    # one iteration more than there are updates keeps the last one from running at rate 0.
    return LRScheduler(args.lr_schedule, base_lr=args.learning_rate, target_lr=0, niters=steps + 1,
                       offset=1 - done, step_iter=[steps // 2, 3 * steps // 4])


Step = collections.namedtuple("Step", "terms grad_norm updated")
Step.__doc__ = """One update: ``terms`` (the batch means of the objective's terms by name, the loss
first), the norm of the mean gradient before clipping, and whether the parameters were updated."""
Step.loss = property(lambda step: step.terms["loss"])


def train_step(model, objective, trainer, parts, clip, total=None):
    """One update on the batch ``parts`` (one :class:`Part` per device, see :func:`split_batch`),
    skipped if a term or the gradient is not finite; the mean gradient's norm is clipped at ``clip``.
    ``total`` is the whole batch's size when other workers hold the rest of it (their gradients are
    summed with ours by the kvstore). Returns a :class:`Step` of this process's slices."""
    with autograd.record():
        terms = [objective.terms(model, part.x, part.y) for part in parts]
        # a filler's loss counts 0 times: its device's gradient is zero, but fresh for the all-reduce
        losses = [t[0] if part.count else 0 * t[0] for t, part in zip(terms, parts)]
    autograd.backward(losses)
    trainer.allreduce_grads()
    params = trainable(model)
    mine = sum(part.count for part in parts)
    n = total or mine
    # The gradients are of the batch's summed loss; the optimizer divides them by n. Clipping their
    # norm at clip * n clips the mean gradient's norm at clip, whatever the batch size or devices.
    norms = [gluon.utils.clip_global_norm([p.grad(part.x.context) for p in params], clip * n, check_isfinite=False)
             for part in parts]
    means = {name: sum(t[k].sum().asscalar() for t, part in zip(terms, parts) if part.count) / max(mine, 1)
             for k, name in enumerate(objective.names)}
    norm = norms[0].asscalar() / n
    # Every worker sees the same summed gradient, so all skip (or all apply) the same updates.
    finite = bool(np.isfinite(list(means.values()) + [norm]).all())
    if finite:  # a skipped update leaves the parameters and Adam's moments as they were
        trainer.update(n)
    return Step(means, norm, finite)


Part = collections.namedtuple("Part", "x y count")
Part.__doc__ = """One device's slice of a batch: images ``x`` and labels ``y`` (float32, or None without
labels) on that device, and how many of its rows belong to the batch (0 for a filler)."""


def split_batch(images, labels, ctxs, workers=ALONE):
    """This process's share of a batch (NumPy images and labels or None) that every worker of the
    job drew alike, one :class:`Part` per device of ``ctxs``: the batch is cut into as many even,
    contiguous slices as the job has devices, worker ``r`` taking the ``r``-th run of ``len(ctxs)``.

    A device whose slice is empty (a batch smaller than the job's devices, as a run's last one can
    be) gets the batch's first image as a filler of weight 0: every device must run a backward pass,
    or the all-reduce would mix in its stale gradient, and the update stays the mean over the
    batch's own images.
    """
    slices, first = len(ctxs) * workers.count, workers.rank * len(ctxs)
    ends = [-(-len(images) * k // slices) for k in range(first, first + len(ctxs) + 1)]  # the first slices fill first
    parts = []
    for ctx, begin, end in zip(ctxs, ends, ends[1:]):
        rows = slice(begin, end) if end > begin else slice(0, 1)
        y = None if labels is None else mx.nd.array(labels[rows], ctx=ctx, dtype=np.float32)
        parts.append(Part(mx.nd.array(images[rows], ctx=ctx), y, end - begin))
    return parts


class StopRequest:
    """Turns the first Ctrl-C (or SIGTERM) into a flag checked between updates; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def open_run(args, config):
    """The run folder: the one being resumed, or a new one that appears complete with ``args.json``
    and ``config.json`` (so that a run killed at once can still be resumed)."""
    if args.resume:
        return args.resume
    suffix = "-classifier" if args.task == "classify" else "-attention" if config.attention else ""
    name = args.run_name or time.strftime("%Y%m%d-%H%M%S") + suffix
    run_dir = os.path.join(args.logdir, name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"{run_dir} exists already; pick another --run_name, or continue "
                              f"that run with --resume {run_dir}")
    try:
        with atomic_dir(run_dir, replace=False) as tmp:
            atomic_write(os.path.join(tmp, "args.json"), (json.dumps(args.stored(), indent=2) + "\n").encode())
            config.to_json(os.path.join(tmp, "config.json"))
    except OSError as err:  # including another process creating run_dir at the same moment
        raise OSError(f"cannot create a run folder in --logdir {args.logdir} ({err.strerror or err}); "
                      "choose a folder you can write to") from None
    return run_dir


def validate(objective, model, images, labels, batch_size, ctx, log, seen, average=None):
    """Score ``images`` (and ``labels``), log the scores (``valid/``) and the objective's pictures in
    ``log`` (a :class:`~draw_gluon.runlog.RunLog`) at ``seen``; return the scores. With a parameter
    ``average`` (``--ema``), also its scores (``valid_ema/``, returned as ``ema_<name>``), and the
    pictures are the average's."""
    val = evaluate(objective, model, images, labels, ctx, batch_size)
    log.scalars("valid", val, seen)
    with average.applied() if average else contextlib.nullcontext():
        if average:
            averaged = evaluate(objective, model, images, labels, ctx, batch_size)
            log.scalars("valid_ema", averaged, seen)
            val.update({f"ema_{name}": value for name, value in averaged.items()})
        log.pictures(objective.pictures(model, images, labels), seen)
    return val


class Diverged(RuntimeError):
    """Too many updates in a row had a non-finite loss or gradient."""


def train(args, ctxs=None, dataset=None):
    """Run (or resume) the training described by ``args``; returns ``(run_dir, metrics)``, or
    ``(run_dir, None)`` when stopped by Ctrl-C after writing a checkpoint.

    ``ctxs`` overrides the devices chosen by ``--gpu``/``--gpus`` (a list of contexts); ``dataset``
    (a ``data.Dataset``) the data named by ``--dataset``. Raises
    :class:`Diverged` (after checkpointing the last good state) when ``--max_nonfinite`` updates in
    a row were skipped, and ``OSError`` when a file cannot be written (earlier checkpoints intact).
    """
    ctxs = ctxs or ([mx.gpu(i) for i in args.gpus] if args.gpus else [mx.cpu()])
    if TASKS[args.task].needs_labels and args.dataset not in data.LABELLED:
        raise ValueError(f"--task {args.task} needs labels and {args.dataset} has none; pick a labelled "
                         f"dataset ({', '.join(data.LABELLED)})")
    dataset = dataset or data.load(args.dataset, args.data_dir, args.binarize, **data_options(args))
    train_images = dataset.splits["train"]
    config = config_from_args(args, channels=train_images.shape[1])
    objective = objective_of(args, config, dataset)
    if train_images.shape[1:] != config.image_shape:
        _, height, width = train_images.shape[1:]
        raise ValueError(f"dataset images are {height}x{width}, the model's {config.image_shape[1]}x"
                         f"{config.image_shape[2]}; pass -hh {height} -ww {width} (or --resize for a folder)")
    if args.batch_size > len(train_images):
        raise ValueError(f"--batch_size {args.batch_size} exceeds the {len(train_images)} training images")
    initial = trained_like(args.init_from, config) if args.init_from and not args.resume else None
    workers = join_workers(args)
    lead = workers.rank == 0
    run_dir = open_run(args, config) if lead else args.resume  # the other workers write nothing
    with exclusive(run_dir) if lead else contextlib.nullcontext():
        try:
            model, state, average = _train_loop(args, ctxs, dataset, objective, run_dir, workers, initial)
        except OSError as err:
            raise OSError(f"{err.strerror or err} while writing {err.filename or run_dir}; its earlier "
                          f"checkpoints are intact: fix that, then continue with --resume {run_dir}") from None
        if state.samples_seen < args.num_train_samples:
            print(f"stopped after {state.samples_seen} samples; checkpoint written. Continue with: "
                  f"python train_mnist.py --resume {run_dir}", file=sys.stderr)
            return run_dir, None
        if not lead:
            return run_dir, {}
        with average.applied() if average else contextlib.nullcontext():  # the model validated is shipped
            model.save(run_dir)
            metrics = final_metrics(objective, model, dataset, state, args.batch_size)
        atomic_write(os.path.join(run_dir, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"test {objective.score_summary(metrics['test'])}; run saved in {run_dir}")
    return run_dir, metrics


def prepare(args, objective, ctxs, dataset, run_dir, workers=ALONE, initial=None):
    """Model, trainer, training batches, run state and parameter average (``--ema``, else None): new
    (its parameters drawn, or those of the trained model ``initial``), or from the run's newest usable
    checkpoint (which only the lead worker, holding the run's lock, may set aside when damaged)."""
    mx.random.seed(args.seed)  # the initial parameters
    model = objective.build()
    model.initialize(mx.init.Xavier(), ctx=ctxs)
    # Every parameter drawn now, from --seed alone: those of deferred shape would otherwise be drawn
    # at the first update, after the loop has reseeded by sample count and worker.
    model(mx.nd.zeros((1,) + objective.config.image_shape, ctx=ctxs[0]))
    if initial is not None:
        trained = initial._collect_params_with_prefix()
        for name, param in model._collect_params_with_prefix().items():
            param.set_data(trained[name].data())
    if args.hybridize:
        model.hybridize(static_alloc=True)
    trainer = make_trainer(model, args, len(ctxs), workers.kvstore)
    batches = data.Batches(dataset.splits["train"], args.batch_size, args.seed, dataset.dynamic,
                           dataset.labels.get("train") if objective.needs_labels else None, dataset.remake,
                           objective.corruption)
    average = ParameterAverage(model, args.ema) if args.ema else None
    restored = (checkpoint.restore(run_dir, model, trainer, ctxs, set_aside=workers.rank == 0, average=average)
                if args.resume else None)
    state = restored or checkpoint.RunState()
    if restored:
        check_same_data(restored.data_sha256, dataset.sha256, args.accept_unverified_data)
        batches.restore(state.batches)
        # The schedule follows the run's own updates, under the -t given now (a resume may stretch
        # it). The optimizer's counter misses those made before it started afresh (from a snapshot
        # kept without it), in this resume or an earlier one: offset the schedule by the difference.
        trainer.optimizer.lr_scheduler = lr_schedule(args, state.updates(args.batch_size) - trainer.optimizer.num_update)
    # args.json keeps the flags the run started with; the checkpoints say what it trains under now
    state.schedule = {k: getattr(args, k) for k in fields_of(SCHEDULE)}
    state.data_sha256 = dataset.sha256  # the data read now, whatever the run read before
    state.accepted_unverified_data = state.accepted_unverified_data or args.accept_unverified_data
    return model, trainer, batches, state, average


def trained_like(source, config):
    """The trained model ``--init_from`` names (a run folder, a folder written by ``save``, or a shipped
    model's name), which must have the ``config`` the flags build."""
    try:
        trained = checkpoint.load_run(model_zoo.resolve(source))
    except FileNotFoundError as err:
        raise ValueError(f"--init_from {source}: {err}") from None
    if trained.config != config:
        differ = [f"{k} {v} (flags: {getattr(config, k)})" for k, v in vars(trained.config).items()
                  if v != getattr(config, k, None)]
        raise ValueError(f"--init_from {source} is a model of another shape: {', '.join(differ) or type(trained.config).__name__}; "
                         "give the flags that build it (its recipe, or the flags in its args.json)")
    return trained


def check_same_data(trained_on, now, accept):
    """Stop (``ValueError``) if the data's SHA-256 per split ``now`` differs from what the run
    ``trained_on``; with ``accept``, say so loudly and go on."""
    changed = sorted(s for s in set(trained_on) | set(now) if trained_on.get(s) != now.get(s))
    if not changed:
        return
    problem = (f"the {', '.join(changed)} split(s) read now have SHA-256 {[now.get(s) for s in changed]}, but this "
               f"run trained on {[trained_on.get(s) for s in changed]}")
    if not accept:
        raise ValueError(f"{problem}; pass the run's own --data-dir, or --accept_unverified_data to go on with these")
    print(f"WARNING: {problem}; going on as --accept_unverified_data asks", file=sys.stderr)


def _train_loop(args, ctxs, dataset, objective, run_dir, workers=ALONE, initial=None):
    """Train until the sample budget or a stop request (from the trained model ``initial``, if given);
    returns the model, the run state and the parameter average (or None)."""
    model, trainer, batches, state, average = prepare(args, objective, ctxs, dataset, run_dir, workers, initial)
    valid = split_of(dataset, objective, "valid", args.num_val_samples)
    lead, nonfinite, started = workers.rank == 0, 0, time.time()

    def save_checkpoint():
        nonlocal started
        state.wall_time_s, started = state.wall_time_s + time.time() - started, time.time()
        if lead:
            state.batches = batches.state()
            checkpoint.save(run_dir, model, trainer, state, average)

    with RunLog(run_dir, state.samples_seen) if lead else SilentLog() as log, StopRequest() as stop, \
            tqdm(total=args.num_train_samples, initial=state.samples_seen, unit="img", dynamic_ncols=True,
                 disable=not lead) as bar:
        while state.samples_seen < args.num_train_samples and not stop.requested:
            previous = state.samples_seen
            step, speed = train_batch(args, model, objective, trainer, batches, ctxs, workers, state)
            seen, nonfinite = state.samples_seen, 0 if step.updated else nonfinite + 1
            if average and step.updated:
                average.update()
            log.scalars("train", dict(step.terms, grad_norm=step.grad_norm, learning_rate=trainer.learning_rate,
                                      samples_per_s=speed, skipped_updates=state.skipped_updates), seen)
            bar.update(seen - previous)
            bar.set_postfix({k: f"{v:.3g}" for k, v in step.terms.items()})
            if nonfinite >= args.max_nonfinite:
                save_checkpoint()
                raise Diverged(f"{nonfinite} updates in a row had a non-finite loss or gradient (at {seen} "
                               f"samples) and were skipped; the last good parameters are checkpointed in "
                               f"{run_dir}. Start a new run with a lower --learning_rate (this one: "
                               f"{args.learning_rate}) or --clip")
            finished = seen >= args.num_train_samples
            if lead and (finished or seen // args.val_freq > previous // args.val_freq):
                val = validate(objective, model, *valid, args.batch_size, ctxs[0], log, seen, average)
                state.validation.append(dict(samples=seen, wall_time_s=state.wall_time_s + time.time() - started,
                                             **val))
                averaged = {k[4:]: v for k, v in val.items() if k.startswith("ema_")}
                bar.write(f"{seen} samples: validation {objective.summary(val)}"
                          + (f"; with the parameter average {objective.summary(averaged)}" if averaged else ""))
            if finished or stop.requested or seen // args.checkpoint_freq > previous // args.checkpoint_freq:
                save_checkpoint()
    return model, state, average


def train_batch(args, model, objective, trainer, batches, ctxs, workers, state):
    """The next batch, one update on it (:func:`train_step`), and the run state counted on: returns
    the :class:`Step` and the images per second it took."""
    tick = time.perf_counter()
    batch, labels = batches.next(args.num_train_samples - state.samples_seen)
    parts = split_batch(batch, labels, ctxs, workers)
    # Each batch's noise from the samples seen before it, so that a run stopped anywhere and resumed
    # draws what an unstopped one does; and from the rank, as each worker's share needs noise of its
    # own (MXNet seeds each device apart, but every worker trains on its device 0).
    mx.random.seed((args.seed + state.samples_seen) * workers.count + workers.rank)
    fetched = time.perf_counter()
    step = train_step(model, objective, trainer, parts, args.clip, total=len(batch))
    done = time.perf_counter()
    state.data_time_s += fetched - tick
    state.train_time_s += done - tick
    state.samples_seen += len(batch)
    state.skipped_updates += not step.updated
    return step, len(batch) / (done - tick)


def fit(train_images, valid_images, test_images=None, ctxs=None, **flags):
    """Train DRAW on NumPy arrays with the loop of ``train_mnist.py``: the same run folder,
    checkpoints, pictures and TensorBoard logs.

    Parameters
    ----------
    train_images, valid_images, test_images : float arrays (N, C, H, W) with values in [0, 1]
        The model draws images of this shape. Without ``test_images`` the final test scores are
        those of the validation images.
    ctxs : list of Context, optional
        Devices (default: the CPU, or the GPUs named by ``gpus``).
    **flags
        Any field of :class:`~draw_gluon.train.flags.TrainConfig` (a ``train_mnist.py`` flag by its long
        name; version 0.x's names too): ``num_train_samples=200_000``,
        ``attention=True``, ``num_steps=16``, ``learning_rate=3e-3``, ``logdir="results"``,
        ``run_name="mine"``, ``resume="results/mine"``...

    Returns
    -------
    (model, run_dir, metrics) : the trained :class:`~draw_gluon.DRAW`, its run folder and the
    contents of its ``metrics.json`` (``metrics`` is None if stopped early by Ctrl-C).
    """
    splits = {"train": train_images, "valid": valid_images,
              "test": valid_images if test_images is None else test_images}
    for split, images in splits.items():
        data.check_images(images, f"the {split} split", np.shape(train_images)[1:])
    try:
        args = from_flags(dict(flags, dataset="arrays", task="generate"))
    except TypeError as err:
        raise TypeError(f"fit() got {err}") from None
    args.input_height, args.input_width = np.shape(train_images)[2:]
    problem = inconsistency(args)
    if problem:
        raise ValueError(problem)
    dataset = data.Dataset({k: np.asarray(v, dtype=np.float32) for k, v in splits.items()}, {}, False, {})
    run_dir, metrics = train(args, ctxs, dataset)
    return checkpoint.load_run(run_dir, (ctxs or [mx.cpu()])[0]), run_dir, metrics


def split_of(dataset, objective, split, limit=None):
    """The first ``limit`` images of a split and, if the objective uses them, their labels (else
    None); with the objective's corruption, the corrupted images and the images themselves."""
    images = dataset.splits[split][:limit]
    if objective.corruption is not None:
        return objective.corruption.fixed(images, split), images
    return images, dataset.labels[split][:limit] if objective.needs_labels else None


def final_metrics(objective, model, dataset, state, batch_size):
    """Whole-split scores (those of ``draw-gluon evaluate``) and the run's bookkeeping, as written to
    ``metrics.json``."""
    return {**{split: objective.score(model, *split_of(dataset, objective, split), batch_size=batch_size)
               for split in ("test", "valid")},
            "samples_seen": state.samples_seen, "wall_time_s": state.wall_time_s,
            "samples_per_s": state.samples_seen / max(state.train_time_s, 1e-9),
            "data_wait_share": state.data_time_s / max(state.train_time_s, 1e-9),
            "skipped_updates": state.skipped_updates, "data_sha256": state.data_sha256,
            "accepted_unverified_data": state.accepted_unverified_data,
            "schedule": state.schedule, "validation": state.validation}


def main(argv=None):
    args = parse_args(argv)
    try:
        _, metrics = train(args)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Diverged as err:
        print(f"error: {err}", file=sys.stderr)
        return DIVERGED
    return 0 if metrics is not None else INTERRUPTED
