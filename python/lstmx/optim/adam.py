"""Adam and AdamW: per-coordinate steps from bias-corrected moment estimates."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..nn.module import Parameter
from .base import Optimizer, check_real


def _check_betas(betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return (check_real("betas[0]", b1, low=0.0, high=1.0, high_open=True),
            check_real("betas[1]", b2, low=0.0, high=1.0, high_open=True))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), step for step the update of ``torch.optim.Adam``.

    For each parameter ``p`` with gradient ``g`` at step ``t`` (counted from 1; ``m`` and
    ``v`` start at zero)::

        g  <- g + weight_decay * p                       (L2 penalty in the gradient)
        m  <- beta1 * m + (1 - beta1) * g
        v  <- beta2 * v + (1 - beta2) * g**2
        p  <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: list of Parameter.
        lr: learning rate (>= 0).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: L2 penalty coefficient (>= 0); see :class:`AdamW` for the decoupled form.

    State per parameter ``i``: ``"{i}.m"``, ``"{i}.v"``; ``state_dict()["step"]`` is ``t``.

    Example::

        >>> import numpy as np
        >>> from lstmx.nn import Parameter
        >>> w = Parameter(np.zeros(2)); w.grad[:] = [1.0, -3.0]
        >>> Adam([w], lr=0.1).step(); w.data.round(6)
        array([-0.1,  0.1])
    """

    hyper_names = ("betas", "eps", "weight_decay")
    state_names = ("m", "v")

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        self.betas = _check_betas(betas)
        self.eps = check_real("eps", eps, low=0.0)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        super().__init__(params, lr)

    def _decay(self, p, grad):
        """Weight decay before the moments: folded into the gradient (L2) for Adam."""
        if self.weight_decay != 0.0:
            grad = grad + self.weight_decay * p.data
        return grad

    def _update(self, i, p, grad):
        beta1, beta2 = self.betas
        grad = self._decay(p, grad)
        m = self._buffer(i, "m", p)
        v = self._buffer(i, "v", p)
        tmp = np.empty_like(m)  # one scratch array for every intermediate, same arithmetic
        m *= beta1
        m += np.multiply(grad, 1.0 - beta1, out=tmp)
        v *= beta2
        np.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        v += tmp
        t = self.step_count
        step_size = self.lr / (1.0 - beta1 ** t)
        denom = np.sqrt(v, out=tmp)
        denom /= math.sqrt(1.0 - beta2 ** t)
        denom += self.eps
        update = np.divide(m, denom, out=tmp)
        update *= step_size
        p.data -= update


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019), step for step ``torch.optim.AdamW``.

    Adam with *decoupled* weight decay: the parameter shrinks before the Adam step, and the
    decay never enters the moment estimates::

        p  <- p * (1 - lr * weight_decay)
        m  <- beta1 * m + (1 - beta1) * g
        v  <- beta2 * v + (1 - beta2) * g**2
        p  <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Arguments and state as :class:`Adam`; ``weight_decay`` defaults to ``1e-2``.
    """

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, p, grad):
        if self.weight_decay != 0.0:
            p.data *= 1.0 - self.lr * self.weight_decay
        return grad
