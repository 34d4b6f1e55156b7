"""Faults and bad input: killed runs resume exactly, damaged checkpoints are set aside, non-finite
updates are skipped, a full disk or a busy run folder gives a clear error, bad input exits 2 with one
line, and the same seed gives the same run. Run alone with ``pytest -m faults``."""
import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import time

import mxnet as mx
import numpy as np
import pytest

from helpers import HANG, ROOT, TINY, events, make_model, scalar_steps, start, stderr_of, tiny_config, wait_for_checkpoint
from draw_gluon import DRAW, checkpoint, data, evaluate_nll, model_zoo
from draw_gluon.data import mnist
from draw_gluon.io import file_digest
from draw_gluon.cli import main as cli
from draw_gluon.train import (Part, VariationalBound, Workers, config_from_args, main, make_trainer, parse_args,
                              prepare, train_step)

pytestmark = pytest.mark.faults


def run_args(tmp_path, name="run", *extra):
    return TINY + ["--logdir", str(tmp_path), "--run_name", name] + list(extra)


def final_params(run_dir):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(run_dir / "model.params")).items()}


# ------------------------------------------------------------------------ killed and stopped runs
def test_killed_at_random_moments_every_resume_works_and_the_result_is_exact(tmp_path):
    budget = ["-t", "12288", "-f", "4096", "--checkpoint_freq", "128"]
    assert main(run_args(tmp_path, "whole", *budget)) == 0
    run_dir, progress = tmp_path / "killed", []
    # SIGKILL as soon as a checkpoint at or past each target appears (seeded targets): what the kill
    # interrupts varies (an update, a checkpoint being written, a validation), but not whether the
    # run was still going, however fast or slow the machine.
    for target in sorted(random.Random(5).sample(range(1, 80), 4)):
        argv = ["--resume", str(run_dir)] if (run_dir / "args.json").exists() else run_args(tmp_path, "killed", *budget)
        process = start(argv)
        wait_for_checkpoint(run_dir, process, at_least=128 * target)
        process.kill()
        process.wait()
        progress.append(int(os.path.basename(checkpoint.latest(str(run_dir)))))
    assert progress == sorted(progress) and 0 < progress[-1] < 12288, progress
    assert not (run_dir / "metrics.json").exists()
    assert main(["--resume", str(run_dir)]) == 0
    metrics, whole = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("killed", "whole"))
    assert metrics["samples_seen"] == 12288
    assert metrics["test"] == whole["test"]
    killed, reference = final_params(run_dir), final_params(tmp_path / "whole")
    for name in reference:  # bit for bit: same seeds, same engine and threads (conftest)
        np.testing.assert_array_equal(killed[name], reference[name], err_msg=name)
    steps = scalar_steps(run_dir, "train/loss")
    assert steps == sorted(set(steps)) and steps[-1] == 12288, "the curve continues where it stopped"


def test_sigterm_at_any_moment_then_resume_equals_an_unstopped_run(tmp_path):
    # checkpoints far apart: the stop's own checkpoint falls between them, where no reseeding was
    budget = ["-t", "3200", "-f", "640", "--checkpoint_freq", "100000", "--attention", "-ar", "2", "-aw", "3"]
    assert main(run_args(tmp_path, "whole", *budget)) == 0
    run_dir = tmp_path / "stopped"
    process = start(run_args(tmp_path, "stopped", *budget))
    while not (run_dir / "pictures").exists():  # past the first validation, at 640 images
        assert process.poll() is None, stderr_of(process)
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)  # what a cluster scheduler sends on pre-emption
    process.wait(timeout=HANG)
    assert process.returncode == 130, stderr_of(process)
    stopped_at = int(os.path.basename(checkpoint.latest(str(run_dir))))
    assert 640 <= stopped_at < 3200, stopped_at
    assert main(["--resume", str(run_dir)]) == 0
    stopped, whole = final_params(run_dir), final_params(tmp_path / "whole")
    for name in whole:
        np.testing.assert_array_equal(stopped[name], whole[name], err_msg=f"{name}, stopped at {stopped_at}")


