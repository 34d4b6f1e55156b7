"""DCRAW's options: the convolutional front end (``--conv``) and training toward another image
(``--target denoise|inpaint``)."""
import json

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon
from PIL import Image

from helpers import check_gradients, make_model, tiny_config
import draw_gluon
from draw_gluon import DRAW, DRAWConfig, DRAWLoss, data, model_zoo
from draw_gluon.checkpoint import load_run
from draw_gluon.cli import main as cli, spread
from draw_gluon.config import read_config
from draw_gluon.data.targets import Corruption, corruption, mask_squares
from draw_gluon.evaluation import evaluate_nll
from draw_gluon.dcraw import ConvFeatures
from draw_gluon.train import main as train


def numpy_conv_features(x, layers):
    """The front end re-derived: 3x3 cross-correlations, stride 2, zero padding 1, then ReLU."""
    for weight, bias in layers:
        n, c, height, width = x.shape
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out_h, out_w = (height + 1) // 2, (width + 1) // 2
        out = np.zeros((n, len(weight), out_h, out_w))
        for i in range(out_h):
            for j in range(out_w):
                patch = padded[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
                out[:, :, i, j] = np.einsum("nchw,kchw->nk", patch, weight) + bias
        x = np.maximum(out, 0)
    return x


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 17, 20), (2, 5, 4)])
def test_features_match_numpy_and_shrink_by_two_per_layer(shape):
    features = ConvFeatures((4, 3), shape)
    features.initialize(mx.init.Uniform(0.5))
    x = np.random.RandomState(0).rand(2, *shape)
    out = features(mx.nd.array(x).reshape((2, -1)))
    layers = [(conv.weight.data().asnumpy(), conv.bias.data().asnumpy()) for conv in features.layers]
    expected = numpy_conv_features(x, layers)
    assert features.shape == expected.shape[1:] == (3, -(-shape[1] // 4), -(-shape[2] // 4))
    np.testing.assert_allclose(out.asnumpy(), expected.reshape(2, -1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 17, 20), (1, 6, 5)])
def test_conv_models_of_any_size_draw_on_the_image(shape, attention):
    config = tiny_config(attention=attention, image_shape=shape, conv=(4, 6), read_size=2)
    model = make_model(config)
    x = mx.nd.array(np.random.RandomState(1).rand(3, *shape))
    canvas, mu, log_sigma = model(x)
    assert canvas.shape == (3, config.num_pixels) and mu.shape == log_sigma.shape == (3, 3, 4)  # drawn on the image
    assert model.read.image_shape == model.features.shape  # the read attends over the feature maps
    probs, _ = model.generate(2)
    assert probs.shape == (2, config.num_steps + 1) + shape


def test_conv_gradients_match_finite_differences():
    config = tiny_config(attention=True, num_steps=2, conv=(3,))
    model = make_model(config, dtype="float64")
    rng = np.random.RandomState(2)
    x = mx.nd.array(rng.rand(2, *config.image_shape), dtype="float64")
    eps = mx.nd.array(rng.randn(2, 2, config.z_size), dtype="float64")
    target = mx.nd.array(rng.rand(2, config.num_pixels), dtype="float64")

    def loss():
        canvas, mu, log_sigma = model(x, eps)
        return DRAWLoss()(canvas, target, mu, log_sigma).sum()

    params = model.collect_params()
    convs = {k: p for k, p in params.items() if "conv" in k}
    assert len(convs) == 2 and check_gradients(loss, convs, rng) >= 6
    check_gradients(loss, {k: p for k, p in params.items() if k not in convs}, rng, per_param=1)


def test_feature_windows_land_on_the_pixels_the_features_centre_on():
    features = ConvFeatures((1, 1), (1, 13, 11))
    features.initialize()
    for conv in features.layers:  # each feature copies the pixel at its centre
        weight = np.zeros((1, 1, 3, 3))
        weight[0, 0, 1, 1] = 1
        conv.weight.set_data(mx.nd.array(weight))
        conv.bias.set_data(mx.nd.zeros(1))
    image = np.zeros((1, 13, 11))
    image[0, 8, 4] = 1  # row 9, column 5 in the 1-based pixel coordinates of the windows
    lit = features(mx.nd.array(image).reshape((1, -1))).asnumpy().reshape(features.shape)
    (row,), (col,) = np.nonzero(lit[0])
    window = np.array([col + 1, row + 1, 1.0, 1.0, 1.0])  # a window centred on that feature
    gX, gY, sigma2, delta, gamma = features.window_on_image(window)
    assert (gX, gY) == (5, 9) and (sigma2, delta, gamma) == (16, 4, 1)


def test_config_records_conv_and_reads_configs_saved_before_it(tmp_path):
    config = tiny_config(conv=(4, 8))
    config.to_json(tmp_path / "config.json")
    assert read_config(tmp_path / "config.json") == config and DRAWConfig.from_json(tmp_path / "config.json").conv == (4, 8)
    old = json.loads((tmp_path / "config.json").read_text())
    del old["conv"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert read_config(tmp_path / "old.json").conv == ()
    with pytest.raises(ValueError, match="conv must list positive"):
        tiny_config(conv=(4, 0))


def test_save_load_and_export_round_trip_a_conv_model(tmp_path):
    config = tiny_config(conv=(3, 5))
    model = make_model(config)
    rng = np.random.RandomState(3)
    x = mx.nd.array(rng.rand(4, *config.image_shape))
    eps = mx.nd.array(rng.randn(4, config.num_steps, config.z_size))
    expected = [o.asnumpy() for o in model(x, eps)]
    model.save(str(tmp_path / "saved"))
    loaded = DRAW.load(str(tmp_path / "saved"))
    assert loaded.config.conv == (3, 5)
    for o, e in zip(loaded(x, eps), expected):
        np.testing.assert_allclose(o.asnumpy(), e, rtol=1e-6)
    assert cli(["export", str(tmp_path / "saved")]) == 0
    folder = tmp_path / "saved" / "export"
    draw = gluon.SymbolBlock.imports(str(folder / "draw-symbol.json"), ["data0", "data1"], str(folder / "draw-0000.params"))
    for o, e in zip(draw(x, eps), expected):
        np.testing.assert_allclose(o.asnumpy(), e, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ targets
def test_denoise_flips_binary_pixels_at_the_rate_asked():
    images = (np.random.RandomState(4).rand(200, 1, 28, 28) > 0.7).astype(np.float32)
    noisy = Corruption("denoise", 0.1, True)(images, np.random.RandomState(5))
    assert set(np.unique(noisy)) <= {0, 1}
    flipped = (noisy != images).mean()
    assert abs(flipped - 0.1) < 4 * np.sqrt(0.1 * 0.9 / images.size)


def test_denoise_adds_clipped_gaussian_noise_to_grey_images():
    images = np.full((100, 3, 8, 8), 0.5, np.float32)
    noisy = corruption("denoise", 0.05, None, images)(images, np.random.RandomState(6))
    assert noisy.dtype == np.float32 and 0 <= noisy.min() and noisy.max() <= 1
    assert abs((noisy - images).std() - 0.05) < 0.002


def test_inpaint_blacks_out_one_square_of_the_given_side():
    images = np.full((50, 2, 10, 12), 0.8, np.float32)
    masked = mask_squares(images, 4, np.random.RandomState(7))
    for k in range(50):
        rows, cols = np.nonzero(masked[k, 0] == 0)
        assert len(rows) == 16 and np.ptp(rows) == 3 and np.ptp(cols) == 3
        assert (masked[k, 1] == masked[k, 0]).all()
    assert corruption("inpaint", 0.1, None, images).amount == 5  # half the smaller side


def test_training_pairs_resume_exactly_and_held_out_pairs_are_fixed():
    images = np.random.RandomState(8).rand(40, 1, 6, 6).astype(np.float32)
    noise = Corruption("denoise", 0.2, True)
    batches = data.Batches(images, 8, 0, dynamic=True, corrupt=noise)
    batches.next()
    saved = json.loads(json.dumps(batches.state()))
    first = [batches.next() for _ in range(6)]
    again = data.Batches(images, 8, 0, dynamic=True, corrupt=noise)
    again.restore(saved)
    for (x, y), (x2, y2) in zip(first, [again.next() for _ in range(6)]):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
        assert set(np.unique(y)) <= {0, 1} and (x != y).any()  # the target is the binarised clean image
    np.testing.assert_array_equal(noise.fixed(images, "test"), noise.fixed(images, "test"))
    assert (noise.fixed(images, "test") != noise.fixed(images, "valid")).any()


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    """A short denoising run on real digits (mnist5k ships offline)."""
    logdir = tmp_path_factory.mktemp("runs")
    argv = ["--dataset", "mnist5k", "-s", "4", "-u", "64", "-l", "10", "-r", "3e-3", "-t", "10240", "-f", "10240",
            "-v", "500", "--conv", "8,16", "--target", "denoise", "--noise", "0.2", "--logdir", str(logdir),
            "--run_name", "run"]
    assert train(argv) == 0
    return logdir / "run"


def test_denoiser_draws_closer_to_the_clean_images_than_its_noisy_inputs(denoiser):
    model = load_run(str(denoiser))
    assert model.config.conv == (8, 16)
    clean = data.load("mnist5k").splits["valid"][:500]
    noisy = Corruption("denoise", 0.2, True).fixed(clean, "valid")
    probs = model.reconstruct(mx.nd.array(noisy))[0][:, -1].asnumpy().reshape(len(clean), -1)
    target = clean.reshape(len(clean), -1)
    nll = lambda p: -(target * np.log(p) + (1 - target) * np.log(1 - p)).sum(axis=1).mean()
    # The best any pixel-wise guess from the noisy input alone can do: trust each pixel with 1 - 0.2.
    from_noisy = nll(np.where(noisy.reshape(len(clean), -1) == 1, 0.8, 0.2))
    restored = nll(np.clip(probs, 1e-7, 1 - 1e-7))
    assert restored < 0.75 * from_noisy, (restored, from_noisy)
    assert ((probs > 0.5) != target).mean() < 0.2  # fewer wrong pixels than the noise made


def test_commands_score_and_draw_the_run_toward_its_targets(denoiser, tmp_path):
    assert cli(["evaluate", str(denoiser), "--split", "valid", "--num", "200", "--out", str(tmp_path / "e")]) == 0
    scored = json.loads((tmp_path / "e" / "evaluation.json").read_text())["bound"]["nats"]
    model = load_run(str(denoiser))
    model.hybridize(static_alloc=True)
    clean = data.load("mnist5k").splits["valid"][spread(500, 200)]
    noisy = Corruption("denoise", 0.2, True).fixed(clean, "valid")
    direct = evaluate_nll(model, noisy, targets=clean, progress=False)["bound"]["nats"]
    on_noisy = evaluate_nll(model, noisy, progress=False)["bound"]["nats"]
    assert scored == pytest.approx(direct, rel=1e-6) and abs(direct - on_noisy) > 10
    assert cli(["reconstruct", str(denoiser), "--num", "5", "--scale", "1", "--out", str(tmp_path / "r")]) == 0
    with Image.open(tmp_path / "r" / "restoration.png") as table:
        assert table.size[0] > 3 * 28 and table.size[1] > 5 * 28  # input | reconstruction | target, a row each
    pictures = sorted(p.name for p in (denoiser / "pictures").iterdir())
    assert any(name.startswith("restoration-") for name in pictures)


def test_a_shipped_denoiser_keeps_its_front_end_and_its_target(denoiser, tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    load_run(str(denoiser)).save(str(zoo / "tiny-denoiser"))
    flags = json.loads((denoiser / "args.json").read_text())
    (zoo / "tiny-denoiser" / "info.json").write_text(json.dumps({"dataset": "mnist5k", "flags": flags}))
    monkeypatch.setattr(model_zoo, "ZOO", str(zoo))
    model = draw_gluon.pretrained("tiny-denoiser")
    x = mx.nd.array(data.load("mnist5k").splits["test"][:3])
    eps = model.noise(3)
    assert model.config.conv == (8, 16)
    np.testing.assert_array_equal(model(x, eps)[0].asnumpy(), load_run(str(denoiser))(x, eps)[0].asnumpy())
    monkeypatch.chdir(tmp_path)
    assert cli(["reconstruct", "tiny-denoiser", "--num", "3", "--scale", "1"]) == 0
    assert (tmp_path / "tiny-denoiser-reconstruct" / "restoration.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--task", "classify", "--dataset", "mnist5k", "--target", "denoise"], "belong to DRAW"),
    (["--mask", "28"], "covers the whole"),
    (["--noise", "1.5", "--target", "denoise"], "below 1"),
    (["--conv", "8,x"], "channel counts"),
])
def test_bad_target_flags_stop_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        train(argv + ["--dataset", "mnist5k"] if "--dataset" not in argv else argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
