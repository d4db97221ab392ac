"""Matrix products on lstmx's own threads.

NumPy's ``@`` runs on NumPy's BLAS, which lstmx's training and decoding loops pin to one
thread (see ``threads.py``) and which may be pinned to older SIMD kernels. The products in
those loops (cell projections, output layers, attention) go through ``mm`` instead: the
native GEMM of the sequence kernels (AVX-512 where the CPU has it), on the same OpenMP
team, with the GIL released. Same results as ``@`` to float rounding.
"""

from __future__ import annotations

import numpy as np

from . import _core

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def mm(a: np.ndarray, b: np.ndarray, *, ta: bool = False, tb: bool = False,
       out: np.ndarray | None = None, beta: float = 0.0) -> np.ndarray:
    """``op(a) @ op(b)`` for 2-D arrays, ``op(x) = x.T`` when its flag is set.

    With ``out`` (C-contiguous, shape (m, n), a's dtype) the result is written there as
    ``op(a) @ op(b) + beta * out`` and ``out`` is returned: ``beta=1`` accumulates a
    gradient in place. Arrays of other dtypes (or mixed ones) fall back to NumPy."""
    if a.dtype in _NATIVE and a.dtype == b.dtype and a.ndim == 2 and b.ndim == 2:
        return _core.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), out, ta, tb, beta)
    y = (a.T if ta else a) @ (b.T if tb else b)
    if out is None:
        return y
    out *= beta
    out += y
    return out


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ weight.T (+ bias)`` over all leading axes of x: (..., in) -> (..., out)."""
    y = mm(x.reshape(-1, x.shape[-1]), weight, tb=True)
    if bias is not None:
        y += bias
    return y.reshape(x.shape[:-1] + (weight.shape[0],))
