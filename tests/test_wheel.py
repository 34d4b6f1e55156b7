"""The wheel works where it is installed: built by `pip wheel .`, installed (not editable) into a fresh
venv, used from another folder: the shipped models load, `draw-gluon sample` writes its GIFs, the demo
page ships, and the fused kernels compile from the installed copy."""
import glob
import os
import site
import subprocess
import sys
import zipfile

import pytest
from PIL import Image

from helpers import ROOT


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv holding the wheel alone; the test environment's packages (MXNet and the rest) are on its
    path, its editable draw-gluon is not (the .pth files of a folder added by path are not run)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(root / "dist"), ROOT],
                   check=True)
    [wheel] = glob.glob(str(root / "dist" / "*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = str(root / "venv" / "bin" / "python")
    venv_site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                               capture_output=True, text=True).stdout.strip()
    with open(os.path.join(venv_site, "test-environment.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel],
                   check=True)
    (root / "elsewhere").mkdir()
    return root, wheel


def run(venv, *argv, **env):
    root, _ = venv
    return subprocess.run(argv, cwd=root / "elsewhere", capture_output=True, text=True, check=True,
                          env=dict(os.environ, DRAW_CACHE_DIR=str(root / "cache"), **env))


def test_the_wheel_holds_the_zoo_the_kernels_source_the_demo_page_and_the_license(venv):
    _, wheel = venv
    names = zipfile.ZipFile(wheel).namelist()
    for model in ("mnist-attention", "mnist", "two-digit-mnist", "cluttered-mnist"):
        assert {f"draw_gluon/zoo/{model}/{f}" for f in ("config.json", "model.params", "info.json")} <= set(names)
    assert "draw_gluon/fused_ops.cc" in names
    assert {"draw_gluon/web/index.html", "draw_gluon/web/draw.js"} <= set(names)
    assert any(".dist-info/" in n and n.endswith("LICENSE") for n in names)


def test_the_installed_package_loads_a_shipped_model_and_samples_from_another_folder(venv):
    root, _ = venv
    python = str(root / "venv" / "bin" / "python")
    out = run(venv, python, "-c", "import draw_gluon; m = draw_gluon.pretrained('mnist-attention'); "
                                  "print(draw_gluon.__file__, draw_gluon.__version__, type(m).__name__)").stdout
    path, version, kind = out.split()
    assert path.startswith(str(root / "venv")) and kind == "DRAW"
    assert version == run(venv, python, "-c", "from importlib import metadata; print(metadata.version('draw-gluon'))",
                          ).stdout.strip()
    written = run(venv, str(root / "venv" / "bin" / "draw-gluon"), "sample", "mnist-attention", "--num", "2",
                  "--seconds", "1").stdout.split()
    written = [os.path.join(root / "elsewhere", p) for p in written]  # in the working folder, not the package
    gifs = [p for p in written if p.endswith(".gif")]
    assert len(gifs) == 3 and all(os.path.dirname(p) == str(root / "elsewhere" / "mnist-attention-sample")
                                  for p in written)
    assert all(Image.open(p).n_frames == 65 for p in gifs)  # the blank canvas and 64 glimpses


def test_the_fused_kernels_compile_from_the_installed_copy(venv):
    root, _ = venv
    out = run(venv, str(root / "venv" / "bin" / "python"), "-c",
              "from draw_gluon import fused; print(fused.enabled(), fused.SOURCE, fused.library_path())",
              DRAW_FUSED="1").stdout.split()
    assert out[0] == "True" and out[1].startswith(str(root / "venv")) and out[2].startswith(str(root / "cache"))
    assert os.path.isfile(out[2]) and fused_trusted(venv, out[2])


def fused_trusted(venv, library):
    root, _ = venv
    return run(venv, str(root / "venv" / "bin" / "python"), "-c",
               f"from draw_gluon import fused; print(fused.trusted({library!r}))").stdout.strip() == "True"
