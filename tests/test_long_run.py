"""benchmarks/long_run.py's learning-curve picture, read back by imageio."""
import csv

import imageio.v3 as iio
import numpy as np

from conftest import benchmark, make_model, tiny_config
from draw_gluon import load_run


def test_plot_draws_the_committed_curve_as_a_png(tmp_path, monkeypatch):
    long_run = benchmark("long_run")
    committed = tmp_path / "runs" / "mnist-attention"
    committed.mkdir(parents=True)
    rows = [dict(samples=100000 * k, wall_time_s=10.0 * k, loss=140 - 5 * k, L_x=100, L_z=40 - 5 * k)
            for k in range(1, 6)]
    with open(committed / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setattr(long_run, "ROOT", str(tmp_path))
    assert long_run.read_curve(str(committed / "curve.csv")) == ([100000 * k for k in range(1, 6)],
                                                                 [140.0 - 5 * k for k in range(1, 6)])
    out = tmp_path / "curve.png"
    long_run.plot("mnist-attention", str(out))
    picture = iio.imread(out)
    assert picture.shape == (400, 700, 3)
    # the curve (matplotlib's tab:blue, 31 119 180) and the reference points (tab:orange) are drawn
    colours = picture.reshape(-1, 3).astype(int)
    assert np.any(np.all(np.abs(colours - [31, 119, 180]) < 8, axis=1))
    assert np.any(np.all(np.abs(colours - [255, 127, 14]) < 8, axis=1))
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_long_runs_committed_state_loads_as_a_run_folder(tmp_path):
    model = make_model(tiny_config())
    model.save(str(tmp_path / "runs" / "tiny" / "checkpoint"))  # what long_run.py snapshot leaves
    loaded = load_run(str(tmp_path / "runs" / "tiny"))
    saved, read = model.collect_params().values(), loaded.collect_params().values()
    assert len(saved) == len(read) > 0
    for p, q in zip(saved, read):  # same structure; the names' prefixes differ by instance
        np.testing.assert_array_equal(q.data().asnumpy(), p.data().asnumpy())
