"""The read-only attention classifier of section 4.1: against a NumPy re-derivation, finite
differences, save/load, its pictures, and its training through the shared loop."""
import hashlib
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

import reference
from helpers import check_gradients, events, randomized
import draw_gluon
from draw_gluon import Classifier, ClassifierConfig, DRAW, DRAWConfig, data, load_model, load_run, model_zoo, recipes, viz
from draw_gluon.cli import main as cli, spread
from draw_gluon.config import read_config
from draw_gluon.train import config_from_args, main, parse_args
from draw_gluon.pictures import glimpse_frames
from draw_gluon.train.objectives import Classification

CLASSIFY = ["--task", "classify", "--dataset", "mnist5k", "-s", "4", "-u", "64", "-ar", "8", "-r", "3e-3",
            "-v", "500"]


def tiny(**changes):
    fields = dict(image_shape=(1, 9, 7), num_glimpses=3, hidden_size=6, read_size=3, num_classes=4)
    return ClassifierConfig(**dict(fields, **changes))


def make_classifier(config, dtype="float32", scale=0.5):
    """An initialised classifier with random (not default-zero) initial state and biases."""
    return randomized(Classifier(config), config.image_shape, dtype, scale)


@pytest.mark.parametrize("config", [tiny(), tiny(image_shape=(3, 6, 8), read_size=2), tiny(read_size=1)],
                         ids=["grey", "rgb", "N=1"])
def test_logits_match_numpy(config):
    model = make_classifier(config)
    x = np.random.RandomState(0).rand(3, *config.image_shape)
    logits = model(mx.nd.array(x)).asnumpy()
    params = reference.gluon_params(model)
    for b in range(3):
        np.testing.assert_allclose(logits[b], reference.classifier_forward(params, config, x[b]), rtol=1e-4, atol=1e-5)


def test_gradients_match_finite_differences():
    config = tiny(num_glimpses=2)
    model = make_classifier(config, dtype="float64")
    rng = np.random.RandomState(1)
    x = mx.nd.array(rng.rand(3, *config.image_shape), dtype="float64")
    y = mx.nd.array([0, 3, 1], dtype="float64")
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    loss = lambda: loss_fn(model(x), y).sum()
    check_gradients(loss, model.collect_params(), rng)


def test_hybridized_glimpses_and_forward_agree():
    config = tiny()
    model = make_classifier(config)
    x = mx.nd.array(np.random.RandomState(2).rand(4, *config.image_shape))
    imperative = model(x).asnumpy()
    logits, windows = model.glimpses(x)
    model.hybridize(static_alloc=True)
    np.testing.assert_allclose(model(x).asnumpy(), imperative, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits.asnumpy(), imperative, rtol=1e-5, atol=1e-6)
    assert windows.shape == (4, config.num_glimpses, 5)
    first = windows[:, 0].asnumpy()  # placed by the learned initial state: the same for every image
    np.testing.assert_allclose(first, np.broadcast_to(first[0], first.shape), rtol=1e-6)
    assert not np.allclose(windows[:, 1].asnumpy(), windows[0, 1].asnumpy()), "later glimpses follow the image"
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, 1, 9, 7\)"):
        model.glimpses(mx.nd.zeros((2, 1, 7, 9)))


def test_save_and_load_model_rebuild_the_right_block(tmp_path):
    config = tiny()
    model = make_classifier(config)
    x = mx.nd.array(np.random.RandomState(3).rand(2, *config.image_shape))
    model.save(str(tmp_path / "classifier"))
    loaded = load_model(str(tmp_path / "classifier"))
    assert type(loaded) is Classifier and loaded.config == config
    np.testing.assert_array_equal(loaded(x).asnumpy(), model(x).asnumpy())
    draw = DRAW(DRAWConfig(image_shape=(1, 5, 5), num_steps=2, enc_size=3, dec_size=3, z_size=2))
    draw.initialize()
    draw(mx.nd.zeros((1, 1, 5, 5)))
    draw.save(str(tmp_path / "draw"))
    assert type(load_model(str(tmp_path / "draw"))) is DRAW
    (tmp_path / "other.json").write_text('{"image_shape": [1, 5, 5], "units": 3}')
    with pytest.raises(ValueError, match="neither a DRAW nor a classifier config"):
        read_config(str(tmp_path / "other.json"))


