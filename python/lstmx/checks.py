"""Argument checks shared by the layers: clear errors before any work starts.

Every message names the argument and says what was expected, e.g.
``ValueError: x must have shape (T, B, input_size=8), got (5, 3, 7)``.
Arrays of the wrong dtype are refused, never cast: a float64 batch fed to a float32
layer is a TypeError that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike


def positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int >= 1 (bool refused); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_array(value: Any, name: str, dtype: DTypeLike, shape: Sequence[int | None],
                describe: str) -> np.ndarray:
    """Return ``value`` as a C-contiguous array of ``dtype`` and ``shape``.

    ``shape`` is a tuple whose entries are ints or None (any size); ``describe`` is the
    shape as the user should read it, e.g. ``"(B, H)"``. A non-contiguous array is
    copied once; a wrong dtype raises TypeError; a wrong rank or size raises ValueError.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {value.dtype}, expected {np.dtype(dtype)} (the layer's dtype); "
            f"lstmx does not cast silently: convert with {name}.astype(np.{np.dtype(dtype)})")
    ok = value.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(value.shape, shape))
    if not ok:
        raise ValueError(f"{name} must have shape {describe}, got {value.shape}")
    return np.ascontiguousarray(value)


def check_lengths(lengths: ArrayLike | None, batch: int, steps: int) -> np.ndarray | None:
    """Return ``lengths`` as an int64 array (B,) with every value in [1, T], or None."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must hold integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths must have shape (B,) = ({batch},), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    for b, n in enumerate(arr):
        if n < 1:
            raise ValueError(f"lengths[{b}]={n} is below 1; every sequence needs at least one step")
        if n > steps:
            raise ValueError(f"lengths[{b}]={n} exceeds sequence length T={steps}")
    return arr


def check_float_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """The layer dtype as np.dtype: float32 or float64."""
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt
