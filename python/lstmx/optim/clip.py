"""Gradient clipping: by global L2 norm, or element-wise by value. In place on ``p.grad``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..nn.module import Parameter
from .base import check_params, check_real


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    With ``total = sqrt(sum_p ||p.grad||**2)`` (each norm in the gradient's dtype, the sum
    in float64; an empty ``params`` gives 0.0)::

        coef = max_norm / (total + 1e-6)
        p.grad <- p.grad * coef        for every p, if coef < 1

    as ``torch.nn.utils.clip_grad_norm_``. When ``total`` is inf or nan the gradients are
    left as they are (scaling would only turn them into nans); the returned norm tells.

    Args:
        params: iterable of Parameter.
        max_norm: the largest allowed norm (>= 0; ``float("inf")`` only measures).

    Returns:
        float: the total norm *before* clipping.

    Example::

        >>> import numpy as np
        >>> from lstmx.nn import Parameter
        >>> w = Parameter(np.zeros(2)); w.grad[:] = [3.0, 4.0]
        >>> clip_grad_norm([w], 1.0)
        5.0
        >>> w.grad.round(6)
        array([0.6, 0.8])
    """
    params = check_params(params, allow_empty=True)
    max_norm = check_real("max_norm", max_norm, low=0.0)
    total = math.sqrt(sum(float(np.linalg.norm(p.grad.ravel())) ** 2 for p in params))
    coef = max_norm / (total + 1e-6)
    if math.isfinite(total) and coef < 1.0:
        for p in params:
            p.grad *= coef
    return total


def clip_grad_value(params: Iterable[Parameter], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` (in place), as
    ``torch.nn.utils.clip_grad_value_``.

    Args:
        params: iterable of Parameter.
        clip_value: the bound (>= 0).
    """
    params = check_params(params, allow_empty=True)
    clip_value = check_real("clip_value", clip_value, low=0.0)
    for p in params:
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
