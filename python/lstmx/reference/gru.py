"""GRU reference (forward and backward), NumPy only; time-major, one layer, one direction.

    x        (T, B, I)   input sequence (a single step: (B, I))
    h0       (B, H)      initial state (None means zeros)
    params   dict        w_ih (3H, I), w_hh (3H, H), optional b_ih, b_hh (3H,), or the
                         layer-norm gains and biases (``cell.py``)
    lengths  (B,)        optional integer lengths, each in [1, T] (``sequence.py``)

One step, with ax, ah the input and hidden projections (W_ih x + b_ih and W_hh hm + b_hh, or
their layer norms; hm = rec_mask * h; ``cell.py``), act the ``activation`` (tanh) and rec the
``recurrent_activation`` (sigmoid); the defaults are ``torch.nn.GRU``'s cell, in its "reset
after" form (r multiplies the hidden projection including its bias b_hn):

    r  = rec(ax_r + ah_r)          reset gate          (gate blocks in order r, z, n)
    z  = rec(ax_z + ah_z)          update gate
    n  = act(ax_n + r * ah_n)      candidate state
    h' = (1 - z) * n + z * h       (z meets the unmasked h);     y_t = h'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .cell import MatMul, Options, masked, prepare, project, project_backward
from .sequence import sequence_backward, sequence_forward

__all__ = ["gru_forward", "gru_backward", "gru_cell_forward", "gru_cell_backward"]


def _step(x, states, p, opt):
    """x (B, I), [h (B, H)] -> [h' (B, H)], step cache (the gates r, z, the candidate n, and
    the pre-activations that went through rec ("pre_rec") and act ("pre_act"))."""
    (h,) = states
    hm = masked(h, opt)
    ax, ln_x = project(x, "ih", p, opt)
    ah, ln_h = project(hm, "hh", p, opt)
    ax_r, ax_z, ax_n = np.split(ax, 3, axis=1)
    ah_r, ah_z, ah_n = np.split(ah, 3, axis=1)
    # r = rec(ax_r + ah_r),  z = rec(ax_z + ah_z)
    a_r = ax_r + ah_r
    a_z = ax_z + ah_z
    r, z = opt.rec(a_r), opt.rec(a_z)
    # n = act(ax_n + r * ah_n)
    a_n = ax_n + r * ah_n
    n = opt.act(a_n)
    # h' = (1 - z) * n + z * h     (the unmasked h)
    h_new = (1 - z) * n + z * h
    step = {"x": x, "h": h, "hm": hm, "r": r, "z": z, "n": n, "ah_n": ah_n,
            "ln_x": ln_x, "ln_h": ln_h, "pre_rec": [a_r, a_z], "pre_act": [a_n]}
    return [h_new], step


def _step_backward(dstates, s, p, opt, grads):
    """[dh' (B, H)] -> dx (B, I), [dh (B, H)]."""
    (dh_new,) = dstates
    h, r, z, n = s["h"], s["r"], s["z"], s["n"]
    # h' = (1 - z) * n + z * h
    dn = dh_new * (1 - z)
    dz = dh_new * (h - n)
    dh_direct = dh_new * z
    # n = act(a_n),  a_n = ax_n + r * ah_n
    da_n = dn * opt.act.grad(n)
    dr = da_n * s["ah_n"]
    dah_n = da_n * r
    # r = rec(a_r),  z = rec(a_z)
    da_r = dr * opt.rec.grad(r)
    da_z = dz * opt.rec.grad(z)
    # the two projections' gradients differ only in the n block
    dax = np.concatenate([da_r, da_z, da_n], axis=1)
    dah = np.concatenate([da_r, da_z, dah_n], axis=1)
    dx = project_backward(dax, s["x"], "ih", s["ln_x"], p, opt, grads)
    dhm = project_backward(dah, s["hm"], "hh", s["ln_h"], p, opt, grads)
    # h enters directly (through z) and masked (through hm)
    return dx, [dh_direct + masked(dhm, opt)]


def gru_forward(x: ArrayLike, h0: ArrayLike | None, params: Mapping[str, ArrayLike],
                lengths: ArrayLike | None = None, *, rec_mask: ArrayLike | None = None,
                activation: str = "tanh", activation_param: float | None = None,
                recurrent_activation: str = "sigmoid", layer_norm: bool = False,
                eps: float = 1e-5, matmul: MatMul | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run a GRU over a (possibly ragged) batch of sequences.

    x (T, B, I); h0 (B, H) or None; params a dict (module docstring); lengths (B,) or None;
    rec_mask (B, H) or None. ``activation`` is used for the candidate n,
    ``recurrent_activation`` for r and z; the options (and ``matmul``) are those of
    ``lstm_forward``.

    Returns ``(y, h_n, cache)``: y (T, B, H) with zeros past each sequence's end, h_n (B, H)
    the state after each sequence's last step, and the cache for ``gru_backward``.

    >>> rng = np.random.default_rng(0)
    >>> p = {"w_ih": rng.normal(size=(6, 3)), "w_hh": rng.normal(size=(6, 2))}
    >>> y, h_n, _ = gru_forward(rng.normal(size=(5, 4, 3)), None, p,
    ...                         recurrent_activation="hard_sigmoid")
    >>> y.shape, h_n.shape
    ((5, 4, 2), (4, 2))
    """
    x, states, p, rec_mask = prepare("gru", x, {"h0": h0}, params, rec_mask, layer_norm,
                                     sequence=True)
    opt = Options("gru", activation, activation_param, recurrent_activation, layer_norm, eps,
                  rec_mask, matmul)
    y, (h_n,), cache = sequence_forward(_step, x, states, p, opt, lengths)
    return y, h_n, cache


def gru_backward(dy: ArrayLike | None, dh_n: ArrayLike | None, cache: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``gru_forward``: dy (T, B, H), dh_n (B, H), each may be None (zeros).

    Returns ``(dx (T, B, I), dh0 (B, H), grads)``, ``grads`` keyed like params.
    """
    dx, (dh0,), grads = sequence_backward(_step_backward, dy, {"dh_n": dh_n}, cache)
    return dx, dh0, grads


def gru_cell_forward(x: ArrayLike, h: ArrayLike | None, params: Mapping[str, ArrayLike], *,
                     rec_mask: ArrayLike | None = None, activation: str = "tanh",
                     activation_param: float | None = None,
                     recurrent_activation: str = "sigmoid", layer_norm: bool = False,
                     eps: float = 1e-5) -> tuple[np.ndarray, dict[str, Any]]:
    """One GRU step: x (B, I), h (B, H) or None; params and options as for ``gru_forward``.

    Returns ``(h_new (B, H), cache)``; ``cache["steps"][0]`` holds the step's gates r, z and
    candidate n (B, H) and what backward needs.
    """
    x, states, p, rec_mask = prepare("gru", x, {"h": h}, params, rec_mask, layer_norm,
                                     sequence=False)
    opt = Options("gru", activation, activation_param, recurrent_activation, layer_norm, eps,
                  rec_mask)
    _, (h_new,), cache = sequence_forward(_step, x[None], states, p, opt)
    return h_new, cache


def gru_cell_backward(dh_new: ArrayLike | None, cache: dict[str, Any]
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``gru_cell_forward``: dh_new (B, H) or None.

    Returns ``(dx (B, I), dh (B, H), grads)``, ``grads`` keyed like params.
    """
    dx, (dh,), grads = sequence_backward(_step_backward, None, {"dh_new": dh_new}, cache)
    return dx[0], dh, grads
