"""``draw-gluon``: look at, measure and ship a trained run.

    draw-gluon sample RUN_DIR        samples: PNG grid, drawing GIFs with the write window
    draw-gluon reconstruct RUN_DIR   test images redrawn, read and write windows
    draw-gluon latent RUN_DIR        walks between random latent sequences, as a GIF
    draw-gluon evaluate RUN_DIR      bound and importance-weighted NLL, JSON and a KL-per-glimpse plot;
                                     for a classifier: error rate, JSON and its glimpse paths
    draw-gluon export RUN_DIR        symbol + params for gluon.SymbolBlock.imports, or --format onnx
    draw-gluon demo RUN_DIR          a web page where the model draws in the browser (onnxruntime-web);
                                     --serve serves it on 127.0.0.1

Each command writes a folder, ``RUN_DIR/<command>`` (``RUN_DIR/evaluate-<split>-k<K>``) unless
``--out`` says otherwise, and prints the paths it wrote. RUN_DIR is a ``train_mnist.py`` run (its
final model, else its newest checkpoint), any folder written by ``DRAW.save``, or the name of a
pretrained model (``draw_gluon.pretrained``; output then goes to ``./<name>-<command>``);
``evaluate`` and ``export`` also take a classifier's.
"""
import json
import os
import sys

import mxnet as mx

from . import checkpoint, data, model_zoo, viz
from .checkpoint import load_run
from .classifier import Classifier
from .evaluation import evaluate_classifier, evaluate_nll
from .demo import make_demo, server
from .export import export_model
from .io import write_folder
from .pictures import draw_latent_walks, draw_reconstructions, draw_samples, glimpse_pictures
from .train import ArgumentParser, check_gpus, positive_float, positive_int


def build_parser():
    p = ArgumentParser(prog="draw-gluon", description="Use a trained DRAW run: pictures, scores, export.")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=ArgumentParser)

    def command(name, help, pictures=False, images=False):
        c = commands.add_parser(name, help=help, description=help)
        c.add_argument("run_dir", metavar="RUN_DIR",
                       help="a training run, a folder written by DRAW.save, or a pretrained model's name "
                            f"({', '.join(model_zoo.names()) or 'none shipped'})")
        default = "evaluate-SPLIT-kSAMPLES" if name == "evaluate" else name
        c.add_argument("--out", help=f"output folder; an earlier output folder there is replaced (default: RUN_DIR/{default})")
        c.add_argument("--seed", type=int, default=0, help="seed of the noise: same seed, same output")
        c.add_argument("--gpu", action="store_true", help="run on GPU 0 (needs the mxnet-cu112 build)")
        if pictures:
            c.add_argument("--scale", type=positive_int, default=4, help="upscaling factor of the pictures")
            c.add_argument("--seconds", type=positive_float, default=4.0, help="duration of each GIF")
        if images:
            c.add_argument("--split", choices=data.SPLITS, default="test", help="which images")
            c.add_argument("--dataset", choices=data.DATASETS, default=None,
                           help="default: the dataset the run was trained on")
            c.add_argument("--data_dir", "--data-dir", default=None,
                           help="as for train_mnist.py (default: the run's, then $DRAW_DATA_DIR)")
            c.add_argument("--target", choices=data.targets.TARGETS, default=None,
                           help="score and draw toward clean images from corrupted ones, as train_mnist.py's "
                                "--target (default: the run's own)")
            c.add_argument("--noise", type=positive_float, default=None, help="for --target denoise (default: the run's)")
            c.add_argument("--mask", type=positive_int, default=None, help="for --target inpaint (default: the run's)")
            c.add_argument("--accept_unverified_data", action="store_true",
                           help="go on with binarized MNIST whose SHA-256 is not the published one")
        return c

    command("sample", "unconditional samples drawn glimpse by glimpse", pictures=True).add_argument(
        "--num", type=positive_int, default=16, help="number of samples")
    command("reconstruct", "images of a split redrawn by the model", pictures=True, images=True).add_argument(
        "--num", type=positive_int, default=16, help="NUM images spread evenly over the split")
    latent = command("latent", "walks through latent space", pictures=True)
    latent.add_argument("--num", type=positive_int, default=8, help="number of walks")
    latent.add_argument("--frames", type=positive_int, default=16, help="steps along each walk")
    evaluate = command("evaluate", "variational bound and importance-weighted -log p(x)", images=True)
    evaluate.add_argument("--samples", type=positive_int, default=1,
                          help="K, importance samples per image (1 gives the bound's own estimate)")
    evaluate.add_argument("--num", type=positive_int, default=None, help="score only NUM images spread evenly over the split")
    evaluate.add_argument("--batch_size", type=positive_int, default=128, help="rows per forward pass")
    command("export", "the generator and the full model (or the classifier) for programs without draw-gluon"
            ).add_argument("--format", choices=("mxnet", "onnx"), default="mxnet",
                           help="mxnet: symbol + params for gluon.SymbolBlock.imports; onnx: opset 13, for "
                                "onnxruntime and other ONNX runtimes (pip install 'draw-gluon[onnx]')")
    demo = command("demo", "a web page in which the model draws in the browser (ONNX, onnxruntime-web)",
                   pictures=True)
    demo.add_argument("--num", type=positive_int, default=16, help="samples drawn at a time")
    demo.add_argument("--serve", action="store_true", help="then serve the page on 127.0.0.1 until Ctrl-C")
    demo.add_argument("--port", type=int, default=8000, help="with --serve: the port (0: any free one)")
    convert = commands.add_parser(
        "convert-checkpoint", help="rewrite checkpoints of draw-gluon 0.x without pickle (trusted files only)",
        description="Rewrite the checkpoints of a run written by draw-gluon 0.x, whose optimizer state is "
                    "a pickle (trainer.states), into 1.0's form (optimizer.nd), which --resume reads. This "
                    "unpickles trainer.states, which runs any code the file holds: use it only on checkpoints "
                    "whose origin you trust.")
    convert.add_argument("run_dir", metavar="PATH", help="a run folder, one checkpoint folder, or runs/NAME")
    return p


