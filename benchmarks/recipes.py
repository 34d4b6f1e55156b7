"""Which recipe makes the attention model learn: test bound after a fixed budget, one row a recipe.

    python benchmarks/recipes.py --data_dir DIR [--budget 60000] [--jobs 2] [--only NAME ...]
    python benchmarks/recipes.py --data_dir DIR --windows   # what the untrained windows read and write

Each recipe trains the same small attention DRAW (T=16, 128 LSTM units, z=20, read 2x2, write 5x5,
batch 128) on the paper's binarized MNIST for ``--budget`` images in a process of its own and is
scored on the whole test split. The table it prints is docs/learning.md's. Recipes that differ from
the library's defaults in initialisation are set up here, in the child process, before training.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = ["--attention", "-s", "16", "-u", "128", "-l", "20", "-ar", "2", "-aw", "5", "-b", "128"]
# name: (what it changes, extra flags, setup in the child: zero_window, normal_init, zero_state)
RECIPES = {
    "before": ("zero window bias, Adam 1e-3, clip of the summed gradient (= mean-gradient clip 10/128)",
               ["-r", "1e-3", "--clip", str(10 / 128)], dict(zero_window=True)),
    "mean-clip": ("zero window bias, Adam 1e-3, mean-gradient norm clipped at 10", ["-r", "1e-3"],
                  dict(zero_window=True)),
    "normal-init": ("as mean-clip, weights N(0, 0.01) as in jbornschein/draw", ["-r", "1e-3"],
                    dict(zero_window=True, normal_init=True)),
    "window": ("window bias tiles the image (library default), Adam 1e-3", ["-r", "1e-3"], {}),
    "window-zero-state": ("as window, LSTM initial states fixed at zero", ["-r", "1e-3"], dict(zero_state=True)),
    "zero-window-lr3e-3": ("zero window bias, Adam 3e-3", ["-r", "3e-3"], dict(zero_window=True)),
    "window-lr3e-3": ("window bias tiles the image, Adam 3e-3", ["-r", "3e-3"], {}),
    "window-lr1e-2": ("window bias tiles the image, Adam 1e-2", ["-r", "1e-2"], {}),
    "window-lr3e-3-cosine": ("window bias tiles the image, Adam 3e-3 decayed to 0 by a cosine",
                             ["-r", "3e-3", "--lr_schedule", "cosine"], {}),
}

CHILD = r"""
import json, sys
from draw_gluon.runtime import cpu_defaults
cpu_defaults()
import mxnet as mx
from draw_gluon import attention
from draw_gluon.model import DRAW
from draw_gluon.train import loop
setup, argv = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if setup.get("zero_window"):
    attention.WindowBias._init_weight = lambda self, name, arr: arr.__setitem__(slice(None), 0)
if setup.get("normal_init"):
    initialize = DRAW.initialize
    DRAW.initialize = lambda self, init=None, **kw: initialize(self, mx.init.Normal(0.01), **kw)
if setup.get("zero_state"):
    config_from_args = loop.config_from_args
    loop.config_from_args = lambda args, **kw: config_from_args(args, **kw).replace(learn_init_state=False)
_, metrics = loop.train(loop.parse_args(argv))
print(json.dumps(metrics))
"""


def run(name, data_dir, budget, logdir, threads):
    _, flags, setup = RECIPES[name]
    argv = MODEL + flags + ["-t", str(budget), "-f", str(budget // 3), "-v", "2000", "--checkpoint_freq",
                            str(budget), "--data_dir", data_dir, "--logdir", logdir, "--run_name", name]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(setup), json.dumps(argv)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True).stdout
    return name, json.loads(out.strip().splitlines()[-1])


def window_probe(data_dir, n=1000):
    """What the untrained read and write reach with a zero window bias and with the tiling one."""
    from draw_gluon.runtime import cpu_defaults
    cpu_defaults()
    import mxnet as mx
    import numpy as np
    from draw_gluon import data
    from draw_gluon.attention import WindowBias, filter_image, filterbank, unfilter_patch, window_params

    x = mx.nd.array(data.load("binarized_mnist", data_dir).splits["test"][:n].reshape(n, -1))

    def filters(raw, N):
        gX, gY, sigma2, delta, gamma = window_params(mx.nd, mx.nd.array(np.tile(raw, (n, 1))), 28, 28, N)
        return filterbank(mx.nd, gX, sigma2, delta, N, 28), filterbank(mx.nd, gY, sigma2, delta, N, 28), gamma

    for name, read, write in (("zero bias", [0.0] * 5, [0.0] * 5),
                              ("tiling bias", WindowBias(2, 28, 28, False).window, WindowBias(5, 28, 28, True).window)):
        F_X, F_Y, gamma = filters(read, 2)
        glimpse = (filter_image(mx.nd, x, F_X, F_Y, 1, 28, 28, 2) * gamma).mean().asscalar()
        F_X, F_Y, gamma = filters(write, 5)
        reach = unfilter_patch(mx.nd, mx.nd.ones((n, 25)) / gamma, F_X, F_Y, 1, 28, 28, 5)[0].asnumpy()
        print(f"- {name}: the 2x2 read of x averages {glimpse:.3f} (the images: {x.mean().asscalar():.3f}); "
              f"a 5x5 write of ones adds {reach.min():.2f} to {reach.max():.2f} per pixel, "
              f"{(reach < 0.1).mean():.0%} of pixels under 0.1")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", "--data-dir", default=os.environ.get("DRAW_DATA_DIR"), required="DRAW_DATA_DIR" not in os.environ,
                   help="folder of binarized_mnist.npz (default: $DRAW_DATA_DIR)")
    p.add_argument("--budget", type=int, default=60000, help="training images per recipe")
    p.add_argument("--jobs", type=int, default=2, help="recipes trained at once (one OpenMP thread each)")
    p.add_argument("--only", nargs="+", choices=RECIPES, default=list(RECIPES))
    p.add_argument("--windows", action="store_true", help="only print what the untrained windows read and write")
    args = p.parse_args()
    if args.windows:
        return window_probe(args.data_dir)
    with tempfile.TemporaryDirectory() as logdir, ThreadPoolExecutor(args.jobs) as pool:
        threads = max(1, len(os.sched_getaffinity(0)) // args.jobs)
        results = dict(pool.map(lambda n: run(n, args.data_dir, args.budget, logdir, threads), args.only))
    print(f"| recipe | what | valid bound at {args.budget // 3:,} / {2 * args.budget // 3:,} images "
          f"| test bound at {args.budget:,} | of which L_z |")
    print("| --- | --- | --- | ---: | ---: |")
    for name in args.only:
        m = results[name]
        curve = " / ".join(f"{v['loss']:.1f}" for v in m["validation"][:-1])
        print(f"| {name} | {RECIPES[name][0]} | {curve} | {m['test']['bound']['nats']:.1f} | {m['test']['L_z']:.1f} |")


if __name__ == "__main__":
    main()
