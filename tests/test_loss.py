"""DRAWLoss (eqs 9-12) against values worked out by hand."""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from draw_gluon import DRAWLoss


def _nd(a):
    return mx.nd.array(np.asarray(a, dtype=np.float64), dtype="float64")


def test_reconstruction_term_by_hand():
    # -log sigmoid(0) = log 2; -log(1 - sigmoid(2)) = log(1 + e^2); the huge logits must not overflow.
    canvas = _nd([[0.0, 2.0, -100.0, 1000.0, -1000.0]])
    x = _nd([[1.0, 0.0, 0.0, 1.0, 0.0]])
    zeros = _nd(np.zeros((1, 1, 1)))
    L_x, L_z, kl = DRAWLoss().terms(canvas, x, zeros, zeros)
    assert L_x.asscalar() == pytest.approx(math.log(2) + math.log(1 + math.e ** 2), rel=1e-12)
    assert L_z.asscalar() == 0 and kl.shape == (1, 1)


def test_reconstruction_with_grey_targets():
    # x in [0, 1]: -(x log p + (1 - x) log(1 - p)) with p = sigmoid(0.5), x = 0.3
    p = 1 / (1 + math.exp(-0.5))
    expected = -(0.3 * math.log(p) + 0.7 * math.log(1 - p))
    L_x, _, _ = DRAWLoss().terms(_nd([[0.5]]), _nd([[0.3]]), _nd(np.zeros((1, 1, 1))), _nd(np.zeros((1, 1, 1))))
    assert L_x.asscalar() == pytest.approx(expected, rel=1e-12)


def test_kl_term_by_hand():
    # One step, two dims: KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, 4) || N(0, 1)) = (4 - log 4 - 1) / 2.
    # A second step with mu = 0, sigma = 1 adds nothing.
    mu = _nd([[[1.0, 0.0], [0.0, 0.0]]])
    log_sigma = _nd([[[0.0, math.log(2)], [0.0, 0.0]]])
    _, L_z, kl = DRAWLoss().terms(_nd([[0.0]]), _nd([[1.0]]), mu, log_sigma)
    step1 = 0.5 + (4 - math.log(4) - 1) / 2
    np.testing.assert_allclose(kl.asnumpy(), [[step1, 0.0]], rtol=1e-12)
    assert L_z.asscalar() == pytest.approx(step1, rel=1e-12)


def test_loss_is_the_sum_of_its_terms_per_sample():
    rng = np.random.RandomState(0)
    canvas, x = _nd(rng.randn(3, 1, 4, 4) * 3), _nd(rng.rand(3, 16) > 0.5)
    mu, log_sigma = _nd(rng.randn(3, 5, 2)), _nd(rng.randn(3, 5, 2) * 0.3)
    loss = DRAWLoss()(canvas, x, mu, log_sigma)
    L_x, L_z, kl = DRAWLoss().terms(canvas, x, mu, log_sigma)
    assert loss.shape == (3,)
    np.testing.assert_allclose(loss.asnumpy(), (L_x + L_z).asnumpy(), rtol=1e-12)
    # Direct NumPy: Bernoulli NLL and the closed-form Gaussian KL (eq 11).
    c, t = canvas.asnumpy().reshape(3, -1), x.asnumpy()
    p = 1 / (1 + np.exp(-c))
    nll = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=1)
    m, s = mu.asnumpy(), np.exp(log_sigma.asnumpy())
    kl_np = 0.5 * (m ** 2 + s ** 2 - np.log(s ** 2)).sum(axis=(1, 2)) - 0.5 * m.shape[1] * m.shape[2]
    np.testing.assert_allclose(loss.asnumpy(), nll + kl_np, rtol=1e-10)


def test_gradient_wrt_logits_is_sigmoid_minus_target():
    canvas, x = _nd([[-3.0, 0.0, 4.0]]), _nd([[1.0, 0.2, 0.0]])
    canvas.attach_grad()
    with autograd.record():
        loss = DRAWLoss()(canvas, x, _nd(np.zeros((1, 1, 1))), _nd(np.zeros((1, 1, 1))))
    loss.backward()
    np.testing.assert_allclose(canvas.grad.asnumpy(), 1 / (1 + np.exp(-canvas.asnumpy())) - x.asnumpy(),
                               rtol=1e-10)