def test_only_the_lead_worker_sets_a_damaged_checkpoint_aside(tmp_path):
    assert main(run_args(tmp_path, "run", "-t", "256", "-f", "256", "--checkpoint_freq", "128")) == 0
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "0000000256" / "model.params").write_bytes(b"damaged")
    args = parse_args(["--resume", str(run_dir)])
    objective = VariationalBound(config_from_args(args), args.seed)
    dataset = mnist.load_mnist5k()
    _, _, _, state, _ = prepare(args, objective, [mx.cpu()], dataset, str(run_dir), Workers(None, 1, 2))
    assert state.samples_seen == 128
    assert (run_dir / "checkpoints" / "0000000256").is_dir(), "a worker without the lock moves nothing"
    _, _, _, state, _ = prepare(args, objective, [mx.cpu()], dataset, str(run_dir), Workers(None, 0, 2))
    assert state.samples_seen == 128 and (run_dir / "checkpoints" / ".damaged-0000000256").is_dir()


def test_a_resume_on_other_data_stops_unless_accepted_and_records_what_it_read(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "128", "-f", "128")) == 0
    state = checkpoint.verify(checkpoint.latest(str(tmp_path / "run")))
    assert state["data_sha256"] == {}  # mnist5k has no published hashes
    other = data.load("mnist5k")._replace(sha256={"train": "a" * 64})  # as another --data-dir would read
    args = parse_args(["--resume", str(tmp_path / "run")])
    objective = VariationalBound(config_from_args(args), args.seed)
    with pytest.raises(ValueError, match=r"the train split\(s\) read now have SHA-256 \['aaa.*but this run trained on \[None\]"):
        prepare(args, objective, [mx.cpu()], other, str(tmp_path / "run"))
    args.accept_unverified_data = True
    capsys.readouterr()
    _, _, _, state, _ = prepare(args, objective, [mx.cpu()], other, str(tmp_path / "run"))
    assert "WARNING: the train split(s) read now" in capsys.readouterr().err
    assert state.data_sha256 == {"train": "a" * 64} and state.accepted_unverified_data


def test_ctrl_c_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    process = start(run_args(tmp_path, "run", "-t", "1000000", "-f", "256", "--checkpoint_freq", "100000"))
    while not (run_dir / "pictures").exists():  # the first validation has run
        assert process.poll() is None, stderr_of(process)
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=HANG)
    err = stderr_of(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err and f"--resume {run_dir}" in err
    stopped_at = int(os.path.basename(checkpoint.latest(str(run_dir))))
    assert 0 < stopped_at < 100000
    state = json.loads((run_dir / "checkpoints" / f"{stopped_at:010d}" / "state.json").read_text())
    assert state["samples_seen"] == stopped_at


def test_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_used(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "384", "-f", "384", "--checkpoint_freq", "128")) == 0
    run_dir = tmp_path / "run"
    newest = run_dir / "checkpoints" / "0000000384"
    params = newest / "model.params"
    params.write_bytes(params.read_bytes()[:1000])  # truncated
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "-t", "512"]) == 0
    err = capsys.readouterr().err
    assert f"checkpoint {newest} is damaged (model.params does not match the hash" in err
    assert (run_dir / "checkpoints" / ".damaged-0000000384").is_dir()
    assert json.loads((run_dir / "metrics.json").read_text())["samples_seen"] == 512
    steps = scalar_steps(run_dir, "train/loss")
    assert steps[-2:] == [448, 512] and steps.count(320) == 1, "resumed from 256, the curve rewound"


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_file_digest_covers_every_block_of_a_large_file(tmp_path, algorithm):
    path = tmp_path / "blob"
    blob = bytearray(np.random.RandomState(0).bytes(int(2.5 * (1 << 20))))
    path.write_bytes(bytes(blob))
    assert file_digest(path, algorithm) == hashlib.new(algorithm, bytes(blob)).hexdigest()
    blob[-1] ^= 1  # a damaged byte in the last, partial block
    path.write_bytes(bytes(blob))
    assert file_digest(path, algorithm) == hashlib.new(algorithm, bytes(blob)).hexdigest()


