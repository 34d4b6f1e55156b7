"""--ema: an exponential moving average of the parameters, as its definition says, kept in the
checkpoints (resumed bit for bit), validated beside the parameters and shipped."""
import json
import os

import mxnet as mx
import numpy as np
import pytest

from draw_gluon import checkpoint
from draw_gluon.data import mnist
from draw_gluon.train import VariationalBound, main, make_trainer, parse_args, split_batch, train_step
from draw_gluon.train.average import ParameterAverage
from helpers import TINY, events, make_model, tiny_config


def values(model):
    return {name: p.data().asnumpy().copy() for name, p in model._collect_params_with_prefix().items()}


def test_the_average_follows_its_definition_and_is_applied_only_inside_its_block():
    """Its decay warms up as in TensorFlow's ExponentialMovingAverage (num_updates) and diffusers'
    EMAModel: min(DECAY, (1 + n) / (10 + n)) at the n-th update from 0, so that a short run's average
    is not mostly the parameters it started from."""
    args = parse_args(TINY + ["-r", "0.01"])
    model = make_model(tiny_config(image_shape=(1, 28, 28)))
    trainer, objective = make_trainer(model, args, 1), VariationalBound(model.config, 0)
    average = ParameterAverage(model, 0.9)
    expected = values(model)
    x = mnist.mnist5k()["train"][:16]
    for n in range(90):
        assert train_step(model, objective, trainer, split_batch(x, None, [mx.cpu()]), 10.0).updated
        average.update()
        decay = min(0.9, (1 + n) / (10 + n))  # 0.1, 0.18, 0.25, ..., 0.9 from n = 80 on
        expected = {k: decay * v + (1 - decay) * values(model)[k] for k, v in expected.items()}  # NumPy, float64
    last = values(model)
    for name, value in average.values.items():
        np.testing.assert_allclose(value.asnumpy(), expected[name], rtol=1e-5, atol=1e-7, err_msg=name)
    with average.applied():
        inside = values(model)
    for name in last:
        np.testing.assert_array_equal(inside[name], average.values[name].asnumpy())
        np.testing.assert_array_equal(values(model)[name], last[name])  # its own parameters again
    assert any(not np.allclose(expected[k], last[k]) for k in last), "the average must differ from the last step"


def run_args(tmp_path, name, *extra):
    return TINY + ["--logdir", str(tmp_path), "--run_name", name, "-f", "128", "--checkpoint_freq", "128",
                   "-r", "1e-2", "--ema", "0.9"] + list(extra)


def test_a_run_with_ema_resumes_bit_for_bit_and_validates_and_ships_the_average(tmp_path):
    assert main(run_args(tmp_path, "whole", "-t", "384")) == 0
    assert main(run_args(tmp_path, "parts", "-t", "128")) == 0
    assert main(["--resume", str(tmp_path / "parts"), "-t", "384"]) == 0
    whole, parts = (mx.nd.load(str(tmp_path / r / "model.params")) for r in ("whole", "parts"))
    for name in whole:
        np.testing.assert_array_equal(parts[name].asnumpy(), whole[name].asnumpy(), err_msg=name)
    last = checkpoint.latest(str(tmp_path / "whole"))
    averaged = mx.nd.load(os.path.join(last, ParameterAverage.FILE))
    for name in whole:  # the final model is the average, not the last update
        np.testing.assert_array_equal(whole[name].asnumpy(), averaged[name].asnumpy(), err_msg=name)
    assert "ema.params" in checkpoint.verify(last)["files"]
    assert not all(np.array_equal(averaged[k].asnumpy(), mx.nd.load(os.path.join(last, "model.params"))[k].asnumpy())
                   for k in averaged)
    found = events(tmp_path / "whole")["scalars"]
    assert [step for step, _ in found["valid_ema/loss"]] == [128, 256, 384] == [s for s, _ in found["valid/loss"]]
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert metrics["validation"][-1]["ema_loss"] == pytest.approx(found["valid_ema/loss"][-1][1], rel=1e-6)
    assert metrics["schedule"]["ema"] == 0.9


def test_ema_given_at_a_resume_starts_from_the_parameters(tmp_path):
    assert main(TINY + ["--logdir", str(tmp_path), "--run_name", "run", "-t", "128", "-f", "128"]) == 0
    assert main(["--resume", str(tmp_path / "run"), "-t", "256", "-f", "128", "--ema", "0.5"]) == 0
    assert ParameterAverage.FILE in os.listdir(checkpoint.latest(str(tmp_path / "run")))
