"""Small generated sequence tasks for examples and tests. All arrays are time-major.

- ``copy_task``: remember a random binary sequence and reproduce it after a delimiter.
- ``sine_series`` / ``series_split``: noisy sums of sines with a trend, cut into windows
  for next-step prediction, with a naive last-value baseline (``last_value_mse``).
- ``four_numbers``: sequences of 4 numbers labelled 1 when the last exceeds the first.
- ``make_batches``: cut (inputs, targets) arrays into the Trainer's batch tuples.

Every generator takes a ``seed`` (an int, a sequence of ints or a ``numpy.random.Generator``)
and returns float32 arrays unless ``dtype`` says otherwise.

Example::

    >>> x, y = copy_task(num_sequences=2, length=3, bits=1, seed=0)
    >>> x.shape, y.shape          # (2*3+1, N, bits+1), (3, N, bits)
    ((7, 2, 2), (3, 2, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..checks import positive_int

__all__ = ["copy_task", "bit_accuracy", "sine_series", "series_windows", "series_split",
           "SeriesSplit", "last_value_mse", "four_numbers", "make_batches"]

_Seed = int | Sequence[int] | np.random.Generator | None


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# -- copy task ------------------------------------------------------------------------------

def copy_task(num_sequences: int, length: int, bits: int = 1, seed: _Seed = None,
              dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Random binary sequences to copy.

    Layout over ``T = 2 * length + 1`` steps, ``bits`` data channels plus one delimiter::

        steps 0 .. L-1     input: the L random bit vectors           (the sequence)
        step  L            input: delimiter channel = 1              ("now repeat it")
        steps L+1 .. 2L    input: zeros; target: the L bit vectors   (the output period)

    Returns ``inputs (2L+1, N, bits+1)`` and ``targets (L, N, bits)``, the bits of the
    output period only (a model reads its outputs at the last L steps).
    """
    n, L, W = (positive_int(num_sequences, "num_sequences"), positive_int(length, "length"),
               positive_int(bits, "bits"))
    seq = _rng(seed).integers(0, 2, size=(L, n, W)).astype(dtype)
    inputs = np.zeros((2 * L + 1, n, W + 1), dtype=dtype)
    inputs[:L, :, :W] = seq
    inputs[L, :, W] = 1
    return inputs, seq.copy()


def bit_accuracy(logits: ArrayLike, targets: ArrayLike) -> float:
    """Fraction of bits where ``logits > 0`` equals ``targets > 0.5`` (any equal shapes)."""
    logits, targets = np.asarray(logits), np.asarray(targets)
    if logits.shape != targets.shape:
        raise ValueError(f"logits {logits.shape} and targets {targets.shape} must have one shape")
    return float(np.mean((logits > 0) == (targets > 0.5)))


# -- multivariate series --------------------------------------------------------------------

def sine_series(num_steps: int, num_features: int = 3, num_sines: int = 3, noise: float = 0.1,
                trend: float = 1.0, seed: _Seed = None,
                dtype: DTypeLike = np.float32) -> np.ndarray:
    """A ``(num_steps, num_features)`` series: per feature, a sum of ``num_sines`` sines of
    random periods (8 to 64 steps), amplitudes (0.2 to 1) and phases, plus a linear trend
    rising by about ``trend`` over the whole series, plus Gaussian noise of std ``noise``.
    Features share one of their sines, so they are correlated."""
    T, F = positive_int(num_steps, "num_steps"), positive_int(num_features, "num_features")
    K = positive_int(num_sines, "num_sines")
    rng = _rng(seed)
    t = np.arange(T, dtype=np.float64)[:, None, None]
    periods = rng.uniform(8, 64, size=(1, F, K))
    periods[..., 0] = periods[0, 0, 0]
    amps = rng.uniform(0.2, 1.0, size=(1, F, K))
    phases = rng.uniform(0, 2 * np.pi, size=(1, F, K))
    clean = (amps * np.sin(2 * np.pi * t / periods + phases)).sum(axis=2)
    slopes = trend * rng.uniform(0.5, 1.5, size=F) / T
    series = clean + slopes * t[:, :, 0] + noise * rng.standard_normal((T, F))
    return series.astype(dtype)