def test_all_checkpoints_damaged_is_an_error(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "128", "-f", "128")) == 0
    for path in checkpoint.checkpoints(str(tmp_path / "run")):
        os.remove(os.path.join(path, "state.json"))
    assert main(["--resume", str(tmp_path / "run"), "-t", "256"]) == 2
    assert "every checkpoint of" in capsys.readouterr().err.splitlines()[-1]


def test_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    assert main(run_args(tmp_path, "small", "-t", "128", "-f", "128")) == 0
    assert main(run_args(tmp_path, "big", "-t", "128", "-f", "128", "-u", "40")) == 0
    shutil.rmtree(tmp_path / "small" / "checkpoints")
    shutil.copytree(tmp_path / "big" / "checkpoints", tmp_path / "small" / "checkpoints")
    assert main(["--resume", str(tmp_path / "small"), "-t", "256"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "was written by a different model" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ non-finite updates
def test_a_non_finite_batch_skips_the_update():
    args = parse_args(TINY)
    model = make_model(tiny_config(image_shape=(1, 28, 28)))
    trainer = make_trainer(model, args, 1)
    x = mx.nd.array(mnist.mnist5k()["train"][:8])
    objective = VariationalBound(model.config, seed=0)
    assert train_step(model, objective, trainer, [Part(x, None, len(x))], 10.0).updated
    before = {k: p.data().asnumpy() for k, p in model.collect_params().items()}
    x[0, 0, 3, 3] = np.nan
    step = train_step(model, objective, trainer, [Part(x, None, len(x))], 10.0)
    assert not step.updated and np.isnan(step.loss)
    assert trainer.optimizer.num_update == 1, "Adam's step count (and moments) untouched"
    for k, p in model.collect_params().items():
        np.testing.assert_array_equal(p.data().asnumpy(), before[k])


def test_non_finite_losses_in_a_row_stop_with_a_checkpoint_of_the_last_good_state(tmp_path, monkeypatch, capsys):
    real_next = data.Batches.next
    calls = []

    def poisoned(self, limit=None):  # from the fifth batch on, one pixel is NaN
        batch, labels = real_next(self, limit)
        calls.append(1)
        if len(calls) >= 5:
            batch = batch.copy()
            batch[0, 0, 0, 0] = np.nan
        return batch, labels

    monkeypatch.setattr(data.Batches, "next", poisoned)
    assert main(run_args(tmp_path, "run", "-t", "6400", "-f", "6400", "--max_nonfinite", "3")) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "3 updates in a row had a non-finite loss or gradient" in err and "lower --learning_rate" in err
    newest = checkpoint.latest(str(tmp_path / "run"))
    state = checkpoint.verify(newest)
    assert state["samples_seen"] == 7 * 64 and state["skipped_updates"] == 3
    model = DRAW.load(newest)
    assert all(np.isfinite(p.data().asnumpy()).all() for p in model.collect_params().values())
    skipped = events(tmp_path / "run")["scalars"]["train/skipped_updates"]
    assert [value for _, value in skipped] == [0, 0, 0, 0, 1, 2, 3]


# ------------------------------------------------------------------------- files that cannot be written
def test_disk_full_while_checkpointing_leaves_the_earlier_checkpoint_intact(tmp_path, monkeypatch, capsys):
    real_save = checkpoint.save_optimizer
    calls = []

    def full_disk(trainer, names, fname):
        calls.append(fname)
        if len(calls) == 2:  # the second checkpoint: half a file, then the disk is full
            with open(fname, "wb") as f:
                f.write(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), fname)
        return real_save(trainer, names, fname)

    monkeypatch.setattr(checkpoint, "save_optimizer", full_disk)
    run_dir = tmp_path / "run"
    assert main(run_args(tmp_path, "run", "-t", "512", "-f", "512", "--checkpoint_freq", "128")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert err.startswith("error: ") and "No space left on device" in err and f"--resume {run_dir}" in err
    assert os.listdir(run_dir / "checkpoints") == ["0000000128"], "no partial checkpoint left behind"
    assert checkpoint.verify(str(run_dir / "checkpoints" / "0000000128"))["samples_seen"] == 128
    monkeypatch.setattr(checkpoint, "save_optimizer", real_save)
    assert main(["--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["samples_seen"] == 512


def test_log_folder_that_cannot_be_written_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(TINY + ["--logdir", str(tmp_path / "file"), "-t", "128", "-f", "128"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot create a run folder in --logdir {tmp_path / 'file'}" in err[0]


def test_a_second_process_on_the_same_run_folder_refuses(tmp_path, capsys):
    run_dir = tmp_path / "run"
    process = start(run_args(tmp_path, "run", "-t", "1000000", "-f", "100000", "--checkpoint_freq", "128"))
    try:
        wait_for_checkpoint(run_dir, process)
        assert main(["--resume", str(run_dir)]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"{run_dir} is in use by another process (pid {process.pid})" in err
    finally:
        process.kill()
        process.wait()
    budget = str(int(os.path.basename(checkpoint.latest(str(run_dir)))) + 64)
    assert main(["--resume", str(run_dir), "-t", budget, "-f", budget]) == 0, "the lock died with its holder"


# -------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, message", [
    (["-b", "0"], "argument -b/--batch_size: must be a positive integer, got 0"),
    (["-t", "100", "-f", "200"], "--val_freq (200) is larger than --num_train_samples (100)"),
    (["--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["--attention", "-ar", "40"], "attention grid 40 x 40 is larger than the 28 x 28 image"),
    (["--gpu"], "MXNet sees no GPU; install the CUDA build"),
    (["--gpus", "0,x"], "expected GPU numbers separated by commas"),
    (["--resume", "nowhere"], "--resume nowhere: no args.json there"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--logdir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "logs").exists()


def test_resume_refuses_to_change_the_model(tmp_path, capsys):
    assert main(TINY + ["--logdir", str(tmp_path), "--run_name", "run", "-t", "128", "-f", "128"]) == 0
    with pytest.raises(SystemExit) as stop:
        main(["--resume", str(tmp_path / "run"), "-u", "64"])
    assert stop.value.code == 2
    assert "--resume keeps the run's own --enc_size, --dec_size" in capsys.readouterr().err


def test_resume_counts_a_flag_given_at_its_default_value(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "128", "-f", "128")) == 0
    default = parse_args([]).num_train_samples
    assert parse_args(["--resume", str(tmp_path / "run"), "-t", str(default)]).num_train_samples == default
    assert parse_args(["--resume", str(tmp_path / "run")]).num_train_samples == 128
    with pytest.raises(SystemExit):  # -u 256 is the default, but not this run's 32 units
        parse_args(["--resume", str(tmp_path / "run"), "-u", str(parse_args([]).enc_size)])
    assert "--resume keeps the run's own --enc_size, --dec_size" in capsys.readouterr().err


def test_a_run_started_under_version_0_flag_names_resumes(tmp_path):
    assert main(run_args(tmp_path, "run", "-t", "128", "-f", "128")) == 0
    path = tmp_path / "run" / "args.json"
    stored = json.loads(path.read_text())  # as 0.x wrote it: one size for both LSTMs, latent_dim, preset
    stored.update(num_recurrent_units=stored.pop("enc_size"), latent_dim=stored.pop("z_size"), preset=None)
    del stored["dec_size"]
    path.write_text(json.dumps(stored))
    args = parse_args(["--resume", str(tmp_path / "run"), "-t", "256"])
    assert (args.enc_size, args.dec_size, args.z_size, args.num_train_samples) == (32, 32, 5, 256)
    assert main(["--resume", str(tmp_path / "run"), "-t", "256"]) == 0


@pytest.mark.parametrize("name", model_zoo.names())
def test_the_committed_runs_flags_read_as_the_models_they_trained(name):
    """Each shipped model's run folder keeps its args.json (0.x names): read back, they give its config."""
    path = os.path.join(ROOT, "runs", name, "args.json")
    if not os.path.isfile(path):
        pytest.skip(f"no runs/{name}/args.json")
    args = parse_args(["--resume", os.path.dirname(path)])
    model = model_zoo.pretrained(name)
    assert config_from_args(args, channels=model.config.image_shape[0]) == model.config


def test_existing_run_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(TINY + ["--logdir", str(tmp_path), "--run_name", "run", "-t", "128", "-f", "128"]) == 2
    assert "exists already" in capsys.readouterr().err and os.listdir(tmp_path / "run") == []


def test_resume_rejects_an_args_json_edited_into_nonsense(tmp_path, capsys):
    assert main(run_args(tmp_path, "run", "-t", "128", "-f", "128")) == 0
    capsys.readouterr()
    path = tmp_path / "run" / "args.json"
    stored = json.loads(path.read_text())
    for broken, message in (("{", "is not valid JSON"), (json.dumps(dict(stored, batch_size=-5)),
                                                          "has batch_size = -5"),
                            (json.dumps(dict(stored, dataset="cifar")), "has dataset = 'cifar'")):
        path.write_text(broken)
        with pytest.raises(SystemExit) as stop:
            main(["--resume", str(tmp_path / "run")])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and message in err and err.count("\n") == 1, err


def test_commands_reject_a_config_edited_into_nonsense_or_a_mismatched_dataset(tmp_path, capsys):
    make_model(tiny_config()).save(str(tmp_path / "model"))
    assert cli(["reconstruct", str(tmp_path / "model"), "--dataset", "mnist5k"]) == 2
    assert "mnist5k images are (1, 28, 28), the model takes (1, 6, 5)" in capsys.readouterr().err
    config = tmp_path / "model" / "config.json"
    config.write_text(config.read_text().replace('"num_steps": 3', '"num_steps": "many"'))
    assert cli(["sample", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "num_steps must be a positive integer, got 'many'" in err[0]
    assert not (tmp_path / "model" / "sample").exists()


@pytest.mark.parametrize("change, message", [
    (lambda x: x * 255, "values from 0 to 255, outside [0, 1]"),
    (lambda x: np.where(x > 0.5, np.nan, x), "NaN or infinite values"),
    (lambda x: x.astype(np.uint8), "dtype uint8"),
    (lambda x: x[:, :, :20], "shape (4, 1, 20, 28), expected (N, 1, 28, 28)"),
])
def test_bad_images_are_named_before_any_work(change, message):
    model = make_model(tiny_config(image_shape=(1, 28, 28)))
    images = change(mnist.mnist5k()["test"][:4])
    with pytest.raises(data.DataError, match=re.escape(message)):
        evaluate_nll(model, images, progress=False)
    with pytest.raises(data.DataError, match=re.escape(message)):
        data.check_images(images, "these images", (1, 28, 28))


# --------------------------------------------------------------------------------- reproducibility
def test_same_seed_same_losses_step_for_step(tmp_path):
    common = ["-b", "16", "-s", "3", "-u", "16", "-l", "4", "-v", "16", "--dataset", "mnist5k",
              "--logdir", str(tmp_path), "--attention", "-ar", "2", "-aw", "3"]
    for name, seed, budget in (("a", "11", "4800"), ("b", "11", "4800"), ("c", "12", "160")):
        assert main(common + ["--run_name", name, "--seed", seed, "-t", budget, "-f", budget]) == 0
    a, b, c = ([value for _, value in events(tmp_path / r)["scalars"]["train/loss"]] for r in "abc")
    assert len(a) == 300 and a == b, "300 updates, identical losses"
    assert a[:10] != c, "another seed, another run"


def test_training_images_of_another_shape_than_the_model_exit_2_before_writing(tmp_path, capsys):
    assert main(TINY + ["--logdir", str(tmp_path / "logs"), "-hh", "20", "-t", "128", "-f", "128"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "dataset images are 28x28, the model's 20x28; pass -hh 28 -ww 28" in err
    assert not (tmp_path / "logs").exists()


def test_outputs_never_replace_a_run_or_a_model(tmp_path, capsys):
    model = make_model(tiny_config())
    model.save(str(tmp_path / "model"))
    assert cli(["sample", str(tmp_path / "model"), "--out", str(tmp_path / "model")]) == 2
    assert "is not an output folder" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "model")) == ["config.json", "model.params"]
    assert cli(["sample", str(tmp_path / "model"), "--out", str(tmp_path)]) == 2
    assert cli(["sample", str(tmp_path / "model")]) == 0  # and an earlier output is replaced
    assert cli(["sample", str(tmp_path / "model"), "--num", "2"]) == 0
    assert len(os.listdir(tmp_path / "model" / "sample")) == 4