def test_glimpse_pictures_outline_each_window_on_the_bare_image():
    config = tiny(image_shape=(1, 12, 10))
    model = make_classifier(config)
    images = np.random.RandomState(4).rand(2, *config.image_shape).astype(np.float32)
    frames = glimpse_frames(model, images, scale=3)
    _, windows = model.glimpses(mx.nd.array(images))
    bare = viz.canvas_frames(images[:, None], scale=3)[:, 0]
    assert frames.shape == (2, config.num_glimpses + 1, 36, 30, 3)
    np.testing.assert_array_equal(frames[:, 0], bare)
    for t in range(config.num_glimpses):
        mask = viz.window_mask(windows[:, t].asnumpy(), config.read_size, 12, 10, 3)
        assert mask.any()
        np.testing.assert_array_equal(frames[:, t + 1][mask], np.broadcast_to(viz.READ_COLOUR, (mask.sum(), 3)))
        np.testing.assert_array_equal(frames[:, t + 1][~mask], bare[~mask])


def test_the_cluttered_recipe_is_the_papers_model_and_flags_still_win(capsys):
    args = parse_args(["--recipe", "cluttered-mnist"])
    assert (args.task, args.dataset, args.learning_rate, args.num_train_samples) == (
        "classify", "cluttered_mnist", 5e-4, 32_000_000)  # the shipped model's training
    assert config_from_args(args) == ClassifierConfig()  # 100x100, 8 glimpses of 12x12, 256 units
    assert parse_args(["--recipe", "cluttered-mnist", "-s", "4"]).num_steps == 4
    assert parse_args(["--preset", "cluttered_mnist"]) == args
    with pytest.raises(SystemExit) as stop:
        parse_args(["--recipe", "list"])
    out = capsys.readouterr().out.splitlines()
    assert stop.value.code == 0 and len(out) == len(recipes.RECIPES)
    assert out[0].split()[0] == "mnist-attention" and "Table 2" in out[0]


