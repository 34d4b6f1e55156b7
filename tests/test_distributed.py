"""Training across workers on MXNet's parameter server (dist_sync), on loopback: two workers with half
a batch each end where one process with the whole batch ends, also when one of them is killed and
the job is resumed."""
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from helpers import HANG, ROOT
from draw_gluon import Classifier
from draw_gluon.config import read_config
from draw_gluon.launch import descendants

# The section 4.1 classifier: no sampling noise, so both jobs compute the same function of the data.
# The last batch holds one image: the second worker then has none of it (and must still take part).
COMMON = ["--task", "classify", "--dataset", "mnist5k", "-s", "3", "-u", "32", "-ar", "6", "-b", "128",
          "-t", "3841", "-f", "3841", "-v", "100", "--seed", "3", "--checkpoint_freq", "1280"]
TRAIN = [sys.executable, os.path.join(ROOT, "train_mnist.py")]
LAUNCH = [sys.executable, "-m", "draw_gluon.launch", "-n", "2", "-s", "1", "--launcher", "local"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def start(command):
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                            cwd=ROOT, start_new_session=True)


def finish(process, timeout=HANG):
    """The exit status and output of ``process``; its whole process group is killed afterwards."""
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.returncode, out


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    """One process, whole batches: the reference run."""
    logdir = tmp_path_factory.mktemp("one")
    code, out = finish(start(TRAIN + COMMON + ["--logdir", str(logdir), "--run_name", "one"]))
    assert code == 0, out
    return logdir / "one"


def params(run):
    return mx.nd.load(str(run / "model.params"))


def assert_same_parameters(run, reference):
    got, want = params(run), params(reference)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name].asnumpy(), want[name].asnumpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_two_workers_with_half_batches_match_one_process_with_whole_ones(one, tmp_path):
    code, out = finish(start(LAUNCH + TRAIN + COMMON + ["--logdir", str(tmp_path), "--run_name", "two",
                                                        "--kvstore", "dist_sync"]))
    assert code == 0, out
    assert os.listdir(tmp_path) == ["two"], "only rank 0 writes a run folder"
    assert out.count("test error") == 1, "the final scores are computed once"
    assert_same_parameters(tmp_path / "two", one)
    mx.random.seed(3)  # the runs' initial parameters, as prepare() makes them
    initial = Classifier(read_config(str(one / "config.json")))
    initial.initialize(mx.init.Xavier())
    initial(mx.nd.zeros((1, 1, 28, 28)))
    trained = params(one)
    assert max(np.abs(trained[k].asnumpy() - p.data().asnumpy()).max()
               for k, p in initial._collect_params_with_prefix().items()) > 1e-2, "the runs must have trained"


def workers(launcher):
    """The training processes that ``launcher`` started."""
    found = []
    for pid in descendants(launcher.pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                worker = b"DMLC_ROLE=worker" in f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                training = b"train_mnist.py" in f.read()
        except OSError:
            continue
        if worker and training:
            found.append(pid)
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_worker_stops_the_job_loudly_and_resume_finishes_it_exactly(one, tmp_path):
    run = tmp_path / "two"
    launcher = start(LAUNCH + TRAIN + COMMON + ["--logdir", str(tmp_path), "--run_name", "two",
                                                "--kvstore", "dist_sync"])
    try:
        while not (run / "checkpoints" / f"{1280:010d}").is_dir():  # the first checkpoint, complete
            assert launcher.poll() is None, launcher.communicate()[0]
            time.sleep(0.05)
        job = descendants(launcher.pid)
        os.kill(workers(launcher)[-1], signal.SIGKILL)
        out, _ = launcher.communicate(timeout=HANG)  # no hang: the launcher ends the job
        deadline = time.time() + HANG  # a killed process may take a moment to go, on a busy machine
        while [pid for pid in job if alive(pid)] and time.time() < deadline:
            time.sleep(0.05)
        left = [pid for pid in job if alive(pid)]
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode == 1 and "exited with status -9; stopping the job" in out, out
    assert not left, "every process of the job has ended"
    assert not (run / "model.params").exists()

    code, out = finish(start(LAUNCH + TRAIN + ["--resume", str(run), "--kvstore", "dist_sync"]))
    assert code == 0, out
    assert_same_parameters(run, one)
