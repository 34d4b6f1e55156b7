"""Issue 39's levers for going below a trained model's bound, measured first on a small model: the
paper's attention (read 2x2, write 5x5) with 16 glimpses, 128 units and z of 20 on binarized MNIST.
Two bases: one trained 300k images (far from converged), one 2M (near it, as the shipped model is
at the end of its cosine), each continued in the ways the real model could be.

    python benchmarks/levers.py run --data_dir DIR   # trains the runs into results/levers/ (niced, one thread)
    python benchmarks/levers.py table                # their validation bounds, as docs/experiments/ shows them

Every run but the bases keeps a parameter average (``--ema 0.999``), so its row gives the lever with
and without it. ``run`` skips the runs that finished and resumes those that were stopped; about 5.8M
images in all (105 minutes on one niced core beside two long runs).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "results", "levers")
SMALL = ["--attention", "-s", "16", "--enc_size", "128", "--dec_size", "128", "-l", "20", "-ar", "2", "-aw", "5",
         "--lr_schedule", "cosine", "-v", "10000", "-f", "50000"]
EMA = ["--ema", "0.999"]


def after(base, *flags):
    """Flags that start a run from run ``base``'s final model."""
    return ["--init_from", os.path.join(OUT, base), *flags, *EMA]


# name: (flags beside SMALL, what it measures, the run it starts from). The bases keep no average, as
# the runs started from them would then start from it.
RUNS = {
    "base": (["-r", "2e-3", "-t", "300000"], "cosine from 2e-3 over 300k images", None),
    "base-seed1": (["-r", "2e-3", "-t", "300000", "--seed", "1", *EMA], "the same with seed 1", None),
    "longer": (["-r", "2e-3", "-t", "400000", *EMA], "one cosine over 400k: the budget a restart ends at", None),
    "restart-2e-4": (after("base", "-r", "2e-4", "-t", "100000"), "then a cosine from 2e-4 over 100k", "base"),
    "restart-5e-4": (after("base", "-r", "5e-4", "-t", "100000"), "then a cosine from 5e-4 over 100k", "base"),
    "restart-1e-3": (after("base", "-r", "1e-3", "-t", "100000"), "then a cosine from 1e-3 over 100k", "base"),
    "restart-5e-4-b512": (after("base", "-r", "5e-4", "-b", "512", "-t", "100000"),
                          "as restart-5e-4 with batch 512 (a larger batch late in training)", "base"),
    "converged": (["-r", "2e-3", "-t", "2000000"], "cosine from 2e-3 over 2M images", None),
    "converged-restart-1e-4": (after("converged", "-r", "1e-4", "-t", "200000"),
                               "then a cosine from 1e-4 over 200k", "converged"),
    "converged-restart-3e-4": (after("converged", "-r", "3e-4", "-t", "200000"),
                               "then a cosine from 3e-4 over 200k", "converged"),
    "converged-restart-3e-4-seed1": (after("converged", "-r", "3e-4", "-t", "200000", "--seed", "1"),
                                     "the same with seed 1 (its data order and noise)", "converged"),
    "converged-restart-1e-3": (after("converged", "-r", "1e-3", "-t", "200000"),
                               "then a cosine from 1e-3 over 200k", "converged"),
    "converged-restart-1e-3-seed1": (after("converged", "-r", "1e-3", "-t", "200000", "--seed", "1"),
                                     "the same with seed 1", "converged"),
    "converged-restart-2e-3": (after("converged", "-r", "2e-3", "-t", "200000"),
                               "then a cosine from 2e-3 (the first peak) over 200k", "converged"),
    "converged-restart-1e-3-1M": (after("converged", "-r", "1e-3", "-t", "1000000"),
                                  "then a cosine from 1e-3 over 1M (half the first budget)", "converged"),
    "converged-constant-1e-4": (after("converged", "-r", "1e-4", "--lr_schedule", "constant", "-t", "200000"),
                                "then 200k at a constant 1e-4 (where an average should help most)", "converged"),
}


def run(data_dir):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name, (flags, _, _) in RUNS.items():
        run_dir = os.path.join(OUT, name)
        if os.path.isfile(os.path.join(run_dir, "metrics.json")):
            continue
        where = ["--resume", run_dir] if os.path.isdir(run_dir) else SMALL + flags + ["--logdir", OUT, "--run_name", name]
        print(f"{name}: training", flush=True)
        subprocess.run(["nice", "-n", "19", sys.executable, os.path.join(ROOT, "train_mnist.py"), *where,
                        "--data_dir", data_dir], env=env, check=True, stdout=subprocess.DEVNULL)


def table():
    """The finished runs' last validation bound, of the parameters and of their average, as Markdown."""
    rows = ["| run | what | images | validation bound | with the average (0.999) |", "| --- | --- | ---: | ---: | ---: |"]
    for name, (_, what, base) in RUNS.items():
        if os.path.isfile(metrics(name)):
            last = last_validation(name)
            images = last["samples"] + (last_validation(base)["samples"] if base else 0)
            averaged = f"{last['ema_loss']:.2f}" if "ema_loss" in last else "-"
            rows.append(f"| {name} | {what} | {images:,} | {last['loss']:.2f} | {averaged} |")
    return "\n".join(rows)


def metrics(name):
    return os.path.join(OUT, name, "metrics.json")


def last_validation(name):
    with open(metrics(name)) as f:
        return json.load(f)["validation"][-1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["run", "table"])
    p.add_argument("--data_dir", help="folder holding binarized_mnist.npz (for run)")
    args = p.parse_args()
    if args.action == "run":
        if not args.data_dir:
            p.error("run needs --data_dir DIR, the folder holding binarized_mnist.npz")
        run(args.data_dir)
    print(table())


if __name__ == "__main__":
    main()