def series_windows(series: ArrayLike, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``window``-step slice of ``series (T, F)`` and the step after it:
    ``x (window, N, F)`` time-major and ``y (N, F)``, N = T - window."""
    series = np.asarray(series)
    if series.ndim != 2:
        raise ValueError(f"series must have shape (T, F), got {series.shape}")
    W = positive_int(window, "window")
    n = series.shape[0] - W
    if n < 1:
        raise ValueError(f"series of {series.shape[0]} steps is too short for window={W}")
    idx = np.arange(W)[:, None] + np.arange(n)[None, :]
    return np.ascontiguousarray(series[idx]), np.ascontiguousarray(series[W:])


class SeriesSplit(NamedTuple):
    """Windows for next-step prediction: ``train_x (W, N, F)``, ``train_y (N, F)``,
    ``val_x (W, M, F)``, ``val_y (M, F)``; ``series (T, F)`` is the whole series."""
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    series: np.ndarray


def series_split(num_steps: int = 2000, num_features: int = 3, window: int = 32,
                 val_fraction: float = 0.2, noise: float = 0.1, trend: float = 1.0,
                 seed: _Seed = None, dtype: DTypeLike = np.float32) -> SeriesSplit:
    """A ``sine_series`` split in time: the first ``1 - val_fraction`` of the steps give
    the training windows, the rest the validation windows (no window spans the cut, so no
    validation target is ever seen in training). Returns a ``SeriesSplit``."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    series = sine_series(num_steps, num_features, noise=noise, trend=trend, seed=seed,
                         dtype=dtype)
    cut = int(round(series.shape[0] * (1.0 - val_fraction)))
    train_x, train_y = series_windows(series[:cut], window)
    val_x, val_y = series_windows(series[cut:], window)
    return SeriesSplit(train_x, train_y, val_x, val_y, series)


def last_value_mse(x: ArrayLike, y: ArrayLike) -> float:
    """Mean squared error of the naive forecast "the next value equals the last one":
    ``mean((x[-1] - y)**2)`` for windows ``x (W, N, F)`` and targets ``y (N, F)``."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or x.shape[1:] != y.shape:
        raise ValueError(f"x must be (W, N, F) and y (N, F) with the same N, F; got {x.shape} "
                         f"and {y.shape}")
    return float(np.mean((x[-1].astype(np.float64) - y) ** 2))


# -- four numbers ---------------------------------------------------------------------------

def four_numbers(num_sequences: int, seed: _Seed = None, dtype: DTypeLike = np.float32
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of 4 numbers drawn uniformly from [0, 1), labelled 1.0 when the last
    number is larger than the first (so the model must remember the first), else 0.0.

    Returns ``x (4, N, 1)`` and ``y (N, 1)``; the classes are balanced on average.
    """
    n = positive_int(num_sequences, "num_sequences")
    x = _rng(seed).random((4, n, 1))
    y = (x[3] > x[0]).astype(dtype)
    return x.astype(dtype), y


# -- batches --------------------------------------------------------------------------------

def make_batches(inputs: np.ndarray, targets: np.ndarray, batch_size: int,
                 targets_time_major: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut time-major ``inputs (T, N, ...)`` and ``targets`` (``(N, ...)``, or
    ``(T', N, ...)`` with ``targets_time_major``) along N into a list of
    ``(inputs, targets)`` batches of ``batch_size`` (the last one may be smaller).
    Slices are C-contiguous copies."""
    B = positive_int(batch_size, "batch_size")
    axis = 1 if targets_time_major else 0
    n = inputs.shape[1]
    if targets.shape[axis] != n:
        raise ValueError(f"targets have {targets.shape[axis]} sequences along axis {axis}, "
                         f"inputs have {n} along axis 1")
    out = []
    for s in range(0, n, B):
        tgt = targets[:, s:s + B] if targets_time_major else targets[s:s + B]
        out.append((np.ascontiguousarray(inputs[:, s:s + B]), np.ascontiguousarray(tgt)))
    return out
