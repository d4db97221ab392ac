"""Plain (Elman) RNN reference, plus the plumbing shared by all three models.

Conventions (the same as ``torch.nn.RNN``, time-major, one layer, one direction):

    x        (T, B, I)   input sequence
    h0       (B, H)      initial state (None means zeros)
    w_ih     (H, I)      input-to-hidden weights
    w_hh     (H, H)      hidden-to-hidden weights
    b_ih     (H,)        input bias
    b_hh     (H,)        hidden bias
    lengths  (B,)        optional integer lengths, each in [1, T]

One step of the cell:

    h' = act(W_ih x + b_ih + W_hh h + b_hh),     act = tanh or relu

Variable lengths: at steps ``t >= lengths[b]`` sequence ``b`` is finished.
Its state is carried along unchanged and its output ``y[t, b]`` is zero, so
``h_n[b]`` is the state after step ``lengths[b] - 1``.  In the backward pass
``dy[t, b]`` for those steps is ignored (the output is a constant) and the
gradient of the carried state flows straight through them.

Everything is computed in the floating dtype of the inputs (float32 stays
float32).  The helpers whose names start with an underscore (input checking,
length masks) are also used by ``lstm.py`` and ``gru.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .activations import NONLINEARITIES

__all__ = [
    "rnn_forward",
    "rnn_backward",
    "rnn_cell_forward",
    "rnn_cell_backward",
]


# ---------------------------------------------------------------------------
# Shared helpers (used by lstm.py and gru.py as well)
# ---------------------------------------------------------------------------


def _expect_shape(name: str, array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Raise a ValueError unless ``array.shape == shape``; return the array."""
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    return array


def _prepare(x: ArrayLike, states: list[tuple[str, ArrayLike | None]], w_ih: ArrayLike,
             w_hh: ArrayLike, b_ih: ArrayLike, b_hh: ArrayLike, num_gates: int, sequence: bool
             ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                        np.ndarray]:
    """Check and convert the inputs of a forward pass.

    Parameters
    ----------
    x : array, (T, B, I) if ``sequence`` else (B, I)
    states : list of (name, array or None) pairs, each array (B, H);
        None is replaced by zeros.
    w_ih : (G*H, I),  w_hh : (G*H, H),  b_ih, b_hh : (G*H,)
    num_gates : G (4 for LSTM, 3 for GRU, 1 for RNN)
    sequence : whether ``x`` carries a time axis

    Returns
    -------
    (x, states, w_ih, w_hh, b_ih, b_hh) as arrays of one common floating
    dtype (no copies are made when the dtype already matches), with
    ``states`` a list of (B, H) arrays.
    """
    given = [x, w_ih, w_hh, b_ih, b_hh] + [s for _, s in states if s is not None]
    dtype = np.result_type(*[np.asarray(a) for a in given])
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"inputs must be floating point arrays, got dtype {dtype}")

    x = np.asarray(x, dtype=dtype)
    w_ih = np.asarray(w_ih, dtype=dtype)
    w_hh = np.asarray(w_hh, dtype=dtype)
    b_ih = np.asarray(b_ih, dtype=dtype)
    b_hh = np.asarray(b_hh, dtype=dtype)

    if x.ndim != (3 if sequence else 2):
        expected = "(T, B, I)" if sequence else "(B, I)"
        raise ValueError(f"x must have shape {expected}, got {x.shape}")
    if w_hh.ndim != 2 or w_hh.shape[0] != num_gates * w_hh.shape[1]:
        raise ValueError(
            f"w_hh must have shape ({num_gates}*H, H), got {w_hh.shape}"
        )
    B, I = x.shape[-2:]
    H = w_hh.shape[1]
    _expect_shape("w_ih", w_ih, (num_gates * H, I))
    _expect_shape("b_ih", b_ih, (num_gates * H,))
    _expect_shape("b_hh", b_hh, (num_gates * H,))

    out_states = []
    for name, s in states:
        if s is None:
            s = np.zeros((B, H), dtype=dtype)
        else:
            s = _expect_shape(name, np.asarray(s, dtype=dtype), (B, H))
        out_states.append(s)
    return x, out_states, w_ih, w_hh, b_ih, b_hh


