"""The fused CPU kernels (draw_gluon/fused_ops.cc) against the reference operators of lstm_step and
filterbank and against NumPy: values, gradients (and finite differences), whole models over training steps, the build cache and
the switch, export without the library; the normal sampler against scipy's normal distribution."""
import contextlib
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import reference
from helpers import check_gradients, make_model, tiny_config
from draw_gluon import DRAWLoss, fused
from draw_gluon.attention import filter_image, filterbank, unfilter_patch
from draw_gluon.export import export_model
from draw_gluon.fast import lstm_step

pytestmark = pytest.mark.skipif(not fused.enabled(), reason="the fused kernels did not build here "
                                "(see the warning); the reference operators are tested elsewhere")


class Step(gluon.HybridBlock):
    """One LSTM step of ``n`` units on the projection ``i2h`` (B, 4n) and states (h, c)."""

    def __init__(self, n, fuse, **kwargs):
        super().__init__(**kwargs)
        self.n, self.fuse = n, fuse
        with self.name_scope():
            self.w = self.params.get("w", shape=(4 * n, n), init=mx.init.Uniform(0.5))
            self.b = self.params.get("b", shape=(4 * n,), init=mx.init.Uniform(0.5))

    def hybrid_forward(self, F, i2h, h, c, w, b):
        h, (_, c) = lstm_step(F, i2h, [h, c], w, b, self.n, self.fuse)
        return h, c


def _step_pair(n, dtype):
    plain, fast = Step(n, False), Step(n, True, params=None)
    plain.initialize()
    fast.initialize()
    for p, q in zip(plain.collect_params().values(), fast.collect_params().values()):
        q.set_data(p.data())
    plain.cast(dtype)
    fast.cast(dtype)
    return plain, fast


def _step_results(batch, n, dtype, hybridize, scale=2):
    """Outputs and every gradient of one LSTM step, reference then fused."""
    rng = np.random.RandomState(n)
    inputs = [mx.nd.array(rng.randn(batch, k) * scale, dtype=dtype) for k in (4 * n, n, n)]
    weights = mx.nd.array(rng.randn(2, batch, n), dtype=dtype)  # a loss that weighs h and c apart
    results = []
    for block in _step_pair(n, dtype):
        if hybridize:
            block.hybridize(static_alloc=True)
        for x in inputs:
            x.attach_grad()
        with autograd.record():
            h, c = block(*inputs)
            loss = (h * weights[0] + c * weights[1]).sum()
        loss.backward()
        results.append([h.asnumpy(), c.asnumpy()] + [x.grad.asnumpy() for x in inputs] +
                       [p.grad().asnumpy() for p in block.collect_params().values()])
    return results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch, n", [(1, 1), (3, 5), (7, 33), (128, 256)])
@pytest.mark.parametrize("hybridize", [False, True])
def test_fused_lstm_step_equals_the_reference(batch, n, dtype, hybridize):
    reference_results, fused_results = _step_results(batch, n, dtype, hybridize)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for got, want in zip(fused_results, reference_results):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_lstm_step_stays_finite_with_saturated_gates(dtype):
    """Pre-activations in the hundreds, where exp overflows float32 (the kernel once gave NaN there)."""
    reference_results, fused_results = _step_results(64, 32, dtype, True, scale=300)
    for got, want in zip(fused_results, reference_results):
        assert np.all(np.isfinite(got))
        if dtype == "float64":
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        else:  # 1 - sigmoid(x) near saturation keeps few float32 digits on either path
            assert np.linalg.norm(got - want) <= 1e-3 * np.linalg.norm(want) + 1e-5


def test_fused_lstm_step_gradients_match_finite_differences():
    block = Step(6, True)
    block.initialize()
    block.cast("float64")
    rng = np.random.RandomState(1)
    i2h, h, c = (mx.nd.array(rng.randn(4, k), dtype="float64") for k in (24, 6, 6))
    weights = mx.nd.array(rng.randn(2, 4, 6), dtype="float64")

    def loss():
        h_next, c_next = block(i2h, h, c)
        return (h_next * weights[0] + c_next * weights[1]).sum()

    assert check_gradients(loss, block.collect_params(), rng, per_param=8) == 16


