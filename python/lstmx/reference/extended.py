"""Extended LSTM / GRU / RNN reference (forward and backward), NumPy only.

The plain cells of ``lstm.py``, ``gru.py`` and ``rnn.py`` with five options:
a choice of ``activation`` and ``recurrent_activation``, layer normalisation
(LSTM, GRU), a recurrent dropout mask (all three) and an output projection
(LSTM).  With the default options the results are those of the plain cells,
i.e. of PyTorch.  One layer, one direction, time-major.

Shapes (G = 4 gates for the LSTM (i, f, g, o), 3 for the GRU (r, z, n), 1 for
the RNN; H hidden size; R = P with an LSTM projection of size P, else R = H):

    x          (T, B, I)   input sequence
    h0         (B, R)      initial hidden state (None means zeros)
    c0         (B, H)      initial LSTM cell state (None means zeros)
    lengths    (B,)        optional integer lengths, each in [1, T]
    rec_mask   (B, R)      optional recurrent dropout mask, already scaled
                           (entries 0 or 1/(1-p)); the same at every step
    params     dict of arrays, PyTorch's names where it has them:
        w_ih     (G*H, I)   input-to-hidden weights, gate blocks in order
        w_hh     (G*H, R)   hidden-to-hidden weights
        w_hr     (P, H)     LSTM projection; present <=> the projection is on
      without layer norm, each optional (absent = no bias):
        b_ih     (G*H,)     input bias
        b_hh     (G*H,)     hidden bias
      with layer norm, all required (and no b_ih / b_hh: the LN biases
      play their role):
        ln_ih_w, ln_ih_b  (G*H,)   gains and biases of LN(W_ih x)
        ln_hh_w, ln_hh_b  (G*H,)   gains and biases of LN(W_hh hm)
        ln_c_w,  ln_c_b   (H,)     LSTM only: gain and bias of LN(c)

Layer norm of a vector a with gain w and bias b (``layer_norm.py``):
LN(a) = w * (a - mean(a)) / sqrt(var(a) + eps) + b.  LN_blocks applies it to
each of the G gate blocks [g*H : (g+1)*H] separately.

The input and hidden projections of one step, where hm = rec_mask * h_prev
(hm = h_prev without a mask):

    without layer norm:  ax = W_ih x_t + b_ih,            ah = W_hh hm + b_hh
    with layer norm:     ax = LN_blocks(W_ih x_t; ln_ih), ah = LN_blocks(W_hh hm; ln_hh)

act is the ``activation``: tanh, relu, leaky_relu (slope s = activation_param,
default 0.01), elu (alpha = activation_param, default 1.0) or sigmoid;
rec is the ``recurrent_activation``: sigmoid or hard_sigmoid
(clip(0.2 x + 0.5, 0, 1)).  Derivatives are read from the outputs
(``activations.py``).

    LSTM:  i = rec(ax_i + ah_i),  f = rec(ax_f + ah_f),
           g = act(ax_g + ah_g),  o = rec(ax_o + ah_o)
           c' = f * c + i * g                    (the carried cell state)
           c^ = LN(c'; ln_c) with layer norm, else c^ = c'
           r  = o * act(c^)
           h' = W_hr r with a projection, else h' = r;     y_t = h'
    GRU:   r  = rec(ax_r + ah_r),  z = rec(ax_z + ah_z)
           n  = act(ax_n + r * ah_n)             (ah_n includes b_hn or ln_hh_b)
           h' = (1 - z) * n + z * h_prev         (z meets the UNMASKED h_prev)
    RNN:   h' = act(ax + ah)

Variable lengths, as in the plain references: at steps ``t >= lengths[b]``
sequence ``b`` is finished; its states are carried along unchanged and
``y[t, b]`` is zero, so the final states are those after step
``lengths[b] - 1``.  In the backward pass ``dy[t, b]`` for those steps is
ignored and the gradients of the carried states flow straight through them.

Everything is computed in the floating dtype of the inputs (float32 stays
float32).  Slow on purpose: a Python loop over the time steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .activations import ACTIVATIONS
from .layer_norm import (
    layer_norm_backward,
    layer_norm_blocks_backward,
    layer_norm_blocks_forward,
    layer_norm_forward,
)
from .rnn import _expect_shape, _grad_or_zeros, _keep_mask

__all__ = [
    "lstm_forward_ex",
    "lstm_backward_ex",
    "gru_forward_ex",
    "gru_backward_ex",
    "rnn_forward_ex",
    "rnn_backward_ex",
]

NUM_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CELL_ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "sigmoid")
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")


# ---------------------------------------------------------------------------
# Options and inputs
# ---------------------------------------------------------------------------


class _Nonlinearity:
    """An activation with its parameter bound: ``f(x)`` and ``f.grad(y)``."""

    def __init__(self, name, param, allowed, argument):
        if name not in allowed:
            raise ValueError(f"{argument} must be one of {list(allowed)}, got {name!r}")
        self.name = name
        self._fn, self._grad, default = ACTIVATIONS[name]
        # the parameter only means something to leaky_relu and elu
        self.param = None
        if default is not None:
            self.param = default if param is None else float(param)
            # s >= 0 and alpha >= 0 keep "y > 0 <=> x > 0", which the
            # derivative-from-output relies on
            if not (math.isfinite(self.param) and self.param >= 0):
                raise ValueError(
                    f"activation_param of {name} must be a finite number >= 0, got {param!r}"
                )

    def __call__(self, x):
        return self._fn(x, self.param)

    def grad(self, y):
        return self._grad(y, self.param)


class _Options:
    """The per-call settings every step needs."""

    def __init__(self, model, activation, activation_param, recurrent_activation,
                 layer_norm, rec_mask, eps, dtype):
        self.model = model
        self.num_gates = NUM_GATES[model]
        self.act = _Nonlinearity(activation, activation_param, CELL_ACTIVATIONS, "activation")
        self.rec = _Nonlinearity(recurrent_activation, None, RECURRENT_ACTIVATIONS,
                                 "recurrent_activation")
        self.layer_norm = bool(layer_norm)
        self.mask = rec_mask
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.eps = dtype.type(eps)


def _param_names(model, layer_norm):
    """(required, optional) parameter names for one configuration."""
    required = {"w_ih", "w_hh"}
    optional = {"w_hr"} if model == "lstm" else set()
    if layer_norm:
        required |= {"ln_ih_w", "ln_ih_b", "ln_hh_w", "ln_hh_b"}
        if model == "lstm":
            required |= {"ln_c_w", "ln_c_b"}
    else:
        optional |= {"b_ih", "b_hh"}
    return required, optional


def _prepare_ex(model: str, x: ArrayLike, states: list[tuple[str, ArrayLike | None, str]],
                params: Mapping[str, ArrayLike], layer_norm: bool, rec_mask: ArrayLike | None
                ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray],
                           np.ndarray | None, tuple[int, int, int, int, int]]:
    """Check and convert the inputs of an extended forward pass.

    ``states`` is a list of (name, array or None, kind) with kind "h" (B, R)
    or "c" (B, H).  Returns (x, states, params, rec_mask, (T, B, I, H, R))
    as arrays of one common floating dtype (no copies when it already
    matches); None states become zeros.
    """
    required, optional = _param_names(model, layer_norm)
    given = set(params)
    if given - required - optional:
        raise ValueError(
            f"{model} params (layer_norm={bool(layer_norm)}) got unexpected keys "
            f"{sorted(given - required - optional)}; allowed: {sorted(required | optional)}"
        )
    if required - given:
        raise ValueError(
            f"{model} params (layer_norm={bool(layer_norm)}) miss {sorted(required - given)}"
        )

    arrays = [x, *params.values(), *[s for _, s, _ in states if s is not None]]
    if rec_mask is not None:
        arrays.append(rec_mask)
    dtype = np.result_type(*[np.asarray(a) for a in arrays])
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"inputs must be floating point arrays, got dtype {dtype}")
    x = np.asarray(x, dtype=dtype)
    p = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}

    G = NUM_GATES[model]
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, B, I), got {x.shape}")
    T, B, I = x.shape
    w_hh = p["w_hh"]
    if w_hh.ndim != 2 or w_hh.shape[0] % G != 0:
        raise ValueError(f"w_hh must have shape ({G}*H, R), got {w_hh.shape}")
    H = w_hh.shape[0] // G
    R = H
    if "w_hr" in p:
        if p["w_hr"].ndim != 2:
            raise ValueError(f"w_hr must have shape (P, H={H}), got {p['w_hr'].shape}")
        R = p["w_hr"].shape[0]
        _expect_shape("w_hr", p["w_hr"], (R, H))
    _expect_shape("w_hh", w_hh, (G * H, R))
    _expect_shape("w_ih", p["w_ih"], (G * H, I))
    for name in ("b_ih", "b_hh", "ln_ih_w", "ln_ih_b", "ln_hh_w", "ln_hh_b"):
        if name in p:
            _expect_shape(name, p[name], (G * H,))
    for name in ("ln_c_w", "ln_c_b"):
        if name in p:
            _expect_shape(name, p[name], (H,))

    out_states = []
    for name, s, kind in states:
        size = R if kind == "h" else H
        if s is None:
            s = np.zeros((B, size), dtype=dtype)
        else:
            s = _expect_shape(name, np.asarray(s, dtype=dtype), (B, size))
        out_states.append(s)
    if rec_mask is not None:
        rec_mask = _expect_shape("rec_mask", np.asarray(rec_mask, dtype=dtype), (B, R))
    return x, out_states, p, rec_mask, (T, B, I, H, R)


# ---------------------------------------------------------------------------
# The input and hidden projections (shared by the three cells)
# ---------------------------------------------------------------------------


def _project(inp, which, p, opt):
    """ax = W_ih x (+ b_ih) or LN_blocks(W_ih x) for which == "ih";
    ah likewise from hm for which == "hh".  Returns (a (B, G*H), LN cache or None)."""
    a = inp @ p[f"w_{which}"].T
    if opt.layer_norm:
        return layer_norm_blocks_forward(a, p[f"ln_{which}_w"], p[f"ln_{which}_b"],
                                         opt.num_gates, opt.eps)
    if f"b_{which}" in p:
        a = a + p[f"b_{which}"]
    return a, None


def _project_backward(da, inp, which, ln_cache, p, opt, grads):
    """Backward of ``_project``: accumulates the parameter gradients into
    ``grads`` and returns d inp."""
    if opt.layer_norm:
        da, dgain, dbias = layer_norm_blocks_backward(da, ln_cache, p[f"ln_{which}_w"])
        grads[f"ln_{which}_w"] += dgain
        grads[f"ln_{which}_b"] += dbias
    elif f"b_{which}" in p:
        grads[f"b_{which}"] += da.sum(axis=0)
    # a = inp W^T   (row-vector form of the batch)
    grads[f"w_{which}"] += da.T @ inp
    return da @ p[f"w_{which}"]


def _masked(h, opt):
    """hm = rec_mask * h (h itself without a mask)."""
    return h if opt.mask is None else opt.mask * h


# ---------------------------------------------------------------------------
# One step of each cell: the only place where the extended formulas live.
# Every step cache keeps "pre_rec" and "pre_act", the pre-activations that
# went through rec and act, for inspection (the tests keep them off kinks).
# ---------------------------------------------------------------------------


def _lstm_step(x, states, p, opt):
    """x (B, I), states [h (B, R), c (B, H)] -> [h' (B, R), c' (B, H)], step cache."""
    h, c = states
    hm = _masked(h, opt)
    ax, ln_x = _project(x, "ih", p, opt)
    ah, ln_h = _project(hm, "hh", p, opt)
    a_i, a_f, a_g, a_o = np.split(ax + ah, 4, axis=1)
    # i = rec(a_i), f = rec(a_f), g = act(a_g), o = rec(a_o)
    i, f, g, o = opt.rec(a_i), opt.rec(a_f), opt.act(a_g), opt.rec(a_o)
    # c' = f * c + i * g
    c_new = f * c + i * g
    # c^ = LN(c'; ln_c) or c'
    ln_c = None
    c_hat = c_new
    if opt.layer_norm:
        c_hat, ln_c = layer_norm_forward(c_new, p["ln_c_w"], p["ln_c_b"], opt.eps)
    # r = o * act(c^),  h' = W_hr r or r
    act_c = opt.act(c_hat)
    r = o * act_c
    h_new = r @ p["w_hr"].T if "w_hr" in p else r
    step = {"x": x, "hm": hm, "c": c, "i": i, "f": f, "g": g, "o": o, "act_c": act_c,
            "r": r, "ln_x": ln_x, "ln_h": ln_h, "ln_c": ln_c,
            "pre_rec": [a_i, a_f, a_o], "pre_act": [a_g, c_hat]}
    return [h_new, c_new], step


def _lstm_step_backward(dstates, s, p, opt, grads):
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
    dx = _project_backward(da, s["x"], "ih", s["ln_x"], p, opt, grads)
    dhm = _project_backward(da, s["hm"], "hh", s["ln_h"], p, opt, grads)
    # hm = rec_mask * h
    return dx, [_masked(dhm, opt), dc]


def _gru_step(x, states, p, opt):
    """x (B, I), states [h (B, H)] -> [h' (B, H)], step cache."""
    (h,) = states
    hm = _masked(h, opt)
    ax, ln_x = _project(x, "ih", p, opt)
    ah, ln_h = _project(hm, "hh", p, opt)
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


def _gru_step_backward(dstates, s, p, opt, grads):
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
    dx = _project_backward(dax, s["x"], "ih", s["ln_x"], p, opt, grads)
    dhm = _project_backward(dah, s["hm"], "hh", s["ln_h"], p, opt, grads)
    # h enters directly (through z) and masked (through hm)
    return dx, [dh_direct + _masked(dhm, opt)]


def _rnn_step(x, states, p, opt):
    """x (B, I), states [h (B, H)] -> [h' (B, H)], step cache."""
    (h,) = states
    hm = _masked(h, opt)
    ax, _ = _project(x, "ih", p, opt)
    ah, _ = _project(hm, "hh", p, opt)
    # h' = act(ax + ah)
    a = ax + ah
    h_new = opt.act(a)
    step = {"x": x, "hm": hm, "h_new": h_new, "pre_rec": [], "pre_act": [a]}
    return [h_new], step


def _rnn_step_backward(dstates, s, p, opt, grads):
    """[dh' (B, H)] -> dx (B, I), [dh (B, H)]."""
    (dh_new,) = dstates
    # h' = act(a)
    da = dh_new * opt.act.grad(s["h_new"])
    dx = _project_backward(da, s["x"], "ih", None, p, opt, grads)
    dhm = _project_backward(da, s["hm"], "hh", None, p, opt, grads)
    return dx, [_masked(dhm, opt)]


_STEPS = {
    "lstm": (_lstm_step, _lstm_step_backward),
    "gru": (_gru_step, _gru_step_backward),
    "rnn": (_rnn_step, _rnn_step_backward),
}


# ---------------------------------------------------------------------------
# The time loops (shared): lengths handling as in the plain references
# ---------------------------------------------------------------------------


def _sequence_forward(x, states, p, opt, lengths, sizes):
    """Run the cell of ``opt.model`` over x; states[0] is h, the output."""
    step_fn, _ = _STEPS[opt.model]
    T, B, I, H, R = sizes
    keep = _keep_mask(lengths, T, B)
    y = np.zeros((T, B, R), dtype=x.dtype)
    steps = []
    for t in range(T):
        new_states, step = step_fn(x[t], states, p, opt)
        # running sequences emit h' and move on; finished ones emit 0 and keep their states
        y[t] = np.where(keep[t], new_states[0], 0)
        states = [np.where(keep[t], new, old) for new, old in zip(new_states, states)]
        steps.append(step)
    cache = {"steps": steps, "keep": keep, "params": p, "options": opt,
             "sizes": sizes, "dtype": x.dtype}
    return y, [np.array(s, copy=True) for s in states], cache


def _sequence_backward(dy, dfinals, cache):
    """dy (T, B, R), dfinals [dh_n, (dc_n)] -> dx, [dh0, (dc0)], grads dict."""
    _, step_backward = _STEPS[cache["options"].model]
    T, B, I, H, R = cache["sizes"]
    dtype, keep, p, opt = cache["dtype"], cache["keep"], cache["params"], cache["options"]
    dy = _grad_or_zeros(dy, (T, B, R), dtype, "dy")
    names = ["dh_n", "dc_n"][: len(dfinals)]
    shapes = [(B, R), (B, H)]
    dstates = [_grad_or_zeros(d, shape, dtype, name)
               for d, shape, name in zip(dfinals, shapes, names)]

    dx = np.zeros((T, B, I), dtype=dtype)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    for t in reversed(range(T)):
        # while running, h' feeds both y[t] and the carried state (c' only the latter);
        # once finished, y[t] is a constant and the states skip the step
        dnew = [np.where(keep[t], dstates[0] + dy[t], 0)]
        dnew += [np.where(keep[t], d, 0) for d in dstates[1:]]
        dx[t], dprev = step_backward(dnew, cache["steps"][t], p, opt, grads)
        dstates = [np.where(keep[t], dp, d) for dp, d in zip(dprev, dstates)]
    return dx, [np.array(d, copy=True) for d in dstates], grads


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def lstm_forward_ex(x: ArrayLike, h0: ArrayLike | None, c0: ArrayLike | None,
                    params: Mapping[str, ArrayLike], lengths: ArrayLike | None = None, *,
                    activation: str = "tanh", activation_param: float | None = None,
                    recurrent_activation: str = "sigmoid", layer_norm: bool = False,
                    rec_mask: ArrayLike | None = None, eps: float = 1e-5
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an extended LSTM over a (possibly ragged) batch of sequences.

    x (T, B, I); h0 (B, R) or None; c0 (B, H) or None; params a dict (see
    the module docstring: w_ih (4H, I), w_hh (4H, R), optional w_hr (P, H)
    for a projection (then R = P, else R = H), biases or layer-norm
    parameters); lengths (B,) integers in [1, T] or None; rec_mask (B, R)
    or None.  ``activation`` (tanh, relu, leaky_relu, elu, sigmoid) is used
    for g and for the cell output; ``recurrent_activation`` (sigmoid,
    hard_sigmoid) for i, f, o; ``activation_param`` is the slope of
    leaky_relu (default 0.01) or the alpha of elu (default 1.0) and is
    ignored by the others; ``eps`` is the layer-norm epsilon.

    Returns ``(y, h_n, c_n, cache)``: y (T, B, R) with zeros past each
    sequence's end, h_n (B, R) and c_n (B, H) the states after each
    sequence's last step (c_n un-normalised), and the cache for
    ``lstm_backward_ex``.  Computed in the inputs' floating dtype.

    >>> rng = np.random.default_rng(0)
    >>> p = {"w_ih": rng.normal(size=(8, 3)), "w_hh": rng.normal(size=(8, 1)),
    ...      "w_hr": rng.normal(size=(1, 2))}
    >>> y, h_n, c_n, _ = lstm_forward_ex(rng.normal(size=(5, 4, 3)), None, None, p)
    >>> y.shape, h_n.shape, c_n.shape
    ((5, 4, 1), (4, 1), (4, 2))
    """
    x, states, p, rec_mask, sizes = _prepare_ex(
        "lstm", x, [("h0", h0, "h"), ("c0", c0, "c")], params, layer_norm, rec_mask)
    opt = _Options("lstm", activation, activation_param, recurrent_activation,
                   layer_norm, rec_mask, eps, x.dtype)
    y, (h_n, c_n), cache = _sequence_forward(x, states, p, opt, lengths, sizes)
    return y, h_n, c_n, cache


def lstm_backward_ex(dy: ArrayLike | None, dh_n: ArrayLike | None, dc_n: ArrayLike | None,
                     cache: dict[str, Any]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``lstm_forward_ex``.

    dy (T, B, R), dh_n (B, R), dc_n (B, H), each may be None (zeros);
    ``dy[t, b]`` for ``t >= lengths[b]`` is ignored.

    Returns ``(dx (T, B, I), dh0 (B, R), dc0 (B, H), grads)`` with ``grads``
    a dict with the keys of the forward's ``params``, each of its shape.
    """
    dx, (dh0, dc0), grads = _sequence_backward(dy, [dh_n, dc_n], cache)
    return dx, dh0, dc0, grads


def gru_forward_ex(x: ArrayLike, h0: ArrayLike | None, params: Mapping[str, ArrayLike],
                   lengths: ArrayLike | None = None, *, activation: str = "tanh",
                   activation_param: float | None = None, recurrent_activation: str = "sigmoid",
                   layer_norm: bool = False, rec_mask: ArrayLike | None = None,
                   eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an extended GRU over a (possibly ragged) batch of sequences.

    x (T, B, I); h0 (B, H) or None; params a dict (w_ih (3H, I),
    w_hh (3H, H), biases or layer-norm parameters, see the module
    docstring); lengths (B,) or None; rec_mask (B, H) or None.
    ``activation`` is used for the candidate n, ``recurrent_activation``
    for r and z; the other options are those of ``lstm_forward_ex``.

    Returns ``(y, h_n, cache)``: y (T, B, H) with zeros past each sequence's
    end, h_n (B, H) the state after each sequence's last step, and the
    cache for ``gru_backward_ex``.

    >>> rng = np.random.default_rng(0)
    >>> p = {"w_ih": rng.normal(size=(6, 3)), "w_hh": rng.normal(size=(6, 2))}
    >>> y, h_n, _ = gru_forward_ex(rng.normal(size=(5, 4, 3)), None, p,
    ...                            recurrent_activation="hard_sigmoid")
    >>> y.shape, h_n.shape
    ((5, 4, 2), (4, 2))
    """
    x, states, p, rec_mask, sizes = _prepare_ex(
        "gru", x, [("h0", h0, "h")], params, layer_norm, rec_mask)
    opt = _Options("gru", activation, activation_param, recurrent_activation,
                   layer_norm, rec_mask, eps, x.dtype)
    y, (h_n,), cache = _sequence_forward(x, states, p, opt, lengths, sizes)
    return y, h_n, cache


def gru_backward_ex(dy: ArrayLike | None, dh_n: ArrayLike | None, cache: dict[str, Any]
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``gru_forward_ex``.

    dy (T, B, H), dh_n (B, H), each may be None (zeros).

    Returns ``(dx (T, B, I), dh0 (B, H), grads)`` with ``grads`` a dict with
    the keys of the forward's ``params``.
    """
    dx, (dh0,), grads = _sequence_backward(dy, [dh_n], cache)
    return dx, dh0, grads


def rnn_forward_ex(x: ArrayLike, h0: ArrayLike | None, params: Mapping[str, ArrayLike],
                   lengths: ArrayLike | None = None, *, activation: str = "tanh",
                   activation_param: float | None = None, rec_mask: ArrayLike | None = None
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run an extended Elman RNN, h' = act(W_ih x + b_ih + W_hh (m * h) + b_hh).

    x (T, B, I); h0 (B, H) or None; params a dict with w_ih (H, I),
    w_hh (H, H) and optional b_ih, b_hh (H,); lengths (B,) or None;
    rec_mask (B, H) or None; ``activation`` and ``activation_param`` as in
    ``lstm_forward_ex``.  No layer norm.

    Returns ``(y (T, B, H), h_n (B, H), cache)``.

    >>> rng = np.random.default_rng(0)
    >>> p = {"w_ih": rng.normal(size=(2, 3)), "w_hh": rng.normal(size=(2, 2))}
    >>> y, h_n, _ = rnn_forward_ex(rng.normal(size=(5, 4, 3)), None, p, activation="elu")
    >>> y.shape
    (5, 4, 2)
    """
    x, states, p, rec_mask, sizes = _prepare_ex(
        "rnn", x, [("h0", h0, "h")], params, False, rec_mask)
    opt = _Options("rnn", activation, activation_param, "sigmoid", False, rec_mask,
                   1e-5, x.dtype)
    y, (h_n,), cache = _sequence_forward(x, states, p, opt, lengths, sizes)
    return y, h_n, cache


def rnn_backward_ex(dy: ArrayLike | None, dh_n: ArrayLike | None, cache: dict[str, Any]
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``rnn_forward_ex``.

    dy (T, B, H), dh_n (B, H), each may be None (zeros).

    Returns ``(dx (T, B, I), dh0 (B, H), grads)`` with ``grads`` a dict with
    the keys of the forward's ``params``.
    """
    dx, (dh0,), grads = _sequence_backward(dy, [dh_n], cache)
    return dx, dh0, grads
