"""`make` builds .venv with a Python that MXNet 1.9.1 runs on (3.8 to 3.11), driven here with stub
interpreters on a temporary PATH; no test downloads an interpreter."""
import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

REAL = os.path.realpath(getattr(sys, "_base_executable", sys.executable))  # the tests' own Python, 3.8-3.11
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


def stub(path, version):
    """A program that answers the version question as Python ``version`` would, and fails at anything else."""
    path.write_text("#!/bin/sh\n"
                    f'[ "$1" = "-c" ] && {{ echo {version}; exit 0; }}\n'
                    'echo "stub python: cannot $*" >&2; exit 1\n')
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A copy of what make reads, and an empty PATH folder to fill with interpreters."""
    tree, bin_dir = tmp_path / "tree", tmp_path / "bin"
    (tree / "scripts").mkdir(parents=True)
    bin_dir.mkdir()
    for name in ("Makefile", "setup.py", "constraints.txt", os.path.join("scripts", "find-python.sh")):
        shutil.copy(os.path.join(ROOT, name), tree / name)
    os.symlink(shutil.which("rm"), bin_dir / "rm")
    return tree, bin_dir


def make(machine, *targets, **env):
    tree, bin_dir = machine
    return subprocess.run([MAKE, "-s", *targets], cwd=tree, capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "HOME": str(tree.parent), **env})


def venv_version(tree):
    return subprocess.run([str(tree / ".venv" / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_too_new_python3_is_passed_over_for_python3_11(machine):
    tree, bin_dir = machine
    stub(bin_dir / "python3", "3.13")
    os.symlink(REAL, bin_dir / "python3.11")
    run = make(machine, "venv")
    assert run.returncode == 0, run.stderr
    assert f"creating .venv with {bin_dir / 'python3.11'}" in run.stdout
    assert venv_version(tree) == str(sys.version_info[:2])


def test_with_no_suitable_python_make_stops_before_creating_anything(machine):
    tree, bin_dir = machine
    stub(bin_dir / "python3", "3.13")
    run = make(machine, "install")
    lines = run.stderr.strip().splitlines()
    assert run.returncode != 0 and not (tree / ".venv").exists()
    assert lines[0].startswith("make: draw-gluon needs Python 3.8 to 3.11") and "python3 here is 3.13" in lines[0]
    assert all(way in lines[0] for way in ("apt install python3.11-venv", "uv", "conda", "PYTHON="))
    run = make(machine, "install", PYTHON=str(bin_dir / "python3"))
    assert run.returncode != 0 and f"PYTHON={bin_dir / 'python3'} is Python 3.13" in run.stderr
    assert not (tree / ".venv").exists()


def test_a_venv_made_by_an_unsuitable_python_is_made_anew(machine):
    tree, bin_dir = machine
    (tree / ".venv" / "bin").mkdir(parents=True)
    stub(tree / ".venv" / "bin" / "python", "3.13")  # left by an earlier `python3.13 -m venv`
    os.symlink(REAL, bin_dir / "python3.10")
    run = make(machine, "venv")
    assert run.returncode == 0 and "making it anew" in run.stdout, run.stderr
    assert venv_version(tree) == str(sys.version_info[:2])


def test_uv_provides_python_3_11_when_nothing_else_fits(machine):
    tree, bin_dir = machine
    stub(bin_dir / "python3", "3.13")
    calls = tree.parent / "uv-calls"
    (bin_dir / "uv").write_text("#!/bin/sh\n"  # a uv that already holds a Python 3.11: nothing to download
                                f'echo "$*" >> {calls}\n'
                                f'[ "$*" = "python find 3.11" ] && echo {REAL}\n'
                                "exit 0\n")
    (bin_dir / "uv").chmod(0o755)
    run = make(machine, "venv")
    assert run.returncode == 0, run.stderr
    assert calls.read_text().splitlines() == ["python install 3.11", "python find 3.11"]
    assert f"creating .venv with {REAL}" in run.stdout and venv_version(tree) == str(sys.version_info[:2])