def _filterbank_and_gradients(N, size, dtype, window, dF):
    """The filterbank of ``window`` = (g, sigma2, delta), each (B, 1), and the gradients of sum(F * dF)."""
    args = [mx.nd.array(a, dtype=dtype) for a in window]
    for a in args:
        a.attach_grad()
    with autograd.record():
        out = filterbank(mx.nd, *args, N, size, dtype)
    out.backward(mx.nd.array(dF, dtype=dtype))
    return out.asnumpy().astype(np.float64), [a.grad.asnumpy().astype(np.float64) for a in args]


def _random_windows(rng, batch, size):
    # centres also far off the image, and narrow and wide filters
    return (rng.uniform(-0.5 * size, 1.5 * size, (batch, 1)), np.exp(rng.uniform(-3, 4, (batch, 1))),
            np.exp(rng.uniform(-2, 1.5, (batch, 1))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch, N, size", [(1, 1, 1), (3, 2, 28), (5, 5, 17), (64, 12, 100)])
def test_fused_filterbank_equals_the_reference_and_numpy(batch, N, size, dtype):
    rng = np.random.RandomState(N * size)
    window, dF = _random_windows(rng, batch, size), rng.randn(batch, N, size)
    with fused.disabled():
        want, want_grads = _filterbank_and_gradients(N, size, dtype, window, dF)
    got, got_grads = _filterbank_and_gradients(N, size, dtype, window, dF)
    by_numpy = np.stack([reference.filterbank(g, s, d, N, size) for g, s, d in zip(*(w[:, 0] for w in window))])
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == "float32" else dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got, by_numpy, **tol)
    np.testing.assert_allclose(want, by_numpy, **tol)
    for g, w in zip(got_grads, want_grads):
        scale = np.abs(w).max() + 1e-6  # the reference's float32 sums have errors relative to the largest term
        np.testing.assert_allclose(g / scale, w / scale, rtol=0, atol=2e-4 if dtype == "float32" else 1e-9)


def test_fused_filterbank_gradients_match_finite_differences():
    rng = np.random.RandomState(4)
    N, size = 3, 11
    window, dF = _random_windows(rng, 6, size), rng.randn(6, N, size)
    _, grads = _filterbank_and_gradients(N, size, "float64", window, dF)
    loss = lambda w: (_filterbank_and_gradients(N, size, "float64", w, dF)[0] * dF).sum()
    for k in range(3):
        for b in range(6):
            step = 1e-6 * max(1.0, abs(window[k][b, 0]))
            up, down = ([w.copy() for w in window] for _ in range(2))
            up[k][b, 0] += step
            down[k][b, 0] -= step
            numeric = (loss(up) - loss(down)) / (2 * step)
            assert grads[k][b, 0] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (k, b)


def _product_and_gradients(read, dtype, arrays, shape, weights):
    """The read's or the write's filter product of ``arrays`` (x, F_X, F_Y), and the gradients of
    ``sum(product * weights)`` with respect to each."""
    arrays = [mx.nd.array(a, dtype=dtype) for a in arrays]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        out = (filter_image if read else unfilter_patch)(mx.nd, *arrays, *shape, dtype=dtype)
        loss = (out * mx.nd.array(weights, dtype=dtype)).sum()
    loss.backward()
    return out.asnumpy(), [a.grad.asnumpy() for a in arrays]


def _product_case(rng, read, B, C, H, W, N):
    F_X, F_Y = rng.rand(B, N, W), rng.rand(B, N, H)
    x = rng.randn(B, C * (H * W if read else N * N))
    return (x, F_X, F_Y), rng.randn(B, C * (N * N if read else H * W))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("read", [True, False])
@pytest.mark.parametrize("B, C, H, W, N", [(1, 1, 1, 1, 1), (3, 1, 28, 28, 2), (4, 3, 17, 23, 5), (2, 2, 9, 31, 12),
                                        (64, 1, 28, 28, 5)])  # the last split over threads
def test_fused_filter_products_equal_the_reference_and_numpy(read, B, C, H, W, N, dtype):
    rng = np.random.RandomState(B * C * H * W * N)
    arrays, weights = _product_case(rng, read, B, C, H, W, N)
    shape = (C, H, W, N)
    with fused.disabled():
        want, want_grads = _product_and_gradients(read, dtype, arrays, shape, weights)
    got, got_grads = _product_and_gradients(read, dtype, arrays, shape, weights)
    x, F_X, F_Y = arrays
    if read:  # G[c, p, q] = sum_y,x F_Y[p, y] I[c, y, x] F_X[q, x]
        by_numpy = np.einsum("bpy,bcyx,bqx->bcpq", F_Y, x.reshape(B, C, H, W), F_X).reshape(B, -1)
    else:  # O[c, y, x] = sum_p,q F_Y[p, y] w[c, p, q] F_X[q, x]
        by_numpy = np.einsum("bpy,bcpq,bqx->bcyx", F_Y, x.reshape(B, C, N, N), F_X).reshape(B, -1)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got, by_numpy, **tol)
    np.testing.assert_allclose(want, by_numpy, **tol)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, **tol)


