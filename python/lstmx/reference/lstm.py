"""LSTM reference (forward and backward), NumPy only.

Conventions (the same as ``torch.nn.LSTM``, time-major, one layer, one direction):

    x        (T, B, I)   input sequence
    h0, c0   (B, H)      initial hidden and cell state (None means zeros)
    w_ih     (4H, I)     input-to-hidden weights, gate blocks in order i, f, g, o
    w_hh     (4H, H)     hidden-to-hidden weights, same gate order
    b_ih     (4H,)       input bias
    b_hh     (4H,)       hidden bias
    lengths  (B,)        optional integer lengths, each in [1, T]

One step of the cell (sigma is the logistic sigmoid, * is element-wise):

    i  = sigma(W_ii x + b_ii + W_hi h + b_hi)     input gate
    f  = sigma(W_if x + b_if + W_hf h + b_hf)     forget gate
    g  = tanh (W_ig x + b_ig + W_hg h + b_hg)     candidate cell
    o  = sigma(W_io x + b_io + W_ho h + b_ho)     output gate
    c' = f * c + i * g
    h' = o * tanh(c')

Variable lengths: at steps ``t >= lengths[b]`` sequence ``b`` is finished.
Its (h, c) are carried along unchanged and ``y[t, b]`` is zero, so ``h_n[b]``
and ``c_n[b]`` are the states after step ``lengths[b] - 1``.  In the backward
pass ``dy[t, b]`` for those steps is ignored and the gradients of the carried
states flow straight through them.
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
    "lstm_forward",
    "lstm_backward",
    "lstm_cell_forward",
    "lstm_cell_backward",
]


# ---------------------------------------------------------------------------
# One step: the only place where the LSTM formulas live
# ---------------------------------------------------------------------------


def _lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step for a whole batch.

    x (B, I), h (B, H), c (B, H)  ->  h_new (B, H), c_new (B, H), step cache.
    The step cache (dict) keeps x, h, c, the gate activations i, f, g, o
    and tanh(c_new).
    """
    # pre-activations of all four gates at once:
    # a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    # i = sigma(a_i), f = sigma(a_f), g = tanh(a_g), o = sigma(a_o)
    i = sigmoid(a_i)
    f = sigmoid(a_f)
    g = tanh(a_g)
    o = sigmoid(a_o)
    # c' = f * c + i * g
    c_new = f * c + i * g
    # h' = o * tanh(c')
    tanh_c_new = tanh(c_new)
    h_new = o * tanh_c_new
    step = {"x": x, "h": h, "c": c, "i": i, "f": f, "g": g, "o": o,
            "tanh_c_new": tanh_c_new}
    return h_new, c_new, step


def _lstm_step_backward(dh_new, dc_new, step, w_ih, w_hh):
    """Backward of ``_lstm_step``.

    dh_new, dc_new (B, H)  ->  (dx (B, I), dh (B, H), dc (B, H),
    dw_ih (4H, I), dw_hh (4H, H), db_ih (4H,), db_hh (4H,)).
    """
    i, f, g, o = step["i"], step["f"], step["g"], step["o"]
    tanh_c_new = step["tanh_c_new"]
    # h' = o * tanh(c')
    do = dh_new * tanh_c_new
    # c' reaches the loss directly (dc_new) and through h'
    dc_total = dc_new + dh_new * o * tanh_grad_from_output(tanh_c_new)
    # c' = f * c + i * g
    df = dc_total * step["c"]
    dc = dc_total * f
    di = dc_total * g
    dg = dc_total * i
    # back through the gate nonlinearities to the pre-activations (B, 4H)
    da = np.concatenate(
        [
            di * sigmoid_grad_from_output(i),
            df * sigmoid_grad_from_output(f),
            dg * tanh_grad_from_output(g),
            do * sigmoid_grad_from_output(o),
        ],
        axis=1,
    )
    # a = x W_ih^T + b_ih + h W_hh^T + b_hh   (row-vector form of the batch)
    dx = da @ w_ih
    dh = da @ w_hh
    dw_ih = da.T @ step["x"]
    dw_hh = da.T @ step["h"]
    db_ih = da.sum(axis=0)
    db_hh = db_ih.copy()
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


# ---------------------------------------------------------------------------
# Single-step cell
# ---------------------------------------------------------------------------


