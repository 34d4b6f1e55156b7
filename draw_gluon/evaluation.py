"""Scoring a trained model. A classifier: its error rate and cross-entropy (:func:`evaluate_classifier`).
A DRAW: the variational bound (the paper's number) and an importance-weighted
estimate of -log p(x) (Burda et al. 2016), both with standard errors, in nats and bits per dimension.

With ``z = mu + sigma * eps`` drawn from Q(Z | x), one importance weight is

    log w = log D(x | c_T) + sum_t [log N(z_t; 0, I) - log N(z_t; mu_t, sigma_t)]
          = -L^x + sum_t sum_i [eps_ti^2 / 2 - z_ti^2 / 2 + log sigma_ti]

(the 2 pi terms cancel), and ``-log p(x) ~ -log mean_k w_k``: an upper bound on the true negative
log-likelihood that tightens as K grows and equals the bound in expectation at K = 1.
"""
import math

import mxnet as mx
import numpy as np
from tqdm import tqdm

from .data import check_images
from .loss import kl_per_step, reconstruction_nll
from .model import first_context


def log_weights(model, x, eps, target=None):
    """Importance weights and bound terms of each row of ``x`` for the noise ``eps`` (B, T, Z),
    scored against ``target`` (default: ``x`` itself).

    Returns NumPy float64 arrays: ``log_w`` (B,), ``L_x`` (B,) and the KL of each glimpse (B, T).
    """
    canvas, mu, log_sigma = model(x, eps)
    z = mu + mx.nd.exp(log_sigma) * eps
    L_x = reconstruction_nll(mx.nd, canvas, x if target is None else target)
    log_ratio = (0.5 * mx.nd.square(eps) - 0.5 * mx.nd.square(z) + log_sigma).sum(axis=(1, 2))
    as64 = lambda a: a.asnumpy().astype(np.float64)
    return as64(log_ratio - L_x), as64(L_x), as64(kl_per_step(mx.nd, mu, log_sigma))


def log_mean_exp(a, axis=-1):
    """``log(mean(exp(a)))`` along ``axis`` without overflow."""
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.mean(np.exp(a - top), axis=axis))


