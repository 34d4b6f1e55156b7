"""The training runs that go on across sessions (issues 13 and 14): resume, and snapshot into git.

    python benchmarks/long_run.py resume NAME --data_dir DIR   # restart it in the background, niced
    python benchmarks/long_run.py snapshot NAME                # newest checkpoint -> runs/NAME/
    python benchmarks/long_run.py plot NAME                    # runs/NAME/curve.csv -> docs/NAME-curve.png
    python benchmarks/long_run.py command NAME                 # what resume would run
    python benchmarks/long_run.py rebuild NAME                 # results/longrun-NAME from runs/NAME alone
    python benchmarks/long_run.py rebuild NAME --from COMMIT   # ... from runs/NAME as COMMIT holds it

A run's committed state is ``runs/NAME/``: ``args.json`` (its flags), ``checkpoint/`` (one checkpoint
of the training loop: parameters, data order and RNG, and Adam's state where the pair stays under
15 MB) and ``curve.csv`` (images seen, training wall time, validation bound and its terms).
``resume`` rebuilds ``results/longrun-NAME`` from it when that folder is missing (a new machine) and
continues with ``train_mnist.py --resume``. Once a run has ended its ``checkpoint/`` leaves the tree
(its flags and curve stay); ``rebuild NAME --from COMMIT`` brings it back from the commit that its
report in docs/experiments/ names, and ``resume`` refuses to start such a run afresh.
The runs are the recipes of their names (draw_gluon/recipes.py): ``mnist-attention`` and ``mnist``,
the paper's model with and without attention toward Table 2; ``two-digit-mnist``, the paper's
two-digit experiment (Fig. 8); ``cluttered-mnist``, the section 4.1 classifier toward Table 1.
"""
import argparse
import csv
import io
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon import checkpoint, viz  # noqa: E402
from draw_gluon.io import atomic_dir, atomic_write  # noqa: E402
from draw_gluon.recipes import RECIPES  # noqa: E402
from draw_gluon.train.flags import RESUMABLE, SCHEDULE, fields_of  # noqa: E402

# The long runs, each the recipe of its name (draw_gluon/recipes.py).
LONG_RUNS = ("mnist-attention", "mnist", "two-digit-mnist", "cluttered-mnist")


def command(name):
    """train_mnist.py's arguments that start recipe ``name`` in ``results/longrun-NAME``, or continue
    it (there, or from its committed state) with the recipe's resumable flags (budget, frequencies,
    rate), so editing those adjusts the run."""
    committed, run_dir = folders(name)
    if not (os.path.isdir(run_dir) or os.path.isdir(os.path.join(committed, "checkpoint"))):
        if os.path.isfile(os.path.join(committed, "curve.csv")):  # an ended run, not a new one
            sys.exit(f"error: runs/{name} keeps the curve of a run whose state has left the tree; bring it back "
                     f"with: python benchmarks/long_run.py rebuild {name} --from COMMIT (the commit that "
                     f"docs/experiments/{name}.md names)")
        return ["--recipe", name, "--logdir", os.path.dirname(run_dir), "--run_name", os.path.basename(run_dir)]
    flags = RECIPES[name].flags
    return ["--resume", run_dir] + [a for k in fields_of(RESUMABLE, SCHEDULE) if k in flags for a in (f"--{k}", str(flags[k]))]


# Points to hold a run's validation curve against: (images seen, bound in nats, label).
REFERENCES = {
    "mnist-attention": [(2.5e6, 90.0, "< 90 at 2.5M"), (10e6, 83.0, "< 83 at 10M"),
                        (15e6, 81.9, "81.9 at 15M")],
}
PAPER_BOUND = {"mnist-attention": 80.97, "mnist": 87.40}  # Table 2, test set

# A committed checkpoint keeps Adam's state (twice the parameters' size) only while the pair stays
# under this, as every snapshot adds its size to the repository's history.
STATE_LIMIT = 15_000_000


def folders(name):
    return os.path.join(ROOT, "runs", name), os.path.join(ROOT, "results", f"longrun-{name}")


def rebuild(name, commit=None):
    """``results/longrun-NAME`` from the committed ``runs/NAME`` (nothing to do if it exists), or from
    ``runs/NAME`` as commit ``commit`` of this repository holds it (a run's state leaves the tree once
    the run has ended; its report in docs/experiments/ names the commit)."""
    committed, run_dir = folders(name)
    if os.path.isdir(run_dir):
        return
    with tempfile.TemporaryDirectory() as old:
        if commit:
            committed = _checkout(name, commit, old)
        if not os.path.isdir(os.path.join(committed, "checkpoint")):
            return
        state = checkpoint.verify(os.path.join(committed, "checkpoint"))
        with atomic_dir(run_dir, replace=False) as tmp:
            shutil.copy(os.path.join(committed, "args.json"), tmp)
            shutil.copy(os.path.join(committed, "checkpoint", "config.json"), tmp)
            shutil.copytree(os.path.join(committed, "checkpoint"),
                            os.path.join(tmp, "checkpoints", f"{state['samples_seen']:010d}"))


