"""benchmarks/long_run.py: the learning-curve picture read back by imageio, committed state resumed."""
import csv
import os
import shutil

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import ROOT, TINY, benchmark, make_model, tiny_config
from draw_gluon import checkpoint, load_run, recipes
from draw_gluon.train import main, parse_args


def test_plot_draws_the_committed_curve_as_a_png(tmp_path, monkeypatch):
    long_run = benchmark("long_run")
    committed = tmp_path / "runs" / "mnist-attention"
    committed.mkdir(parents=True)
    rows = [dict(samples=100000 * k, wall_time_s=10.0 * k, loss=140 - 5 * k, L_x=100, L_z=40 - 5 * k)
            for k in range(1, 6)]
    with open(committed / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setattr(long_run, "ROOT", str(tmp_path))
    assert long_run.read_curve(str(committed / "curve.csv")) == ([100000 * k for k in range(1, 6)],
                                                                 [140.0 - 5 * k for k in range(1, 6)])
    out = tmp_path / "curve.png"
    long_run.plot("mnist-attention", str(out))
    picture = iio.imread(out)
    assert picture.shape == (400, 700, 3)
    # the curve (matplotlib's tab:blue, 31 119 180) and the reference points (tab:orange) are drawn
    colours = picture.reshape(-1, 3).astype(int)
    assert np.any(np.all(np.abs(colours - [31, 119, 180]) < 8, axis=1))
    assert np.any(np.all(np.abs(colours - [255, 127, 14]) < 8, axis=1))
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_long_runs_committed_state_loads_as_a_run_folder(tmp_path):
    model = make_model(tiny_config())
    model.save(str(tmp_path / "runs" / "tiny" / "checkpoint"))  # what long_run.py snapshot leaves
    loaded = load_run(str(tmp_path / "runs" / "tiny"))
    saved, read = model.collect_params().values(), loaded.collect_params().values()
    assert len(saved) == len(read) > 0
    for p, q in zip(saved, read):  # same structure; the names' prefixes differ by instance
        np.testing.assert_array_equal(q.data().asnumpy(), p.data().asnumpy())


def test_a_snapshot_over_the_size_limit_drops_adam_and_still_resumes(tmp_path, monkeypatch, capsys):
    long_run = benchmark("long_run")
    monkeypatch.setattr(long_run, "ROOT", str(tmp_path))
    run_dir = tmp_path / "results" / "longrun-mnist"
    assert main(TINY + ["--logdir", str(run_dir.parent), "--run_name", run_dir.name, "-t", "256", "-f", "256",
                        "--checkpoint_freq", "128"]) == 0
    newest = checkpoint.latest(str(run_dir))
    committed = tmp_path / "runs" / "mnist" / "checkpoint"
    long_run.snapshot("mnist")  # the tiny pair is far under the limit: all of it is kept
    for name in checkpoint.BINARIES:
        assert (committed / name).read_bytes() == open(os.path.join(newest, name), "rb").read()

    monkeypatch.setattr(long_run, "STATE_LIMIT", 1000)
    long_run.snapshot("mnist")
    assert sorted(os.listdir(committed)) == ["config.json", "model.params", "state.json"]
    assert checkpoint.verify(str(committed))["samples_seen"] == 256  # small on purpose, not damaged

    shutil.rmtree(run_dir)  # a new machine: the run comes back from the commit alone
    long_run.rebuild("mnist")
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "-t", "384"]) == 0
    assert "holds no optimizer state; the optimizer starts afresh" in capsys.readouterr().err
    assert checkpoint.newest(str(run_dir))[1]["samples_seen"] == 384

    # a training checkpoint that lost its optimizer state is damaged, not "small on purpose"
    resumed = checkpoint.latest(str(run_dir))
    os.remove(os.path.join(resumed, checkpoint.OPTIMIZER))
    with pytest.raises(checkpoint.CheckpointError, match=checkpoint.OPTIMIZER):
        checkpoint.verify(resumed)


@pytest.mark.parametrize("name", ["mnist-attention", "mnist", "two-digit-mnist", "cluttered-mnist"])
def test_each_long_run_trains_under_its_recipe(name):
    long_run = benchmark("long_run")
    committed = os.path.join(ROOT, "runs", name)  # its args.json: the flags it started with
    args = parse_args(long_run.command(name, committed))
    flags = recipes.RECIPES[name].flags
    assert {k: getattr(args, k) for k in flags} == flags
    assert long_run.command(name, "/nowhere/run")[:2] == ["--recipe", name]