def convert_checkpoints(args):
    """The ``convert-checkpoint`` command: every legacy checkpoint at ``args.run_dir``, rewritten."""
    folders = checkpoint.checkpoint_folders(args.run_dir)
    if not folders:
        raise ValueError(f"{args.run_dir} holds no checkpoint; pass a run folder or a checkpoint folder")
    converted = [path for path in folders if checkpoint.convert_legacy(path)]
    print(f"converted {len(converted)} of {len(folders)} checkpoint(s); the others were already pickle-free",
          file=sys.stderr)
    return converted


def run_images(args, config, labels=False):
    """The images of ``args.split`` from the run's dataset (or ``--dataset``), checked against the
    model; with ``labels``, ``(images, labels)``."""
    name, dataset, images, _ = _split(args, config)
    if not labels:
        return images
    if not dataset.labels:
        raise ValueError(f"{name} has no labels to score a classifier on; pick a labelled dataset "
                         f"({', '.join(data.LABELLED)}) with --dataset")
    return images, dataset.labels[args.split][spread(len(dataset.labels[args.split]), args.num)]


def spread(total, num):
    """``num`` indices (all when None) spread evenly over ``range(total)``: some splits are sorted by
    class (binarized MNIST's test split is), and their first images would all show one digit."""
    return slice(None) if num is None or num >= total else slice(None, total // num * num, total // num)


def run_pairs(args, config):
    """``(inputs, targets)`` of ``args.split``: for a model trained with ``--target`` (or given
    ``--target`` now) the held-out corrupted images and the clean ones, else the images and None."""
    _, dataset, images, flags = _split(args, config)
    corrupt = data.targets.corruption(args.target or flags.get("target", "identity"),
                                      args.noise or flags.get("noise", data.targets.DEFAULT_NOISE),
                                      args.mask or flags.get("mask"), images, dataset.dynamic)
    return (images, None) if corrupt is None else (corrupt.fixed(images, args.split), images)


def _split(args, config):
    """The dataset's name, the :class:`data.Dataset`, the images of ``args.split`` (checked against
    the model) and the run's flags."""
    name, dataset, flags = _run_data(args)
    images = dataset.splits[args.split][spread(len(dataset.splits[args.split]), args.num)]
    if images.shape[1:] != config.image_shape:
        raise ValueError(f"{name} images are {images.shape[1:]}, the model takes {config.image_shape}; "
                         "pick the dataset the run was trained on with --dataset")
    return name, dataset, images, flags


def _run_data(args):
    """The run's dataset (or ``--dataset``): its name, the :class:`data.Dataset` and the run's flags."""
    stored = {}
    for name in ("args.json", "info.json"):  # a run's flags, or a pretrained model's facts
        if os.path.isfile(os.path.join(args.run_dir, name)):
            with open(os.path.join(args.run_dir, name)) as f:
                stored = json.load(f)
    flags = stored.get("flags", stored)
    name = args.dataset or stored.get("dataset", "binarized_mnist")
    data_dir = args.data_dir or flags.get("data_dir") or os.environ.get("DRAW_DATA_DIR")
    resize = flags.get("resize")
    dataset = data.load(name, data_dir, flags.get("binarize", "dynamic"), resize=resize and tuple(resize),
                        grey=flags.get("grey", False), accept_unverified=args.accept_unverified_data)
    return name, dataset, flags


def evaluate(model, args):
    """The ``evaluate`` command: scores to ``evaluation.json``, the KL per glimpse to a bar chart
    (for a classifier: the error rate, and its glimpse paths on the first 8 images)."""
    model.hybridize(static_alloc=True)
    if isinstance(model, Classifier):
        return evaluate_classification(model, args)
    inputs, targets = run_pairs(args, model.config)
    result = evaluate_nll(model, inputs, args.samples, args.batch_size, seed=args.seed, targets=targets)
    result.pop("per_image")
    result.update(run=os.path.abspath(args.run_dir), split=args.split, seed=args.seed)
    bound, nll = result["bound"], result["nll"]
    print(f"{args.split}: bound {bound['nats']:.2f} +- {bound['nats_se']:.2f} nats "
          f"({bound['bits_per_dim']:.4f} bits/dim); -log p(x) with K={args.samples}: "
          f"{nll['nats']:.2f} +- {nll['nats_se']:.2f} nats ({nll['bits_per_dim']:.4f} bits/dim)")
    title = f"KL per glimpse, {args.split} split, {result['num_images']} images"
    return write_folder(args.out, {"evaluation.json": json.dumps(result, indent=2).encode(),
                                   "kl_per_glimpse.png": viz.kl_plot_png(result["kl_per_glimpse"], title)})


def reconstruct(model, args):
    """The ``reconstruct`` command; for a model trained with ``--target``, from the corrupted images."""
    inputs, targets = run_pairs(args, model.config)
    return draw_reconstructions(model, inputs, args.out, args.seed, args.scale, args.seconds, targets=targets)


def evaluate_classification(model, args):
    images, labels = run_images(args, model.config, labels=True)
    result = evaluate_classifier(model, images, labels, args.batch_size)
    result.update(run=os.path.abspath(args.run_dir), split=args.split)
    print(f"{args.split}: error {100 * result['error']:.2f}% +- {100 * result['error_se']:.2f}% over "
          f"{result['num_images']} images; cross-entropy {result['cross_entropy']:.4f} nats")
    steps, table = glimpse_pictures(model, images[:8])
    return write_folder(args.out, {"evaluation.json": json.dumps(result, indent=2).encode(),
                                   "glimpses.png": viz.png_bytes(table), "glimpses.gif": viz.gif_bytes(steps)})


def demo(model, args):
    """The ``demo`` command: the page's files; with ``--serve``, served until Ctrl-C."""
    name = os.path.basename(os.path.normpath(args.run_dir))
    paths = make_demo(model, args.out, name, args.num, args.seed, args.seconds, args.scale)
    if not args.serve:
        return paths
    httpd = server(args.out, args.port)
    print(f"serving {args.out} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)", flush=True)
    with httpd:
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return []


COMMANDS = {
    "sample": lambda model, a: draw_samples(model, a.out, a.num, a.seed, a.scale, a.seconds),
    "reconstruct": reconstruct,
    "latent": lambda model, a: draw_latent_walks(model, a.out, a.num, a.frames, a.seed, a.scale, a.seconds),
    "evaluate": evaluate,
    "export": lambda model, a: [export_model(model, a.out, a.format)],
    "demo": demo,
}


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    try:
        paths = convert_checkpoints(args) if args.command == "convert-checkpoint" else use_model(p, args)
    except (ValueError, OSError) as err:
        print(f"draw-gluon {args.command}: error: {err}", file=sys.stderr)
        return 2
    if paths:
        print("\n".join(paths))
    return 0


def use_model(p, args):
    """The commands that load a model: sample, reconstruct, latent, evaluate, export, demo."""
    check_gpus(p, [0] if args.gpu else [])
    default = f"evaluate-{args.split}-k{args.samples}" if args.command == "evaluate" else args.command
    folder = model_zoo.resolve(args.run_dir)
    # A pretrained model's output goes to the working directory, not into the installed package.
    args.out = args.out or (os.path.join(args.run_dir, default) if folder == args.run_dir else f"{args.run_dir}-{default}")
    args.run_dir = folder
    model = load_run(args.run_dir, mx.gpu(0) if args.gpu else mx.cpu())
    if isinstance(model, Classifier) and args.command not in ("evaluate", "export"):
        raise ValueError(f"{args.run_dir} holds a classifier, which draws nothing; {args.command} needs "
                         "a DRAW run (a classifier takes evaluate and export)")
    return COMMANDS[args.command](model, args)
