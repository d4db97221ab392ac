"""LSTM reference (forward and backward), NumPy only; time-major, one layer, one direction.

    x        (T, B, I)   input sequence (a single step: (B, I))
    h0       (B, R)      initial hidden state (None means zeros); R = P with a projection, else H
    c0       (B, H)      initial cell state (None means zeros)
    params   dict        w_ih (4H, I), w_hh (4H, R), optional b_ih, b_hh (4H,), optional
                         w_hr (P, H), layer-norm gains and biases (``cell.py``)
    lengths  (B,)        optional integer lengths, each in [1, T] (``sequence.py``)

One step, with ax, ah the input and hidden projections (W_ih x + b_ih and W_hh hm + b_hh, or
their layer norms; hm = rec_mask * h; ``cell.py``), act the ``activation`` (tanh) and rec the
``recurrent_activation`` (sigmoid); the defaults are ``torch.nn.LSTM``'s cell:

    i  = rec(ax_i + ah_i)      input gate         (gate blocks in order i, f, g, o)
    f  = rec(ax_f + ah_f)      forget gate
    g  = act(ax_g + ah_g)      candidate cell
    o  = rec(ax_o + ah_o)      output gate
    c' = f * c + i * g         the carried cell state
    c^ = LN(c'; ln_c) with layer norm, else c^ = c'
    r  = o * act(c^)
    h' = W_hr r with a projection, else h' = r;     y_t = h'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .cell import MatMul, Options, masked, prepare, product, project, project_backward
from .layer_norm import layer_norm_backward, layer_norm_forward
from .sequence import sequence_backward, sequence_forward

__all__ = ["lstm_forward", "lstm_backward", "lstm_cell_forward", "lstm_cell_backward"]


def _step(x, states, p, opt):
    """x (B, I), [h (B, R), c (B, H)] -> [h' (B, R), c' (B, H)], step cache.

    The step cache keeps what backward needs, the gates i, f, g, o among them, and the
    pre-activations that went through rec ("pre_rec") and act ("pre_act").
    """
    h, c = states
    hm = masked(h, opt)
    ax, ln_x = project(x, "ih", p, opt)
    ah, ln_h = project(hm, "hh", p, opt)
    a_i, a_f, a_g, a_o = np.split(ax + ah, 4, axis=1)
    # i = rec(a_i), f = rec(a_f), g = act(a_g), o = rec(a_o)
    i, f, g, o = opt.rec(a_i), opt.rec(a_f), opt.act(a_g), opt.rec(a_o)
    # c' = f * c + i * g
    c_new = f * c + i * g
    # c^ = LN(c'; ln_c) or c'
    c_hat, ln_c = c_new, None
    if opt.layer_norm:
        c_hat, ln_c = layer_norm_forward(c_new, p["ln_c_w"], p["ln_c_b"], opt.eps)
    # r = o * act(c^),  h' = W_hr r or r
    act_c = opt.act(c_hat)
    r = o * act_c
    h_new = product(r, "w_hr", p, opt) if "w_hr" in p else r
    step = {"x": x, "hm": hm, "c": c, "i": i, "f": f, "g": g, "o": o, "act_c": act_c,
            "r": r, "ln_x": ln_x, "ln_h": ln_h, "ln_c": ln_c,
            "pre_rec": [a_i, a_f, a_o], "pre_act": [a_g, c_hat]}
    return [h_new, c_new], step


def _step_backward(dstates, s, p, opt, grads):
    """[dh' (B, R), dc' (B, H)] -> dx (B, I), [dh (B, R), dc (B, H)]."""
    dh_new, dc_new = dstates
    i, f, g, o, act_c = s["i"], s["f"], s["g"], s["o"], s["act_c"]
    # h' = W_hr r
    dr = dh_new
    if "w_hr" in p:
        grads["w_hr"] += dh_new.T @ s["r"]
        dr = dh_new @ p["w_hr"]
    # r = o * act(c^)
    do = dr * act_c
    dc_hat = dr * o * opt.act.grad(act_c)
    # c^ = LN(c'; ln_c)
    dc_from_h = dc_hat
    if opt.layer_norm:
        dc_from_h, dgain, dbias = layer_norm_backward(dc_hat, s["ln_c"], p["ln_c_w"])
        grads["ln_c_w"] += dgain
        grads["ln_c_b"] += dbias
    # c' reaches the loss directly (dc') and through h'
    dc_total = dc_new + dc_from_h
    # c' = f * c + i * g
    df = dc_total * s["c"]
    dc = dc_total * f
    di = dc_total * g
    dg = dc_total * i
    # back through the gate nonlinearities; a = ax + ah, so dax = dah = da
    da = np.concatenate([di * opt.rec.grad(i), df * opt.rec.grad(f),
                         dg * opt.act.grad(g), do * opt.rec.grad(o)], axis=1)
    dx = project_backward(da, s["x"], "ih", s["ln_x"], p, opt, grads)
    dhm = project_backward(da, s["hm"], "hh", s["ln_h"], p, opt, grads)
    # hm = rec_mask * h
    return dx, [masked(dhm, opt), dc]


def lstm_forward(x: ArrayLike, h0: ArrayLike | None, c0: ArrayLike | None,
                 params: Mapping[str, ArrayLike], lengths: ArrayLike | None = None, *,
                 rec_mask: ArrayLike | None = None, activation: str = "tanh",
                 activation_param: float | None = None, recurrent_activation: str = "sigmoid",
                 layer_norm: bool = False, eps: float = 1e-5, matmul: MatMul | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an LSTM over a (possibly ragged) batch of sequences.

    x (T, B, I); h0 (B, R) or None; c0 (B, H) or None; params a dict (module docstring);
    lengths (B,) integers in [1, T] or None; rec_mask (B, R) or None. ``activation`` (tanh,
    relu, leaky_relu, elu, sigmoid) is used for g and for the cell output,
    ``recurrent_activation`` (sigmoid, hard_sigmoid) for i, f, o; ``activation_param`` is
    the slope of leaky_relu (default 0.01) or the alpha of elu (default 1.0); ``eps`` is the
    layer-norm epsilon. ``matmul(inp, W)`` replaces the weight products ``inp @ W.T`` (None:
    the float ones; ``quantized.quantized_matmul`` gives the int8 and bfloat16 ones; such a
    forward has no backward).

    Returns ``(y, h_n, c_n, cache)``: y (T, B, R) with zeros past each sequence's end, h_n
    (B, R) and c_n (B, H) the states after each sequence's last step (c_n un-normalised),
    and the cache for ``lstm_backward``. Computed in the inputs' floating dtype.

    >>> rng = np.random.default_rng(0)
    >>> p = {"w_ih": rng.normal(size=(8, 3)), "w_hh": rng.normal(size=(8, 1)),
    ...      "w_hr": rng.normal(size=(1, 2))}
    >>> y, h_n, c_n, _ = lstm_forward(rng.normal(size=(5, 4, 3)), None, None, p)
    >>> y.shape, h_n.shape, c_n.shape
    ((5, 4, 1), (4, 1), (4, 2))
    """
    x, states, p, rec_mask = prepare("lstm", x, {"h0": h0, "c0": c0}, params, rec_mask,
                                     layer_norm, sequence=True)
    opt = Options("lstm", activation, activation_param, recurrent_activation, layer_norm, eps,
                  rec_mask, matmul)
    y, (h_n, c_n), cache = sequence_forward(_step, x, states, p, opt, lengths)
    return y, h_n, c_n, cache


