"""A short training run on the paper's binarized MNIST lowers the loss clearly."""
import json
import os

import pytest

from conftest import SHARED_DATA
from draw_gluon.train import main


@pytest.mark.parametrize("attention", [True, False])
def test_short_training_on_real_digits_lowers_the_loss(tmp_path, attention):
    argv = ["--data-dir", os.path.dirname(SHARED_DATA), "--logdir", str(tmp_path), "--run_name", "run",
            "-t", "3072", "-f", "256", "-v", "500", "-b", "64", "-s", "8", "-u", "64", "-l", "10",
            "-r", "3e-3"] + (["--attention"] if attention else [])
    assert main(argv) == 0
    with open(tmp_path / "run" / "metrics.json") as f:
        metrics = json.load(f)
    first, last = metrics["validation"][0]["val_loss"], metrics["validation"][-1]["val_loss"]
    assert metrics["samples_seen"] == 3072
    assert last < 0.6 * first, (first, last)
    assert metrics["test"]["loss"] == pytest.approx(metrics["test"]["L_x"] + metrics["test"]["L_z"])
    assert sorted(os.listdir(tmp_path / "run")) == ["config.json", "metrics.json", "model.params"]
