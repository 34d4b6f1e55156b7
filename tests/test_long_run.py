"""benchmarks/long_run.py, run as a script in a temporary copy of the repository's layout: the
learning-curve picture read back by imageio, committed state resumed, each run under its recipe."""
import csv
import os
import shlex
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from helpers import ROOT, TINY, make_model, tiny_config
from draw_gluon import checkpoint, load_run, recipes
from draw_gluon.train import main, parse_args


@pytest.fixture
def tree(tmp_path):
    """A folder laid out as the repository, holding the script (it works on its own folder's runs/,
    results/ and docs/)."""
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(os.path.join(ROOT, "benchmarks", "long_run.py"), tmp_path / "benchmarks")
    return tmp_path


def long_run(tree, *argv):
    run = subprocess.run([sys.executable, str(tree / "benchmarks" / "long_run.py"), *argv],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_plot_draws_the_committed_curve_as_a_png(tree):
    committed = tree / "runs" / "mnist-attention"
    committed.mkdir(parents=True)
    rows = [dict(samples=100000 * k, wall_time_s=10.0 * k, loss=140 - 5 * k, L_x=100, L_z=40 - 5 * k)
            for k in range(1, 6)]
    with open(committed / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert "5 validations, last 115.00 nats" in long_run(tree, "plot", "mnist-attention")
    picture = iio.imread(tree / "docs" / "mnist-attention-curve.png")
    assert picture.shape == (400, 700, 3)
    # the curve (matplotlib's tab:blue, 31 119 180) and the reference points (tab:orange) are drawn
    colours = picture.reshape(-1, 3).astype(int)
    assert np.any(np.all(np.abs(colours - [31, 119, 180]) < 8, axis=1))
    assert np.any(np.all(np.abs(colours - [255, 127, 14]) < 8, axis=1))
    assert not list((tree / "docs").glob("*.tmp*"))


def test_a_long_runs_committed_state_loads_as_a_run_folder(tmp_path):
    model = make_model(tiny_config())
    model.save(str(tmp_path / "runs" / "tiny" / "checkpoint"))  # what long_run.py snapshot leaves
    loaded = load_run(str(tmp_path / "runs" / "tiny"))
    saved, read = model.collect_params().values(), loaded.collect_params().values()
    assert len(saved) == len(read) > 0
    for p, q in zip(saved, read):  # same structure; the names' prefixes differ by instance
        np.testing.assert_array_equal(q.data().asnumpy(), p.data().asnumpy())


def train_long_run(tree, *model):
    run_dir = tree / "results" / "longrun-mnist"
    assert main(TINY + ["--logdir", str(run_dir.parent), "--run_name", run_dir.name, "-t", "256", "-f", "256",
                        "--checkpoint_freq", "128", *model]) == 0
    return run_dir


def test_a_small_snapshot_keeps_adams_state(tree):
    run_dir = train_long_run(tree)
    newest = checkpoint.latest(str(run_dir))
    assert "images -> " in long_run(tree, "snapshot", "mnist")
    committed = tree / "runs" / "mnist" / "checkpoint"
    for name in checkpoint.BINARIES:  # the tiny pair is far under the limit: all of it is kept
        assert (committed / name).read_bytes() == open(os.path.join(newest, name), "rb").read()
    assert [int(row["samples"]) for row in csv.DictReader(open(tree / "runs" / "mnist" / "curve.csv"))] == [256]


def test_a_large_snapshot_drops_adam_and_still_resumes(tree, capsys):
    run_dir = train_long_run(tree, "-u", "256", "-l", "100")  # 11 MB of parameters, 22 MB of Adam
    long_run(tree, "snapshot", "mnist")
    committed = tree / "runs" / "mnist" / "checkpoint"
    assert sorted(os.listdir(committed)) == ["config.json", "model.params", "state.json"]
    assert checkpoint.verify(str(committed))["samples_seen"] == 256  # small on purpose, not damaged

    shutil.rmtree(run_dir)  # a new machine: the run comes back from the commit alone
    resume = shlex.split(long_run(tree, "command", "mnist"))
    assert resume[1:3] == ["--resume", str(run_dir)] and not run_dir.exists()
    long_run(tree, "rebuild", "mnist")  # as resume does before it starts training
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "-t", "384"]) == 0
    assert "holds no optimizer state; the optimizer starts afresh" in capsys.readouterr().err
    assert checkpoint.newest(str(run_dir))[1]["samples_seen"] == 384

    # a training checkpoint that lost its optimizer state is damaged, not "small on purpose"
    resumed = checkpoint.latest(str(run_dir))
    os.remove(os.path.join(resumed, checkpoint.OPTIMIZER))
    with pytest.raises(checkpoint.CheckpointError, match=checkpoint.OPTIMIZER):
        checkpoint.verify(resumed)


def test_an_ended_runs_state_comes_back_from_the_commit_that_holds_it(tree):
    """Once a run has ended its checkpoint leaves the tree: rebuild --from COMMIT restores it from git,
    and resume refuses to start the run afresh in the meantime."""
    run_dir = train_long_run(tree)
    long_run(tree, "snapshot", "mnist")
    git = lambda *argv: subprocess.run(["git", "-C", str(tree), *argv], check=True, capture_output=True, text=True).stdout
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", "runs")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "state")
    held = git("rev-parse", "HEAD").strip()
    params = (tree / "runs" / "mnist" / "checkpoint" / "model.params").read_bytes()
    shutil.rmtree(tree / "runs" / "mnist" / "checkpoint")  # what the release does, in a later commit
    shutil.rmtree(run_dir)  # a new machine
    refused = subprocess.run([sys.executable, str(tree / "benchmarks" / "long_run.py"), "command", "mnist"],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "rebuild mnist --from COMMIT" in refused.stderr and not run_dir.exists()
    long_run(tree, "rebuild", "mnist", "--from", held)
    path, rebuilt = checkpoint.newest(str(run_dir))
    assert rebuilt["samples_seen"] == 256 and open(os.path.join(path, "model.params"), "rb").read() == params
    assert shlex.split(long_run(tree, "command", "mnist"))[1:3] == ["--resume", str(run_dir)]
    assert main(["--resume", str(run_dir), "-t", "384"]) == 0


@pytest.mark.parametrize("name", ["mnist-attention", "mnist", "two-digit-mnist", "cluttered-mnist"])
def test_each_long_run_trains_under_its_recipe(tree, name):
    run_dir = tree / "results" / f"longrun-{name}"
    run_dir.mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "runs", name, "args.json"), run_dir)  # the flags it started with
    argv = shlex.split(long_run(tree, "command", name))[1:]
    assert argv[:2] == ["--resume", str(run_dir)]
    args = parse_args(argv)
    flags = recipes.RECIPES[name].flags
    assert {k: getattr(args, k) for k in flags} == flags
    shutil.rmtree(run_dir)
    assert shlex.split(long_run(tree, "command", name))[1:3] == ["--recipe", name]
