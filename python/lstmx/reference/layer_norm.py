"""Layer normalisation (Ba, Kiros and Hinton, 2016), forward and backward, NumPy only.

Each vector ``a`` of size H along the last axis is normalised on its own and
then scaled and shifted by a gain ``gamma`` and a bias ``beta`` (both (H,)):

    mu   = mean(a)
    v    = mean((a - mu)**2)            (biased variance, as torch)
    rstd = 1 / sqrt(v + eps)
    n    = (a - mu) * rstd
    out  = gamma * n + beta

Backward, given dout = dL/dout:

    dgamma = sum over vectors of dout * n
    dbeta  = sum over vectors of dout
    dn     = dout * gamma
    da     = rstd * (dn - mean(dn) - n * mean(dn * n))

The "blocks" variants normalise a (B, G*H) array of G gate blocks: each block
``a[:, g*H:(g+1)*H]`` of each row separately, with gains and biases (G*H,)
laid out block after block.  This is how the LSTM and GRU with layer norm
normalise the input and hidden projections of their gates.

Everything is computed in the dtype of ``a``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "layer_norm_forward",
    "layer_norm_backward",
    "layer_norm_blocks_forward",
    "layer_norm_blocks_backward",
]


def layer_norm_forward(a: ArrayLike, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
                       ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Normalise ``a`` (..., H) over its last axis; gamma, beta (H,) (or any
    shape that broadcasts against ``a``, such as (G, H) for gate blocks).

    Returns ``(out, cache)``: out (..., H) and the cache ``(n, rstd)`` with
    the normalised values n (..., H) and rstd (..., 1) that backward needs.
    """
    a = np.asarray(a)
    eps = a.dtype.type(eps)
    # mu = mean(a),  v = mean((a - mu)^2)
    mu = a.mean(axis=-1, keepdims=True)
    centred = a - mu
    v = (centred * centred).mean(axis=-1, keepdims=True)
    # rstd = 1 / sqrt(v + eps),  n = (a - mu) * rstd
    rstd = 1 / np.sqrt(v + eps)
    n = centred * rstd
    # out = gamma * n + beta
    return gamma * n + beta, (n, rstd)


def layer_norm_backward(dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray], gamma: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of ``layer_norm_forward``.

    dout (..., H), cache from the forward, gamma (H,) (or any trailing
    shape of dout, such as (G, H) for gate blocks).

    Returns ``(da (..., H), dgamma, dbeta)``, the parameter gradients of
    gamma's shape: summed over the leading axes that gamma is broadcast along.
    """
    n, rstd = cache
    lead = tuple(range(dout.ndim - gamma.ndim))
    # out = gamma * n + beta
    dgamma = (dout * n).sum(axis=lead)
    dbeta = dout.sum(axis=lead)
    dn = dout * gamma
    # n = (a - mu) * rstd, with mu and rstd functions of a:
    # da = rstd * (dn - mean(dn) - n * mean(dn * n))
    da = rstd * (dn - dn.mean(axis=-1, keepdims=True)
                 - n * (dn * n).mean(axis=-1, keepdims=True))
    return da, dgamma, dbeta


def layer_norm_blocks_forward(a: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                              num_blocks: int, eps: float = 1e-5
                              ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Layer-normalise each of the ``num_blocks`` blocks of ``a`` (B, G*H) separately.

    gamma, beta (G*H,).  Returns ``(out (B, G*H), cache)``.
    """
    B, GH = a.shape
    G, H = num_blocks, GH // num_blocks
    # view as (B, G, H): the last axis is one gate block of one row
    out, cache = layer_norm_forward(a.reshape(B, G, H), gamma.reshape(G, H),
                                    beta.reshape(G, H), eps)
    return out.reshape(B, GH), cache


def layer_norm_blocks_backward(dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray],
                               gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of ``layer_norm_blocks_forward``.

    dout (B, G*H), gamma (G*H,).  Returns ``(da (B, G*H), dgamma (G*H,),
    dbeta (G*H,))``, the parameter gradients summed over the batch.
    """
    n, _ = cache
    B, G, H = n.shape
    da, dgamma, dbeta = layer_norm_backward(dout.reshape(B, G, H), cache,
                                            gamma.reshape(G, H))
    return da.reshape(B, G * H), dgamma.reshape(G * H), dbeta.reshape(G * H)
