"""train_mnist.py end to end: real digits, TensorBoard's own reader, checkpoints, resume, several devices."""
import io
import json
import os

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from helpers import TINY, events, paper_data_dir
from draw_gluon import checkpoint, load_run
from draw_gluon.data import binarized_mnist, mnist
from draw_gluon import DRAW
from draw_gluon.train import (VariationalBound, config_from_args, fit, main, make_trainer, parse_args, prepare,
                              split_batch, train, train_step)
from draw_gluon.train.loop import trained_like

SCALARS = {"train/loss", "train/L_x", "train/L_z", "train/grad_norm", "train/learning_rate", "train/skipped_updates",
           "train/samples_per_s", "valid/loss", "valid/L_x", "valid/L_z"}


@pytest.fixture(scope="module", params=[True, False], ids=["attention", "no-attention"])
def paper_data_run(request, tmp_path_factory):
    """A short run on the paper's binarized MNIST, with and without attention."""
    logdir = tmp_path_factory.mktemp("runs")
    argv = ["--data-dir", paper_data_dir(), "--logdir", str(logdir), "--run_name", "run",
            "-t", "3072", "-f", "1024", "-v", "500", "-b", "64", "-s", "8", "-u", "64", "-l", "10",
            "-r", "3e-3"] + (["--attention"] if request.param else [])
    assert main(argv) == 0
    return logdir / "run"


def test_short_training_on_real_digits_lowers_the_loss(paper_data_run):
    metrics = json.loads((paper_data_run / "metrics.json").read_text())
    first = events(paper_data_run)["scalars"]["train/loss"][0][1]  # the untrained model, ~543 nats
    last = metrics["validation"][-1]["loss"]
    assert metrics["samples_seen"] == 3072
    assert [v["samples"] for v in metrics["validation"]] == [1024, 2048, 3072]
    assert last < 0.5 * first, (first, last)
    test = metrics["test"]  # as draw-gluon evaluate scores it
    assert test["bound"]["nats"] == pytest.approx(test["L_x"] + test["L_z"]) and test["num_images"] == 10000
    assert 0 < test["bound"]["nats_se"] < 5 and len(test["kl_per_glimpse"]) == 8
    assert metrics["data_sha256"] == binarized_mnist.SHA256
    assert 0 <= metrics["data_wait_share"] < 0.5 and metrics["samples_per_s"] > 0


def test_run_folder_holds_everything_and_loads_in_one_line(paper_data_run):
    names = set(os.listdir(paper_data_run))
    assert {"args.json", "config.json", "checkpoints", "pictures", "model.params", "metrics.json"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    pictures = sorted(os.listdir(paper_data_run / "pictures"))
    assert pictures == [f"{kind}-{n:010d}.{ext}" for kind, ext in (("drawing", "gif"), ("samples", "png"))
                        for n in (1024, 2048, 3072)]
    model = checkpoint.load_run(str(paper_data_run))
    probs, _ = model.generate(3)
    assert probs.shape == (3, 9, 1, 28, 28)


def test_tensorboard_reads_the_curves_and_an_animated_gif(paper_data_run):
    found = events(paper_data_run)
    assert SCALARS <= set(found["scalars"])
    assert {"pictures/drawing", "pictures/samples"} <= set(found["images"])
    assert [step for step, _ in found["scalars"]["valid/loss"]] == [1024, 2048, 3072]
    assert found["scalars"]["train/loss"][-1][0] == 3072
    gif = found["images"]["pictures/drawing"][-1]
    picture = Image.open(io.BytesIO(gif["encoded"]))
    assert picture.format == "GIF" and picture.n_frames == 9  # the blank canvas and 8 glimpses
    assert (picture.width, picture.height) == (gif["width"], gif["height"])
    png = found["images"]["pictures/samples"][-1]["encoded"]
    assert Image.open(io.BytesIO(png)).format == "PNG"
    on_disk = (paper_data_run / "pictures" / "drawing-0000003072.gif").read_bytes()
    assert on_disk == gif["encoded"]


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    common = TINY + ["--logdir", str(tmp_path), "-f", "128", "--checkpoint_freq", "128", "--attention",
                     "-ar", "2", "-aw", "3", "-r", "1e-2"]
    assert main(common + ["-t", "384", "--run_name", "whole"]) == 0
    assert main(common + ["-t", "128", "--run_name", "parts"]) == 0
    assert main(["--resume", str(tmp_path / "parts"), "-t", "384"]) == 0
    whole, parts = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("whole", "parts"))
    assert parts["samples_seen"] == 384 and whole["test"]["bound"]["nats"] < 540, "training must move the model"
    assert parts["test"] == whole["test"]
    a, b = (mx.nd.load(str(tmp_path / r / "model.params")) for r in ("whole", "parts"))
    for name in a:  # bit for bit: the same seeds, engine and threads
        np.testing.assert_array_equal(a[name].asnumpy(), b[name].asnumpy(), err_msg=name)


