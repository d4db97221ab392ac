"""Stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay."""

from __future__ import annotations

from collections.abc import Iterable

from ..nn.module import Parameter
from .base import Optimizer, check_real


class SGD(Optimizer):
    """SGD, step for step the update of ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g`` at step ``t`` (counted from 1)::

        g  <- g + weight_decay * p                     (L2 penalty folded into the gradient)
        b  <- g                                        if t == 1   (momentum buffer)
        b  <- momentum * b + (1 - dampening) * g       otherwise
        d  <- g + momentum * b  (nesterov)   or   b    (momentum > 0)   or   g
        p  <- p - lr * d

    Args:
        params: list of Parameter, e.g. ``model.parameters()``.
        lr: learning rate (>= 0).
        momentum: momentum factor (>= 0); 0 keeps no buffer.
        dampening: damping of the gradient added to the buffer, in [0, 1].
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        weight_decay: L2 penalty coefficient (>= 0).

    State per parameter ``i``: ``"{i}.momentum_buffer"`` (only with momentum).

    Example::

        >>> import numpy as np
        >>> from lstmx.nn import Parameter
        >>> w = Parameter(np.ones(3, np.float32)); w.grad[:] = 0.5
        >>> SGD([w], lr=0.1, momentum=0.9).step(); w.data
        array([0.95, 0.95, 0.95], dtype=float32)
    """

    hyper_names = ("momentum", "dampening", "nesterov", "weight_decay")
    state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        self.momentum = check_real("momentum", momentum, low=0.0)
        self.dampening = check_real("dampening", dampening, low=0.0, high=1.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        if nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError(f"nesterov=True needs momentum > 0 and dampening == 0, got "
                             f"momentum={self.momentum}, dampening={self.dampening}")
        self.nesterov = nesterov
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        super().__init__(params, lr)

    def _update(self, i, p, grad):
        if self.weight_decay != 0.0:
            grad = grad + self.weight_decay * p.data
        if self.momentum != 0.0:
            key = f"{i}.momentum_buffer"
            buf = self.state.get(key)
            if buf is None:
                buf = self.state[key] = grad.astype(p.data.dtype, copy=True)
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * grad
