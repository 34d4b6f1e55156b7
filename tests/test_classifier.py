"""The read-only attention classifier of section 4.1: against a NumPy re-derivation, finite
differences, save/load, its pictures, and its training through the shared loop."""
import hashlib

import imageio.v3 as iio
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import reference
from conftest import events
from draw_gluon import Classifier, ClassifierConfig, DRAW, DRAWConfig, load_model, load_run, viz
from draw_gluon.config import read_config
from draw_gluon.train import config_from_args, main, parse_args
from draw_gluon.train.objectives import Classification, glimpse_frames

CLASSIFY = ["--task", "classify", "--dataset", "mnist5k", "-s", "4", "-u", "64", "-ar", "8", "-r", "3e-3",
            "-v", "500"]


def tiny(**changes):
    fields = dict(image_shape=(1, 9, 7), num_glimpses=3, hidden_size=6, read_size=3, num_classes=4)
    return ClassifierConfig(**dict(fields, **changes))


def make_classifier(config, dtype="float32", scale=0.5):
    """An initialised classifier with random (not default-zero) initial state and biases."""
    model = Classifier(config)
    model.initialize()
    model(mx.nd.zeros((1,) + config.image_shape))
    for p in model.collect_params().values():
        p.set_data(mx.nd.random.uniform(-scale, scale, shape=p.shape))
    if dtype != "float32":
        model.cast(dtype)
    return model


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
    with autograd.record():
        total = loss()
    total.backward()
    h = 1e-6
    for name, p in model.collect_params().items():
        grad, data = p.grad().asnumpy(), p.data()
        for flat in rng.choice(data.size, size=min(3, data.size), replace=False):
            index = np.unravel_index(flat, data.shape)
            original = data[index].asscalar()
            values = []
            for sign in (1, -1):
                data[index] = original + sign * h
                values.append(loss().asscalar())
            data[index] = original
            assert grad[index] == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-4, abs=1e-6), (name, index)


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


def test_the_cluttered_preset_is_the_papers_model_and_flags_still_win():
    args = parse_args(["--preset", "cluttered_mnist"])
    assert (args.task, args.dataset) == ("classify", "cluttered_mnist")
    assert config_from_args(args) == ClassifierConfig()  # 100x100, 8 glimpses of 12x12, 256 units
    assert parse_args(["--preset", "cluttered_mnist", "-s", "4"]).num_steps == 4


def test_classifying_a_dataset_without_labels_is_one_clear_error(tmp_path, capsys):
    assert main(["--task", "classify", "--dataset", "binarized_mnist", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs labels and binarized_mnist has none" in err[0] and "mnist5k" in err[0]
    assert not list(tmp_path.iterdir()), "nothing half-written"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_classification_run_learns_logs_and_resumes_exactly(tmp_path):
    whole = CLASSIFY + ["--logdir", str(tmp_path), "--run_name", "whole", "-t", "6400", "-f", "3200"]
    assert main(whole) == 0
    run = tmp_path / "whole"
    metrics = Classification.names
    scalars = events(run)["scalars"]
    assert {"train/loss", "train/error", "valid/loss", "valid/error"} <= set(scalars)
    errors = [value for _, value in scalars["valid/error"]]
    assert errors[-1] < 0.5, f"chance is 0.9; validation error went {errors}"
    png = iio.imread(run / "pictures" / "glimpses-0000006400.png")
    assert png.shape[1] > png.shape[0] / 8 * 3, "a row per image, a column per glimpse"
    assert isinstance(load_run(str(run)), Classifier) and metrics == ("loss", "error")

    parts = CLASSIFY + ["--logdir", str(tmp_path), "--run_name", "parts", "-t", "3200", "-f", "3200"]
    assert main(parts) == 0
    assert main(["--resume", str(tmp_path / "parts"), "-t", "6400"]) == 0
    assert sha256(tmp_path / "parts" / "model.params") == sha256(run / "model.params")
