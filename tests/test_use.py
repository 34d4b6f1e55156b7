"""Using a trained run: the draw-gluon commands' pictures, the NLL evaluation against NumPy, export."""
import json
import math
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

import reference
from helpers import make_model, tiny_config
from draw_gluon import (DRAW, DRAWConfig, draw_reconstructions, draw_samples, evaluate_nll, load_run, model_zoo,
                        pictures)
from draw_gluon.cli import main as cli, spread
from draw_gluon.evaluation import log_mean_exp, log_weights
from draw_gluon.train import main as train

STEPS = 4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny attention run on real digits, trained in seconds."""
    logdir = tmp_path_factory.mktemp("runs")
    argv = ["--dataset", "mnist5k", "--attention", "-t", "1024", "-f", "1024", "-v", "100", "-b", "64",
            "-s", str(STEPS), "-u", "32", "-l", "5", "-r", "3e-3", "--logdir", str(logdir), "--run_name", "run"]
    assert train(argv) == 0
    return logdir / "run"


def frames(path):
    """Every frame of a picture file as RGB uint8 arrays."""
    with Image.open(path) as picture:
        found = []
        for k in range(getattr(picture, "n_frames", 1)):
            picture.seek(k)
            found.append(np.asarray(picture.convert("RGB")))
        return picture.format, found


def coloured(pixels, colour):
    """Where ``pixels`` show an outline ``colour`` (GIF palettes may shift it a little): never on grey."""
    return np.all(np.abs(pixels.astype(int) - colour) < 60, axis=-1)


# ----------------------------------------------------------------------------------- pictures
def test_sample_writes_a_grid_a_grid_gif_and_a_gif_per_sample(run):
    assert cli(["sample", str(run), "--num", "6", "--scale", "3"]) == 0
    out = run / "sample"
    assert sorted(os.listdir(out)) == sorted(["drawing.gif", "samples.png"] + [f"sample-{k:03d}.gif" for k in range(6)])
    kind, [grid] = frames(out / "samples.png")
    assert kind == "PNG" and grid.shape == (2 + 2 * (84 + 2), 2 + 3 * (84 + 2), 3)  # 3 x 2 tiles, padding 2
    kind, gif = frames(out / "sample-000.gif")
    assert kind == "GIF" and len(gif) == STEPS + 1 and gif[0].shape == (84, 84, 3)
    assert (gif[0] == 128).all(), "the drawing starts from c_0 = 0, i.e. sigmoid(0) = 0.5 everywhere"
    assert len(frames(out / "drawing.gif")[1]) == STEPS + 1


def windowed_model(read=None, write=None):
    """A 28 x 28 attention model whose windows are fixed by the biases of eq 21 (weights zero)."""
    model = DRAW(DRAWConfig().replace(num_steps=3, enc_size=16, dec_size=16, z_size=4))
    model.initialize(mx.init.Normal(0.1))
    model(mx.nd.zeros((1, 1, 28, 28)))
    for block, raw in ((model.read, read), (model.write, write)):
        if raw is not None:
            block.linear.weight.data()[:5] = 0
            block.linear.bias.data()[:5] = mx.nd.array(raw)
    return model


def raw_window(gX, gY, delta, sigma, N, size=28):
    """The linear outputs of eq 21 that give a window, by inverting eqs 22-24 independently."""
    return [2 * gX / (size + 1) - 1, 2 * gY / (size + 1) - 1, math.log(sigma ** 2),
            math.log(delta * (N - 1) / (size - 1)), 0.0]


def outline(gX, gY, delta, N, scale):
    """0-based upscaled coordinates of the window's left, right, top and bottom edges and its centre.

    The filter centres span ``(N - 1) delta`` around (gX, gY) in 1-based pixels; the outline is
    drawn half a stride outside them, ``N delta`` wide."""
    to_pixel = lambda v: int((v - 0.5) * scale)
    half = N * delta / 2
    return (to_pixel(gX - half), to_pixel(gX + half), to_pixel(gY - half), to_pixel(gY + half),
            to_pixel(gX), to_pixel(gY))


def test_write_window_outline_lands_where_its_parameters_say(tmp_path):
    gX, gY, delta, sigma = 10.0, 17.0, 2.0, 0.5
    model = windowed_model(write=raw_window(gX, gY, delta, sigma, N=5))
    draw_samples(model, str(tmp_path / "s"), num=2, scale=4)
    _, gif = frames(tmp_path / "s" / "sample-001.gif")
    left, right, top, bottom, cx, cy = outline(gX, gY, delta, 5, 4)
    for frame in gif[1:]:
        red = coloured(frame, (255, 40, 40))
        assert red[cy, left] and red[cy, right] and red[top, cx] and red[bottom, cx]
        assert not red[cy, cx] and not red[cy, left - 6] and not red[cy, right + 6]
        assert not red[:top - 4].any() and not red[bottom + 5:].any(), "nothing red outside the window"
    assert not coloured(gif[0], (255, 40, 40)).any(), "the blank canvas has no window yet"


def test_reconstruction_shows_read_and_write_windows_in_two_colours(tmp_path):
    read, write = (6.0, 7.0, 2.0, 0.5), (20.0, 19.0, 1.5, 0.5)
    model = windowed_model(read=raw_window(*read, N=2), write=raw_window(*write, N=5))
    images = (np.random.RandomState(0).rand(3, 1, 28, 28) > 0.7).astype(np.float32)
    draw_reconstructions(model, images, str(tmp_path / "r"), scale=4)
    _, gif = frames(tmp_path / "r" / "reconstruction-002.gif")
    for colour, (gX, gY, delta, _), N in (((40, 200, 40), read, 2), ((255, 40, 40), write, 5)):
        left, right, top, bottom, cx, cy = outline(gX, gY, delta, N, 4)
        mask = coloured(gif[-1], colour)
        assert mask[cy, left] and mask[cy, right] and mask[top, cx] and mask[bottom, cx], colour
        assert not mask[cy, cx]
    _, [originals] = frames(tmp_path / "r" / "originals.png")
    tile = originals[2:2 + 112, 2:2 + 112, 0]  # first tile; sample each source pixel near its centre
    np.testing.assert_array_equal(tile[2::4, 2::4] > 127, images[0, 0] > 0.5)


def test_reconstruct_command_uses_the_runs_test_images(run):
    assert cli(["reconstruct", str(run), "--num", "4", "--out", str(run / "rec")]) == 0
    names = os.listdir(run / "rec")
    assert {"originals.png", "reconstructions.png", "drawing.gif"} <= set(names) and len(names) == 7
    _, gif = frames(run / "rec" / "reconstruction-003.gif")
    assert len(gif) == STEPS + 1 and gif[0].shape == (112, 112, 3)


def test_latent_walk_animates_forth_and_back(run):
    assert cli(["latent", str(run), "--num", "3", "--frames", "5", "--scale", "2"]) == 0
    _, gif = frames(run / "latent" / "latent.gif")
    assert len(gif) == 2 * 5 - 2
    np.testing.assert_array_equal(gif[1], gif[-1])  # the way back retraces the way out
    _, [table] = frames(run / "latent" / "latent.png")
    assert table.shape == (2 + 3 * (56 + 2), 2 + 5 * (56 + 2), 3)  # a walk per row, a step per column


def test_slerp_follows_the_great_circle():
    a, b = np.zeros((1, 2, 2)), np.zeros((1, 2, 2))
    a[0, 0, 0], b[0, 1, 1] = 3.0, 3.0
    path = pictures.slerp(a, b, [0, 0.5, 1])
    np.testing.assert_allclose(path[0, 0], a[0])
    np.testing.assert_allclose(path[0, 2], b[0], atol=1e-12)
    np.testing.assert_allclose(path[0, 1], (a[0] + b[0]) / math.sqrt(2))  # norm 3 all the way
    same = pictures.slerp(a, a, [0.25])
    np.testing.assert_allclose(same[0, 0], a[0])


def test_rgb_models_draw_in_colour(tmp_path):
    model = make_model(tiny_config(image_shape=(3, 6, 5)))
    draw_samples(model, str(tmp_path / "s"), num=2, scale=2)
    _, [grid] = frames(tmp_path / "s" / "samples.png")
    assert grid.shape == (2 + 12 + 2, 2 + 2 * (10 + 2), 3)
    tile = grid[2:14, 2:12].astype(int)
    assert np.abs(tile[..., 0] - tile[..., 1]).max() > 10, "channels differ: the picture is not grey"


def test_same_seed_same_samples(run, tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert cli(["sample", str(run), "--num", "4", "--seed", seed, "--out", str(tmp_path / name)]) == 0
    read = lambda name: (tmp_path / name / "samples.png").read_bytes()
    assert read("a") == read("b") != read("c")


# --------------------------------------------------------------------------------- evaluation
def numpy_log_weight(params, config, x, eps):
    """log D(x | c_T) + log N(z; 0, I) - log N(z; mu, sigma) for one image, straight from the densities."""
    canvas, mu, log_sigma = reference.draw_forward(params, config, x, eps)
    p, x = reference.sigmoid(canvas), x.ravel()
    log_px = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p))
    z, sigma = mu + np.exp(log_sigma) * eps, np.exp(log_sigma)
    log_normal = lambda v, m, s: np.sum(-0.5 * ((v - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi))
    kl = 0.5 * np.sum(mu ** 2 + sigma ** 2 - 2 * log_sigma - 1)
    return log_px + log_normal(z, 0, 1) - log_normal(z, mu, sigma), -log_px + kl


@pytest.mark.parametrize("batch_size, chunks", [(64, [15]), (4, [4, 1] * 3)], ids=["one-pass", "chunked"])
def test_evaluation_matches_numpy_on_a_batch(batch_size, chunks):
    config = tiny_config()
    model = make_model(config)
    images = (np.random.RandomState(1).rand(3, *config.image_shape) > 0.5).astype(np.float32)
    K, seed = 5, 7
    result = evaluate_nll(model, images, num_samples=K, batch_size=batch_size, seed=seed, progress=False)
    # Rows image-major, each image's K samples in consecutive forward passes of at most batch_size
    # rows (K > batch_size: one image's samples span passes), noise from MXNet's RNG seeded with `seed`.
    mx.random.seed(seed, ctx=mx.cpu())
    eps = np.concatenate([mx.nd.random.normal(shape=(n, config.num_steps, config.z_size)).asnumpy()
                          for n in chunks]).astype(np.float64)
    params = reference.gluon_params(model)
    rows = [numpy_log_weight(params, config, images[r // K].astype(np.float64), eps[r]) for r in range(len(eps))]
    log_w, bound = (np.array(v).reshape(len(images), K) for v in zip(*rows))
    nll = -np.log(np.mean(np.exp(log_w), axis=1))
    np.testing.assert_allclose(result["per_image"]["nll"], nll, rtol=1e-5)
    np.testing.assert_allclose(result["per_image"]["bound"], bound.mean(axis=1), rtol=1e-5)
    assert result["nll"]["nats"] == pytest.approx(nll.mean(), rel=1e-5)
    assert result["nll"]["nats_se"] == pytest.approx(nll.std(ddof=1) / math.sqrt(3), rel=1e-4)
    assert result["bound"]["bits_per_dim"] == pytest.approx(bound.mean() / (30 * math.log(2)), rel=1e-5)
    assert result["L_x"] + result["L_z"] == pytest.approx(result["bound"]["nats"])
    assert len(result["kl_per_glimpse"]) == config.num_steps


def test_log_weights_agree_with_the_densities_for_given_noise():
    config = tiny_config(attention=False)
    model = make_model(config)
    x = (np.random.RandomState(2).rand(4, *config.image_shape) > 0.5).astype(np.float32)
    eps = np.random.RandomState(3).standard_normal((4, config.num_steps, config.z_size))
    log_w, _, _ = log_weights(model, mx.nd.array(x), mx.nd.array(eps))
    params = reference.gluon_params(model)
    expected = [numpy_log_weight(params, config, x[b].astype(np.float64), eps[b])[0] for b in range(4)]
    np.testing.assert_allclose(log_w, expected, rtol=1e-5)


def test_log_mean_exp_is_stable():
    a = np.array([[-1000.0, -1001.0], [800.0, 800.0]])
    np.testing.assert_allclose(log_mean_exp(a), [-1000 + math.log((1 + math.exp(-1)) / 2), 800.0])


def test_one_sample_estimates_the_bound_and_more_samples_tighten_it(run):
    model = load_run(str(run))
    from draw_gluon import data
    images = data.load("mnist5k").splits["test"][:200]
    one = evaluate_nll(model, images, num_samples=1, seed=0, progress=False)
    many = evaluate_nll(model, images, num_samples=50, seed=1, progress=False)
    # K = 1: -log w differs from L only by a sampled rather than closed-form KL, zero on average
    diff = one["per_image"]["nll"] - one["per_image"]["bound"]
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(len(diff))
    gain = one["per_image"]["nll"] - many["per_image"]["nll"]
    assert gain.mean() > 4 * gain.std(ddof=1) / math.sqrt(len(gain)) and gain.mean() > 0
    assert many["nll"]["nats"] < many["bound"]["nats"]


def test_evaluate_command_writes_json_and_the_kl_plot(run, capsys):
    assert cli(["evaluate", str(run), "--samples", "3", "--num", "64", "--batch_size", "50"]) == 0
    out = run / "evaluate-test-k3"
    result = json.loads((out / "evaluation.json").read_text())
    assert result["num_images"] == 64 and result["num_samples"] == 3 and result["split"] == "test"
    assert set(result["nll"]) == {"nats", "nats_se", "bits_per_dim", "bits_per_dim_se"}
    assert len(result["kl_per_glimpse"]) == STEPS and min(result["kl_per_glimpse"]) >= 0
    kind, [plot] = frames(out / "kl_per_glimpse.png")
    assert kind == "PNG" and plot.shape[0] > 100
    assert "-log p(x) with K=3" in capsys.readouterr().out


def test_commands_take_images_spread_over_the_split():
    sorted_labels = np.repeat(np.arange(10), 100)  # a split sorted by class, as binarized MNIST's test split
    for num in (1, 7, 10, 16, 999, 1000, 5000):
        picked = np.arange(1000)[spread(1000, num)]
        assert len(picked) == min(num, 1000) and len(set(picked)) == len(picked)
        assert len(set(sorted_labels[picked])) == min(num, 10)
    assert (np.arange(5)[spread(5, None)] == np.arange(5)).all()


def test_bad_use_exits_2_with_one_line(tmp_path, capsys):
    assert cli(["sample", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is neither a folder nor a shipped model" in err
    assert not os.path.exists(tmp_path / "missing")
    assert cli(["sample", "mnist-atention"]) == 2  # a misspelled shipped model: the error lists them
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"the shipped models are {', '.join(model_zoo.names())}") and "mnist-attention" in err
    (tmp_path / "empty").mkdir()
    assert cli(["sample", str(tmp_path / "empty")]) == 2
    assert "neither model.params nor a usable checkpoint" in capsys.readouterr().err
    for argv in (["sample"], ["sample", str(tmp_path), "--num", "0"], ["draw", str(tmp_path)]):
        with pytest.raises(SystemExit) as stop:
            cli(argv)
        assert stop.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------- export
EXPORTED = r"""
import json, sys
import mxnet as mx, numpy as np
folder, inputs = sys.argv[1], np.load(sys.argv[2])
manifest = json.load(open(folder + "/export.json"))
load = lambda part: mx.gluon.SymbolBlock.imports(folder + "/" + manifest[part]["symbol"],
    list(manifest[part]["inputs"]), folder + "/" + manifest[part]["params"])
