"""The DRAW network (section 2 of arXiv:1502.04623) as one hybridizable Gluon block."""
import collections
import contextlib
import os
import warnings
import weakref

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn, rnn

from . import fused
from .attention import BasicRead, BasicWrite, SelectiveRead, SelectiveWrite
from .config import DRAWConfig
from .io import atomic_path

# Each model's hybridized sampler, kept outside the model so that Gluon does not count it as a child.
_GENERATORS = weakref.WeakKeyDictionary()
Trace = collections.namedtuple("Trace", "canvases mu log_sigma read_windows write_windows")
Trace.__doc__ = """Everything one pass of DRAW computed, batch first.

canvases : (B, T + 1, C, H, W) canvas logits c_0 .. c_T (c_0 = 0)
mu, log_sigma : (B, T, Z) parameters of Q(Z_t | h_enc_t), or None when generating
read_windows, write_windows : (B, T, 5) attention windows (``attention.WINDOW_FIELDS``) or None
"""


@contextlib.contextmanager
def _quiet_unused_inputs():
    """Child blocks run one by one may ignore an input (BasicRead ignores h_dec); Gluon warns of it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The \d+-th input to HybridBlock is not used")
        yield


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
    and float64 on CPU the element-wise part runs as one fused kernel when it is available
    (:mod:`draw_gluon.fused`).
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


def first_context(block):
    """The (first) device that holds ``block``'s parameters."""
    return next(iter(block.collect_params().values())).list_ctx()[0]


def trainable(block):
    """The parameters that Adam updates (learned initial states included; fixed ones excluded)."""
    return [p for p in block.collect_params().values() if p.grad_req != "null"]


class InitialState(HybridBlock):
    """The LSTM's ``[h_0, c_0]`` for a batch: learned vectors, or zeros that never change."""

    def __init__(self, size, learn=True, **kwargs):
        super().__init__(**kwargs)
        grad_req = "write" if learn else "null"
        with self.name_scope():
            self.h0 = self.params.get("h0", shape=(1, size), init="zeros", grad_req=grad_req)
            self.c0 = self.params.get("c0", shape=(1, size), init="zeros", grad_req=grad_req)

    def hybrid_forward(self, F, batch_like, h0, c0):
        return [F.broadcast_like(s, batch_like, lhs_axes=(0,), rhs_axes=(0,)) for s in (h0, c0)]


