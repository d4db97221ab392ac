"""Elman RNN reference (forward and backward), NumPy only; time-major, one layer, one direction.

    x        (T, B, I)   input sequence (a single step: (B, I))
    h0       (B, H)      initial state (None means zeros)
    params   dict        w_ih (H, I), w_hh (H, H), optional b_ih, b_hh (H,)
    lengths  (B,)        optional integer lengths, each in [1, T] (``sequence.py``)

One step, with hm = rec_mask * h (``cell.py``) and act the ``activation`` (tanh, as
``torch.nn.RNN``; relu is its other nonlinearity; also leaky_relu, elu, sigmoid). No layer
norm, no gates:

    h' = act(W_ih x + b_ih + W_hh hm + b_hh);     y_t = h'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .cell import MatMul, Options, masked, prepare, project, project_backward
from .sequence import sequence_backward, sequence_forward

__all__ = ["rnn_forward", "rnn_backward", "rnn_cell_forward", "rnn_cell_backward"]


def _step(x, states, p, opt):
    """x (B, I), [h (B, H)] -> [h' (B, H)], step cache."""
    (h,) = states
    hm = masked(h, opt)
    ax, _ = project(x, "ih", p, opt)
    ah, _ = project(hm, "hh", p, opt)
    # h' = act(ax + ah)
    a = ax + ah
    h_new = opt.act(a)
    step = {"x": x, "hm": hm, "h_new": h_new, "pre_rec": [], "pre_act": [a]}
    return [h_new], step


def _step_backward(dstates, s, p, opt, grads):
    """[dh' (B, H)] -> dx (B, I), [dh (B, H)]."""
    (dh_new,) = dstates
    # h' = act(a), act' read from h'
    da = dh_new * opt.act.grad(s["h_new"])
    dx = project_backward(da, s["x"], "ih", None, p, opt, grads)
    dhm = project_backward(da, s["hm"], "hh", None, p, opt, grads)
    return dx, [masked(dhm, opt)]


def rnn_forward(x: ArrayLike, h0: ArrayLike | None, params: Mapping[str, ArrayLike],
                lengths: ArrayLike | None = None, *, rec_mask: ArrayLike | None = None,
                activation: str = "tanh", activation_param: float | None = None,
                matmul: MatMul | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an Elman RNN over a (possibly ragged) batch of sequences.

    x (T, B, I); h0 (B, H) or None; params a dict (module docstring); lengths (B,) or None;
    rec_mask (B, H) or None; ``activation``, ``activation_param`` and ``matmul`` as for
    ``lstm_forward``.

    Returns ``(y (T, B, H), h_n (B, H), cache)``: zeros in y past each sequence's end, h_n
    the state after each sequence's last step, and the cache for ``rnn_backward``.

    >>> rng = np.random.default_rng(0)
    >>> p = {"w_ih": rng.normal(size=(2, 3)), "w_hh": rng.normal(size=(2, 2))}
    >>> y, h_n, _ = rnn_forward(rng.normal(size=(5, 4, 3)), None, p, activation="relu")
    >>> y.shape
    (5, 4, 2)
    """
    x, states, p, rec_mask = prepare("rnn", x, {"h0": h0}, params, rec_mask, False,
                                     sequence=True)
    opt = Options("rnn", activation, activation_param, "sigmoid", False, 1e-5, rec_mask,
                  matmul)
    y, (h_n,), cache = sequence_forward(_step, x, states, p, opt, lengths)
    return y, h_n, cache


def rnn_backward(dy: ArrayLike | None, dh_n: ArrayLike | None, cache: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``rnn_forward``: dy (T, B, H), dh_n (B, H), each may be None (zeros).

    Returns ``(dx (T, B, I), dh0 (B, H), grads)``, ``grads`` keyed like params.
    """
    dx, (dh0,), grads = sequence_backward(_step_backward, dy, {"dh_n": dh_n}, cache)
    return dx, dh0, grads


def rnn_cell_forward(x: ArrayLike, h: ArrayLike | None, params: Mapping[str, ArrayLike], *,
                     rec_mask: ArrayLike | None = None, activation: str = "tanh",
                     activation_param: float | None = None
                     ) -> tuple[np.ndarray, dict[str, Any]]:
    """One RNN step: x (B, I), h (B, H) or None; params and options as for ``rnn_forward``.

    Returns ``(h_new (B, H), cache)``.
    """
    x, states, p, rec_mask = prepare("rnn", x, {"h": h}, params, rec_mask, False,
                                     sequence=False)
    opt = Options("rnn", activation, activation_param, "sigmoid", False, 1e-5, rec_mask)
    _, (h_new,), cache = sequence_forward(_step, x[None], states, p, opt)
    return h_new, cache


def rnn_cell_backward(dh_new: ArrayLike | None, cache: dict[str, Any]
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``rnn_cell_forward``: dh_new (B, H) or None.

    Returns ``(dx (B, I), dh (B, H), grads)``, ``grads`` keyed like params.
    """
    dx, (dh,), grads = sequence_backward(_step_backward, None, {"dh_new": dh_new}, cache)
    return dx[0], dh, grads
