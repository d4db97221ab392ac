"""Reduced-precision products, NumPy only: int8 with per-row scales, and bfloat16.

The textbook of what ``lstmx.quantize`` computes and the oracle of the native kernels
(``lstmx._core.quantized_linear``, ``recurrent_forward(..., quantized=...)``). Only the
matrix products change; the gate math around them stays float32.

int8, per row v of a matrix (weights: each output row, once; activations: each input row,
at every product — "dynamic" quantization)::

    amax  = max_k |v[k]|                          float32
    q     = clip(rint(v * (127 / amax)), -127, 127)   int8 (round half to even)
    scale = amax / 127                             float32      (amax = 0: q = 0, scale = 0)

so that v ≈ q * scale. The product of x (M, K) and a weight W (N, K) is exact in integers,
then dequantized once::

    acc[m, n] = Σ_k xq[m, k] * wq[n, k]                 (exact: int64 here, int32 in C++)
    y[m, n]   = float32(acc) * (xs[m] * ws[n])  (+ bias[n])   (the scale product first)

bfloat16 keeps a float32's sign, exponent and top 7 mantissa bits (``to_bfloat16``: round to
nearest even, subnormals flushed to signed zero, NaN kept quiet). The product pairs the
inputs two by two as AVX-512 BF16's ``vdpbf16ps`` does, accumulating in float32::

    acc = 0;  for each pair p:  acc += x[2p+1] * w[2p+1];  acc += x[2p] * w[2p]

each bf16 × bf16 product exact in float32, each addition rounded to float32, a subnormal
sum flushed to zero (sign kept); K is padded with one zero when odd.

>>> import numpy as np
>>> w = np.array([[0.5, -1.0, 0.25]], np.float32)
>>> q, scale = quantize_int8(w)
>>> q, scale
(array([[  64, -127,   32]], dtype=int8), array([0.00787402], dtype=float32))
>>> x = np.ones((1, 3), np.float32)
>>> quantized_linear(x, quantize(w, "int8")), x @ w.T      # 127 * (64 - 127 + 32) / 127²
(array([[-0.24409449]], dtype=float32), array([[-0.25]], dtype=float32))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["DTYPES", "QuantizedWeight", "quantize", "quantize_int8", "int8_matmul",
           "to_bfloat16", "bfloat16_to_float32", "bfloat16_matmul", "quantized_linear",
           "quantized_matmul"]

DTYPES = ("int8", "bfloat16")

_F32 = np.float32
_Q = _F32(127)   # the largest int8 magnitude used (-128 is left out: the range is symmetric)


def _float32_matrix(a: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.float32 or a.ndim != 2:
        raise ValueError(f"{name} must be a float32 matrix (rows, K), got {a.dtype} {a.shape}")
    return a


# -- int8 -----------------------------------------------------------------------------------

def quantize_int8(v: ArrayLike, nonfinite: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization of each row of ``v`` (R, K) float32.

    Returns ``(q (R, K) int8, scale (R,) float32)`` with ``v ≈ q * scale[:, None]``.
    A row of zeros (or with max |v| < 3.7e-37, where 127 / max |v| overflows) gets ``q = 0``
    and ``scale = 0``. A row with a NaN or an infinity cannot be stood for
    by a scale: ``nonfinite="raise"`` (weights) raises ValueError naming the first such
    row; ``"nan"`` (activations, at every product) gives it ``q = 0`` and ``scale = NaN``,
    so that its products are NaN, as they would be in float32.
    """
    v = _float32_matrix(v, "v")
    finite = np.isfinite(v).all(axis=1)
    if not finite.all() and nonfinite == "raise":
        row = int(np.argmin(finite))
        bad = float(v[row][~np.isfinite(v[row])][0])
        raise ValueError(f"cannot quantize to int8: row {row} holds {bad}")
    v = np.where(finite[:, None], v, _F32(0))
    amax = np.abs(v).max(axis=1) if v.shape[1] else np.zeros(v.shape[0], _F32)
    # inv = 127 / amax and scale = amax / 127, both divisions in float32; a row whose
    # 127 / amax overflows (amax < 3.7e-37), like a row of zeros, counts as a zero row
    with np.errstate(divide="ignore", over="ignore"):
        inv = (_Q / amax).astype(_F32)
    zero = ~np.isfinite(inv)
    inv = np.where(zero, _F32(0), inv).astype(_F32)
    scale = np.where(finite, np.where(zero, _F32(0), amax / _Q), _F32(np.nan)).astype(_F32)
    # rint rounds half to even; the clip only guards against inv rounding up
    q = np.clip(np.rint(v * inv[:, None]), -127, 127).astype(np.int8)
    return q, scale


def int8_matmul(xq: np.ndarray, xs: np.ndarray, wq: np.ndarray, ws: np.ndarray) -> np.ndarray:
    """Dequantized product of row-quantized x (M, K) and W (N, K): float32 (M, N).

    ``acc = xq @ wq.T`` exactly (int64), then ``float32(acc) * (xs[m] * ws[n])``.
    """
    acc = xq.astype(np.int64) @ wq.astype(np.int64).T
    return acc.astype(_F32) * (xs.astype(_F32)[:, None] * ws.astype(_F32)[None, :])


# -- bfloat16 -------------------------------------------------------------------------------