def _grad_or_zeros(grad: ArrayLike | None, shape: tuple[int, ...], dtype: DTypeLike, name: str
                   ) -> np.ndarray:
    """An incoming gradient as an array of ``dtype``; None means zeros."""
    if grad is None:
        return np.zeros(shape, dtype=dtype)
    return _expect_shape(name, np.asarray(grad, dtype=dtype), shape)


def _keep_mask(lengths, T, B):
    """Boolean mask (T, B, 1): True where step t of sequence b is computed.

    ``keep[t, b] = t < lengths[b]``; all True when ``lengths`` is None.
    """
    if lengths is None:
        return np.ones((T, B, 1), dtype=bool)
    lengths = np.asarray(lengths)
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be an integer array, got dtype {lengths.dtype}")
    _expect_shape("lengths", lengths, (B,))
    if B > 0 and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths must lie in [1, T={T}], got {lengths.tolist()}")
    keep = np.arange(T)[:, None] < lengths[None, :]
    return keep[:, :, None]


def _accumulate(totals, parts):
    """Add per-step parameter gradients into running totals (in place)."""
    for total, part in zip(totals, parts):
        total += part


# ---------------------------------------------------------------------------
# One step: the only place where the RNN formulas live
# ---------------------------------------------------------------------------


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(
            f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}"
        )


def _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    """One RNN step for a whole batch.

    x (B, I), h (B, H)  ->  h_new (B, H), step cache (dict).
    """
    act, _ = NONLINEARITIES[nonlinearity]
    # a = W_ih x + b_ih + W_hh h + b_hh                      (B, H)
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    # h' = act(a)
    h_new = act(a)
    step = {"x": x, "h": h, "h_new": h_new, "nonlinearity": nonlinearity}
    return h_new, step


def _rnn_step_backward(dh_new, step, w_ih, w_hh):
    """Backward of ``_rnn_step``.

    dh_new (B, H)  ->  (dx (B, I), dh (B, H), dw_ih (H, I), dw_hh (H, H),
    db_ih (H,), db_hh (H,)).
    """
    _, act_grad = NONLINEARITIES[step["nonlinearity"]]
    # h' = act(a)   =>   da = dh' * act'(a), act' written from h'
    da = dh_new * act_grad(step["h_new"])
    # a = x W_ih^T + b_ih + h W_hh^T + b_hh   (row-vector form of the batch)
    dx = da @ w_ih
    dh = da @ w_hh
    dw_ih = da.T @ step["x"]
    dw_hh = da.T @ step["h"]
    db_ih = da.sum(axis=0)
    db_hh = db_ih.copy()
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


# ---------------------------------------------------------------------------
# Single-step cell
# ---------------------------------------------------------------------------


def rnn_cell_forward(x: ArrayLike, h: ArrayLike | None, w_ih: ArrayLike, w_hh: ArrayLike,
                     b_ih: ArrayLike, b_hh: ArrayLike, nonlinearity: str = "tanh"
                     ) -> tuple[np.ndarray, dict[str, Any]]:
    """One RNN step.

    x (B, I), h (B, H) or None, w_ih (H, I), w_hh (H, H), b_ih, b_hh (H,).

    Returns ``(h_new, cache)`` with h_new (B, H).  ``cache`` is a dict
    holding the step's saved tensors (``"step"``: x, h, h_new, nonlinearity)
    and the weights (``"w_ih"``, ``"w_hh"``).
    """
    _check_nonlinearity(nonlinearity)
    x, (h,), w_ih, w_hh, b_ih, b_hh = _prepare(
        x, [("h", h)], w_ih, w_hh, b_ih, b_hh, num_gates=1, sequence=False
    )
    h_new, step = _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
    cache = {"step": step, "w_ih": w_ih, "w_hh": w_hh}
    return h_new, cache


