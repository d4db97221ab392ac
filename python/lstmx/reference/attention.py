"""Additive attention scores (Bahdanau; Luong's "concat"): the NumPy twin of
``csrc/attention.hpp``, the elementwise part of one decoder step.

    e[b, s, :]    = tanh(keys[b, s, :] + qp[b, :])     keys = W_m m_j, qp = W_q q
    scores[b, s]  = v · e[b, s, :]

Backward, from dscores (B, S):

    dpre[b, s, :] = dscores[b, s] · v ⊙ (1 − e²)
    dkeys         = dpre                               (B, S, A)
    dqp[b, :]     = Σ_s dpre[b, s, :]                  (B, A)
    dv            = Σ_{b, s} dscores[b, s] · e[b, s, :]  (A,)
"""

from __future__ import annotations

import numpy as np


def additive_scores(keys: np.ndarray, qp: np.ndarray, v: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """scores (B, S) and e (B, S, A) for keys (B, S, A), qp (B, A), v (A,)."""
    e = np.tanh(keys + qp[:, None, :])
    return e @ v, e


def additive_scores_backward(dscores: np.ndarray, e: np.ndarray, v: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dqp (B, A), dkeys (B, S, A), dv (A,) from dscores (B, S) and the forward's e."""
    dpre = (dscores[:, :, None] * v) * (1.0 - e * e)
    dv = e.reshape(-1, e.shape[-1]).T @ dscores.reshape(-1)
    return dpre.sum(axis=1), dpre, dv
