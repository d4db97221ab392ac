"""GRU reference (forward and backward), NumPy only.

Conventions (the same as ``torch.nn.GRU``, time-major, one layer, one direction):

    x        (T, B, I)   input sequence
    h0       (B, H)      initial state (None means zeros)
    w_ih     (3H, I)     input-to-hidden weights, gate blocks in order r, z, n
    w_hh     (3H, H)     hidden-to-hidden weights, same gate order
    b_ih     (3H,)       input bias
    b_hh     (3H,)       hidden bias
    lengths  (B,)        optional integer lengths, each in [1, T]

One step of the cell, in PyTorch's "reset after" form (the reset gate
multiplies the hidden projection *including* its bias b_hn):

    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)     reset gate
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)     update gate
    n  = tanh (W_in x + b_in + r * (W_hn h + b_hn))   candidate state
    h' = (1 - z) * n + z * h

Variable lengths: at steps ``t >= lengths[b]`` sequence ``b`` is finished.
Its state is carried along unchanged and ``y[t, b]`` is zero, so ``h_n[b]``
is the state after step ``lengths[b] - 1``.  In the backward pass
``dy[t, b]`` for those steps is ignored and the gradient of the carried
state flows straight through them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .activations import (
    sigmoid,
    sigmoid_grad_from_output,
    tanh,
    tanh_grad_from_output,
)
from .rnn import _accumulate, _grad_or_zeros, _keep_mask, _prepare

__all__ = [
    "gru_forward",
    "gru_backward",
    "gru_cell_forward",
    "gru_cell_backward",
]


# ---------------------------------------------------------------------------
# One step: the only place where the GRU formulas live
# ---------------------------------------------------------------------------


def _gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """One GRU step for a whole batch.

    x (B, I), h (B, H)  ->  h_new (B, H), step cache.
    The step cache (dict) keeps x, h, the gates r, z, the candidate n and
    the hidden projection of the candidate, W_hn h + b_hn.
    """
    # input and hidden projections of all three gates     (B, 3H) each
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    gi_r, gi_z, gi_n = np.split(gi, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
    # r = sigma(W_ir x + b_ir + W_hr h + b_hr)
    r = sigmoid(gi_r + gh_r)
    # z = sigma(W_iz x + b_iz + W_hz h + b_hz)
    z = sigmoid(gi_z + gh_z)
    # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    n = tanh(gi_n + r * gh_n)
    # h' = (1 - z) * n + z * h
    h_new = (1 - z) * n + z * h
    step = {"x": x, "h": h, "r": r, "z": z, "n": n, "gh_n": gh_n}
    return h_new, step


def _gru_step_backward(dh_new, step, w_ih, w_hh):
    """Backward of ``_gru_step``.

    dh_new (B, H)  ->  (dx (B, I), dh (B, H), dw_ih (3H, I), dw_hh (3H, H),
    db_ih (3H,), db_hh (3H,)).
    """
    h, r, z, n, gh_n = step["h"], step["r"], step["z"], step["n"], step["gh_n"]
    # h' = (1 - z) * n + z * h
    dn = dh_new * (1 - z)
    dz = dh_new * (h - n)
    dh_direct = dh_new * z
    # n = tanh(a_n),  a_n = gi_n + r * gh_n
    da_n = dn * tanh_grad_from_output(n)
    dr = da_n * gh_n
    dgh_n = da_n * r
    # r = sigma(gi_r + gh_r),  z = sigma(gi_z + gh_z)
    da_r = dr * sigmoid_grad_from_output(r)
    da_z = dz * sigmoid_grad_from_output(z)
    # gradients of the two projections; they differ only in the n block
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)      # (B, 3H)
    dgh = np.concatenate([da_r, da_z, dgh_n], axis=1)     # (B, 3H)
    # gi = x W_ih^T + b_ih,  gh = h W_hh^T + b_hh   (row-vector form of the batch)
    dx = dgi @ w_ih
    dh = dh_direct + dgh @ w_hh
    dw_ih = dgi.T @ step["x"]
    dw_hh = dgh.T @ h
    db_ih = dgi.sum(axis=0)
    db_hh = dgh.sum(axis=0)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


# ---------------------------------------------------------------------------
# Single-step cell
# ---------------------------------------------------------------------------


def gru_cell_forward(x: ArrayLike, h: ArrayLike | None, w_ih: ArrayLike, w_hh: ArrayLike,
                     b_ih: ArrayLike, b_hh: ArrayLike) -> tuple[np.ndarray, dict[str, Any]]:
    """One GRU step.

    x (B, I), h (B, H) or None, w_ih (3H, I), w_hh (3H, H), b_ih, b_hh (3H,).

    Returns ``(h_new, cache)`` with h_new (B, H).  ``cache`` is a dict
    holding the step's saved tensors (``"step"``: x, h, r, z, n and
    W_hn h + b_hn) and the weights (``"w_ih"``, ``"w_hh"``).
    """
    x, (h,), w_ih, w_hh, b_ih, b_hh = _prepare(
        x, [("h", h)], w_ih, w_hh, b_ih, b_hh, num_gates=3, sequence=False
    )
    h_new, step = _gru_step(x, h, w_ih, w_hh, b_ih, b_hh)
    cache = {"step": step, "w_ih": w_ih, "w_hh": w_hh}
    return h_new, cache


def gru_cell_backward(dh_new: ArrayLike | None, cache: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Backward of ``gru_cell_forward``.

    dh_new (B, H) or None (zeros).

    Returns ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)`` with shapes
    (B, I), (B, H), (3H, I), (3H, H), (3H,), (3H,).
    """
    step = cache["step"]
    h = step["h"]
    dh_new = _grad_or_zeros(dh_new, h.shape, h.dtype, "dh_new")
    return _gru_step_backward(dh_new, step, cache["w_ih"], cache["w_hh"])


