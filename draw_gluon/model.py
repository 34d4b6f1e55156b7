"""The DRAW network (section 2 of arXiv:1502.04623) as one hybridizable Gluon block."""
import collections
import contextlib
import warnings
import weakref

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from . import fast
from .attention import BasicRead, BasicWrite, SelectiveRead, SelectiveWrite
from .checkpoint import SavedBlock
from .config import DRAWConfig
from .dcraw import ConvFeatures

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


def first_context(block):
    """The (first) device that holds ``block``'s parameters."""
    return next(iter(block.collect_params().values())).list_ctx()[0]


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


def decode(decoder, write, z, dec_state, c):
    """Eqs 7-8, shared by :class:`DRAW` and its :class:`Generator`: ``h_dec``, the decoder's state,
    ``c_t`` and the write window (a list, empty without attention)."""
    h_dec, dec_state = decoder(z, dec_state)  # (7)
    w, *window = write(h_dec)
    return h_dec, dec_state, c + w, window  # (8)


class DRAW(SavedBlock):
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

    # Without attention, project the image into the encoder once per forward (fast.folded_encoder).
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
            self.encoder = fast.LSTMCell(config.enc_size, input_size=read.size + config.dec_size)
            self.decoder = fast.LSTMCell(config.dec_size, input_size=config.z_size)
            self.q = nn.Dense(2 * config.z_size, in_units=config.enc_size, flatten=False)  # (1), (2)
            self.enc_init = InitialState(config.enc_size, config.learn_init_state)
            self.dec_init = InitialState(config.dec_size, config.learn_init_state)

    # ----------------------------------------------------------------- inputs
    def noise(self, batch_size, ctx=None):
        """Standard normal noise ``(batch_size, T, Z)`` from MXNet's RNG (``mx.random.seed``), on
        ``ctx`` (default: the model's own device)."""
        shape = (batch_size, self.config.num_steps, self.config.z_size)
        return fast.standard_normal(shape, ctx or first_context(self))

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
        encode = self._encoder(F, x)
        for t in range(self.config.num_steps):
            c = canvases[-1]
            h_enc, enc_state, window = encode(F.Activation(c, act_type="sigmoid"), h_dec, enc_state)  # (3)-(5)
            q = self.q(h_enc)  # (1), (2)
            mu, log_sigma = (F.slice_axis(q, axis=1, begin=b, end=e) for b, e in ((0, Z), (Z, None)))
            z = mu + F.exp(log_sigma) * F.slice_axis(eps, axis=1, begin=t, end=t + 1).reshape((0, -1))  # (6)
            h_dec, dec_state, c, w_window = decode(self.decoder, self.write, z, dec_state, c)  # (7), (8)
            canvases.append(c)
            mus.append(mu)
            log_sigmas.append(log_sigma)
            read_windows += window
            write_windows += w_window
        return canvases, mus, log_sigmas, read_windows, write_windows

    def _encoder(self, F, x):
        """Eqs 3-5 for the images ``x``: ``encode(sigmoid(c_{t-1}), h_dec, enc_state) -> h_enc,
        enc_state, window`` (window a list, empty without attention). Without attention the equal
        :func:`~draw_gluon.fast.folded_encoder` takes their place.

        With a convolutional front end ``phi`` (DCRAW), the read sees ``phi(x)`` and the error
        ``phi(x) - phi(sigmoid(c_{t-1}))``: the difference of features, not ``phi`` of eq 3's error
        image, because the ReLUs would drop the error's negative half (where the canvas overshoots)
        and ``phi(x)`` is computed once rather than at every glimpse.
        """
        if self.fold_image_projection and type(self.read) is BasicRead and self.features is None:
            return fast.folded_encoder(F, self.encoder, x, self.config.num_pixels)
        phi = self.features or (lambda image: image)
        x = phi(x)

        def encode(canvas, h_dec, enc_state):
            x_hat = x - phi(canvas)  # (3)
            r, *window = self.read(x, x_hat, h_dec)  # (4)
            return (*self.encoder(F.concat(r, h_dec, dim=1), enc_state), window)  # (5)
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



def generate_canvases(F, model, z):
    """Section 2.3: the decoder and write alone, driven by ``z`` of shape (B, T, Z), for ``model``
    (a :class:`DRAW` or its :class:`Generator`). Returns the canvases c_0 .. c_T and the write windows."""
    dec_state, c, canvases, write_windows = model.dec_init(z), 0, [], []
    for t in range(model.config.num_steps):
        z_t = F.slice_axis(z, axis=1, begin=t, end=t + 1).reshape((0, -1))
        _, dec_state, c, window = decode(model.decoder, model.write, z_t, dec_state, c)  # (7), (8)
        canvases.append(c)
        write_windows += window
    return [F.zeros_like(canvases[0])] + canvases, write_windows


class Generator(HybridBlock):
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
        canvases, write_windows = generate_canvases(F, self, z)
        probs = F.Activation(F.stack(*canvases, axis=1), act_type="sigmoid")
        return (probs, F.stack(*write_windows, axis=1)) if write_windows else probs
