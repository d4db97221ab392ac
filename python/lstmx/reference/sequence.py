"""The time loop of the three cells, forward and backward, with variable lengths.

A cell supplies one step and its backward (``lstm.py``, ``gru.py``, ``rnn.py``):

    step(x_t (B, I), [h, (c)], params, options)  ->  ([h', (c')], step cache)
    step_backward([dh', (dc')], step cache, params, options, grads)  ->  (dx_t, [dh, (dc)])

h comes first: it is the output, y[t] = h'. ``step_backward`` adds the step's parameter
gradients into ``grads`` (a dict keyed like ``params``).

Variable lengths (``torch.nn.utils.rnn.PackedSequence`` semantics): at steps t >= lengths[b]
sequence b is finished; its states are carried along unchanged and y[t, b] is zero, so the
final states are those after step lengths[b] - 1. In the backward pass dy[t, b] for those
steps is ignored and the gradients of the carried states flow straight through them.

A single cell step is this loop with T = 1 and no lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .cell import Options

Step = Callable[..., tuple[list[np.ndarray], dict[str, Any]]]
StepBackward = Callable[..., tuple[np.ndarray, list[np.ndarray]]]


def keep_mask(lengths: ArrayLike | None, T: int, B: int) -> np.ndarray:
    """Boolean (T, B, 1): keep[t, b] = t < lengths[b], True where step t of sequence b runs."""
    if lengths is None:
        return np.ones((T, B, 1), dtype=bool)
    lengths = np.asarray(lengths)
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be an integer array, got dtype {lengths.dtype}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},), got {lengths.shape}")
    if B > 0 and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths must lie in [1, T={T}], got {lengths.tolist()}")
    return (np.arange(T)[:, None] < lengths[None, :])[:, :, None]


def _grad_or_zeros(grad: ArrayLike | None, shape: tuple[int, ...], dtype: np.dtype, name: str
                   ) -> np.ndarray:
    """An incoming gradient as an array of ``dtype``; None means zeros."""
    if grad is None:
        return np.zeros(shape, dtype=dtype)
    grad = np.asarray(grad, dtype=dtype)
    if grad.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {grad.shape}")
    return grad


def sequence_forward(step: Step, x: np.ndarray, states: list[np.ndarray],
                     p: dict[str, np.ndarray], opt: Options, lengths: ArrayLike | None = None
                     ) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
    """Run ``step`` over x (T, B, I) from ``states`` [h0 (B, R), (c0 (B, H))].

    Returns y (T, B, R), the final states and the cache for ``sequence_backward``: the
    per-step caches ("steps"), the (T, B, 1) boolean "keep" mask, params, options, shapes.
    """
    T, B, _ = x.shape
    keep = keep_mask(lengths, T, B)
    y = np.zeros((T, B, states[0].shape[1]), dtype=x.dtype)
    steps = []
    for t in range(T):
        new_states, step_cache = step(x[t], states, p, opt)
        # running sequences emit h' and move on; finished ones emit 0 and keep their states
        y[t] = np.where(keep[t], new_states[0], 0)
        states = [np.where(keep[t], new, old) for new, old in zip(new_states, states)]
        steps.append(step_cache)
    cache = {"steps": steps, "keep": keep, "params": p, "options": opt, "x_shape": x.shape,
             "state_shapes": [s.shape for s in states]}
    return y, [np.array(s, copy=True) for s in states], cache


def sequence_backward(step_backward: StepBackward, dy: ArrayLike | None,
                      dfinals: Mapping[str, ArrayLike | None], cache: dict[str, Any]
                      ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
    """Backward of ``sequence_forward``: dy (T, B, R) and ``dfinals`` {name: gradient of a
    final state}, each None for zeros -> dx (T, B, I), gradients of the initial states,
    parameter gradients (a dict keyed like params)."""
    keep, p, opt = cache["keep"], cache["params"], cache["options"]
    if opt.matmul is not None:
        raise ValueError("a forward with its own matmul (reduced-precision products) has no "
                         "backward: differentiate the float forward")
    T, B, I = cache["x_shape"]
    dtype = next(iter(p.values())).dtype
    shapes = cache["state_shapes"]
    dys = _grad_or_zeros(dy, (T, B, shapes[0][1]), dtype, "dy")
    dstates = [_grad_or_zeros(d, shape, dtype, name)
               for (name, d), shape in zip(dfinals.items(), shapes)]
    dx = np.zeros((T, B, I), dtype=dtype)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    for t in reversed(range(T)):
        # while running, h' feeds both y[t] and the carried state (c' only the latter);
        # once finished, y[t] is a constant and the states skip the step
        dnew = [np.where(keep[t], dstates[0] + dys[t], 0)]
        dnew += [np.where(keep[t], d, 0) for d in dstates[1:]]
        dx[t], dprev = step_backward(dnew, cache["steps"][t], p, opt, grads)
        dstates = [np.where(keep[t], dp, d) for dp, d in zip(dprev, dstates)]
    return dx, [np.array(d, copy=True) for d in dstates], grads
