"""Element-wise activations used by the reference cells, and their derivatives.

Every function works on NumPy arrays of any shape and returns an array of the
same shape and floating dtype (float32 stays float32, float64 stays float64).

The derivatives are written in terms of the activation's OUTPUT ``y``, because
that is what the forward pass keeps and what the backward pass has at hand:

    sigmoid:  y = 1 / (1 + exp(-x))      dy/dx = y * (1 - y)
    tanh:     y = tanh(x)                dy/dx = 1 - y**2
    relu:     y = max(x, 0)              dy/dx = 1 if y > 0 else 0

For relu the derivative at x == 0 is taken to be 0 (PyTorch does the same).
With a parameter p, and a piecewise-linear sigmoid for the gates:

    leaky_relu:   y = x if x > 0 else s * x            dy/dx = 1 if y > 0 else s
                  (slope s = p, default 0.01)
    elu:          y = x if x > 0 else a * (exp(x) - 1) dy/dx = 1 if y > 0 else y + a
                  (alpha a = p, default 1.0)
    hard_sigmoid: y = clip(0.2 * x + 0.5, 0, 1)        dy/dx = 0.2 if 0 < y < 1 else 0

With s >= 0 and a >= 0, y > 0 exactly when x > 0, so the derivative can be
read from the output; at x == 0 it is the one from the left.  hard_sigmoid's
derivative is taken as 0 at both corners x == -2.5 and x == 2.5.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "sigmoid_grad_from_output",
    "tanh_grad_from_output",
    "relu_grad_from_output",
    "leaky_relu",
    "elu",
    "hard_sigmoid",
    "leaky_relu_grad_from_output",
    "elu_grad_from_output",
    "hard_sigmoid_grad_from_output",
    "ACTIVATIONS",
]


def sigmoid(x: ArrayLike) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), computed without overflow.

    ``exp`` is only ever evaluated at ``-|x| <= 0``, so it cannot overflow;
    for very large ``|x|`` it quietly underflows to 0, which gives exactly
    0 or 1 as it should.
    """
    x = np.asarray(x)
    # e = exp(-|x|) lies in (0, 1]
    e = np.exp(-np.abs(x))
    # x >= 0:  sigmoid(x) = 1 / (1 + exp(-x))       = 1 / (1 + e)
    # x <  0:  sigmoid(x) = exp(x) / (1 + exp(x))   = e / (1 + e)
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x: ArrayLike) -> np.ndarray:
    """Hyperbolic tangent (NumPy's is already stable for large ``|x|``)."""
    return np.tanh(x)


def relu(x: ArrayLike) -> np.ndarray:
    """Rectified linear unit max(x, 0)."""
    x = np.asarray(x)
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def sigmoid_grad_from_output(y: np.ndarray) -> np.ndarray:
    """d sigmoid(x) / dx, given ``y = sigmoid(x)``:  y * (1 - y)."""
    return y * (1 - y)


def tanh_grad_from_output(y: np.ndarray) -> np.ndarray:
    """d tanh(x) / dx, given ``y = tanh(x)``:  1 - y**2."""
    return 1 - y * y


def relu_grad_from_output(y: ArrayLike) -> np.ndarray:
    """d relu(x) / dx, given ``y = relu(x)``:  1 where y > 0, else 0."""
    y = np.asarray(y)
    return (y > 0).astype(y.dtype)


def leaky_relu(x: ArrayLike, slope: float = 0.01) -> np.ndarray:
    """Leaky rectifier: x where x > 0, ``slope * x`` elsewhere."""
    x = np.asarray(x)
    s = x.dtype.type(slope)
    return np.where(x > 0, x, s * x)


def elu(x: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit: x where x > 0, ``alpha * (exp(x) - 1)`` elsewhere.

    ``expm1`` is evaluated at ``min(x, 0)`` only, so it cannot overflow and
    keeps its accuracy near 0.
    """
    x = np.asarray(x)
    a = x.dtype.type(alpha)
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def hard_sigmoid(x: ArrayLike) -> np.ndarray:
    """Piecewise-linear sigmoid (the Keras one): clip(0.2 * x + 0.5, 0, 1)."""
    x = np.asarray(x)
    # Python floats are "weak" in NumPy 2: float32 stays float32
    return np.clip(0.2 * x + 0.5, 0, 1)


def leaky_relu_grad_from_output(y: ArrayLike, slope: float = 0.01) -> np.ndarray:
    """d leaky_relu(x) / dx, given ``y = leaky_relu(x)``: 1 where y > 0, else slope."""
    y = np.asarray(y)
    return np.where(y > 0, y.dtype.type(1), y.dtype.type(slope))


def elu_grad_from_output(y: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """d elu(x) / dx, given ``y = elu(x)``: 1 where y > 0, else ``y + alpha``
    (for x <= 0, d/dx alpha (exp(x) - 1) = alpha exp(x) = y + alpha)."""
    y = np.asarray(y)
    return np.where(y > 0, y.dtype.type(1), y + y.dtype.type(alpha))


def hard_sigmoid_grad_from_output(y: ArrayLike) -> np.ndarray:
    """d hard_sigmoid(x) / dx, given ``y = hard_sigmoid(x)``: 0.2 where 0 < y < 1, else 0."""
    y = np.asarray(y)
    return np.where((y > 0) & (y < 1), y.dtype.type(0.2), y.dtype.type(0))


# name -> (activation(x, p), derivative from output(y, p), default p or None).
# p is the slope of leaky_relu and the alpha of elu; the other activations
# take no parameter and ignore it.
ACTIVATIONS = {
    "tanh": (lambda x, p: tanh(x), lambda y, p: tanh_grad_from_output(y), None),
    "relu": (lambda x, p: relu(x), lambda y, p: relu_grad_from_output(y), None),
    "leaky_relu": (leaky_relu, leaky_relu_grad_from_output, 0.01),
    "elu": (elu, elu_grad_from_output, 1.0),
    "sigmoid": (lambda x, p: sigmoid(x), lambda y, p: sigmoid_grad_from_output(y), None),
    "hard_sigmoid": (lambda x, p: hard_sigmoid(x),
                     lambda y, p: hard_sigmoid_grad_from_output(y), None),
}
