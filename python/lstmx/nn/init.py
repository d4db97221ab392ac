"""Weight initialisers for the recurrent layers, all drawn from a seeded generator.

Schemes (``init=`` of LSTM, GRU, RNN):

``"pytorch"`` (default)
    every weight and bias ~ U(−1/√H, 1/√H), as ``torch.nn.LSTM``.
``"orthogonal"``
    input weights Xavier/Glorot uniform per gate block, U(±√(6 / (fan_in + H)));
    recurrent weights orthogonal per (H, H) gate block; biases zero.
a callable ``f(name, shape, rng) -> array``
    called for every parameter (``name`` as in ``named_parameters``, e.g.
    ``"weight_hh_l0_reverse"``); must return an array of ``shape``.

Layer-norm gains (``ln_*_weight``) start at one and their biases (``ln_*_bias``) at zero
under either named scheme. With ``proj_size``, ``weight_hh`` (G*H, P) gets a semi-orthogonal
(H, P) block per gate and ``weight_hr`` (P, H) a semi-orthogonal matrix.

``forget_bias`` (LSTM only) is then added to the forget-gate block of every ``bias_ih``:
0 keeps PyTorch parity; 1.0 is the usual recommendation for learning long dependencies
(Jozefowicz, Zaremba and Sutskever, 2015).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# an ``init=`` scheme: a name, or ``f(name, shape, rng) -> array``
Scheme = str | Callable[[str, tuple[int, ...], np.random.Generator], Any]


def orthogonal(n: int, rng: np.random.Generator, m: int | None = None) -> np.ndarray:
    """An (n, m) matrix with orthonormal columns (m <= n) or rows (m > n); (n, n) orthogonal
    by default. Q of the QR of a Gaussian, signs fixed so that Q is uniformly distributed
    (each column multiplied by the sign of R's diagonal)."""
    m = n if m is None else m
    if m > n:
        return orthogonal(m, rng, n).T
    q, r = np.linalg.qr(rng.standard_normal((n, m)))
    return q * np.sign(np.diag(r))[None, :]


def init_array(scheme: Scheme, name: str, shape: tuple[int, ...], hidden_size: int, gates: int,
               rng: np.random.Generator) -> np.ndarray:
    """One parameter's initial values (float64) under ``scheme``."""
    if callable(scheme):
        value = np.asarray(scheme(name, shape, rng), dtype=np.float64)
        if value.shape != tuple(shape):
            raise ValueError(f"init returned shape {value.shape} for {name}, expected {tuple(shape)}")
        return value
    H = hidden_size
    if name.startswith("ln_"):
        return np.ones(shape) if "_weight" in name else np.zeros(shape)
    if scheme == "pytorch":
        k = 1.0 / np.sqrt(H)
        return rng.uniform(-k, k, size=shape)
    if name.startswith("bias"):
        return np.zeros(shape)
    if name.startswith("weight_hh"):
        return np.concatenate([orthogonal(H, rng, shape[1]) for _ in range(gates)], axis=0)
    if name.startswith("weight_hr"):
        return orthogonal(shape[0], rng, shape[1])
    limit = np.sqrt(6.0 / (shape[1] + H))  # weight_ih: Glorot per (H, fan_in) gate block
    return rng.uniform(-limit, limit, size=shape)


def check_scheme(scheme: Scheme) -> Scheme:
    if callable(scheme) or scheme in ("pytorch", "orthogonal"):
        return scheme
    raise ValueError(f"init must be 'pytorch', 'orthogonal' or a callable, got {scheme!r}")
