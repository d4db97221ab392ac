"""Losses with explicit forward/backward: softmax cross-entropy, MSE, BCE with logits.

``loss.forward(...)`` returns the mean loss as a Python float and keeps what ``backward``
needs; ``loss.backward()`` returns the gradient of that mean with respect to the first
argument (logits or predictions) and consumes the forward (a second backward raises
RuntimeError). ``num_tokens`` after a forward is how many terms the mean was taken over,
so ``loss * num_tokens`` is the sum, for averaging over batches of different sizes.

Float inputs must be float32 or float64 numpy arrays of one dtype (TypeError otherwise,
never a silent cast); shapes are checked before any work (ValueError naming the argument).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _check_float(value, name, dtype=None):
    """``value`` must be a float32/float64 ndarray (of ``dtype`` when given)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
    if dtype is None and value.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have dtype float32 or float64, got {value.dtype}")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{name} has dtype {value.dtype}, expected {dtype} (the dtype of the "
                        f"predictions); lstmx does not cast silently")


def _check_mask(mask, shape, describe):
    """A bool ndarray of ``shape``, or None."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy.ndarray of dtype bool, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"mask must have shape {describe} = {shape}, got {mask.shape}")
    return mask


class _Loss:
    """Shared plumbing: ``loss(...)`` is ``loss.forward(...)``; one backward per forward."""

    forward: Callable[..., float]  # defined by each loss

    def __init__(self) -> None:
        self._saved: tuple[Any, ...] | None = None
        self.num_tokens = 0

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        return self.forward(*args, **kwargs)

    def _take_saved(self):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a forward() first "
                               "(one backward per forward)")
        saved, self._saved = self._saved, None
        return saved

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy over the last axis, mean over real tokens.

    ``forward(logits (..., V) float, targets (...) int, mask (...) bool or None) -> float``.
    With label smoothing ε the target distribution is ``(1 − ε)·onehot + ε/V`` (PyTorch's
    definition), so a token's loss is ``(1 − ε)(lse − z_t) + ε(lse − mean_v z_v)`` with
    ``lse = log Σ_v exp z_v`` computed stably (max subtracted). Tokens where ``mask`` is
    False are left out of the mean and get zero gradient; their targets are not read (any
    value, e.g. -100, is allowed there). Real targets outside [0, V) raise ValueError. When
    the mask selects no token the loss is 0.0 and the gradient zero. ``backward() -> dlogits
    (..., V)``, the gradient of the mean: ``(softmax − q) / num_tokens`` on real tokens.

    Example::

        >>> ce = CrossEntropyLoss(label_smoothing=0.1)
        >>> logits = np.zeros((4, 2, 5), np.float32)            # (T, B, V)
        >>> targets = np.array([[1, 2]] * 4)
        >>> mask = np.array([[True, True]] * 3 + [[True, False]])
        >>> round(ce(logits, targets, mask), 4), ce.num_tokens   # log(5)
        (1.6094, 7)
        >>> ce.backward().shape
        (4, 2, 5)
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: np.ndarray, targets: np.ndarray,
                mask: np.ndarray | None = None) -> float:
        _check_float(logits, "logits")
        if logits.ndim < 1 or logits.shape[-1] < 1:
            raise ValueError(f"logits must have shape (..., V) with V >= 1, got {logits.shape}")
        lead, V = logits.shape[:-1], logits.shape[-1]
        if not isinstance(targets, np.ndarray):
            raise TypeError(f"targets must be a numpy.ndarray of integers, "
                            f"got {type(targets).__name__}")
        if targets.dtype.kind not in "iu":
            raise TypeError(f"targets must hold integers, got dtype {targets.dtype}")
        if targets.shape != lead:
            raise ValueError(f"targets must have shape logits.shape[:-1] = {lead}, "
                             f"got {targets.shape}")
        mask = _check_mask(mask, lead, "targets.shape")
        t = targets.reshape(-1)
        if mask is not None:
            keep = mask.reshape(-1)
            t = np.where(keep, t, 0)
        if t.size and (t.min() < 0 or t.max() >= V):
            bad = (t < 0) | (t >= V)
            where = np.unravel_index(np.argmax(bad), lead)
            raise ValueError(f"targets[{', '.join(map(str, where))}]={targets[where]} is out of "
                             f"range [0, V={V}) at a real (unmasked) token")

        z = logits.reshape(-1, V)
        rows = np.arange(z.shape[0])
        # log-softmax, stable: lse = m + log Σ exp(z − m), m = max_v z
        m = z.max(axis=1, keepdims=True)
        p = np.subtract(z, m)
        np.exp(p, out=p)
        s = p.sum(axis=1, keepdims=True)
        lse = (np.log(s) + m)[:, 0]
        eps = self.label_smoothing
        per_token = (1.0 - eps) * (lse - z[rows, t])
        if eps:
            per_token += eps * (lse - z.mean(axis=1))
        if mask is None:
            n, total = t.size, per_token.sum(dtype=np.float64)
        else:
            n, total = int(np.count_nonzero(keep)), per_token[keep].sum(dtype=np.float64)
        p /= s  # softmax, kept for backward
        self._saved = (p, rows, t, None if mask is None else keep, n, logits.shape)
        self.num_tokens = n
        return float(total / n) if n else 0.0

    def backward(self) -> np.ndarray:
        p, rows, t, keep, n, shape = self._take_saved()
        # d(mean)/dz = (softmax − q) / n,  q = (1 − ε)·onehot(t) + ε/V
        eps, V = self.label_smoothing, shape[-1]
        p[rows, t] -= 1.0 - eps
        if eps:
            p -= eps / V
        p *= 1.0 / n if n else 0.0
        if keep is not None:
            p[~keep] = 0.0
        return p.reshape(shape)

    def __repr__(self) -> str:
        return f"CrossEntropyLoss(label_smoothing={self.label_smoothing})"


def _masked_mean_setup(pred, target, mask):
    """Checks shared by MSE and BCE; returns the mask broadcast to ``pred`` (or None) and
    the number of averaged elements."""
    _check_float(pred, "pred")
    _check_float(target, "target", pred.dtype)
    if target.shape != pred.shape:
        raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    if mask is None:
        return None, pred.size
    mask = _check_mask(mask, pred.shape[:np.ndim(mask)], "pred.shape[:mask.ndim]")
    full = mask.reshape(mask.shape + (1,) * (pred.ndim - mask.ndim))
    per_position = int(np.prod(pred.shape[mask.ndim:], dtype=np.int64))
    return np.broadcast_to(full, pred.shape), int(np.count_nonzero(mask)) * per_position


def _mean(values, mask, n):
    if n == 0:
        return 0.0
    picked = values if mask is None else values[mask]
    return float(picked.sum(dtype=np.float64) / n)


def _scaled(grad, mask, n):
    """``grad / n`` with masked-out elements zeroed (in place)."""
    grad *= 1.0 / n if n else 0.0
    if mask is not None:
        grad[~mask] = 0.0
    return grad


class MSELoss(_Loss):
    """Mean squared error ``mean((pred − target)²)`` over all elements.

    ``forward(pred, target, mask=None) -> float``; pred and target float arrays of one
    shape and dtype. An optional bool ``mask`` of shape ``pred.shape[:k]`` (e.g. (T, B) for
    (T, B, F) predictions) averages over the real positions only.
    ``backward() -> dpred = 2 (pred − target) / num_tokens`` (zero where masked).

    Example::

        >>> mse = MSELoss()
        >>> mse(np.array([1.0, 3.0]), np.array([0.0, 1.0]))
        2.5
        >>> mse.backward()
        array([1., 2.])
    """

    def forward(self, pred: np.ndarray, target: np.ndarray,
                mask: np.ndarray | None = None) -> float:
        mask, n = _masked_mean_setup(pred, target, mask)
        diff = pred - target
        self._saved = (diff, mask, n)
        self.num_tokens = n
        return _mean(diff * diff, mask, n)

    def backward(self) -> np.ndarray:
        diff, mask, n = self._take_saved()
        diff *= 2.0
        return _scaled(diff, mask, n)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, mean over elements (``torch.nn.BCEWithLogitsLoss``).

    Per element, stable for any logit x and target y in [0, 1] (soft targets allowed)::

        max(x, 0) − x·y + log(1 + exp(−|x|))

    ``forward(logits, target, mask=None) -> float`` (mask as in MSELoss);
    ``backward() -> dlogits = (sigmoid(x) − y) / num_tokens`` (zero where masked).

    Example::

        >>> bce = BCEWithLogitsLoss()
        >>> round(bce(np.array([0.0, 100.0]), np.array([1.0, 1.0])), 6)   # (log 2 + 0) / 2
        0.346574
    """

    def forward(self, logits: np.ndarray, target: np.ndarray,
                mask: np.ndarray | None = None) -> float:
        mask, n = _masked_mean_setup(logits, target, mask)
        e = np.exp(-np.abs(logits))
        per_element = np.maximum(logits, 0) - logits * target + np.log1p(e)
        # sigmoid(x) from the same exp(−|x|): 1/(1+e) for x ≥ 0, e/(1+e) for x < 0
        sig = np.where(logits >= 0, 1.0, e) / (1.0 + e)
        sig -= target
        self._saved = (sig, mask, n)
        self.num_tokens = n
        return _mean(per_element, mask, n)

    def backward(self) -> np.ndarray:
        grad, mask, n = self._take_saved()
        return _scaled(grad, mask, n)
