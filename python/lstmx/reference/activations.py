"""Element-wise activations used by the reference cells, and their derivatives.

Every function works on NumPy arrays of any shape and returns an array of the
same shape and floating dtype (float32 stays float32, float64 stays float64).

The derivatives are written in terms of the activation's OUTPUT ``y``, because
that is what the forward pass keeps and what the backward pass has at hand:

    sigmoid:  y = 1 / (1 + exp(-x))      dy/dx = y * (1 - y)
    tanh:     y = tanh(x)                dy/dx = 1 - y**2
    relu:     y = max(x, 0)              dy/dx = 1 if y > 0 else 0

For relu the derivative at x == 0 is taken to be 0 (PyTorch does the same).
"""

import numpy as np

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "sigmoid_grad_from_output",
    "tanh_grad_from_output",
    "relu_grad_from_output",
    "NONLINEARITIES",
]


def sigmoid(x):
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


def tanh(x):
    """Hyperbolic tangent (NumPy's is already stable for large ``|x|``)."""
    return np.tanh(x)


def relu(x):
    """Rectified linear unit max(x, 0)."""
    x = np.asarray(x)
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def sigmoid_grad_from_output(y):
    """d sigmoid(x) / dx, given ``y = sigmoid(x)``:  y * (1 - y)."""
    return y * (1 - y)


def tanh_grad_from_output(y):
    """d tanh(x) / dx, given ``y = tanh(x)``:  1 - y**2."""
    return 1 - y * y


def relu_grad_from_output(y):
    """d relu(x) / dx, given ``y = relu(x)``:  1 where y > 0, else 0."""
    y = np.asarray(y)
    return (y > 0).astype(y.dtype)


# name -> (activation, derivative from output); used by the plain RNN cell.
NONLINEARITIES = {
    "tanh": (tanh, tanh_grad_from_output),
    "relu": (relu, relu_grad_from_output),
}
