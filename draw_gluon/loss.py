"""DRAW's loss (section 2.1 of arXiv:1502.04623): L = L^x + L^z, per sample, in nats."""
from mxnet import gluon


def reconstruction_nll(F, canvas, x):
    """L^x = -log D(x | c_T) (eq 9) for a Bernoulli D with means sigmoid(c_T), summed over pixels.

    Computed from the logits as ``softplus(c) - x c``: MXNet's softrelu is linear above a threshold,
    so no exp overflows, and its gradient is exactly sigmoid(c) (the ``relu(c) + softplus(-|c|)``
    rewrite gets the gradient wrong at c = 0, where MXNet's relu and abs have zero slope).
    ``x`` may be binary or in [0, 1]. Returns ``(batch,)``.
    """
    c, x = canvas.reshape((0, -1)), x.reshape((0, -1))
    return F.sum(F.Activation(c, act_type="softrelu") - c * x, axis=1)


def kl_per_step(F, mu, log_sigma):
    """KL(Q(Z_t | h_enc_t) || N(0, I)) for each step, ``(batch, T)`` (the terms of eq 11)."""
    return 0.5 * F.sum(F.square(mu) + F.exp(2 * log_sigma) - 2 * log_sigma - 1, axis=2)


class DRAWLoss(gluon.loss.Loss):
    """Negative variational bound L = L^x + L^z (eqs 9-12) per sample, in nats.

    Call as ``loss(canvas, x, mu, log_sigma)`` with the outputs of :class:`~draw_gluon.DRAW`;
    returns ``(batch,)``. The terms are :func:`reconstruction_nll` (L^x) and the sum over t of
    :func:`kl_per_step` (L^z, eq 11); :meth:`terms` returns them separately.
    """

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, canvas, x, mu, log_sigma):
        loss = reconstruction_nll(F, canvas, x) + F.sum(kl_per_step(F, mu, log_sigma), axis=1)
        return loss if self._weight is None else loss * self._weight

    def terms(self, canvas, x, mu, log_sigma):
        """``(L^x, L^z, kl_per_step)`` as NDArrays of shape (B,), (B,), (B, T)."""
        from mxnet import nd
        kl = kl_per_step(nd, mu, log_sigma)
        return reconstruction_nll(nd, canvas, x), kl.sum(axis=1), kl