# ---------------------------------------------------------------------------
# Whole sequence
# ---------------------------------------------------------------------------


def gru_forward(x: ArrayLike, h0: ArrayLike | None, w_ih: ArrayLike, w_hh: ArrayLike,
                b_ih: ArrayLike, b_hh: ArrayLike, lengths: ArrayLike | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run a GRU over a (possibly ragged) batch of sequences.

    x (T, B, I), h0 (B, H) or None, w_ih (3H, I), w_hh (3H, H),
    b_ih, b_hh (3H,), lengths (B,) integers in [1, T] or None.

    Returns ``(y, h_n, cache)``: y (T, B, H) with zeros past each sequence's
    end, h_n (B, H) the state after each sequence's last step.  ``cache`` is
    a dict with the per-step caches (``"steps"``), the (T, B, 1) boolean
    ``"keep"`` mask, the weights and the sizes.
    """
    x, (h0,), w_ih, w_hh, b_ih, b_hh = _prepare(
        x, [("h0", h0)], w_ih, w_hh, b_ih, b_hh, num_gates=3, sequence=True
    )
    T, B, I = x.shape
    H = w_hh.shape[1]
    keep = _keep_mask(lengths, T, B)

    y = np.zeros((T, B, H), dtype=x.dtype)
    h = h0
    steps = []
    for t in range(T):
        h_new, step = _gru_step(x[t], h, w_ih, w_hh, b_ih, b_hh)
        # running sequences emit h' and move on; finished ones emit 0 and keep h
        y[t] = np.where(keep[t], h_new, 0)
        h = np.where(keep[t], h_new, h)
        steps.append(step)

    cache = {
        "steps": steps,
        "keep": keep,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "sizes": (T, B, I, H),
        "dtype": x.dtype,
    }
    return y, np.array(h, copy=True), cache


def gru_backward(dy: ArrayLike, dh_n: ArrayLike | None, cache: dict[str, Any]
                 ) -> tuple[np.ndarray, ...]:
    """Backward of ``gru_forward``.

    dy (T, B, H), dh_n (B, H) or None (zeros).  ``dy[t, b]`` for
    ``t >= lengths[b]`` is ignored.

    Returns ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)`` with shapes
    (T, B, I), (B, H), (3H, I), (3H, H), (3H,), (3H,).
    """
    T, B, I, H = cache["sizes"]
    dtype = cache["dtype"]
    w_ih, w_hh, keep = cache["w_ih"], cache["w_hh"], cache["keep"]
    dy = _grad_or_zeros(dy, (T, B, H), dtype, "dy")
    dh = _grad_or_zeros(dh_n, (B, H), dtype, "dh_n")

    dx = np.zeros((T, B, I), dtype=dtype)
    dparams = [np.zeros_like(w_ih), np.zeros_like(w_hh),
               np.zeros(3 * H, dtype=dtype), np.zeros(3 * H, dtype=dtype)]
    for t in reversed(range(T)):
        # while running, h' feeds both y[t] and the carried state;
        # once finished, y[t] is a constant and the state skips the step
        dh_new = np.where(keep[t], dh + dy[t], 0)
        dx[t], dh_prev, *dstep = _gru_step_backward(dh_new, cache["steps"][t], w_ih, w_hh)
        dh = np.where(keep[t], dh_prev, dh)
        _accumulate(dparams, dstep)

    return (dx, np.array(dh, copy=True), *dparams)
