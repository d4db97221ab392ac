"""RMSProp: gradients divided by a running root-mean-square, optionally centred."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..nn.module import Parameter
from .base import Optimizer, check_real


class RMSprop(Optimizer):
    """RMSProp, step for step the update of ``torch.optim.RMSprop``.

    For each parameter ``p`` with gradient ``g`` (all running averages start at zero)::

        g   <- g + weight_decay * p
        s   <- alpha * s + (1 - alpha) * g**2            (mean square)
        a   <- alpha * a + (1 - alpha) * g               (mean, centered only)
        r   <- sqrt(s - a**2) + eps   (centered)   or   sqrt(s) + eps
        b   <- momentum * b + g / r ;  p <- p - lr * b   (momentum > 0)
        p   <- p - lr * g / r                            (momentum == 0)

    In the centred form ``s - a**2`` is a variance, non-negative in exact arithmetic; it is
    clamped at 0 so that rounding cannot make a square root of a negative number.

    Args:
        params: list of Parameter.
        lr: learning rate (>= 0).
        alpha: smoothing constant of the running averages, in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: L2 penalty coefficient (>= 0).
        momentum: momentum factor (>= 0).
        centered: divide by the running standard deviation instead of the RMS.

    State per parameter ``i``: ``"{i}.square_avg"``, ``"{i}.grad_avg"`` (centered),
    ``"{i}.momentum_buffer"`` (momentum > 0).
    """

    hyper_names = ("alpha", "eps", "weight_decay", "momentum", "centered")
    state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        self.alpha = check_real("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.eps = check_real("eps", eps, low=0.0)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        self.momentum = check_real("momentum", momentum, low=0.0)
        if not isinstance(centered, bool):
            raise TypeError(f"centered must be a bool, got {type(centered).__name__}")
        self.centered = centered
        super().__init__(params, lr)

    def _update(self, i, p, grad):
        if self.weight_decay != 0.0:
            grad = grad + self.weight_decay * p.data
        square_avg = self._buffer(i, "square_avg", p)
        square_avg *= self.alpha
        square_avg += (1.0 - self.alpha) * grad * grad
        if self.centered:
            grad_avg = self._buffer(i, "grad_avg", p)
            grad_avg *= self.alpha
            grad_avg += (1.0 - self.alpha) * grad
            denom = np.maximum(square_avg - grad_avg * grad_avg, 0.0)
            np.sqrt(denom, out=denom)
        else:
            denom = np.sqrt(square_avg)
        denom += self.eps
        if self.momentum > 0.0:
            buf = self._buffer(i, "momentum_buffer", p)
            buf *= self.momentum
            buf += grad / denom
            p.data -= self.lr * buf
        else:
            p.data -= self.lr * (grad / denom)