def rnn_cell_backward(dh_new: ArrayLike | None, cache: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Backward of ``rnn_cell_forward``.

    dh_new (B, H) or None (zeros).

    Returns ``(dx, dh, dw_ih, dw_hh, db_ih, db_hh)`` with shapes
    (B, I), (B, H), (H, I), (H, H), (H,), (H,).
    """
    step = cache["step"]
    h = step["h"]
    dh_new = _grad_or_zeros(dh_new, h.shape, h.dtype, "dh_new")
    return _rnn_step_backward(dh_new, step, cache["w_ih"], cache["w_hh"])


# ---------------------------------------------------------------------------
# Whole sequence
# ---------------------------------------------------------------------------


def rnn_forward(x: ArrayLike, h0: ArrayLike | None, w_ih: ArrayLike, w_hh: ArrayLike,
                b_ih: ArrayLike, b_hh: ArrayLike, lengths: ArrayLike | None = None,
                nonlinearity: str = "tanh") -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an RNN over a (possibly ragged) batch of sequences.

    x (T, B, I), h0 (B, H) or None, w_ih (H, I), w_hh (H, H),
    b_ih, b_hh (H,), lengths (B,) integers in [1, T] or None,
    nonlinearity "tanh" or "relu".

    Returns ``(y, h_n, cache)``: y (T, B, H) with zeros past each sequence's
    end, h_n (B, H) the state after each sequence's last step.  ``cache`` is
    a dict with the per-step caches (``"steps"``), the (T, B, 1) boolean
    ``"keep"`` mask, the weights and the sizes.
    """
    _check_nonlinearity(nonlinearity)
    x, (h0,), w_ih, w_hh, b_ih, b_hh = _prepare(
        x, [("h0", h0)], w_ih, w_hh, b_ih, b_hh, num_gates=1, sequence=True
    )
    T, B, I = x.shape
    H = w_hh.shape[1]
    keep = _keep_mask(lengths, T, B)

    y = np.zeros((T, B, H), dtype=x.dtype)
    h = h0
    steps = []
    for t in range(T):
        h_new, step = _rnn_step(x[t], h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
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


def rnn_backward(dy: ArrayLike, dh_n: ArrayLike | None, cache: dict[str, Any]
                 ) -> tuple[np.ndarray, ...]:
    """Backward of ``rnn_forward``.

    dy (T, B, H), dh_n (B, H) or None (zeros).  ``dy[t, b]`` for
    ``t >= lengths[b]`` is ignored.

    Returns ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)`` with shapes
    (T, B, I), (B, H), (H, I), (H, H), (H,), (H,).
    """
    T, B, I, H = cache["sizes"]
    dtype = cache["dtype"]
    w_ih, w_hh, keep = cache["w_ih"], cache["w_hh"], cache["keep"]
    dy = _grad_or_zeros(dy, (T, B, H), dtype, "dy")
    dh = _grad_or_zeros(dh_n, (B, H), dtype, "dh_n")

    dx = np.zeros((T, B, I), dtype=dtype)
    dparams = [np.zeros_like(w_ih), np.zeros_like(w_hh),
               np.zeros(H, dtype=dtype), np.zeros(H, dtype=dtype)]
    for t in reversed(range(T)):
        # while running, h' feeds both y[t] and the carried state;
        # once finished, y[t] is a constant and the state skips the step
        dh_new = np.where(keep[t], dh + dy[t], 0)
        dx[t], dh_prev, *dstep = _rnn_step_backward(dh_new, cache["steps"][t], w_ih, w_hh)
        dh = np.where(keep[t], dh_prev, dh)
        _accumulate(dparams, dstep)

    return (dx, np.array(dh, copy=True), *dparams)
