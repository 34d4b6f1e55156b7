"""Checkpoints hold no pickle: the optimizer's state is named arrays and JSON, restored exactly; a
0.x checkpoint's pickled trainer.states is refused on resume, and converted only on request."""
import glob
import hashlib
import json
import os
import pickle

import mxnet as mx
import numpy as np
import pytest

from helpers import ROOT, TINY
from draw_gluon import checkpoint
from draw_gluon.cli import main as cli
from draw_gluon.data import mnist
from draw_gluon.train import VariationalBound, config_from_args, main, make_trainer, parse_args, prepare


def run_args(tmp_path, name, *extra):
    return TINY + ["--logdir", str(tmp_path), "--run_name", name, "-f", "128", "--checkpoint_freq", "128",
                   "--attention", "-ar", "2", "-aw", "3", "-r", "1e-2"] + list(extra)


def final_params(run_dir):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(run_dir / "model.params")).items()}


def rewrite_state(path, **changes):
    with open(os.path.join(path, "state.json")) as f:
        state = json.load(f)
    state.update(changes)
    with open(os.path.join(path, "state.json"), "w") as f:
        json.dump(state, f)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_legacy(path):
    """Turn checkpoint ``path`` into what draw-gluon 0.x wrote: the same optimizer state, pickled by
    ``gluon.Trainer.save_states`` into trainer.states."""
    args = parse_args(["--resume", os.path.dirname(os.path.dirname(path))])
    objective = VariationalBound(config_from_args(args), args.seed)
    model = objective.build()
    model.initialize(ctx=mx.cpu())
    model(mx.nd.zeros((1,) + objective.config.image_shape))
    trainer = make_trainer(model, args, 1)
    state = checkpoint.verify(path)
    checkpoint.load_optimizer(trainer, checkpoint.parameter_names(model, trainer._params),
                              os.path.join(path, checkpoint.OPTIMIZER), state["optimizer"])
    legacy = os.path.join(path, checkpoint.LEGACY)
    trainer.save_states(legacy)
    os.remove(os.path.join(path, checkpoint.OPTIMIZER))
    files = {"model.params": state["files"]["model.params"], checkpoint.LEGACY: sha256(legacy)}
    del state["optimizer"]
    with open(os.path.join(path, "state.json"), "w") as f:
        json.dump(dict(state, files=files), f)


def test_the_optimizer_state_round_trips_exactly_without_pickle(tmp_path, monkeypatch):
    assert main(run_args(tmp_path, "run", "-t", "256")) == 0
    path = checkpoint.latest(str(tmp_path / "run"))
    assert checkpoint.LEGACY not in os.listdir(path)
    stored = mx.nd.load(os.path.join(path, checkpoint.OPTIMIZER))  # MXNet's array file, no pickle
    state = checkpoint.verify(path)
    assert state["optimizer"]["num_update"] == 4
    assert set(state["optimizer"]["update_count"].values()) == {4}

    def no_pickle(*args, **kwargs):
        raise AssertionError("a resume must not unpickle anything")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_pickle)
    args = parse_args(["--resume", str(tmp_path / "run")])
    objective = VariationalBound(config_from_args(args), args.seed)
    dataset = mnist.load_mnist5k()
    model, trainer, _, restored, _ = prepare(args, objective, [mx.cpu(0), mx.cpu(1)], dataset, str(tmp_path / "run"))
    assert restored.samples_seen == 256 and restored.batches["position"] > 0
    assert trainer.optimizer.num_update == 4
    names = checkpoint.parameter_names(model, trainer._params)
    for updater, ctx in zip(trainer._updaters, (mx.cpu(0), mx.cpu(1))):  # on every device
        for i, name in enumerate(names):
            mean, var = updater.states[i]
            assert mean.context == ctx
            np.testing.assert_array_equal(mean.asnumpy(), stored[f"{name}/0"].asnumpy())
            np.testing.assert_array_equal(var.asnumpy(), stored[f"{name}/1"].asnumpy())
    assert all(counts == {i: 4 for i in range(len(names))}
               for counts in trainer.optimizer._all_index_update_counts.values())


