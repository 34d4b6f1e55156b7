"""DRAW's read and write operations (section 3 of arXiv:1502.04623).

Selective attention places an ``N x N`` grid of Gaussian filters on the image (eqs 19-26), reads a
glimpse through it (27) and writes a patch back through its transpose (28-29). Pixel coordinates
are 1-based, ``a = 1..A`` across the width and ``b = 1..B`` down the height, so that the grid
centre of eqs 22-23 with ``g~ = 0`` is the image centre.

Every read and write block returns a tuple: ``(output,)`` without attention, and
``(output, window)`` with it, where ``window`` is ``(batch, 5)`` holding ``WINDOW_FIELDS``.
Images travel flat, ``(batch, C * H * W)``; all channels share one set of filters.
"""
import math

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from . import fused

WINDOW_FIELDS = ("gX", "gY", "sigma2", "delta", "gamma")


@mx.init.register
class WindowBias(mx.init.Initializer):
    """Initial bias of eq 21's linear layer: a window that tiles the whole image.

    With a zero bias the window starts with delta~ = 1 and sigma = 1: a 2x2 read then samples four
    corner pixels (always blank in MNIST), and a 5x5 write paints 25 dots a stride apart, which
    cannot clear the background of a zero canvas. This bias starts the grid centred with a stride of
    ``max(H, W) / N`` and sigma half of it, so the N x N filters together cover the image smoothly,
    and the write's ``gamma`` at ``N^2 / (H W)``, so that a patch value of ``v`` adds about ``v`` to the
    logits it covers rather than ``v`` spread thin over them (eqs 25-26 normalise each filter).
    Measured in docs/learning.md: 23 nats better after 60,000 images. Extra outputs (the write's
    patch) start at zero. Everything stays learned; this only moves the starting point.
    """

    def __init__(self, N, height, width, write):
        super().__init__(N=N, height=height, width=width, write=write)
        stride = max(height, width) / N
        delta_tilde = stride * (N - 1) / (max(height, width) - 1) if N > 1 else 1.0  # inverse of eq 24
        log_gamma = math.log(N * N / (height * width)) if write else 0.0
        self.window = [0.0, 0.0, 2 * math.log(stride / 2), math.log(delta_tilde), log_gamma]

    def _init_weight(self, name, arr):
        arr[:] = 0
        arr[:5] = mx.nd.array(self.window, dtype=arr.dtype)


def window_params(F, raw, height, width, N):
    """Attention window from the 5 linear outputs of eq 21.

    Returns ``gX, gY, sigma2, delta, gamma``, each ``(batch, 1)``.
    """
    # slice_axis, not split: its backward is ~10x faster on CPU
    gx_, gy_, log_sigma2, log_delta_, log_gamma = (F.slice_axis(raw, axis=1, begin=k, end=k + 1)
                                                   for k in range(5))
    gX = (width + 1) / 2.0 * (gx_ + 1)  # (22)
    gY = (height + 1) / 2.0 * (gy_ + 1)  # (23)
    # (24); with N = 1 the single filter sits at the centre whatever the stride, so avoid 0/0.
    delta = (max(height, width) - 1) / max(N - 1, 1) * F.exp(log_delta_)
    return gX, gY, F.exp(log_sigma2), delta, F.exp(log_gamma)


def filterbank(F, g, sigma2, delta, N, size, dtype="float32"):
    """Normalised Gaussian filterbank along one image axis, ``(batch, N, size)``.

    ``g`` is the grid centre on that axis (gX or gY); rows are filters i (or j), columns pixels a (or b).
    The normalisation of eqs 25-26 is a softmax over pixels of ``-(a - mu_i)^2 / (2 sigma^2)``, which
    stays finite when every filter falls off the image. The distances ``(a - mu_i) / sigma`` for all
    i and a come from one FullyConnected with a constant weight, rather than from broadcasting: on
    CPU, the backward of a broadcast op reduces ~10x slower than a matrix product. In float32 and
    float64 on CPU all of it is one fused kernel when available (:mod:`draw_gluon.fused`); the
    operators below are its reference.
    """
    if fused.enabled(dtype):
        return F.draw_filterbank(g, sigma2, delta, N=N, size=size)
    inv_sigma = F.rsqrt(sigma2)
    offsets = F.arange(1, N + 1, dtype=dtype) - N / 2.0 - 0.5  # mu_i = g + offsets_i delta, eqs 19-20
    pixels = F.arange(1, size + 1, dtype=dtype)
    # row (i, a): (a - g - offsets_i delta) / sigma = [a, -1, -offsets_i] . [1, g, delta] / sigma
    weight = F.stack(F.tile(pixels, reps=(N,)), -F.ones((N * size,), dtype=dtype),
                     -F.repeat(offsets, repeats=size), axis=1)
    distance = F.FullyConnected(F.concat(inv_sigma, g * inv_sigma, delta * inv_sigma, dim=1), weight,
                                no_bias=True, num_hidden=N * size)
    return F.softmax(-0.5 * F.square(distance.reshape((-1, N, size))), axis=2)  # (25), (26)


