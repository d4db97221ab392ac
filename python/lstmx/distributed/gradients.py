"""The one flat buffer a data-parallel step all-reduces, and how the ranks' gradients are
weighted in it (pure NumPy: no MPI here).

A loss that is a mean over the n_r tokens (or elements) of rank r's batch gives
``g_r = (1/n_r) Σ_{i in batch r} ∇ℓ_i``. The step of one process on the union of the N
batches needs ``g = (1/N) Σ_i ∇ℓ_i`` with ``N = Σ_r n_r``, so every rank sends
``n_r · g_r`` and, after the sum over ranks, divides by N::

    buffer (float32 or float64, the parameters' dtype)
    [ n_r·grad_0.ravel() | n_r·grad_1.ravel() | ... | n_r | failed_0 ... failed_{size-1} ]
                          parameters                  count   one flag per rank

    after the sum:  grad_p <- buffer_p / N      (N = Σ n_r; left at zero when N == 0)
                    failed ranks: the flags that are not zero

A rank whose step raised sends zeros and its own flag, so every rank learns in the same
collective which ranks failed, and none waits for a step that never comes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..nn.module import Parameter

__all__ = ["buffer_dtype", "pack_gradients", "unpack_gradients"]


def buffer_dtype(params: Sequence[Parameter]) -> np.dtype:
    """float64 when any parameter is float64, else float32 (a float32 model's gradients
    travel as float32: half the bytes; its counts stay exact up to 2**24 per step)."""
    if any(p.grad.dtype == np.float64 for p in params):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def pack_gradients(params: Sequence[Parameter], count: int, rank: int, size: int,
                   failed: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """This rank's buffer ``(P + 1 + size,)``: every ``p.grad`` raveled and multiplied by
    ``count`` (zeros when ``failed``), then ``count``, then the per-rank failure flags with
    this rank's set when ``failed``. ``out`` (the right length and dtype) is reused."""
    if not 0 <= rank < size:
        raise ValueError(f"rank must lie in [0, {size}), got {rank}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    total = sum(p.grad.size for p in params)
    dtype = buffer_dtype(params)
    if out is None or out.shape != (total + 1 + size,) or out.dtype != dtype:
        out = np.empty(total + 1 + size, dtype=dtype)
    start = 0
    for p in params:
        stop = start + p.grad.size
        if failed:
            out[start:stop] = 0
        else:
            np.multiply(p.grad.reshape(-1), count, out=out[start:stop])
        start = stop
    out[total] = 0 if failed else count
    out[total + 1:] = 0
    if failed:
        out[total + 1 + rank] = 1
    return out


def unpack_gradients(buffer: np.ndarray, params: Sequence[Parameter],
                     size: int) -> tuple[int, list[int]]:
    """Write the summed ``buffer`` back: ``p.grad = Σ_r n_r g_r / N`` for every parameter
    (cast to its dtype). Returns ``(N, failed ranks)``; with failed ranks the gradients are
    left untouched, with N == 0 they are set to zero."""
    total = sum(p.grad.size for p in params)
    if buffer.shape != (total + 1 + size,):
        raise ValueError(f"buffer has shape {buffer.shape}, expected ({total + 1 + size},) "
                         f"for {total} gradient entries and {size} ranks")
    failed = [int(r) for r in np.flatnonzero(buffer[total + 1:])]
    if failed:
        return 0, failed
    n = int(round(float(buffer[total])))
    start = 0
    for p in params:
        stop = start + p.grad.size
        if n:
            np.divide(buffer[start:stop].reshape(p.grad.shape), n, out=p.grad,
                      casting="same_kind")
        else:
            p.grad[...] = 0
        start = stop
    return n, []
