"""Plain NumPy re-derivation of DRAW (arXiv:1502.04623), written from the paper with explicit loops.

Independent of draw_gluon's batched code: one sample at a time, one filter at a time, in float64.
"""
import numpy as np

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def window(raw, height, width, N):
    """Eqs 21-24 for one sample: raw = (g~X, g~Y, log sigma^2, log delta~, log gamma)."""
    gx_, gy_, log_sigma2, log_delta_, log_gamma = raw
    gX = (width + 1) / 2 * (gx_ + 1)
    gY = (height + 1) / 2 * (gy_ + 1)
    delta = (max(width, height) - 1) / (N - 1) * np.exp(log_delta_) if N > 1 else \
        (max(width, height) - 1) * np.exp(log_delta_)
    return gX, gY, np.exp(log_sigma2), delta, np.exp(log_gamma)


def filterbank(g, sigma2, delta, N, size):
    """Eqs 19-20 and 25-26: F[i, a] for filters i = 1..N and pixels a = 1..size."""
    exponent = np.zeros((N, size))
    for i in range(1, N + 1):
        mu = g + (i - N / 2 - 0.5) * delta
        for a in range(1, size + 1):
            exponent[i - 1, a - 1] = -(a - mu) ** 2 / (2 * sigma2)
    # exp(e) / sum(exp(e)) computed as exp(e - max e) / sum(...): the same number, without underflow
    # to 0/0 when a filter centre lies far outside the image
    F = np.exp(exponent - exponent.max(axis=1, keepdims=True))
    return F / F.sum(axis=1, keepdims=True)


def filters(raw, height, width, N):
    gX, gY, sigma2, delta, gamma = window(raw, height, width, N)
    return filterbank(gX, sigma2, delta, N, width), filterbank(gY, sigma2, delta, N, height), gamma


def glimpse(images, raw, N):
    """``gamma F_Y img F_X^T`` for each channel of one sample's ``images`` (C, H, W), flat (C * N * N,)."""
    F_X, F_Y, gamma = filters(raw, images.shape[1], images.shape[2], N)
    return gamma * np.concatenate([(F_Y @ img @ F_X.T).ravel() for img in images])


def read(x, x_hat, raw, N):
    """Eq 27 for one sample; x, x_hat are (C, H, W). Returns the flat glimpse (2 * C * N * N,)."""
    return glimpse(np.concatenate([x, x_hat]), raw, N)


def write(w, raw, N, shape):
    """Eqs 28-29 for one sample; w is the flat patch (C * N * N,). Returns a (C, H, W) image."""
    C, H, W = shape
    F_X, F_Y, gamma = filters(raw, H, W, N)
    return np.stack([F_Y.T @ p @ F_X for p in w.reshape(C, N, N)]) / gamma


def dense(params, prefix, v):
    return params[prefix + "weight"] @ v + params[prefix + "bias"]


def lstm(params, prefix, inp, h, c):
    """Gluon's LSTMCell: gates (input, forget, cell, output) from i2h and h2h."""
    gates = dense(params, prefix + "i2h_", inp) + dense(params, prefix + "h2h_", h)
    i, f, g, o = np.split(gates, 4)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def draw_forward(params, config, x, eps):
    """Eqs 1-8 for one sample x (C, H, W) with noise eps (T, Z); params by structural name.

    Returns (c_T flat, mu (T, Z), log_sigma (T, Z)).
    """
    shape = config.image_shape
    x = x.ravel()
    h_dec, c_dec = params["dec_init.h0"][0], params["dec_init.c0"][0]
    h_enc, c_enc = params["enc_init.h0"][0], params["enc_init.c0"][0]
    canvas = np.zeros_like(x)
    mus, log_sigmas = [], []
    for t in range(config.num_steps):
        x_hat = x - sigmoid(canvas)
        if config.attention:
            raw = dense(params, "read.linear.", h_dec)
            r = read(x.reshape(shape), x_hat.reshape(shape), raw, config.read_size)
        else:
            r = np.concatenate([x, x_hat])
        h_enc, c_enc = lstm(params, "encoder.", np.concatenate([r, h_dec]), h_enc, c_enc)
        mu, log_sigma = np.split(dense(params, "q.", h_enc), 2)
        z = mu + np.exp(log_sigma) * eps[t]
        h_dec, c_dec = lstm(params, "decoder.", z, h_dec, c_dec)
        if config.attention:
            out = dense(params, "write.linear.", h_dec)
            canvas = canvas + write(out[5:], out[:5], config.write_size, shape).ravel()
        else:
            canvas = canvas + dense(params, "write.linear.", h_dec)
        mus.append(mu)
        log_sigmas.append(log_sigma)
    return canvas, np.array(mus), np.array(log_sigmas)


def classifier_forward(params, config, x):
    """Section 4.1's classifier for one sample x (C, H, W): the logits (num_classes,)."""
    h, c = params["init_state.h0"][0], params["init_state.c0"][0]
    for t in range(config.num_glimpses):
        r = glimpse(x, dense(params, "read.linear.", h), config.read_size)  # window from h_{t-1}
        h, c = lstm(params, "lstm.", r, h, c)
    return dense(params, "output.", h)


def gluon_params(block):
    """A block's parameters as float64 NumPy arrays keyed by structural name ('encoder.i2h_weight')."""
    return {name: p.data().asnumpy().astype(np.float64)
            for name, p in block._collect_params_with_prefix().items()}
