"""Filterbanks, read and write against the NumPy re-derivation of eqs 19-29, plus known answers."""
import mxnet as mx
import numpy as np
import pytest

import reference
from draw_gluon.attention import SelectiveRead, SelectiveWrite, WINDOW_FIELDS


def _block(cls, N, shape, raw, extra=None):
    """A read/write block whose linear layer maps a one-hot h_dec to ``raw`` (+ ``extra``) per sample."""
    block = cls(N, shape)
    block.initialize()
    rows = raw if extra is None else np.concatenate([raw, extra], axis=1)
    h_dec = mx.nd.array(np.eye(raw.shape[0]))
    block.linear(h_dec)  # finishes deferred init: weight is (outputs, batch)
    block.linear.weight.set_data(mx.nd.array(rows.T))
    block.linear.bias.set_data(mx.nd.zeros(rows.shape[1]))
    return block, h_dec


def _random_raw(batch, rng):
    raw = rng.uniform(-1, 1, size=(batch, 5))
    raw[:, 2] = rng.uniform(-1, 1.5, size=batch)  # log sigma^2
    return raw


@pytest.mark.parametrize("shape,N", [((1, 8, 8), 3), ((1, 7, 11), 4), ((3, 6, 9), 2), ((1, 5, 4), 1)])
def test_read_matches_numpy(shape, N):
    rng = np.random.RandomState(1)
    batch = 4
    raw = _random_raw(batch, rng)
    x = rng.rand(batch, *shape)
    x_hat = rng.randn(batch, *shape)
    block, h_dec = _block(SelectiveRead, N, shape, raw)
    glimpse, window = block(mx.nd.array(x.reshape(batch, -1)), mx.nd.array(x_hat.reshape(batch, -1)), h_dec)
    assert glimpse.shape == (batch, block.size) == (batch, 2 * shape[0] * N * N)
    for b in range(batch):
        expected = reference.read(x[b], x_hat[b], raw[b], N)
        np.testing.assert_allclose(glimpse[b].asnumpy(), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(window[b].asnumpy(),
                                   reference.window(raw[b], shape[1], shape[2], N), rtol=1e-5)
    assert np.isfinite(glimpse.asnumpy()).all()


@pytest.mark.parametrize("shape,N", [((1, 8, 8), 3), ((1, 7, 11), 5), ((3, 6, 9), 2), ((1, 5, 4), 1)])
def test_write_matches_numpy(shape, N):
    rng = np.random.RandomState(2)
    batch = 3
    raw = _random_raw(batch, rng)
    patch = rng.randn(batch, shape[0] * N * N)
    block, h_dec = _block(SelectiveWrite, N, shape, raw, extra=patch)
    image, window = block(h_dec)
    for b in range(batch):
        expected = reference.write(patch[b], raw[b], N, shape)
        np.testing.assert_allclose(image[b].asnumpy(), expected.ravel(), rtol=1e-4, atol=1e-5)


def test_fine_grid_over_whole_image_reads_the_image():
    # N = A = B, centred (g~ = 0), stride 1 (delta~ = 1), tiny sigma: the filterbank is nearly the
    # identity, so the glimpse is the image up to a faint blur.
    H = W = 12
    rng = np.random.RandomState(3)
    x = (rng.rand(1, 1, H, W) > 0.5).astype(np.float64)
    raw = np.array([[0.0, 0.0, np.log(0.05), 0.0, 0.0]])
    block, h_dec = _block(SelectiveRead, W, (1, H, W), raw)
    glimpse, _ = block(mx.nd.array(x.reshape(1, -1)), mx.nd.zeros((1, H * W)), h_dec)
    read_x = glimpse.asnumpy()[0, :H * W].reshape(H, W)
    np.testing.assert_allclose(read_x, x[0, 0], atol=1e-3)


@pytest.mark.parametrize("gX,gY", [(3.0, 9.0), (12.0, 2.0), (7.5, 5.0)])
def test_write_lands_where_the_window_says(gX, gY):
    # A single filter (N = 1) with a small sigma puts the patch's mass at pixel (gX, gY), 1-based.
    H, W = 10, 14
    raw = np.array([[2 * gX / (W + 1) - 1, 2 * gY / (H + 1) - 1, np.log(0.1), 0.0, 0.0]])
    block, h_dec = _block(SelectiveWrite, 1, (1, H, W), raw, extra=np.ones((1, 1)))
    image, window = block(h_dec)
    image = image.asnumpy().reshape(H, W)
    np.testing.assert_allclose(window.asnumpy()[0, :2], [gX, gY], rtol=1e-5)
    rows, cols = np.nonzero(image > 0.25 * image.max())
    np.testing.assert_allclose([cols.mean() + 1, rows.mean() + 1], [gX, gY], atol=0.5)
    assert image.sum() == pytest.approx(1.0, rel=1e-4)  # filters are normalised and gamma = 1


def test_window_fields_are_documented_order():
    assert WINDOW_FIELDS == ("gX", "gY", "sigma2", "delta", "gamma")
