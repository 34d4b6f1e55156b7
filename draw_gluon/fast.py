"""The CPU speed work behind DRAW's equations: the same functions of the same parameters, computed
with fewer and cheaper operators (docs/performance.md). Each is tested equal, in values and
gradients, to the plain operators and to NumPy (tests/test_fused.py, tests/test_model.py).

- :class:`LSTMCell`: Gluon's LSTM cell on MXNet's fast CPU operators, its element-wise part one
  fused kernel (:mod:`draw_gluon.fused`) where available;
- :func:`folded_encoder`: eqs 3-5 without attention, the image's share of the encoder's input
  projection computed once per image instead of once per glimpse;
- :func:`standard_normal`: the reparameterisation's noise, drawn by a fused kernel.
"""
import mxnet as mx
import numpy as np
from mxnet.gluon import rnn

from . import fused


def lstm_step(F, i2h, states, h2h_weight, h2h_bias, n, fuse=False):
    """One LSTM update from the input's projection ``i2h`` (B, 4n); Gluon's gate order (i, f, c, o).

    With ``fuse`` the element-wise part is one fused kernel (:mod:`draw_gluon.fused`); the
    operators below are its reference.
    """
    # elemwise_* rather than + and *: NDArray operators broadcast, which is slow when imperative
    gates = F.elemwise_add(i2h, F.FullyConnected(states[0], h2h_weight, h2h_bias, num_hidden=4 * n))
    if fuse:
        h, c, _ = F.draw_lstm_pointwise(gates, states[1])
        return h, [h, c]
    gate = lambda k, kind: F.Activation(F.slice_axis(gates, axis=1, begin=k * n, end=(k + 1) * n),
                                        act_type=kind)
    in_gate, forget_gate, in_transform, out_gate = (gate(0, "sigmoid"), gate(1, "sigmoid"),
                                                    gate(2, "tanh"), gate(3, "sigmoid"))
    c = F.elemwise_add(F.elemwise_mul(forget_gate, states[1]), F.elemwise_mul(in_gate, in_transform))
    h = F.elemwise_mul(out_gate, F.Activation(c, act_type="tanh"))
    return h, [h, c]


class LSTMCell(rnn.LSTMCell):
    """Gluon's LSTM cell (same parameters, same equations) on MXNet's fast CPU operators.

    Gluon's cell uses the element-wise ``sigmoid``/``tanh`` and ``SliceChannel``; oneDNN's
    ``Activation`` runs 5-10x faster here, and ``slice_axis`` has a far cheaper backward. In float32
    and float64 on CPU the element-wise part runs as one fused kernel when it is available.
    """

    _dtype = "float32"

    def cast(self, dtype):
        self._dtype = np.dtype(dtype).name
        super().cast(dtype)

    def fuse(self):
        """Whether this cell's steps, traced now, use the fused kernel."""
        return fused.enabled(self._dtype)

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        n = self._hidden_size
        i2h = F.FullyConnected(inputs, i2h_weight, i2h_bias, num_hidden=4 * n)
        return lstm_step(F, i2h, states, h2h_weight, h2h_bias, n, self.fuse())


def folded_encoder(F, cell, x, D):
    """Eqs 3-5 without attention, ``encode(sigmoid(c_{t-1}), h_dec, enc_state) -> h_enc, enc_state,
    window`` for the images ``x`` (B, D = C*H*W) and the encoder ``cell`` (an :class:`LSTMCell`).

    With the encoder's input weights split by columns as ``W = [W_x, W_x^, W_h]`` for the read
    ``[x, x_hat]`` (section 3.1) and ``h_dec``:
    ``W [x, x - sigmoid(c), h_dec] = (W_x + W_x^) x + [-W_x^, W_h] [sigmoid(c), h_dec]``,
    so each glimpse multiplies ``C*H*W`` fewer columns. Same parameters as the plain read.
    """
    n = cell._hidden_size
    W, b, W_hh, b_hh = (p.var() if F is mx.sym else p.data(x.context)
                        for p in (cell.i2h_weight, cell.i2h_bias, cell.h2h_weight, cell.h2h_bias))
    W_x, W_xhat, W_h = (F.slice_axis(W, axis=1, begin=a, end=e) for a, e in ((0, D), (D, 2 * D), (2 * D, None)))
    image_part = F.FullyConnected(x, W_x + W_xhat, b, num_hidden=4 * n)
    W_glimpse = F.concat(-W_xhat, W_h, dim=1)
    fuse = cell.fuse()

    def encode(canvas, h_dec, enc_state):
        i2h = F.elemwise_add(image_part, F.FullyConnected(F.concat(canvas, h_dec, dim=1), W_glimpse,
                                                          no_bias=True, num_hidden=4 * n))
        return (*lstm_step(F, i2h, enc_state, W_hh, b_hh, n, fuse), [])
    return encode


def standard_normal(shape, ctx):
    """Standard normal noise of ``shape`` on ``ctx`` from MXNet's RNG (``mx.random.seed``): drawn
    from MXNet's random states by a fused kernel where available, ~3x faster than its random.normal."""
    if fused.enabled():
        return mx.nd.draw_normal(mx.nd.empty(shape, ctx=ctx))
    return mx.nd.random.normal(shape=shape, ctx=ctx)