def filter_image(F, images, F_X, F_Y, channels, height, width, N, dtype="float32"):
    """``F_Y I F_X^T`` for each of ``channels`` flat images: ``(B, channels*H*W) -> (B, channels*N*N)``.
    One fused kernel when available; the operators below are its reference."""
    if fused.enabled(dtype):
        return F.draw_filter(images, F_X, F_Y, channels=channels)
    rows = F.batch_dot(images.reshape((0, channels * height, width)), F_X, transpose_b=True)
    rows = rows.reshape((0, channels, height, N)).transpose((0, 2, 1, 3)).reshape((0, height, -1))
    glimpse = F.batch_dot(F_Y, rows)  # (B, N_j, channels * N_i)
    return glimpse.reshape((0, N, channels, N)).transpose((0, 2, 1, 3)).reshape((0, -1))


def unfilter_patch(F, patch, F_X, F_Y, channels, height, width, N, dtype="float32"):
    """``F_Y^T w F_X`` for each of ``channels`` flat patches: ``(B, channels*N*N) -> (B, channels*H*W)``.
    One fused kernel when available; the operators below are its reference."""
    if fused.enabled(dtype):
        return F.draw_unfilter(patch, F_X, F_Y, channels=channels)
    cols = patch.reshape((0, channels, N, N)).transpose((0, 2, 1, 3)).reshape((0, N, -1))
    cols = F.batch_dot(F_Y, cols, transpose_a=True)  # (B, H, channels * N_i)
    image = F.batch_dot(cols.reshape((0, height * channels, N)), F_X)  # (B, H * channels, W)
    return image.reshape((0, height, channels, width)).transpose((0, 2, 1, 3)).reshape((0, -1))


class _Attention(HybridBlock):
    """A linear map of h_dec to a window (eq 21) plus ``extra`` more outputs, and its filterbanks."""

    def __init__(self, N, image_shape, extra=0, **kwargs):
        super().__init__(**kwargs)
        self.N = N
        self.image_shape = tuple(image_shape)
        self._dtype = "float32"
        with self.name_scope():
            self.linear = nn.Dense(5 + extra, flatten=False,
                                   bias_initializer=WindowBias(N, *self.image_shape[1:], write=extra > 0))

    def cast(self, dtype):
        self._dtype = np.dtype(dtype).name  # the filterbanks' pixel grids are built in the parameters' dtype
        super().cast(dtype)

    def _window(self, F, h_dec):
        _, height, width = self.image_shape
        out = self.linear(h_dec)
        window = window_params(F, F.slice_axis(out, axis=1, begin=0, end=5), height, width, self.N)
        gX, gY, sigma2, delta, gamma = window
        F_X = filterbank(F, gX, sigma2, delta, self.N, width, self._dtype)
        F_Y = filterbank(F, gY, sigma2, delta, self.N, height, self._dtype)
        return F_X, F_Y, gamma, F.concat(*window, dim=1), out


class Glimpse(_Attention):
    """Read the image alone through an ``N x N`` grid placed by ``h``: ``gamma F_Y x F_X^T`` (eq 27
    without the error image), for the read-only classifier of section 4.1."""

    @property
    def size(self):
        return self.image_shape[0] * self.N ** 2

    def hybrid_forward(self, F, x, h):
        return self._read(F, x, h, self.image_shape[0])

    def _read(self, F, images, h, channels):
        F_X, F_Y, gamma, window, _ = self._window(F, h)
        glimpse = filter_image(F, images, F_X, F_Y, channels, *self.image_shape[1:], self.N, self._dtype)
        return F.broadcast_mul(gamma, glimpse), window


class SelectiveRead(Glimpse):
    """Read with an ``N x N`` attention grid: ``gamma [F_Y x F_X^T, F_Y x_hat F_X^T]`` (eq 27)."""

    @property
    def size(self):
        return 2 * self.image_shape[0] * self.N ** 2

    def hybrid_forward(self, F, x, x_hat, h_dec):
        return self._read(F, F.concat(x, x_hat, dim=1), h_dec, 2 * self.image_shape[0])


class SelectiveWrite(_Attention):
    """Write an ``N x N`` patch ``w_t = W(h_dec)`` (28) through the grid: ``F_Y^T w F_X / gamma`` (29)."""

    def __init__(self, N, image_shape, **kwargs):
        super().__init__(N, image_shape, extra=image_shape[0] * N * N, **kwargs)

    def hybrid_forward(self, F, h_dec):
        F_X, F_Y, gamma, window, out = self._window(F, h_dec)
        patch = F.slice_axis(out, axis=1, begin=5, end=None)  # (28)
        # (29); dividing the N x N patch rather than the image by gamma saves a costly broadcast backward
        return unfilter_patch(F, F.broadcast_div(patch, gamma), F_X, F_Y, *self.image_shape, self.N,
                              self._dtype), window


class BasicRead(HybridBlock):
    """Read without attention: the whole image and the error image, ``[x, x_hat]`` (section 3.1)."""

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)

    @property
    def size(self):
        c, h, w = self.image_shape
        return 2 * c * h * w

    def hybrid_forward(self, F, x, x_hat, h_dec):
        return (F.concat(x, x_hat, dim=1),)


class BasicWrite(HybridBlock):
    """Write without attention: a linear map of h_dec to the whole canvas (section 3.1)."""

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        c, h, w = image_shape
        with self.name_scope():
            self.linear = nn.Dense(c * h * w, flatten=False)

    def hybrid_forward(self, F, h_dec):
        return (self.linear(h_dec),)