def test_learning_rate_follows_the_gluoncv_schedule(tmp_path):
    assert main(TINY + ["--logdir", str(tmp_path), "--run_name", "run", "-t", "640", "-f", "640",
                        "-r", "0.01", "--lr_schedule", "linear"]) == 0
    rates = [value for _, value in events(tmp_path / "run")["scalars"]["train/learning_rate"]]
    # 10 updates, the first at the base rate, decaying linearly towards 0
    np.testing.assert_allclose(rates, 0.01 * (1 - np.arange(10) / 10), atol=1e-7)


def test_resume_with_a_larger_budget_stretches_the_decaying_schedule(tmp_path):
    common = TINY + ["--logdir", str(tmp_path), "-f", "640", "-r", "0.01", "--lr_schedule", "cosine"]
    assert main(common + ["-t", "1280", "--run_name", "whole"]) == 0
    assert main(common + ["-t", "640", "--run_name", "parts"]) == 0
    assert main(["--resume", str(tmp_path / "parts"), "-t", "1280", "-f", "1280"]) == 0
    whole, parts = (dict(events(tmp_path / r)["scalars"]["train/learning_rate"]) for r in ("whole", "parts"))
    later = [step for step in whole if step > 640]
    assert len(later) == 10 and min(whole[s] for s in later[:-1]) > 1e-4, "the extra updates must still learn"
    np.testing.assert_allclose([parts[s] for s in later], [whole[s] for s in later], rtol=1e-6)


def test_resume_without_the_optimizer_state_keeps_the_schedule_where_it_was(tmp_path):
    common = TINY + ["--logdir", str(tmp_path), "-f", "640", "-r", "0.01", "--lr_schedule", "cosine", "-t", "1280"]
    assert main(common + ["--run_name", "whole"]) == 0
    assert main(common + ["-t", "640", "--run_name", "parts"]) == 0
    checkpoint.drop_optimizer(checkpoint.latest(str(tmp_path / "parts")))  # a snapshot kept small
    assert main(["--resume", str(tmp_path / "parts"), "-t", "1280"]) == 0
    whole, parts = (dict(events(tmp_path / r)["scalars"]["train/learning_rate"]) for r in ("whole", "parts"))
    later = [step for step in whole if step > 640]
    assert len(later) == 10
    # update k of 20 runs at 0.01 (1 + cos(pi (k - 1) / 20)) / 2, not back at the base rate
    np.testing.assert_allclose([parts[s] for s in later], 0.005 * (1 + np.cos(np.pi * np.arange(10, 20) / 20)),
                               rtol=1e-6)


def test_a_later_resume_keeps_the_schedule_after_the_optimizer_started_afresh(tmp_path):
    # the committed long runs: a snapshot without Adam, resumed (Adam afresh), stopped, resumed again
    common = TINY + ["--logdir", str(tmp_path), "-f", "640", "-r", "0.01", "--lr_schedule", "cosine"]
    assert main(common + ["-t", "640", "--run_name", "run"]) == 0
    checkpoint.drop_optimizer(checkpoint.latest(str(tmp_path / "run")))
    assert main(["--resume", str(tmp_path / "run"), "-t", "960", "-f", "960"]) == 0  # Adam now 5 updates old
    assert main(["--resume", str(tmp_path / "run"), "-t", "1280", "-f", "1280"]) == 0
    rates = dict(events(tmp_path / "run")["scalars"]["train/learning_rate"])
    # updates 11-15 of the 15 that -t 960 makes, then 16-20 of the 20 of -t 1280
    np.testing.assert_allclose([rates[s] for s in range(704, 961, 64)],
                               0.005 * (1 + np.cos(np.pi * np.arange(10, 15) / 15)), rtol=1e-6)
    np.testing.assert_allclose([rates[s] for s in range(1024, 1281, 64)],
                               0.005 * (1 + np.cos(np.pi * np.arange(15, 20) / 20)), rtol=1e-6)


def test_resume_with_another_rate_follows_the_new_schedule(tmp_path):
    common = TINY + ["--logdir", str(tmp_path), "-f", "640", "--lr_schedule", "cosine", "-t", "1280"]
    assert main(common + ["-r", "0.005", "--run_name", "whole"]) == 0
    assert main(common + ["-r", "0.01", "-t", "640", "--run_name", "parts"]) == 0
    assert main(["--resume", str(tmp_path / "parts"), "-t", "1280", "-r", "0.005"]) == 0
    whole, parts = (dict(events(tmp_path / r)["scalars"]["train/learning_rate"]) for r in ("whole", "parts"))
    later = [step for step in whole if step > 640]
    assert len(later) == 10
    np.testing.assert_allclose([parts[s] for s in later], [whole[s] for s in later], rtol=1e-6)