def test_a_legacy_pickle_is_refused_without_being_read(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "128")) == 0
    path = checkpoint.latest(str(tmp_path / "run"))
    marker = tmp_path / "pwned"

    class Payload:  # what an attacker's trainer.states holds: code that runs when unpickled
        def __reduce__(self):
            return (open, (str(marker), "w"))

    legacy = os.path.join(path, checkpoint.LEGACY)
    with open(legacy, "wb") as f:
        pickle.dump(Payload(), f)
    state = checkpoint.verify(path)
    rewrite_state(path, files={"model.params": state["files"]["model.params"], checkpoint.LEGACY: sha256(legacy)})
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "run"), "-t", "256"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a pickle, which can run any code" in err[0]
    assert f"draw-gluon convert-checkpoint {tmp_path / 'run'}" in err[0]
    assert not marker.exists(), "the pickle must not have been loaded"
    assert os.path.isdir(path), "a legacy checkpoint is not damaged: it stays where it is"


def test_a_converted_legacy_checkpoint_resumes_bit_for_bit(tmp_path, capsys):
    assert main(run_args(tmp_path, "whole", "-t", "384")) == 0
    assert main(run_args(tmp_path, "parts", "-t", "256")) == 0
    for path in checkpoint.checkpoints(str(tmp_path / "parts")):
        make_legacy(path)
    assert main(["--resume", str(tmp_path / "parts"), "-t", "384"]) == 2  # refused until converted
    capsys.readouterr()
    assert cli(["convert-checkpoint", str(tmp_path / "parts")]) == 0
    out, err = capsys.readouterr()
    assert out.split() == checkpoint.checkpoints(str(tmp_path / "parts")) and "converted 2 of 2" in err
    for path in checkpoint.checkpoints(str(tmp_path / "parts")):
        assert checkpoint.LEGACY not in os.listdir(path) and checkpoint.verify(path)["optimizer"]["num_update"] > 0
    assert cli(["convert-checkpoint", str(tmp_path / "parts")]) == 0  # again: nothing left to do
    assert "converted 0 of 2" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "parts"), "-t", "384"]) == 0
    whole, parts = final_params(tmp_path / "whole"), final_params(tmp_path / "parts")
    for name in whole:
        np.testing.assert_array_equal(parts[name], whole[name], err_msg=name)


def test_convert_names_what_it_needs(tmp_path, capsys):
    assert cli(["convert-checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"draw-gluon convert-checkpoint: error: {tmp_path} holds no checkpoint; pass a run folder "
                   "or a checkpoint folder"]


def test_the_committed_long_runs_states_read_as_run_states():
    """The runs still training keep their state in runs/NAME/checkpoint (an ended run's is in git's history)."""
    paths = glob.glob(os.path.join(ROOT, "runs", "*", "checkpoint"))
    if not paths:
        pytest.skip("every long run has ended: their states are in git's history (docs/experiments/)")
    for path in paths:
        raw = checkpoint.verify(path)
        state = checkpoint.RunState.from_json(raw)
        assert state.samples_seen == raw["samples_seen"] > 0 and state.validation == raw["validation"]
        assert state.batches["order"] and state.data_sha256 == raw["data_sha256"]


def test_an_optimizer_file_of_another_model_is_named(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "128")) == 0
    path = checkpoint.latest(str(tmp_path / "run"))
    optimizer, state = os.path.join(path, checkpoint.OPTIMIZER), checkpoint.verify(path)
    mx.nd.save(optimizer, {k: v[:1] for k, v in mx.nd.load(optimizer).items()})  # wrong shapes, hash updated
    rewrite_state(path, files=dict(state["files"], **{checkpoint.OPTIMIZER: sha256(optimizer)}))
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "run"), "-t", "256"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "does not fit this model's optimizer" in err