def test_classifying_a_dataset_without_labels_is_one_clear_error(tmp_path, capsys):
    assert main(["--task", "classify", "--dataset", "binarized_mnist", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs labels and binarized_mnist has none" in err[0] and "mnist5k" in err[0]
    assert not list(tmp_path.iterdir()), "nothing half-written"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small classifier trained on mnist5k through train_mnist.py's loop (a few seconds)."""
    logdir = tmp_path_factory.mktemp("runs")
    assert main(CLASSIFY + ["--logdir", str(logdir), "--run_name", "whole", "-t", "6400", "-f", "3200"]) == 0
    return logdir / "whole"


def test_a_classification_run_learns_logs_and_resumes_exactly(run, tmp_path):
    scalars = events(run)["scalars"]
    assert {"train/loss", "train/error", "valid/loss", "valid/error"} <= set(scalars)
    errors = [value for _, value in scalars["valid/error"]]
    assert errors[-1] < 0.5, f"chance is 0.9; validation error went {errors}"
    png = iio.imread(run / "pictures" / "glimpses-0000006400.png")
    assert png.shape[1] > png.shape[0] / 8 * 3, "a row per image, a column per glimpse"
    assert isinstance(load_run(str(run)), Classifier) and Classification.names == ("loss", "error")

    parts = CLASSIFY + ["--logdir", str(tmp_path), "--run_name", "parts", "-t", "3200", "-f", "3200"]
    assert main(parts) == 0
    assert main(["--resume", str(tmp_path / "parts"), "-t", "6400"]) == 0
    assert sha256(tmp_path / "parts" / "model.params") == sha256(run / "model.params")


def test_ship_takes_a_resumed_runs_newest_state_with_its_budget_and_errors(tmp_path, monkeypatch):
    parts = CLASSIFY + ["--logdir", str(tmp_path), "--run_name", "parts", "-t", "1280", "-f", "1280"]
    assert main(parts) == 0
    run_dir = tmp_path / "parts"
    first_end = {name: (run_dir / name).read_bytes() for name in ("model.params", "metrics.json")}
    assert main(["--resume", str(run_dir), "-t", "2560", "-r", "1e-3"]) == 0
    for name, content in first_end.items():  # as if the resumed run were stopped before its end
        (run_dir / name).write_bytes(content)
    assert json.loads((run_dir / "args.json").read_text())["num_train_samples"] == 1280, "the starting flags"
    newest = json.loads((run_dir / "checkpoints" / "0000002560" / "state.json").read_text())
    assert newest["schedule"] == {"num_train_samples": 2560, "learning_rate": 1e-3, "ema": None}

    monkeypatch.setattr(model_zoo, "ZOO", str(tmp_path / "zoo"))
    info = model_zoo.ship("tiny", str(run_dir), None)
    assert info == model_zoo.info("tiny")
    assert info["images_seen"] == 2560 and info["flags"]["num_train_samples"] == 2560
    assert info["flags"]["learning_rate"] == 1e-3 and info["flags"]["num_steps"] == 4
    shipped = model_zoo.pretrained("tiny")
    weights = lambda model: np.concatenate([p.data().asnumpy().ravel() for p in model.collect_params().values()])
    resumed = weights(load_model(str(run_dir / "checkpoints" / "0000002560")))
    assert np.array_equal(weights(shipped), resumed) and np.array_equal(weights(load_run(str(run_dir))), resumed)
    assert not np.array_equal(weights(load_model(str(run_dir))), resumed), "the first end is older"
    test = data.load("mnist5k")
    errors = np.sum(shipped(mx.nd.array(test.splits["test"])).asnumpy().argmax(axis=1) != test.labels["test"])
    assert info["test"]["error"] == pytest.approx(errors / len(test.labels["test"]))


def test_evaluate_command_scores_the_error_rate_and_draws_the_glimpses(run, capsys):
    assert cli(["evaluate", str(run), "--num", "300", "--out", str(run / "ev")]) == 0
    result = json.loads((run / "ev" / "evaluation.json").read_text())
    model = load_run(str(run))
    x = data.load("mnist5k").splits["test"][spread(500, 300)]
    y = data.load("mnist5k").labels["test"][spread(500, 300)]
    logits = model(mx.nd.array(x)).asnumpy().astype(np.float64)
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    error = np.mean(logits.argmax(axis=1) != y)
    assert result["num_images"] == 300 and result["error"] == pytest.approx(error)
    assert result["error_se"] == pytest.approx(np.sqrt(error * (1 - error) / 300))
    assert result["cross_entropy"] == pytest.approx(-log_p[np.arange(300), y].mean(), rel=1e-5)
    assert f"error {100 * error:.2f}%" in capsys.readouterr().out
    assert len(iio.imread(run / "ev" / "glimpses.gif", index=None)) == 5  # bare image + 4 glimpses


def test_drawing_commands_refuse_a_classifier_in_one_line(run, capsys):
    assert cli(["sample", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a classifier, which draws nothing" in err[0]


EXPORTED = """
import sys
import mxnet as mx
import numpy as np
net = mx.gluon.SymbolBlock.imports(sys.argv[1] + "/classifier-symbol.json", ["data"],
                                   sys.argv[1] + "/classifier-0000.params")
np.save(sys.argv[3], net(mx.nd.array(np.load(sys.argv[2]))).asnumpy())
"""


def test_exported_classifier_runs_with_only_mxnet(run, tmp_path):
    assert cli(["export", str(run), "--out", str(tmp_path / "export")]) == 0
    x = np.random.RandomState(0).rand(5, 1, 28, 28).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "use.py").write_text(EXPORTED)
    subprocess.run([sys.executable, str(tmp_path / "use.py"), str(tmp_path / "export"), str(tmp_path / "x.npy"),
                    str(tmp_path / "logits.npy")], check=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))
    expected = load_run(str(run))(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, rtol=1e-5, atol=1e-5)


def test_a_zoo_model_loads_by_name_and_the_commands_take_the_name(run, tmp_path, monkeypatch, capsys):
    zoo = tmp_path / "zoo"
    load_run(str(run)).save(str(zoo / "tiny-classifier"))
    (zoo / "tiny-classifier" / "info.json").write_text(json.dumps({"dataset": "mnist5k"}))
    monkeypatch.setattr(model_zoo, "ZOO", str(zoo))
    assert model_zoo.names() == ["tiny-classifier"]
    model = draw_gluon.pretrained("tiny-classifier")
    x = mx.nd.array(data.load("mnist5k").splits["test"][:4])
    np.testing.assert_array_equal(model(x).asnumpy(), load_run(str(run))(x).asnumpy())
    with pytest.raises(ValueError, match="no pretrained model 'nope'; the shipped ones are tiny-classifier"):
        draw_gluon.pretrained("nope")
    monkeypatch.chdir(tmp_path)
    assert cli(["evaluate", "tiny-classifier", "--num", "50"]) == 0
    assert (tmp_path / "tiny-classifier-evaluate-test-k1" / "evaluation.json").is_file(), "output in the working directory"
    assert sorted(os.listdir(zoo / "tiny-classifier")) == ["config.json", "info.json", "model.params"]