@pytest.mark.parametrize("read", [True, False])
def test_fused_filter_product_gradients_match_finite_differences(read):
    rng = np.random.RandomState(5)
    arrays, weights = _product_case(rng, read, 2, 2, 7, 9, 3)
    shape = (2, 7, 9, 3)
    _, grads = _product_and_gradients(read, "float64", arrays, shape, weights)
    loss = lambda a: (_product_and_gradients(read, "float64", a, shape, weights)[0] * weights).sum()
    for k, array in enumerate(arrays):
        for flat in rng.choice(array.size, size=4, replace=False):
            index = np.unravel_index(flat, array.shape)
            up, down = ([a.copy() for a in arrays] for _ in range(2))
            up[k][index] += 1e-6
            down[k][index] -= 1e-6
            numeric = (loss(up) - loss(down)) / 2e-6
            assert grads[k][index] == pytest.approx(numeric, rel=1e-6, abs=1e-8), (k, index)


@pytest.mark.parametrize("attention", [True, False])
def test_whole_model_trains_alike_fused_and_reference(attention):
    config = tiny_config(attention=attention, num_steps=4, enc_size=9, dec_size=8)
    rng = np.random.RandomState(2)
    x = mx.nd.array(rng.rand(5, *config.image_shape) > 0.5)
    eps = [mx.nd.array(rng.randn(5, 4, config.z_size)) for _ in range(3)]
    models = []
    for fuse in (False, True):
        mx.random.seed(3)
        model = make_model(config)
        with fused.disabled() if not fuse else contextlib.nullcontext():
            model.hybridize(static_alloc=True)
            model(x, eps[0])
        trainer = gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 1e-2})
        for e in eps:
            with autograd.record():
                canvas, mu, log_sigma = model(x, e)
                loss = DRAWLoss()(canvas, x, mu, log_sigma)
            loss.backward()
            trainer.step(5)
        models.append(model)
    graphs = [m._cached_graph[1].tojson() for m in models]
    assert "draw_lstm_pointwise" not in graphs[0] and "draw_lstm_pointwise" in graphs[1]
    assert "draw_filterbank" not in graphs[0] and ("draw_filterbank" in graphs[1]) == attention
    for p, q in zip(*(m.collect_params().values() for m in models)):
        np.testing.assert_allclose(q.data().asnumpy(), p.data().asnumpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape, dtype", [((3, 65536, 1), "float32"), ((2049,), "float64"), ((7, 5), "float32")])
def test_fused_normal_draws_are_standard_normal_and_repeatable(shape, dtype):
    """Against scipy's normal CDF (Kolmogorov-Smirnov) and moments; lengths that end inside a block
    or a part, and more than one part (each from its own random state)."""
    from scipy import stats

    like = mx.nd.empty(shape, dtype=dtype)
    mx.random.seed(11)
    z = mx.nd.draw_normal(like)
    assert z.shape == shape and z.dtype == np.dtype(dtype)
    z = z.asnumpy().ravel()
    mx.random.seed(11)
    assert np.array_equal(mx.nd.draw_normal(like).asnumpy().ravel(), z)
    mx.random.seed(12)
    assert not np.array_equal(mx.nd.draw_normal(like).asnumpy().ravel(), z)
    if z.size > 1000:
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)
        assert abs(stats.kurtosis(z)) < 10 * np.sqrt(24 / z.size)
        for block in (z[:z.size // 2], z[z.size // 2:]):  # the last values too: every element is drawn
            assert abs(block.std() - 1) < 0.05
    if z.size > 2 * 65536:  # the parts' streams are independent, not copies
        first, second = z[:65536], z[65536:2 * 65536]
        assert abs(np.corrcoef(first, second)[0, 1]) < 5 / np.sqrt(65536)


def test_model_noise_follows_mxnets_seed():
    model = make_model(tiny_config())
    mx.random.seed(4)
    noise = model.noise(50)
    mx.random.seed(4)
    again = model.noise(50)
    assert noise.shape == (50, model.config.num_steps, model.config.z_size)
    np.testing.assert_array_equal(noise.asnumpy(), again.asnumpy())


def test_export_holds_only_mxnets_own_operators(tmp_path):
    model = make_model(tiny_config())
    model.hybridize()
    export_model(model, str(tmp_path / "export"))
    for name in ("draw-symbol.json", "generator-symbol.json"):
        ops = {node["op"] for node in json.loads((tmp_path / "export" / name).read_text())["nodes"]}
        assert not any(op.startswith("draw_") for op in ops) and "FullyConnected" in ops


PROBE = """
import warnings, sys
warnings.simplefilter("always")
from draw_gluon import fused
try:
    print("enabled", fused.enabled())
except fused.FusedError as err:
    print("error", err)
"""


def _probe(tmp_path, **env):
    """``fused.enabled()`` in a fresh process (cache ``tmp_path/cache`` unless ``env`` says otherwise)."""
    env = {**os.environ, "DRAW_CACHE_DIR": str(tmp_path / "cache"), **env}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=tmp_path, env=env)
    return out.stdout.strip(), out.stderr


def test_the_switch_and_a_missing_compiler(tmp_path):
    assert _probe(tmp_path, DRAW_FUSED="0")[0] == "enabled False"
    stdout, stderr = _probe(tmp_path, CXX="/nonexistent/g++")
    assert stdout == "enabled False" and "fused CPU kernels are unavailable" in stderr and "no C++ compiler" in stderr
    stdout, _ = _probe(tmp_path, CXX="/nonexistent/g++", DRAW_FUSED="1")
    assert stdout.startswith("error DRAW_FUSED=1") and "no C++ compiler" in stdout
    assert not os.listdir(tmp_path / "cache" / "fused") or all(f.endswith(".lock") for f in os.listdir(tmp_path / "cache" / "fused"))


def test_a_cache_shared_with_another_cpu_gets_its_own_library(tmp_path, monkeypatch):
    # built with -march=native: a library from another CPU (a home folder on NFS) may not run here
    here = fused.library_path(str(tmp_path))
    assert "flags" in fused.cpu_id() or "Features" in fused.cpu_id() or not os.path.exists("/proc/cpuinfo")
    monkeypatch.setattr(fused, "cpu_id", lambda: "model name : another CPU\nflags : sse2\n")
    there = fused.library_path(str(tmp_path))
    assert there != here and os.path.dirname(there) == os.path.dirname(here)


def test_the_library_is_built_once_into_a_cache_named_by_mxnet_and_source(tmp_path):
    path = fused.library_path(str(tmp_path))
    assert mx.__version__ in os.path.basename(path) and path.startswith(str(tmp_path / "fused"))
    assert fused.build(path) == path and os.path.isfile(path)
    built = os.stat(path).st_mtime_ns
    assert fused.build(path) == path and os.stat(path).st_mtime_ns == built  # not rebuilt
    assert [f for f in os.listdir(tmp_path / "fused") if f.endswith(".tmp")] == []
    stdout, _ = _probe(tmp_path, DRAW_CACHE_DIR=str(tmp_path), DRAW_FUSED="1", CXX="/nonexistent/g++")
    assert stdout == "enabled True"  # found in the cache: no compiler needed


@pytest.mark.parametrize("change", ["bytes", "mode"])
def test_a_library_changed_in_the_cache_is_not_loaded(tmp_path, change):
    path = fused.library_path(str(tmp_path))
    fused.build(path)
    if change == "bytes":  # still a loadable library, but not the one built here
        with open(path, "ab") as f:
            f.write(b"\0" * 16)
    else:  # anyone may swap it
        os.chmod(path, 0o777)
    assert not fused.trusted(path)
    stdout, stderr = _probe(tmp_path, DRAW_CACHE_DIR=str(tmp_path), CXX="/nonexistent/g++")
    assert stdout == "enabled False", "with no compiler to rebuild it, the changed file must not be loaded"
    assert f"{path} is not the library draw-gluon built there" in stderr