def lstm_cell_forward(x: ArrayLike, h: ArrayLike | None, c: ArrayLike | None, w_ih: ArrayLike,
                      w_hh: ArrayLike, b_ih: ArrayLike, b_hh: ArrayLike
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One LSTM step.

    x (B, I), h (B, H) or None, c (B, H) or None, w_ih (4H, I),
    w_hh (4H, H), b_ih, b_hh (4H,).

    Returns ``(h_new, c_new, cache)`` with h_new, c_new (B, H).  ``cache``
    is a dict holding the step's saved tensors (``"step"``: x, h, c, the
    gates i, f, g, o and tanh(c_new)) and the weights (``"w_ih"``, ``"w_hh"``).
    """
    x, (h, c), w_ih, w_hh, b_ih, b_hh = _prepare(
        x, [("h", h), ("c", c)], w_ih, w_hh, b_ih, b_hh, num_gates=4, sequence=False
    )
    h_new, c_new, step = _lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
    cache = {"step": step, "w_ih": w_ih, "w_hh": w_hh}
    return h_new, c_new, cache


def lstm_cell_backward(dh_new: ArrayLike | None, dc_new: ArrayLike | None, cache: dict[str, Any]
                       ) -> tuple[np.ndarray, ...]:
    """Backward of ``lstm_cell_forward``.

    dh_new, dc_new (B, H), either may be None (zeros).

    Returns ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)`` with shapes
    (B, I), (B, H), (B, H), (4H, I), (4H, H), (4H,), (4H,).
    """
    step = cache["step"]
    h = step["h"]
    dh_new = _grad_or_zeros(dh_new, h.shape, h.dtype, "dh_new")
    dc_new = _grad_or_zeros(dc_new, h.shape, h.dtype, "dc_new")
    return _lstm_step_backward(dh_new, dc_new, step, cache["w_ih"], cache["w_hh"])


# ---------------------------------------------------------------------------
# Whole sequence
# ---------------------------------------------------------------------------


def lstm_forward(x: ArrayLike, h0: ArrayLike | None, c0: ArrayLike | None, w_ih: ArrayLike,
                 w_hh: ArrayLike, b_ih: ArrayLike, b_hh: ArrayLike,
                 lengths: ArrayLike | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an LSTM over a (possibly ragged) batch of sequences.

    x (T, B, I), h0, c0 (B, H) or None, w_ih (4H, I), w_hh (4H, H),
    b_ih, b_hh (4H,), lengths (B,) integers in [1, T] or None.

    Returns ``(y, h_n, c_n, cache)``: y (T, B, H) with zeros past each
    sequence's end; h_n, c_n (B, H) the states after each sequence's last
    step.  ``cache`` is a dict with the per-step caches (``"steps"``), the
    (T, B, 1) boolean ``"keep"`` mask, the weights and the sizes.
    """
    x, (h0, c0), w_ih, w_hh, b_ih, b_hh = _prepare(
        x, [("h0", h0), ("c0", c0)], w_ih, w_hh, b_ih, b_hh, num_gates=4, sequence=True
    )
    T, B, I = x.shape
    H = w_hh.shape[1]
    keep = _keep_mask(lengths, T, B)

    y = np.zeros((T, B, H), dtype=x.dtype)
    h, c = h0, c0
    steps = []
    for t in range(T):
        h_new, c_new, step = _lstm_step(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        # running sequences emit h' and move on; finished ones emit 0 and keep (h, c)
        y[t] = np.where(keep[t], h_new, 0)
        h = np.where(keep[t], h_new, h)
        c = np.where(keep[t], c_new, c)
        steps.append(step)

    cache = {
        "steps": steps,
        "keep": keep,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "sizes": (T, B, I, H),
        "dtype": x.dtype,
    }
    return y, np.array(h, copy=True), np.array(c, copy=True), cache


def lstm_backward(dy: ArrayLike, dh_n: ArrayLike | None, dc_n: ArrayLike | None,
                  cache: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Backward of ``lstm_forward``.

    dy (T, B, H), dh_n, dc_n (B, H) or None (zeros).  ``dy[t, b]`` for
    ``t >= lengths[b]`` is ignored.

    Returns ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)`` with shapes
    (T, B, I), (B, H), (B, H), (4H, I), (4H, H), (4H,), (4H,).
    """
    T, B, I, H = cache["sizes"]
    dtype = cache["dtype"]
    w_ih, w_hh, keep = cache["w_ih"], cache["w_hh"], cache["keep"]
    dy = _grad_or_zeros(dy, (T, B, H), dtype, "dy")
    dh = _grad_or_zeros(dh_n, (B, H), dtype, "dh_n")
    dc = _grad_or_zeros(dc_n, (B, H), dtype, "dc_n")

    dx = np.zeros((T, B, I), dtype=dtype)
    dparams = [np.zeros_like(w_ih), np.zeros_like(w_hh),
               np.zeros(4 * H, dtype=dtype), np.zeros(4 * H, dtype=dtype)]
    for t in reversed(range(T)):
        # while running, h' feeds both y[t] and the carried state;
        # once finished, y[t] is a constant and (h, c) skip the step
        dh_new = np.where(keep[t], dh + dy[t], 0)
        dc_new = np.where(keep[t], dc, 0)
        dx[t], dh_prev, dc_prev, *dstep = _lstm_step_backward(
            dh_new, dc_new, cache["steps"][t], w_ih, w_hh
        )
        dh = np.where(keep[t], dh_prev, dh)
        dc = np.where(keep[t], dc_prev, dc)
        _accumulate(dparams, dstep)

    return (dx, np.array(dh, copy=True), np.array(dc, copy=True), *dparams)