canvases, windows = load("generator")(mx.nd.array(inputs["z"]))
canvas, mu, log_sigma = load("draw")(mx.nd.array(inputs["x"]), mx.nd.array(inputs["eps"]))
assert not any(name.startswith("draw_gluon") for name in sys.modules)
np.savez(sys.argv[3], canvases=canvases.asnumpy(), windows=windows.asnumpy(), canvas=canvas.asnumpy(),
         mu=mu.asnumpy(), log_sigma=log_sigma.asnumpy())
"""


def test_exported_model_runs_in_a_process_with_only_mxnet(run, tmp_path):
    assert cli(["export", str(run)]) == 0
    model = load_run(str(run))
    config = model.config
    rng = np.random.RandomState(0)
    inputs = {"z": rng.standard_normal((5, STEPS, 5)), "eps": rng.standard_normal((5, STEPS, 5)),
              "x": (rng.rand(5, 1, 28, 28) > 0.5)}
    np.savez(tmp_path / "in.npz", **{k: v.astype(np.float32) for k, v in inputs.items()})
    script = tmp_path / "use_export.py"
    script.write_text(EXPORTED)
    subprocess.run([sys.executable, str(script), str(run / "export"), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))
    got = np.load(tmp_path / "out.npz")
    nd = lambda k: mx.nd.array(inputs[k].astype(np.float32))
    probs, windows = model.generate(5, z=nd("z"))
    np.testing.assert_allclose(got["canvases"].reshape(probs.shape), probs.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["windows"], windows.asnumpy(), rtol=1e-5, atol=1e-5)
    for name, value in zip(("canvas", "mu", "log_sigma"), model(nd("x"), nd("eps"))):
        np.testing.assert_allclose(got[name], value.asnumpy(), rtol=1e-4, atol=1e-4)
    assert json.loads((run / "export" / "export.json").read_text())["config"]["num_steps"] == config.num_steps


def test_models_without_attention_draw_without_windows(tmp_path):
    model = make_model(tiny_config(attention=False))
    draw_samples(model, str(tmp_path / "s"), num=2, scale=2)
    draw_reconstructions(model, np.zeros((2, 1, 6, 5), np.float32), str(tmp_path / "r"), scale=2)
    for path in (tmp_path / "s" / "sample-000.gif", tmp_path / "r" / "reconstruction-001.gif"):
        _, gif = frames(path)
        assert len(gif) == 4 and gif[0].shape == (12, 10, 3)
        assert all((frame[..., 0] == frame[..., 1]).all() for frame in gif), "grey only: no window drawn"
