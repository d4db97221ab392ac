"""What the three reference cells share: their options, the checks of their inputs, and the
input and hidden projections of one step.

Parameters come in one dict, PyTorch's names where it has them (G = 4 gates for the LSTM
(i, f, g, o), 3 for the GRU (r, z, n), 1 for the RNN; H hidden size; R = P with an LSTM
projection of size P, else R = H):

    w_ih     (G*H, I)   input-to-hidden weights, gate blocks in order
    w_hh     (G*H, R)   hidden-to-hidden weights
    w_hr     (P, H)     LSTM projection; present <=> the projection is on
  without layer norm, each optional (absent = no bias):
    b_ih     (G*H,)     input bias
    b_hh     (G*H,)     hidden bias
  with layer norm, all required (and no b_ih / b_hh: the LN biases play their role):
    ln_ih_w, ln_ih_b  (G*H,)   gains and biases of LN(W_ih x)
    ln_hh_w, ln_hh_b  (G*H,)   gains and biases of LN(W_hh hm)
    ln_c_w,  ln_c_b   (H,)     LSTM only: gain and bias of LN(c)

The projections of one step, where hm = rec_mask * h (hm = h without a mask) and LN_blocks
normalises each of the G gate blocks on its own (``layer_norm.py``):

    without layer norm:  ax = W_ih x + b_ih,            ah = W_hh hm + b_hh
    with layer norm:     ax = LN_blocks(W_ih x; ln_ih), ah = LN_blocks(W_hh hm; ln_hh)

Options (PyTorch's cell by default): ``activation`` (tanh, relu, leaky_relu with slope
``activation_param`` (default 0.01), elu with alpha ``activation_param`` (default 1.0), or
sigmoid), ``recurrent_activation`` for the gates (sigmoid or hard_sigmoid), ``layer_norm``
with epsilon ``eps``, and ``rec_mask`` (B, R), a recurrent dropout mask already scaled
(entries 0 or 1/(1-p)), the same at every step.

The weight products (``inp @ W.T`` for w_ih, w_hh, w_hr) go through ``product``: the float
product, or the call's ``matmul(inp, W)`` when given one (forward only), which is how
``quantized.py`` runs these cells with int8 or bfloat16 products.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from .activations import ACTIVATIONS
from .layer_norm import layer_norm_blocks_backward, layer_norm_blocks_forward

NUM_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]  # matmul(inp, W) = inp @ W.T
CELL_ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "sigmoid")
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")


class Nonlinearity:
    """An activation with its parameter bound: ``f(x)`` and ``f.grad(y)`` (from the output)."""

    def __init__(self, name, param, allowed, argument):
        if name not in allowed:
            raise ValueError(f"{argument} must be one of {list(allowed)}, got {name!r}")
        self.name = name
        self._fn, self._grad, default = ACTIVATIONS[name]
        # the parameter only means something to leaky_relu and elu
        self.param = None
        if default is not None:
            self.param = default if param is None else float(param)
            # s >= 0 and alpha >= 0 keep "y > 0 <=> x > 0", which the derivative-from-output
            # relies on
            if not (math.isfinite(self.param) and self.param >= 0):
                raise ValueError(
                    f"activation_param of {name} must be a finite number >= 0, got {param!r}")

    def __call__(self, x):
        return self._fn(x, self.param)

    def grad(self, y):
        return self._grad(y, self.param)


class Options:
    """The settings of one call, checked: what every step needs besides arrays."""

    def __init__(self, cell: str, activation: str, activation_param: float | None,
                 recurrent_activation: str, layer_norm: bool, eps: float,
                 rec_mask: np.ndarray | None, matmul: MatMul | None = None) -> None:
        self.num_gates = NUM_GATES[cell]
        self.act = Nonlinearity(activation, activation_param, CELL_ACTIVATIONS, "activation")
        self.rec = Nonlinearity(recurrent_activation, None, RECURRENT_ACTIVATIONS,
                                "recurrent_activation")
        self.layer_norm = bool(layer_norm)
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.eps = eps
        self.mask = rec_mask
        self.matmul = matmul


def _expect_shape(name, array, shape):
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    return array


def _param_names(cell, layer_norm):
    """(required, optional) parameter names of one configuration."""
    required = {"w_ih", "w_hh"}
    optional = {"w_hr"} if cell == "lstm" else set()
    if layer_norm:
        required |= {"ln_ih_w", "ln_ih_b", "ln_hh_w", "ln_hh_b"}
        if cell == "lstm":
            required |= {"ln_c_w", "ln_c_b"}
    else:
        optional |= {"b_ih", "b_hh"}
    return required, optional


def prepare(cell: str, x: ArrayLike, states: Mapping[str, ArrayLike | None],
            params: Mapping[str, ArrayLike], rec_mask: ArrayLike | None, layer_norm: bool,
            sequence: bool
            ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray], np.ndarray | None]:
    """Check the inputs of a forward call and convert them to one common floating dtype
    (no copies when it already matches).

    x (T, B, I) if ``sequence`` else (B, I); ``states`` maps names (h0, c0 or h, c) to
    (B, R) for h, (B, H) for c, or None (zeros). Returns (x, states as a list, params,
    rec_mask).
    """
    required, optional = _param_names(cell, layer_norm)
    given = set(params)
    if given - required - optional:
        raise ValueError(f"{cell} params (layer_norm={bool(layer_norm)}) got unexpected keys "
                         f"{sorted(given - required - optional)}; allowed: "
                         f"{sorted(required | optional)}")
    if required - given:
        raise ValueError(f"{cell} params (layer_norm={bool(layer_norm)}) miss "
                         f"{sorted(required - given)}")

    arrays = [x, *params.values(), *[s for s in states.values() if s is not None]]
    if rec_mask is not None:
        arrays.append(rec_mask)
    dtype = np.result_type(*[np.asarray(a) for a in arrays])
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"inputs must be floating point arrays, got dtype {dtype}")
    x = np.asarray(x, dtype=dtype)
    p = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}

    if x.ndim != (3 if sequence else 2):
        raise ValueError(f"x must have shape {'(T, B, I)' if sequence else '(B, I)'}, "
                         f"got {x.shape}")
    B, I = x.shape[-2:]
    G = NUM_GATES[cell]
    w_hh = p["w_hh"]
    if w_hh.ndim != 2 or w_hh.shape[0] % G != 0:
        raise ValueError(f"w_hh must have shape ({G}*H, R), got {w_hh.shape}")
    H = R = w_hh.shape[0] // G
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
    for name, s in states.items():
        shape = (B, R if name.startswith("h") else H)
        out_states.append(np.zeros(shape, dtype) if s is None
                          else _expect_shape(name, np.asarray(s, dtype=dtype), shape))
    mask = None
    if rec_mask is not None:
        mask = _expect_shape("rec_mask", np.asarray(rec_mask, dtype=dtype), (B, R))
    return x, out_states, p, mask


def masked(h, opt):
    """hm = rec_mask * h (h itself without a mask)."""
    return h if opt.mask is None else opt.mask * h


def product(inp, name, p, opt):
    """inp W^T for the weight ``name`` (w_ih, w_hh, w_hr): the float product, or the call's
    ``matmul`` (module docstring)."""
    w = p[name]
    return inp @ w.T if opt.matmul is None else opt.matmul(inp, w)


def project(inp, which, p, opt):
    """ax = W_ih x (+ b_ih) or LN_blocks(W_ih x) for which == "ih"; ah likewise from hm for
    which == "hh". Returns (a (B, G*H), layer-norm cache or None)."""
    a = product(inp, f"w_{which}", p, opt)
    if opt.layer_norm:
        return layer_norm_blocks_forward(a, p[f"ln_{which}_w"], p[f"ln_{which}_b"],
                                         opt.num_gates, opt.eps)
    if f"b_{which}" in p:
        a = a + p[f"b_{which}"]
    return a, None


def project_backward(da, inp, which, ln_cache, p, opt, grads):
    """Backward of ``project``: adds the parameter gradients into ``grads``; returns d inp."""
    if opt.layer_norm:
        da, dgain, dbias = layer_norm_blocks_backward(da, ln_cache, p[f"ln_{which}_w"])
        grads[f"ln_{which}_w"] += dgain
        grads[f"ln_{which}_b"] += dbias
    elif f"b_{which}" in p:
        grads[f"b_{which}"] += da.sum(axis=0)
    # a = inp W^T   (row-vector form of the batch)
    grads[f"w_{which}"] += da.T @ inp
    return da @ p[f"w_{which}"]