@pytest.mark.parametrize("batch", [63, 1], ids=["odd batch", "one image"])
def test_two_devices_update_exactly_like_one(batch):
    args = parse_args(TINY + ["--attention", "-ar", "2", "-aw", "3", "--clip", "1"])
    x = mnist.mnist5k()["train"][:batch]  # 63: the devices get 32 and 31 images; 1: the second a filler
    results = []
    for ctxs in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        mx.random.seed(0)
        model = DRAW(config_from_args(args))
        model.initialize(mx.init.Xavier(), ctx=ctxs)
        model.noise = lambda n, ctx=None: mx.nd.zeros((n, 4, 5), ctx=ctx)  # z = mu: same on any split
        trainer = make_trainer(model, args, len(ctxs))
        for _ in range(3):
            step = train_step(model, VariationalBound(model.config, 0), trainer, split_batch(x, None, ctxs),
                              args.clip)
            loss, norm = step.loss, step.grad_norm
        assert norm > args.clip, "the test must exercise clipping"
        results.append((loss, {k: [p.data(c).asnumpy() for c in ctxs] for k, p in model.collect_params().items()}))
    (loss_one, one), (loss_two, two) = results
    assert loss_two == pytest.approx(loss_one, rel=1e-5)
    for (single,), (first, second) in zip(one.values(), two.values()):
        np.testing.assert_array_equal(first, second)  # the copies stay identical
        np.testing.assert_allclose(first, single, rtol=1e-4, atol=1e-6)


def test_a_last_batch_smaller_than_the_devices_trains_and_resumes(tmp_path):
    images = mnist.mnist5k()
    flags = dict(batch_size=16, num_train_samples=33, val_freq=33, num_steps=2, enc_size=8, dec_size=8,
                 z_size=3, logdir=str(tmp_path), run_name="run", checkpoint_freq=32)
    _, _, metrics = fit(images["train"][:200], images["valid"][:50], ctxs=[mx.cpu(0), mx.cpu(1)], **flags)
    assert metrics["samples_seen"] == 33  # the last batch: 1 image for 2 devices
    _, _, metrics = fit(images["train"][:200], images["valid"][:50], ctxs=[mx.cpu(0), mx.cpu(1)],
                        resume=str(tmp_path / "run"), **dict(flags, num_train_samples=49))
    assert metrics["samples_seen"] == 49


def test_training_on_two_devices_counts_samples_exactly(tmp_path):
    args = parse_args(TINY + ["--logdir", str(tmp_path), "--run_name", "run", "-t", "650", "-f", "650",
                              "-b", "63"])
    _, metrics = train(args, ctxs=[mx.cpu(0), mx.cpu(1)])
    assert metrics["samples_seen"] == 650 and metrics["validation"][-1]["samples"] == 650


def test_init_from_starts_a_new_run_from_a_trained_models_parameters(tmp_path, capsys):
    logs = ["--logdir", str(tmp_path), "-t", "128", "-f", "128"]
    assert main(TINY + logs + ["--run_name", "first"]) == 0
    first = load_run(str(tmp_path / "first"))
    argv = TINY + logs + ["--run_name", "again", "--init_from", str(tmp_path / "first")]
    args = parse_args(argv)
    objective = VariationalBound(config_from_args(args), args.seed)
    model, trainer, _, state, _ = prepare(args, objective, [mx.cpu()], mnist.load_mnist5k(), str(tmp_path / "unused"),
                                          initial=trained_like(args.init_from, objective.config))
    ours, theirs = model._collect_params_with_prefix(), first._collect_params_with_prefix()
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name].data().asnumpy(), theirs[name].data().asnumpy())
    assert state.samples_seen == 0 and trainer.optimizer.num_update == 0  # a new run: its own schedule and Adam
    assert main(argv) == 0 and json.loads((tmp_path / "again" / "args.json").read_text())["init_from"]

    # a model the flags do not build: one line naming the difference, nothing written
    capsys.readouterr()
    assert main(TINY + logs + ["--run_name", "other", "--init_from", str(tmp_path / "first"), "-s", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a model of another shape: num_steps 4 (flags: 3)" in err[0]
    assert not (tmp_path / "other").exists()
    # a shipped model by its name: the paper's model with attention
    paper = parse_args(["--attention", "--dataset", "mnist5k", "--init_from", "mnist-attention"])
    assert trained_like("mnist-attention", config_from_args(paper)).config == config_from_args(paper)