def evaluate_nll(model, images, num_samples=1, batch_size=128, seed=0, progress=True, targets=None):
    """The bound and the importance-weighted NLL of ``images`` (N, C, H, W), per image and on average.

    With ``targets`` (N, C, H, W), the model reads ``images`` and is scored on ``targets``: Q(Z | x)
    is then a proposal that never saw the target, and both numbers remain upper bounds on the
    target's -log p under the model's generative half (looser than its own encoder would give).

    Parameters
    ----------
    model : DRAW
    images : float32 array (N, C, H, W) with values in [0, 1].
    num_samples : int
        K, samples of z per image. The bound averages the K samples' L = L^x + L^z (eqs 9-12,
        L^z in closed form); the NLL estimate is ``-log mean_k w_k``.
    batch_size : int
        Rows (image-sample pairs) per forward pass: memory stays bounded for any K.
    seed : int
        Seed of MXNet's RNG for the noise, so that a score can be repeated.

    Returns
    -------
    dict with ``bound``, ``nll`` (each ``{"nats", "nats_se", "bits_per_dim", "bits_per_dim_se"}``),
    ``L_x``, ``L_z``, ``kl_per_glimpse`` (the mean KL of each glimpse, length T), ``num_samples``
    and ``num_images``; and ``per_image`` arrays ``bound`` and ``nll`` (not JSON-able; pop them).
    """
    check_images(images, "the images to evaluate", model.config.image_shape)
    if targets is not None:
        check_images(targets, "the targets", model.config.image_shape)
        if len(targets) != len(images):
            raise ValueError(f"{len(targets)} targets for {len(images)} images; pass one target per image")
    ctx = first_context(model)
    T, Z = model.config.num_steps, model.config.z_size
    mx.random.seed(seed, ctx=ctx)
    per_block = max(1, batch_size // num_samples)  # images whose K samples fill a few forward passes
    nll, bound, L_x, kl = [], [], [], np.zeros(T)
    with tqdm(total=len(images) * num_samples, unit="sample", desc="evaluate", disable=not progress) as bar:
        for start in range(0, len(images), per_block):
            block = np.repeat(images[start:start + per_block], num_samples, axis=0)
            wanted = block if targets is None else np.repeat(targets[start:start + per_block], num_samples, axis=0)
            rows = [log_weights(model, x, mx.nd.random.normal(shape=(len(x), T, Z), ctx=ctx), y)
                    for x, y in zip(_chunks(block, batch_size, ctx, bar), _chunks(wanted, batch_size, ctx))]
            log_w, rows_L_x, rows_kl = (np.concatenate(parts).reshape(-1, num_samples, *parts[0].shape[1:])
                                        for parts in zip(*rows))
            nll.append(-log_mean_exp(log_w, axis=1))
            bound.append((rows_L_x + rows_kl.sum(axis=2)).mean(axis=1))
            L_x.append(rows_L_x.mean(axis=1))
            kl += rows_kl.sum(axis=(0, 1))
    nll, bound, L_x = map(np.concatenate, (nll, bound, L_x))
    dims = model.config.num_pixels
    return {"bound": _summary(bound, dims), "nll": _summary(nll, dims), "L_x": float(L_x.mean()),
            "L_z": float((bound - L_x).mean()), "kl_per_glimpse": (kl / (len(images) * num_samples)).tolist(),
            "num_samples": num_samples, "num_images": len(images),
            "per_image": {"bound": bound, "nll": nll}}


def _chunks(rows, batch_size, ctx, bar=None):
    for start in range(0, len(rows), batch_size):
        yield mx.nd.array(rows[start:start + batch_size], ctx=ctx)
        if bar is not None:
            bar.update(min(batch_size, len(rows) - start))


def _summary(values, dims):
    """Mean and standard error in nats and in bits per dimension."""
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    to_bits = 1 / (dims * math.log(2))
    return {"nats": mean, "nats_se": se, "bits_per_dim": mean * to_bits, "bits_per_dim_se": se * to_bits}


def evaluate_classifier(model, images, labels, batch_size=128, progress=True):
    """The error rate (with its binomial standard error) and mean cross-entropy of a
    :class:`~draw_gluon.Classifier` on ``images`` (N, C, H, W) with integer ``labels`` (N,).

    Returns a dict ``{"error", "error_se", "cross_entropy", "num_images"}`` (error as a fraction).
    """
    check_images(images, "the images to classify", model.config.image_shape)
    ctx, wrong, nats = first_context(model), 0, 0.0
    with tqdm(total=len(images), unit="img", desc="evaluate", disable=not progress) as bar:
        for start in range(0, len(images), batch_size):
            x = mx.nd.array(images[start:start + batch_size], ctx=ctx)
            y = np.asarray(labels[start:start + batch_size])
            log_p = mx.nd.log_softmax(model(x), axis=1).asnumpy().astype(np.float64)
            wrong += int((log_p.argmax(axis=1) != y).sum())
            nats -= float(log_p[np.arange(len(y)), y].sum())
            bar.update(len(y))
    error = wrong / len(images)
    return {"error": error, "error_se": math.sqrt(error * (1 - error) / len(images)),
            "cross_entropy": nats / len(images), "num_images": len(images)}


def colour_baselines(train, images, eps=1e-7):
    """What a colour model's bound means: per image of ``images``, in nats (float64), the paper's
    colour cost (each value ``x`` in [0, 1] a Bernoulli probability, charged ``-x log p - (1 - x)
    log(1 - p)``) of predicting every value by the mean of the ``train`` images, and the floor no
    model can go below, each value's cost against itself (its binary entropy). Returns both arrays.
    ``eps`` keeps the logarithms finite at values of exactly 0 or 1, where the cost's limit is 0."""
    def cost(x, p):
        p = np.clip(p, eps, 1 - eps)
        return -(x * np.log(p) + (1 - x) * np.log1p(-p)).reshape(len(x), -1).sum(axis=1)

    images = np.asarray(images, dtype=np.float64)
    mean_image = np.asarray(train, dtype=np.float64).mean(axis=0)
    return cost(images, mean_image[None]), cost(images, images)