def lstm_backward(dy: ArrayLike | None, dh_n: ArrayLike | None, dc_n: ArrayLike | None,
                  cache: dict[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``lstm_forward``.

    dy (T, B, R), dh_n (B, R), dc_n (B, H), each may be None (zeros); ``dy[t, b]`` for
    ``t >= lengths[b]`` is ignored.

    Returns ``(dx (T, B, I), dh0 (B, R), dc0 (B, H), grads)``, ``grads`` a dict with the
    keys of the forward's ``params``, each of its shape.
    """
    dx, (dh0, dc0), grads = sequence_backward(_step_backward, dy, {"dh_n": dh_n, "dc_n": dc_n},
                                              cache)
    return dx, dh0, dc0, grads


def lstm_cell_forward(x: ArrayLike, h: ArrayLike | None, c: ArrayLike | None,
                      params: Mapping[str, ArrayLike], *, rec_mask: ArrayLike | None = None,
                      activation: str = "tanh", activation_param: float | None = None,
                      recurrent_activation: str = "sigmoid", layer_norm: bool = False,
                      eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One LSTM step: x (B, I), h (B, R) or None, c (B, H) or None; params and options as
    for ``lstm_forward``.

    Returns ``(h_new (B, R), c_new (B, H), cache)``; ``cache["steps"][0]`` holds the step's
    gates i, f, g, o (B, H) and what backward needs.
    """
    x, states, p, rec_mask = prepare("lstm", x, {"h": h, "c": c}, params, rec_mask,
                                     layer_norm, sequence=False)
    opt = Options("lstm", activation, activation_param, recurrent_activation, layer_norm, eps,
                  rec_mask)
    _, (h_new, c_new), cache = sequence_forward(_step, x[None], states, p, opt)
    return h_new, c_new, cache


def lstm_cell_backward(dh_new: ArrayLike | None, dc_new: ArrayLike | None,
                       cache: dict[str, Any]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``lstm_cell_forward``: dh_new (B, R), dc_new (B, H), each may be None.

    Returns ``(dx (B, I), dh (B, R), dc (B, H), grads)``, ``grads`` keyed like params.
    """
    dx, (dh, dc), grads = sequence_backward(_step_backward, None,
                                            {"dh_new": dh_new, "dc_new": dc_new}, cache)
    return dx[0], dh, dc, grads