def to_bfloat16(x: ArrayLike) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16, same shape).

    Round to nearest even on the 16 dropped bits; zeros and subnormals become a zero of the
    same sign; a NaN stays a (quiet) NaN; ±inf and overflow give ±inf.
    """
    x = np.ascontiguousarray(x, dtype=_F32)
    u = x.view(np.uint32)
    exponent = u & np.uint32(0x7F800000)
    nan = np.isnan(x)
    # u + 0x7FFF + lsb rounds the upper half to nearest, ties to the even upper half
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    out = np.where(exponent == 0, (u & np.uint32(0x80000000)) >> np.uint32(16),
                   np.where(nan, (u >> np.uint32(16)) | np.uint32(0x0040), rounded))
    return out.astype(np.uint16)


def bfloat16_to_float32(u: ArrayLike) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 (exact: the low 16 bits are zero)."""
    u = np.asarray(u, dtype=np.uint16)
    return (u.astype(np.uint32) << np.uint32(16)).view(_F32)


def _flush_subnormal(a: np.ndarray) -> np.ndarray:
    """Subnormal float32 values -> zero of the same sign (the BF16 unit's flush to zero)."""
    return np.where(np.abs(a) < np.finfo(_F32).tiny, np.copysign(_F32(0), a), a).astype(_F32)


def bfloat16_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Product of bfloat16 x (M, K) and W (N, K) (uint16 bit patterns): float32 (M, N),
    accumulated pair by pair as ``vdpbf16ps`` does (module docstring). Subnormal inputs
    count as zero, as they do for the instruction."""
    xf = _flush_subnormal(bfloat16_to_float32(x))
    wf = _flush_subnormal(bfloat16_to_float32(w))
    if xf.shape[1] % 2:  # pad K with one zero
        xf = np.pad(xf, ((0, 0), (0, 1)))
        wf = np.pad(wf, ((0, 0), (0, 1)))
    acc = np.zeros((xf.shape[0], wf.shape[0]), _F32)
    for p in range(xf.shape[1] // 2):
        for k in (2 * p + 1, 2 * p):
            # acc + x·w with one rounding (a fused multiply-add): the product is exact in
            # float64 (8 × 8 significant bits, no overflow or underflow there), and the sum
            # is rounded to float64, then to float32 (a double rounding that can differ from
            # one only in a float64 tie, which these operands practically never make)
            step = acc.astype(np.float64) + xf[:, k, None].astype(np.float64) * wf[None, :, k]
            acc = _flush_subnormal(step.astype(_F32))
    return acc


# -- quantized weights and the product of a layer --------------------------------------------

class QuantizedWeight(NamedTuple):
    """A weight matrix (N, K) in reduced precision: ``dtype`` "int8" (``data`` int8 and
    ``scale`` (N,) float32) or "bfloat16" (``data`` uint16 bit patterns, ``scale`` None)."""

    dtype: str
    data: np.ndarray
    scale: np.ndarray | None


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is one of ``DTYPES``; ValueError listing them otherwise."""
    if dtype not in DTYPES:
        raise ValueError(f"quantization dtype must be one of {', '.join(map(repr, DTYPES))}, "
                         f"got {dtype!r}")
    return dtype


def quantize(w: ArrayLike, dtype: str) -> QuantizedWeight:
    """The float32 weight ``w`` (N, K) in ``dtype`` ("int8" or "bfloat16")."""
    w = _float32_matrix(w, "w")
    if check_dtype(dtype) == "int8":
        return QuantizedWeight(dtype, *quantize_int8(w))
    return QuantizedWeight(dtype, to_bfloat16(w), None)


def quantized_linear(x: ArrayLike, weight: QuantizedWeight,
                     bias: ArrayLike | None = None) -> np.ndarray:
    """``x W^T (+ bias)`` with W quantized: x (M, K) float32 -> float32 (M, N).

    int8: x's rows quantized on the fly (``quantize_int8``), the exact integer product
    dequantized; bfloat16: x rounded to bfloat16 and multiplied pairwise in float32. The
    bias is added in float32 afterwards.
    """
    x = _float32_matrix(x, "x")
    if weight.dtype == "int8":
        assert weight.scale is not None  # int8 weights always carry their scales
        y = int8_matmul(*quantize_int8(x, nonfinite="nan"), weight.data, weight.scale)
    else:
        y = bfloat16_matmul(to_bfloat16(x), weight.data)
    if bias is not None:
        y = y + np.asarray(bias, _F32)
    return y


def quantized_matmul(dtype: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``matmul(inp, w) = inp @ w.T`` with both sides quantized to ``dtype``: pass it as
    ``matmul=`` to ``lstm_forward``, ``gru_forward`` or ``rnn_forward`` (float32 inputs and
    the float32 weights) to get the layer that ``lstmx.quantize`` makes, in the reference.

    >>> rng = np.random.default_rng(0)
    >>> from lstmx.reference import lstm_forward
    >>> p = {"w_ih": rng.normal(size=(8, 3)).astype(np.float32),
    ...      "w_hh": rng.normal(size=(8, 2)).astype(np.float32)}
    >>> x = rng.normal(size=(5, 4, 3)).astype(np.float32)
    >>> y, h_n, c_n, _ = lstm_forward(x, None, None, p, matmul=quantized_matmul("int8"))
    >>> y.shape, y.dtype
    ((5, 4, 2), dtype('float32'))
    """
    check_dtype(dtype)

    def matmul(inp: np.ndarray, w: np.ndarray) -> np.ndarray:
        return quantized_linear(inp, quantize(w, dtype))

    return matmul