def _checkout(name, commit, folder):
    """``runs/NAME`` (its flags and checkpoint) as ``commit`` holds it, written under ``folder``;
    returns its path there."""
    paths = [f"runs/{name}/args.json", f"runs/{name}/checkpoint"]
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", commit] + paths, capture_output=True)
    if archive.returncode:
        sys.exit(f"error: commit {commit} holds no runs/{name}/checkpoint ({archive.stderr.decode().strip()}); "
                 f"docs/experiments/{name}.md names the commit that does")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():  # only files under runs/NAME, each written under its own name
            if member.isfile() and member.name.startswith(f"runs/{name}/") and ".." not in member.name:
                target = os.path.join(folder, member.name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as f:
                    shutil.copyfileobj(source, f)
    return os.path.join(folder, "runs", name)


def _nice_session(pid):
    """Make the run yield to other work. Its own session is its own scheduling group where Linux
    groups by session (autogroup), and there ``nice`` ranks it only against itself: it took a whole
    core from the tests. The group's own nice value ranks it against the other groups."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write("19")
    except OSError:
        pass  # no autogroup here: nice alone ranks the run


def resume(name, data_dir):
    rebuild(name)
    _, run_dir = folders(name)
    log = open(os.path.join(ROOT, "results", f"longrun-{name}.log"), "a")
    # One OpenMP thread: measured at ~85 images/s, as fast as two, and it leaves a core free. With two
    # threads, any other work on the machine stalls the run (its threads spin waiting for each other).
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    process = subprocess.Popen(["nice", "-n", "19", sys.executable, os.path.join(ROOT, "train_mnist.py")] +
                               command(name) + ["--data-dir", data_dir], stdout=log, stderr=log, env=env,
                               start_new_session=True)
    _nice_session(process.pid)
    print(f"{name}: training in the background, pid {process.pid}, log {log.name}")


def snapshot(name):
    committed, run_dir = folders(name)
    path, state = checkpoint.usable(run_dir)
    if path is None:
        sys.exit(f"error: {run_dir} has no usable checkpoint yet; let it train past --checkpoint_freq")
    os.makedirs(committed, exist_ok=True)
    target = os.path.join(committed, "checkpoint")
    for leftover in (target + ".new", target + ".old"):  # from a snapshot that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(path, target + ".new")
    if sum(os.path.getsize(os.path.join(path, n)) for n in checkpoint.BINARIES) > STATE_LIMIT:
        checkpoint.drop_optimizer(target + ".new")
    if os.path.isdir(target):
        os.rename(target, target + ".old")
    os.rename(target + ".new", target)
    shutil.rmtree(target + ".old", ignore_errors=True)
    shutil.copy(os.path.join(run_dir, "args.json"), committed)
    rows = io.StringIO()
    fields = ["samples", "wall_time_s"] + [k for k in (state["validation"] or [{}])[0] if k not in ("samples", "wall_time_s")]
    writer = csv.DictWriter(rows, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
                     for row in state["validation"])
    atomic_write(os.path.join(committed, "curve.csv"), rows.getvalue().encode())
    last = (f"last validation loss {state['validation'][-1]['loss']:.2f}" if state["validation"]
            else "no validation yet")
    print(f"{name}: checkpoint of {state['samples_seen']:,} images -> {committed}; {last}")


def read_curve(path):
    """``curve.csv`` as two lists: images seen, validation bound."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [int(r["samples"]) for r in rows], [float(r["loss"]) for r in rows]


def plot(name, out=None):
    """The run's validation bound against images seen, with the public reproduction's points and the
    paper's number, as ``docs/NAME-curve.png``."""
    from matplotlib.figure import Figure

    committed, _ = folders(name)
    samples, bound = read_curve(os.path.join(committed, "curve.csv"))
    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.add_subplot()
    axes.plot([s / 1e6 for s in samples], bound, "o-", color="tab:blue", label=f"draw-gluon {name} (validation)")
    for k, (seen, value, label) in enumerate(REFERENCES.get(name, [])):
        axes.plot(seen / 1e6, value, "v", color="tab:orange", markersize=9, label="jbornschein/draw" if k == 0 else None)
        axes.annotate(label, (seen / 1e6, value), textcoords="offset points", xytext=(-10, 8), fontsize=8)
    if name in PAPER_BOUND:
        axes.axhline(PAPER_BOUND[name], color="tab:green", linestyle="--", label=f"paper, test: {PAPER_BOUND[name]}")
    axes.set(xlabel="training images seen (millions)", ylabel="bound on -log p(x) [nats]",
             ylim=(min(bound + [PAPER_BOUND.get(name, min(bound))]) - 3, min(max(bound) + 3, 160)))
    axes.grid(alpha=0.3)
    axes.legend()
    out = out or os.path.join(ROOT, "docs", f"{name}-curve.png")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    atomic_write(out, viz.figure_png(figure))
    print(f"{name}: learning curve ({len(samples)} validations, last {bound[-1]:.2f} nats) -> {out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("resume", "snapshot", "plot", "command", "rebuild"))
    p.add_argument("name", choices=LONG_RUNS)
    p.add_argument("--from", dest="commit", metavar="COMMIT",
                   help="for rebuild: take runs/NAME from this commit (a run's state leaves the tree once it ended)")
    p.add_argument("--data_dir", "--data-dir", default=os.environ.get("DRAW_DATA_DIR"),
                   help="the run's --data-dir, for resume: the folder of binarized_mnist.npz (default: "
                        "$DRAW_DATA_DIR)")
    args = p.parse_args()
    if args.command == "resume":
        if not args.data_dir:
            p.error("resume needs --data-dir (or $DRAW_DATA_DIR): the folder of binarized_mnist.npz")
        resume(args.name, args.data_dir)
    elif args.command == "plot":
        plot(args.name)
    elif args.command == "rebuild":
        rebuild(args.name, args.commit)
    elif args.command == "command":
        print(shlex.join(["train_mnist.py"] + command(args.name)))
    else:
        snapshot(args.name)


if __name__ == "__main__":
    main()
