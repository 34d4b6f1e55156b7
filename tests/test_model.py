"""DRAW against the NumPy re-derivation of eqs 1-8, finite differences, hybridize, export, save/load."""
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import reference
from helpers import check_gradients, make_model, tiny_config
from draw_gluon import DRAW, DRAWConfig, DRAWLoss, recipes
from draw_gluon.model import generate_canvases


def _inputs(config, batch, rng, dtype="float32"):
    x = rng.rand(batch, *config.image_shape)
    eps = rng.randn(batch, config.num_steps, config.z_size)
    return mx.nd.array(x, dtype=dtype), mx.nd.array(eps, dtype=dtype)


@pytest.mark.parametrize("config", [
    tiny_config(attention=True),
    tiny_config(attention=False),
    tiny_config(attention=True, image_shape=(3, 5, 7), read_size=3, write_size=2),
    tiny_config(attention=True, read_size=1, write_size=1),
], ids=["attention", "no-attention", "rgb", "N=1"])
def test_forward_matches_numpy(config):
    model = make_model(config)
    x, eps = _inputs(config, 3, np.random.RandomState(0))
    canvas, mu, log_sigma = model(x, eps)
    params = reference.gluon_params(model)
    for b in range(3):
        c_ref, mu_ref, ls_ref = reference.draw_forward(params, config, x[b].asnumpy().astype(np.float64),
                                                       eps[b].asnumpy().astype(np.float64))
        np.testing.assert_allclose(mu[b].asnumpy(), mu_ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(log_sigma[b].asnumpy(), ls_ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(canvas[b].asnumpy(), c_ref, rtol=1e-4, atol=1e-4)


def _loss(model, x, eps):
    return DRAWLoss()(*_with_x(model(x, eps), x)).sum()


def _with_x(outputs, x):
    canvas, mu, log_sigma = outputs
    return canvas, x, mu, log_sigma


@pytest.mark.parametrize("attention", [True, False])
def test_gradients_match_finite_differences(attention):
    config = tiny_config(attention=attention, num_steps=2)
    model = make_model(config, dtype="float64")
    rng = np.random.RandomState(1)
    x, eps = _inputs(config, 2, rng, dtype="float64")
    check_gradients(lambda: _loss(model, x, eps), model.collect_params(), rng)


def _grads(model, x, eps):
    with autograd.record():
        loss = _loss(model, x, eps)
    loss.backward()
    return loss.asscalar(), {k: p.grad().asnumpy().copy() for k, p in model.collect_params().items()
                             if p.grad_req != "null"}


@pytest.mark.parametrize("attention", [True, False])
def test_hybridized_equals_imperative(attention):
    config = tiny_config(attention=attention)
    model = make_model(config)
    x, eps = _inputs(config, 4, np.random.RandomState(2))
    expected_out = [o.asnumpy() for o in model(x, eps)]
    expected_loss, expected_grads = _grads(model, x, eps)
    model.hybridize(static_alloc=True)
    for o, e in zip(model(x, eps), expected_out):
        np.testing.assert_allclose(o.asnumpy(), e, rtol=1e-5, atol=1e-6)
    loss, grads = _grads(model, x, eps)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for k in expected_grads:
        np.testing.assert_allclose(grads[k], expected_grads[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_one_hybridized_block_serves_any_batch_size():
    config = tiny_config()
    model = make_model(config)
    rng = np.random.RandomState(3)
    inputs = [_inputs(config, n, rng) for n in (16, 1, 7)]
    expected = [model(x, eps)[0].asnumpy() for x, eps in inputs]
    model.hybridize(static_alloc=True)
    for (x, eps), e in zip(inputs, expected):
        np.testing.assert_allclose(model(x, eps)[0].asnumpy(), e, rtol=1e-5, atol=1e-6)


def test_export_and_symbolblock_import_reproduce_outputs(tmp_path):
    config = tiny_config()
    model = make_model(config)
    model.hybridize()
    x, eps = _inputs(config, 5, np.random.RandomState(4))
    expected = [o.asnumpy() for o in model(x, eps)]
    prefix = str(tmp_path / "draw")
    model.export(prefix)
    loaded = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data0", "data1"], prefix + "-0000.params")
    for o, e in zip(loaded(x, eps), expected):
        np.testing.assert_allclose(o.asnumpy(), e, rtol=1e-6)


def test_noise_is_seedable_when_omitted():
    config = tiny_config()
    model = make_model(config)
    x, _ = _inputs(config, 2, np.random.RandomState(5))
    mx.random.seed(7)
    a = model(x)[0].asnumpy()
    mx.random.seed(7)
    b = model(x)[0].asnumpy()
    c = model(x)[0].asnumpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_unroll_and_reconstruct_agree_with_forward():
    config = tiny_config()
    model = make_model(config)
    x, eps = _inputs(config, 3, np.random.RandomState(6))
    canvas, mu, log_sigma = model(x, eps)
    trace = model.unroll(x, eps)
    T = config.num_steps
    assert trace.canvases.shape == (3, T + 1) + config.image_shape
    assert trace.read_windows.shape == trace.write_windows.shape == (3, T, 5)
    assert not trace.canvases[:, 0].asnumpy().any()  # c_0 = 0
    np.testing.assert_allclose(trace.canvases[:, -1].reshape((3, -1)).asnumpy(), canvas.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(trace.mu.asnumpy(), mu.asnumpy(), rtol=1e-6)
    probs, read_windows, write_windows = model.reconstruct(x, eps)
    np.testing.assert_allclose(probs.asnumpy(), 1 / (1 + np.exp(-trace.canvases.asnumpy())), rtol=1e-5)
    np.testing.assert_allclose(write_windows.asnumpy(), trace.write_windows.asnumpy())


def test_generate_runs_decoder_and_write_on_prior_noise():
    config = tiny_config()
    model = make_model(config)
    z = mx.nd.random.normal(shape=(4, config.num_steps, config.z_size))
    canvases, windows = model.generate(4, z=z)
    assert canvases.shape == (4, config.num_steps + 1) + config.image_shape
    np.testing.assert_allclose(canvases[:, 0].asnumpy(), 0.5)  # sigmoid(c_0 = 0)
    assert windows.shape == (4, config.num_steps, 5)
    # NumPy: the same decoder recursion with z in place of the encoder's sample.
    params = reference.gluon_params(model)
    h, c = params["dec_init.h0"][0], params["dec_init.c0"][0]
    canvas = np.zeros(config.num_pixels)
    for t in range(config.num_steps):
        h, c = reference.lstm(params, "decoder.", z[0, t].asnumpy().astype(np.float64), h, c)
        out = reference.dense(params, "write.linear.", h)
        canvas = canvas + reference.write(out[5:], out[:5], config.write_size, config.image_shape).ravel()
    np.testing.assert_allclose(canvases[0, -1].asnumpy().ravel(), reference.sigmoid(canvas), rtol=1e-4)
    assert model.generate(2)[1] is not None and model.generate(2)[0].shape[0] == 2


def test_initial_states_learned_or_fixed_zero():
    learned = make_model(tiny_config())
    assert learned.dec_init.h0.grad_req == "write"
    fixed = DRAW(tiny_config(learn_init_state=False))
    fixed.initialize()
    x, eps = _inputs(fixed.config, 2, np.random.RandomState(7))
    with autograd.record():
        loss = _loss(fixed, x, eps)
    loss.backward()
    assert fixed.dec_init.h0.grad_req == "null"
    assert not fixed.dec_init.h0.data().asnumpy().any()


def test_initial_canvas_is_not_a_parameter():
    names = make_model(tiny_config()).collect_params().keys()
    assert not [n for n in names if "canvas" in n]


def test_save_and_load_rebuild_the_model(tmp_path):
    config = tiny_config(attention=False)
    model = make_model(config)
    x, eps = _inputs(config, 2, np.random.RandomState(8))
    model.save(str(tmp_path / "run"))
    assert sorted(os.listdir(tmp_path / "run")) == ["config.json", "model.params"]
    loaded = DRAW.load(str(tmp_path / "run"))
    assert loaded.config == config
    np.testing.assert_allclose(loaded(x, eps)[0].asnumpy(), model(x, eps)[0].asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("shape,dtype,match", [
    ((2, 1, 6, 6), "float32", r"expects images of shape \(batch, 1, 6, 5\)"),
    ((2, 31), "float32", r"or \(batch, 30\)"),
    ((2, 1, 6, 5), "int32", "floating-point"),
])
def test_bad_input_raises_a_clear_value_error(shape, dtype, match):
    model = make_model(tiny_config())
    with pytest.raises(ValueError, match=match):
        model(mx.nd.zeros(shape, dtype=dtype))


def test_used_inside_a_users_hybridized_block():
    config = tiny_config()

    class Wrapper(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.draw = DRAW(config)

        def hybrid_forward(self, F, x):
            canvas, _, _ = self.draw(x)
            return F.sigmoid(canvas)

    net = Wrapper()
    net.initialize()
    net.hybridize()
    out = net(mx.nd.ones((3,) + config.image_shape))
    assert out.shape == (3, config.num_pixels) and np.isfinite(out.asnumpy()).all()


@pytest.mark.parametrize("name, table_3", [  # ../shared/PAPER.md, Table 3
    ("mnist-attention", dict(image_shape=(1, 28, 28), num_steps=64, enc_size=256, dec_size=256, z_size=100,
                             attention=True, read_size=2, write_size=5)),
    ("mnist", dict(image_shape=(1, 28, 28), num_steps=64, enc_size=256, z_size=100, attention=False)),
    ("cifar10", dict(image_shape=(3, 32, 32), num_steps=64, enc_size=400, z_size=200, read_size=5, write_size=5)),
    ("svhn", dict(num_steps=32, enc_size=800, z_size=100, read_size=12, write_size=12)),  # at 32x32, not 64x64
    ("cluttered-mnist", dict(image_shape=(1, 100, 100), num_glimpses=8, hidden_size=256, read_size=12)),
])
def test_the_recipes_train_table_3s_models(name, table_3):
    config = recipes.config(name)
    assert {k: getattr(config, k) for k in table_3} == table_3


def test_the_default_config_is_the_papers_mnist_model_with_attention():
    assert DRAWConfig() == recipes.config("mnist-attention") == DRAW().config


def test_config_json_round_trip_and_rejects_nonsense(tmp_path):
    path = str(tmp_path / "config.json")
    config = tiny_config(image_shape=(3, 4, 9))
    config.to_json(path)
    assert DRAWConfig.from_json(path) == config
    with open(path, "w") as f:
        f.write('{"num_steps": -3}')
    with pytest.raises(ValueError, match="must hold exactly the keys"):
        DRAWConfig.from_json(path)
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        config.replace(num_steps=0)


def test_fast_lstm_cell_equals_gluons_cell():
    """The cell DRAW uses (fast CPU operators) against Gluon's own LSTMCell with the same parameters."""
    from mxnet.gluon import rnn
    from draw_gluon.fast import LSTMCell

    fast, plain = LSTMCell(7, input_size=5), rnn.LSTMCell(7, input_size=5)
    for cell in (fast, plain):
        cell.initialize(mx.init.Uniform(0.5))
    for p_fast, p_plain in zip(fast.collect_params().values(), plain.collect_params().values()):
        p_plain.set_data(p_fast.data())
    x, h, c = (mx.nd.random.normal(shape=s) for s in ((3, 5), (3, 7), (3, 7)))
    results = []
    for cell in (fast, plain):
        x.attach_grad()
        with autograd.record():
            out, (h1, c1) = cell(x, [h, c])
            total = (out * out).sum() + (c1 * c1).sum()
        total.backward()
        results.append([out.asnumpy(), c1.asnumpy(), x.grad.asnumpy()] +
                       [p.grad().asnumpy() for p in cell.collect_params().values()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", [True, False])
def test_hybridized_generator_equals_the_imperative_decoder(attention):
    model = make_model(tiny_config(attention))
    z = mx.nd.random.normal(shape=(3, 3, 4))
    probs, windows = model.generate(3, z=z)
    canvases, plain_windows = generate_canvases(mx.nd, model, z)  # the decoder loop run op by op
    np.testing.assert_allclose(probs[:, -1].asnumpy().reshape(3, -1),
                               mx.nd.sigmoid(canvases[-1]).asnumpy(), rtol=1e-5)
    assert (windows is None) == (not attention)
    if attention:
        np.testing.assert_allclose(windows[:, 1].asnumpy(), plain_windows[1].asnumpy(), rtol=1e-5)


def test_folded_image_projection_equals_the_plain_read():
    """Without attention the image enters the encoder once per forward; values and gradients must
    equal the plain read [x, x_hat] of every glimpse."""
    config = tiny_config(attention=False)
    x = mx.nd.array((np.random.RandomState(0).rand(4, 1, 6, 5) > 0.5).astype(np.float32))
    eps = mx.nd.random.normal(shape=(4, config.num_steps, config.z_size))
    model = make_model(config)
    results = []
    for fold in (True, False):
        model.fold_image_projection = fold
        for hybridize in (False, True):
            model.hybridize(active=hybridize)
            with autograd.record():
                canvas, mu, log_sigma = model(x, eps)
                loss = DRAWLoss()(canvas, x, mu, log_sigma).sum()
            loss.backward()
            results.append([canvas.asnumpy(), mu.asnumpy()] +
                           [p.grad().asnumpy().copy() for p in model.collect_params().values()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
