"""A library import leaves the host program's MXNet settings alone; the entry points apply ours.
Every entry point works on the model's own device, not on MXNet's current one."""
import os
import subprocess
import sys

import mxnet as mx
import pytest

from helpers import ROOT, make_model, tiny_config
from draw_gluon import runtime

SETTINGS = ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE")


def python(code):
    """Run ``code`` in a fresh interpreter with neither setting in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)


def test_importing_the_library_changes_no_environment_variable():
    out = python("import os, draw_gluon, core\n"
                 "from draw_gluon import DRAW, DRAWLoss, train, cli\n"
                 "print([os.environ.get(k) for k in ('OMP_NUM_THREADS', 'MXNET_ENGINE_TYPE')])").stdout
    assert out.strip() == "[None, None]"


def test_cpu_defaults_before_mxnet_start_the_synchronous_engine():
    run = python("from draw_gluon import cpu_defaults\n"
                 "print(sorted(cpu_defaults()))\n"
                 "import mxnet")
    assert run.stdout.strip() == str(sorted(SETTINGS))
    assert "MXNet start using engine: NaiveEngine" in run.stderr


def test_the_engine_follows_the_library_not_the_wheels_name():
    # mxnet-cu112 installed beside mxnet, or a CPU build under another name (mxnet-mkl, a source
    # build): no distribution called "mxnet" to go by. The library itself has no CUDA here.
    run = python("from importlib import metadata\n"
                 "def version(name):\n"
                 "    raise metadata.PackageNotFoundError(name)\n"
                 "metadata.version = version\n"
                 "from draw_gluon.runtime import cpu_defaults, cuda_build\n"
                 "print(cpu_defaults().get('MXNET_ENGINE_TYPE'), cuda_build())\n"
                 "import mxnet\n"
                 "print(mxnet.runtime.Features().is_enabled('CUDA'))")
    applied, ours, theirs = run.stdout.split()
    assert applied == "NaiveEngine" and ours == theirs == "False"


def test_cores_without_sched_getaffinity(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS and Windows have none
    assert runtime.usable_cores() == os.cpu_count()


@pytest.mark.parametrize("command", [["train_mnist.py", "-b", "0"], ["-m", "draw_gluon", "sample", "nowhere"]])
def test_our_one_line_error_is_the_last_line(command):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    run = subprocess.run([sys.executable] + command, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and "error: " in lines[-1] and "engine" not in lines[-1], run.stderr


def test_cpu_defaults_after_mxnet_warn_and_change_nothing():
    run = python("import warnings, os, mxnet\n"
                 "from draw_gluon import cpu_defaults\n"
                 "with warnings.catch_warnings(record=True) as caught:\n"
                 "    warnings.simplefilter('always')\n"
                 "    print(cpu_defaults(), os.environ.get('MXNET_ENGINE_TYPE'))\n"
                 "print(caught[0].message)")
    applied, message = run.stdout.strip().splitlines()
    assert applied == "{} None"
    assert "call it before importing mxnet" in message


@pytest.fixture
def model_on_second_cpu():
    model = make_model(tiny_config())
    model.collect_params().reset_ctx(mx.cpu(1))
    return model


def test_generate_and_noise_use_the_models_device(model_on_second_cpu):
    canvases, windows = model_on_second_cpu.generate(4)
    assert canvases.context == windows.context == mx.cpu(1)
    assert model_on_second_cpu.noise(2).context == mx.cpu(1)


def test_forward_and_reconstruct_without_noise_use_the_images_device(model_on_second_cpu):
    x = mx.nd.zeros((2, 1, 6, 5), ctx=mx.cpu(1))
    assert model_on_second_cpu(x)[0].context == mx.cpu(1)
    assert model_on_second_cpu.reconstruct(x)[0].context == mx.cpu(1)