class ConvFeatures(HybridBlock):
    """DCRAW's convolutional front end: 3x3 convolutions of stride 2 (padding 1), each followed by
    a ReLU, from flat images ``(B, C*H*W)`` to flat feature maps ``(B, K*H'*W')`` of :attr:`shape`.

    Each layer halves the height and width (rounding up), so feature ``(j, i)`` (1-based) is centred
    on pixel ``(s (j - 1) + 1, s (i - 1) + 1)`` with ``s`` the :attr:`stride`.
    """

    def __init__(self, channels, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        c, height, width = self.image_shape
        with self.name_scope():
            self.layers = nn.HybridSequential()
            for k in channels:
                self.layers.add(nn.Conv2D(k, 3, strides=2, padding=1, in_channels=c, activation="relu"))
                c, height, width = k, (height + 1) // 2, (width + 1) // 2
        self.shape, self.stride = (c, height, width), 2 ** len(channels)

    def hybrid_forward(self, F, x):
        return self.layers(x.reshape((0,) + self.image_shape)).reshape((0, -1))

    def window_on_image(self, windows):
        """Read windows ``(..., 5)`` (NumPy, ``attention.WINDOW_FIELDS``) placed on the feature maps,
        as the same windows in the image's pixel coordinates."""
        s = self.stride
        gX, gY, sigma2, delta, gamma = (windows[..., k] for k in range(5))
        return np.stack([s * (gX - 1) + 1, s * (gY - 1) + 1, s * s * sigma2, s * delta, gamma], axis=-1)


class SavedBlock(HybridBlock):
    """A block built from one config object (``self.config``, of type ``config_class``), saved as
    ``config.json`` plus ``model.params`` and rebuilt from them."""

    config_class = DRAWConfig

    def save(self, directory):
        """Write ``config.json`` and ``model.params`` into ``directory`` (created if missing)."""
        os.makedirs(directory, exist_ok=True)
        self.config.to_json(os.path.join(directory, "config.json"))
        with atomic_path(os.path.join(directory, "model.params")) as tmp:
            self.save_parameters(tmp)

    @classmethod
    def load(cls, directory, ctx=None):
        """Rebuild a model saved with :meth:`save` (config and parameters) on ``ctx``."""
        model = cls(cls.config_class.from_json(os.path.join(directory, "config.json")))
        model.load_parameters(os.path.join(directory, "model.params"), ctx=ctx or mx.current_context())
        return model


class _Decoding:
    """Eqs 7-8 and section 2.3, shared by :class:`DRAW` and its :class:`Generator`.

    Needs the attributes ``config``, ``dec_init``, ``decoder`` and ``write``.
    """

    def _decode_step(self, F, z, dec_state, c, write_windows):
        h_dec, dec_state = self.decoder(z, dec_state)  # (7)
        w, *window = self.write(h_dec)
        write_windows += window
        return h_dec, dec_state, c + w  # (8)

    def _generate(self, F, z):
        """Section 2.3: the decoder and write alone, driven by ``z`` of shape (B, T, Z)."""
        dec_state = self.dec_init(z)
        c, canvases, write_windows = 0, [], []
        for t in range(self.config.num_steps):
            z_t = F.slice_axis(z, axis=1, begin=t, end=t + 1).reshape((0, -1))
            _, dec_state, c = self._decode_step(F, z_t, dec_state, c, write_windows)
            canvases.append(c)
        return [F.zeros_like(canvases[0])] + canvases, write_windows


class DRAW(_Decoding, SavedBlock):
    """Deep Recurrent Attentive Writer.

    Parameters
    ----------
    config : DRAWConfig, optional
        Hyperparameters; the paper's MNIST model with attention by default.
    read, write : HybridBlock, optional
        Replacements for the read and write operations. A read block is called as
        ``read(x, x_hat, h_dec)``, a write block as ``write(h_dec)``; each returns ``(output,)`` or
        ``(output, window)`` and a read block has a ``size`` attribute (its output width).
        By default they follow ``config.attention``.

    Inputs
    ------
    x : (B, C, H, W) or (B, C*H*W) images with values in [0, 1].
    eps : (B, T, Z), optional
        The standard normal noise of the reparameterisation; drawn from MXNet's RNG
        (``mx.random.seed``) when omitted. Pass it to get repeatable outputs.

    Outputs
    -------
    canvas : (B, C*H*W) final canvas logits c_T; ``sigmoid(canvas)`` is D(x | c_T).
    mu, log_sigma : (B, T, Z) parameters of each Q(Z_t | h_enc_t).
    """

    # Without attention, project the image into the encoder once per forward (see _folded_encoder).
    fold_image_projection = True

    def __init__(self, config=None, read=None, write=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config = config or DRAWConfig()
        with self.name_scope():
            self.features = ConvFeatures(config.conv, config.image_shape) if config.conv else None
            shape = self.features.shape if config.conv else config.image_shape  # what the read sees
            if read is None:
                read = SelectiveRead(config.read_size, shape) if config.attention else BasicRead(shape)
            if write is None:  # always onto the image's canvas
                write = (SelectiveWrite(config.write_size, config.image_shape) if config.attention
                         else BasicWrite(config.image_shape))
            self.read, self.write = read, write
            self.encoder = LSTMCell(config.enc_size, input_size=read.size + config.dec_size)
            self.decoder = LSTMCell(config.dec_size, input_size=config.z_size)
            self.q = nn.Dense(2 * config.z_size, in_units=config.enc_size, flatten=False)  # (1), (2)
            self.enc_init = InitialState(config.enc_size, config.learn_init_state)
            self.dec_init = InitialState(config.dec_size, config.learn_init_state)

    # ----------------------------------------------------------------- inputs
    def noise(self, batch_size, ctx=None):
        """Standard normal noise ``(batch_size, T, Z)`` from MXNet's RNG (``mx.random.seed``), on
        ``ctx`` (default: the model's own device)."""
        shape, ctx = (batch_size, self.config.num_steps, self.config.z_size), ctx or first_context(self)
        if fused.enabled():  # MXNet's random states, drawn ~3x faster than by its random.normal
            return mx.nd.draw_normal(mx.nd.empty(shape, ctx=ctx))
        return mx.nd.random.normal(shape=shape, ctx=ctx)

    def _check_images(self, x):
        expected = (self.config.image_shape, (self.config.num_pixels,))
        if tuple(x.shape[1:]) not in expected or len(x.shape) < 2:
            raise ValueError(f"DRAW expects images of shape (batch, {', '.join(map(str, expected[0]))}) "
                             f"or (batch, {expected[1][0]}), got {tuple(x.shape)}; "
                             "check image_shape in the model config")
        if x.dtype.__name__ not in ("float32", "float64", "float16"):
            raise ValueError(f"DRAW expects floating-point images in [0, 1], got dtype {x.dtype.__name__}; "
                             "convert with x.astype('float32')")

    def _check_noise(self, x, eps):
        expected = (x.shape[0], self.config.num_steps, self.config.z_size)
        if tuple(eps.shape) != expected:
            raise ValueError(f"eps must have shape (batch, num_steps, z_size) = {expected}, "
                             f"got {tuple(eps.shape)}")

    def forward(self, x, eps=None):
        if isinstance(x, mx.nd.NDArray):
            self._check_images(x)
            eps = self.noise(x.shape[0], x.context) if eps is None else eps
            self._check_noise(x, eps)
        elif eps is None:  # traced inside a user's hybridized block: noise becomes part of the graph
            template = mx.sym.zeros((1, self.config.num_steps, self.config.z_size))
            eps = mx.sym.random.normal_like(
                mx.sym.broadcast_like(template, x, lhs_axes=(0,), rhs_axes=(0,)))
        return super().forward(x, eps)

    def hybrid_forward(self, F, x, eps):
        canvases, mu, log_sigma, _, _ = self._unroll(F, x, eps)
        return canvases[-1], F.stack(*mu, axis=1), F.stack(*log_sigma, axis=1)

    # ------------------------------------------------------------ the network
    def _unroll(self, F, x, eps):
        """Eqs 3-8 for t = 1..T; returns per-step lists (canvases include c_0)."""
        x, Z = x.reshape((0, -1)), self.config.z_size
        dec_state = self.dec_init(x)
        h_dec = dec_state[0]
        enc_state = self.enc_init(x)
        canvases = [F.zeros_like(x)]  # c_0 = 0, not learned
        mus, log_sigmas, read_windows, write_windows = [], [], [], []
        fold = self.fold_image_projection and type(self.read) is BasicRead and self.features is None
        encode = self._folded_encoder(F, x) if fold else self._encoder(F, x)
        for t in range(self.config.num_steps):
            h_enc, enc_state, window = encode(F.Activation(canvases[-1], act_type="sigmoid"), h_dec, enc_state)
            read_windows += window
            q = self.q(h_enc)  # (1), (2)
            mu, log_sigma = F.slice_axis(q, axis=1, begin=0, end=Z), F.slice_axis(q, axis=1, begin=Z, end=None)
            eps_t = F.slice_axis(eps, axis=1, begin=t, end=t + 1).reshape((0, -1))
            z = mu + F.exp(log_sigma) * eps_t  # (6), reparameterised
            h_dec, dec_state, c = self._decode_step(F, z, dec_state, canvases[-1], write_windows)
            canvases.append(c)
            mus.append(mu)
            log_sigmas.append(log_sigma)
        return canvases, mus, log_sigmas, read_windows, write_windows

    def _encoder(self, F, x):
        """Eqs 3-5 as written: ``encode(sigmoid(c_{t-1}), h_dec, enc_state) -> h_enc, enc_state, window``.

        With a convolutional front end ``phi``, the read sees ``phi(x)`` and the error
        ``phi(x) - phi(sigmoid(c_{t-1}))``: the difference of features, not ``phi`` of eq 3's error
        image, because the ReLUs would drop the error's negative half (where the canvas overshoots)
        and ``phi(x)`` is computed once rather than at every glimpse.
        """
        phi = self.features or (lambda image: image)
        x = phi(x)

        def encode(canvas, h_dec, enc_state):
            x_hat = x - phi(canvas)  # (3)
            r, *window = self.read(x, x_hat, h_dec)  # (4)
            return (*self.encoder(F.concat(r, h_dec, dim=1), enc_state), window)  # (5)
        return encode

    def _folded_encoder(self, F, x):
        """Eqs 3-5 without attention, the image's share of the encoder's input projection done once.

        With the encoder's input weights split by columns as ``W = [W_x, W_x^, W_h]`` for the read
        ``[x, x_hat]`` (section 3.1) and ``h_dec``:
        ``W [x, x - sigmoid(c), h_dec] = (W_x + W_x^) x + [-W_x^, W_h] [sigmoid(c), h_dec]``,
        so each glimpse multiplies ``C*H*W`` fewer columns. Same parameters as :meth:`_encoder`.
        """
        cell, D, n = self.encoder, self.config.num_pixels, self.config.enc_size
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

    # ----------------------------------------------------- pictures and reuse
    def _trace(self, canvases, mu=None, log_sigma=None, read_windows=(), write_windows=()):
        stack = lambda xs: mx.nd.stack(*xs, axis=1) if xs else None
        batch = canvases[0].shape[0]
        return Trace(stack(canvases).reshape((batch, -1) + self.config.image_shape),
                     stack(mu or ()), stack(log_sigma or ()), stack(read_windows), stack(write_windows))

    def unroll(self, x, eps=None):
        """Run the full model and return a :class:`Trace` with every canvas and window.

        Runs imperatively (for pictures and analysis); training uses the block's forward.
        """
        self._check_images(x)
        eps = self.noise(x.shape[0], x.context) if eps is None else eps
        self._check_noise(x, eps)
        with _quiet_unused_inputs():
            return self._trace(*self._unroll(mx.nd, x, eps))

    def generate(self, n, z=None, ctx=None):
        """Draw ``n`` unconditional samples with z_t ~ N(0, I) (section 2.3), on ``ctx`` (default:
        the model's own device).

        Returns
        -------
        canvases : (n, T + 1, C, H, W) probabilities sigmoid(c_t), the initial (blank) canvas first.
        write_windows : (n, T, 5) write attention windows, or None without attention.
        """
        z = self.noise(n, ctx) if z is None else z
        if self not in _GENERATORS:
            _GENERATORS[self] = Generator(self)
            _GENERATORS[self].hybridize(static_alloc=True)
        out = _GENERATORS[self](z)
        probs, write_windows = out if isinstance(out, (list, tuple)) else (out, None)
        return probs.reshape((n, -1) + self.config.image_shape), write_windows

    def reconstruct(self, x, eps=None):
        """Reconstruct ``x`` with z_t drawn from Q; returns canvases as probabilities and both windows.

        Returns
        -------
        canvases : (B, T + 1, C, H, W) probabilities sigmoid(c_t).
        read_windows, write_windows : (B, T, 5), or None without attention.
        """
        trace = self.unroll(x, eps)
        return mx.nd.Activation(trace.canvases, act_type="sigmoid"), trace.read_windows, trace.write_windows



class Generator(_Decoding, HybridBlock):
    """The generative half of a :class:`DRAW` alone (section 2.3), sharing its parameters.

    Maps noise ``z`` of shape (n, T, Z) to the canvases as probabilities, (n, T + 1, C*H*W) with
    the blank canvas first, and (with a write that has a window) the write windows (n, T, 5).
    It has no encoder, so it hybridizes and exports as the sampler alone.
    """

    def __init__(self, draw, **kwargs):
        super().__init__(**kwargs)
        self.config = draw.config
        self.dec_init, self.decoder, self.write = draw.dec_init, draw.decoder, draw.write

    def hybrid_forward(self, F, z):
        canvases, write_windows = self._generate(F, z)
        probs = F.Activation(F.stack(*canvases, axis=1), act_type="sigmoid")
        return (probs, F.stack(*write_windows, axis=1)) if write_windows else probs
