"""The README's import example runs as written."""
import os
import re

import mxnet as mx

from helpers import ROOT


def test_readme_gluon_example_runs(tmp_path, monkeypatch):
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Use it in your own Gluon project", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["samples"].shape == (16, 9, 1, 28, 28)
    assert namespace["model"].config.num_steps == 8
    assert (tmp_path / "results" / "my_model" / "config.json").exists()


def test_core_reexports_the_package():
    import core
    import draw_gluon
    assert core.DRAW is draw_gluon.DRAW and core.DRAWLoss is draw_gluon.DRAWLoss


def test_readme_export_example_runs(tmp_path, monkeypatch):
    from helpers import make_model, tiny_config
    from draw_gluon import export_model

    with open(os.path.join(ROOT, "README.md")) as f:
        section = f.read().split("**Export.**", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    export_model(make_model(tiny_config()), "results/my_run/export")
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["canvases"].shape == (16, 4, 30) and namespace["windows"].shape == (16, 3, 5)
    assert len(namespace["draw"](mx.nd.zeros((2, 1, 6, 5)), mx.nd.zeros((2, 3, 4)))) == 3
