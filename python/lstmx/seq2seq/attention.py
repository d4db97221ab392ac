"""Attention over encoder states: Bahdanau (additive) and Luong (dot, general, concat).

Per batch, ``set_memory(memory (S, B, K), lengths (B,))`` stores the encoder states and
precomputes what does not depend on the decoder (the projected keys). Then, once per decoder
step, for a query ``q (B, Q)``::

    score_j = score(q, m_j)                          j = 0 .. S-1
    a = softmax(score) over the valid j < lengths[b]  (padding gets exactly zero weight)
    context = Σ_j a_j m_j                            (B, K)

with the scores

    bahdanau, luong-concat:  v · tanh(W_q q + W_m m_j)     (additive; W_m m_j precomputed)
    luong-general:           q · (W m_j)                   (W m_j precomputed)
    luong-dot:               q · m_j                       (needs Q == K)

Bahdanau and Luong-concat share the formula; they differ in which decoder state asks
(the previous one for Bahdanau, the current one for Luong), which the Decoder decides.

Every step is vectorised over the batch (batched matrix products, no loop over rows).
In training mode each ``forward`` pushes its step and ``backward(dcontext)`` pops the most
recent; the gradient w.r.t. the memory is accumulated across steps and handed back, with
the key projection's gradients, by ``memory_backward()`` once the steps are done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .. import _core
from .._matmul import linear, mm
from ..checks import check_array, check_float_dtype, positive_int
from ..nn.module import Module, Parameter

if TYPE_CHECKING:
    from typing_extensions import Self


def masked_softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of ``scores (B, S)`` where ``mask (B, S)`` is True;
    masked entries get exactly 0. Every row needs at least one True."""
    s = np.where(mask, scores, -np.inf)
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def length_mask(lengths: ArrayLike, steps: int) -> np.ndarray:
    """(B, S) bool: True at positions j < lengths[b]."""
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


def _uniform(rng, fan_in, shape, dtype):
    k = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-k, k, shape).astype(dtype)


class Attention(Module):
    """Attention with ``score`` "additive" (``v · tanh(W_q q + W_m m_j)``), "general"
    (``q · (W m_j)``) or "dot" (``q · m_j``, needs Q == K). BahdanauAttention and
    LuongAttention name the published variants.

    Args: query_dim (Q), memory_dim (K), score, attention_dim (A, additive only; default Q),
    dtype (float32 or float64), seed.
    Parameters: additive ``query_weight (A, Q)``, ``memory_weight (A, K)``, ``v (A,)``;
    general ``weight (Q, K)``; dot none.
    """

    def __init__(self, query_dim: int, memory_dim: int, score: str = "additive",
                 attention_dim: int | None = None, dtype: DTypeLike = np.float32,
                 seed: int | None = None) -> None:
        super().__init__()
        for name, v in (("query_dim", query_dim), ("memory_dim", memory_dim),
                        ("attention_dim", attention_dim or query_dim)):
            positive_int(v, name)
        if score not in ("additive", "general", "dot"):
            raise ValueError(f"score must be 'additive', 'general' or 'dot', got {score!r}")
        if score == "dot" and query_dim != memory_dim:
            raise ValueError(f"dot attention needs query_dim == memory_dim, got {query_dim} "
                             f"and {memory_dim} (the 'general' score projects)")
        self.query_dim = Q = int(query_dim)
        self.memory_dim = K = int(memory_dim)
        self.score = score
        self.dtype = check_float_dtype(dtype)
        rng = np.random.default_rng(seed)
        self._mem: Any = None
        self._keys: Any = None
        self._dmem: Any = None
        self._dkeys: Any = None
        self._stack: list[tuple[Any, ...]] = []
        if score == "additive":
            self.attention_dim = A = int(attention_dim or query_dim)
            self.query_weight = Parameter(_uniform(rng, Q, (A, Q), self.dtype))
            self.memory_weight = Parameter(_uniform(rng, K, (A, K), self.dtype))
            self.v = Parameter(_uniform(rng, A, (A,), self.dtype))
        elif score == "general":
            self.weight = Parameter(_uniform(rng, K, (Q, K), self.dtype))

    # -- the scores ----------------------------------------------------------------------

    def _project(self):
        """The key projection's weight (out, K), or None when keys are the memory itself."""
        return {"additive": "memory_weight", "general": "weight"}.get(self.score)

    def _scores(self, q):
        """(scores (B, S), what their backward needs)."""
        if self.score == "additive":  # v · tanh(keys + W_q q), fused (csrc/attention.hpp)
            qp = mm(q, self.query_weight.data, tb=True)
            return _core.additive_scores(self._keys, qp, self.v.data, self.training)
        return np.matmul(self._keys, q[:, :, None])[:, :, 0], None

    def _scores_backward(self, dscores, q, e):
        """∂L/∂q (B, Q); adds ∂L/∂keys into the accumulator and the query-side grads."""
        if self.score == "additive":  # adds into ∂L/∂keys and ∂L/∂v (csrc/attention.hpp)
            dq_proj = _core.additive_scores_backward(dscores, e, self.v.data, self._dkeys,
                                                     self.v.grad)
            mm(dq_proj, q, ta=True, out=self.query_weight.grad, beta=1.0)
            return mm(dq_proj, self.query_weight.data)
        self._dkeys += dscores[:, :, None] * q[:, None, :]
        return np.matmul(dscores[:, None, :], self._keys)[:, 0]

    # -- memory, steps, backward ---------------------------------------------------------

    def set_memory(self, memory: np.ndarray, lengths: ArrayLike | None = None) -> None:
        """Attend over ``memory (S, B, K)``; ``lengths (B,)`` ints in [1, S] (None: all S).

        Precomputes the keys; in training mode starts a fresh gradient accumulator.
        """
        memory = check_array(memory, "memory", self.dtype, (None, None, self.memory_dim),
                             f"(S, B, memory_dim={self.memory_dim})")
        S, B = memory.shape[0], memory.shape[1]
        if S < 1 or B < 1:
            raise ValueError(f"memory must hold at least one step and one row, got {memory.shape}")
        if lengths is None:
            lengths = np.full(B, S, dtype=np.int64)
        lengths = np.asarray(lengths)
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"lengths must be an integer array of shape (B,) = ({B},), "
                             f"got {lengths.dtype} {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > S:
            raise ValueError(f"lengths must lie in [1, S={S}], got min {lengths.min()}, "
                             f"max {lengths.max()}")
        self._mem = np.ascontiguousarray(memory.transpose(1, 0, 2))  # (B, S, K)
        self._mask = length_mask(lengths, S)
        proj = self._project()
        self._keys = self._mem if proj is None else linear(self._mem, getattr(self, proj).data)
        self._stack = []
        self._dmem = self._dkeys = None
        if self.training:
            self._dmem = np.zeros_like(self._mem)
            self._dkeys = self._dmem if proj is None else np.zeros_like(self._keys)

    def forward(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``context (B, K), weights (B, S)`` for ``query (B, Q)``."""
        if self._mem is None:
            raise RuntimeError("call set_memory(memory, lengths) before attending")
        B = self._mem.shape[0]
        query = check_array(query, "query", self.dtype, (B, self.query_dim),
                            f"(B, query_dim) = ({B}, {self.query_dim})")
        scores, cache = self._scores(query)
        weights = masked_softmax(scores, self._mask)
        context = np.matmul(weights[:, None, :], self._mem)[:, 0]
        if self.training:
            self._stack.append((query, weights, cache))
        return context, weights

    def backward(self, dcontext: np.ndarray) -> np.ndarray:
        """∂L/∂query (B, Q) of the most recent step, given ``dcontext (B, K)``."""
        if not self._stack:
            raise RuntimeError("backward() needs a forward() in training mode first "
                               "(one backward per step, most recent first)")
        query, weights, cache = self._stack[-1]
        dcontext = check_array(dcontext, "dcontext", self.dtype,
                               (weights.shape[0], self.memory_dim),
                               f"(B, memory_dim) = ({weights.shape[0]}, {self.memory_dim})")
        self._stack.pop()
        # context = Σ_j a_j m_j
        dweights = np.matmul(self._mem, dcontext[:, :, None])[:, :, 0]
        self._dmem += weights[:, :, None] * dcontext[:, None, :]
        # softmax: ds_j = a_j (da_j − Σ_k a_k da_k); a_j = 0 where masked, so ds_j = 0 there
        dscores = weights * (dweights - (weights * dweights).sum(axis=1, keepdims=True))
        return self._scores_backward(dscores, query, cache)

    def memory_backward(self) -> np.ndarray:
        """∂L/∂memory (S, B, K) accumulated over the steps since ``set_memory``; adds the
        key projection's parameter gradients. Call once, after every step's backward."""
        if self._mem is None or getattr(self, "_dmem", None) is None:
            raise RuntimeError("memory_backward() needs set_memory() in training mode first "
                               "(and is called once per set_memory)")
        if self._stack:
            raise RuntimeError(f"{len(self._stack)} attention steps still await backward()")
        dmem, dkeys = self._dmem, self._dkeys
        self._dmem = self._dkeys = None
        proj = self._project()
        if proj is not None:
            w = getattr(self, proj)
            out, K = w.data.shape
            mm(dkeys.reshape(-1, out), self._mem.reshape(-1, K), ta=True, out=w.grad, beta=1.0)
            dmem = dmem + mm(dkeys.reshape(-1, out), w.data).reshape(dkeys.shape[:-1] + (K,))
        return np.ascontiguousarray(dmem.transpose(1, 0, 2))

    def clear(self) -> None:
        """Forget the memory and the steps kept for backward."""
        self._mem = self._keys = self._dmem = self._dkeys = None
        self._stack = []

    def train(self, mode: bool = True) -> Self:
        if not mode:
            self._stack = []
        return super().train(mode)

    def __repr__(self):
        return (f"{type(self).__name__}(query_dim={self.query_dim}, "
                f"memory_dim={self.memory_dim}, score={self.score!r}, dtype={self.dtype.name})")


class BahdanauAttention(Attention):
    """Additive attention (Bahdanau et al., 2015): ``score_j = v · tanh(W_q q + W_m m_j)``;
    the decoder asks with its previous state.

    Args: query_dim (Q), memory_dim (K), attention_dim (A, default Q), dtype, seed.

    Example::

        >>> att = BahdanauAttention(4, 6, seed=0)
        >>> att.set_memory(np.ones((5, 2, 6), np.float32), np.array([5, 3]))
        >>> context, weights = att(np.ones((2, 4), np.float32))
        >>> context.shape, weights.shape, float(weights[1, 3:].sum())
        ((2, 6), (2, 5), 0.0)
    """

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int | None = None,
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        super().__init__(query_dim, memory_dim, "additive", attention_dim, dtype, seed)


class LuongAttention(Attention):
    """Global attention of Luong et al. (2015); the decoder asks with its current state.

    ``score``: "dot" (``q · m_j``, Q must equal K), "general" (``q · (W m_j)``) or
    "concat" (``v · tanh(W_q q + W_m m_j)``, the additive formula).

    Example::

        >>> att = LuongAttention(4, 6, score="general", seed=0)
        >>> att.set_memory(np.ones((5, 2, 6), np.float32))
        >>> att(np.ones((2, 4), np.float32))[0].shape
        (2, 6)
    """

    def __init__(self, query_dim: int, memory_dim: int, score: str = "general",
                 attention_dim: int | None = None, dtype: DTypeLike = np.float32,
                 seed: int | None = None) -> None:
        if score not in ("dot", "general", "concat"):
            raise ValueError(f"score must be 'dot', 'general' or 'concat', got {score!r}")
        super().__init__(query_dim, memory_dim, "additive" if score == "concat" else score,
                         attention_dim, dtype, seed)
        self.luong_score = score


ATTENTION_TYPES = ("bahdanau", "luong-dot", "luong-general", "luong-concat")


def make_attention(kind: str, query_dim: int, memory_dim: int, dtype: DTypeLike = np.float32,
                   seed: int | None = None) -> Attention:
    """The attention module named ``kind`` (one of ``ATTENTION_TYPES``)."""
    if kind == "bahdanau":
        return BahdanauAttention(query_dim, memory_dim, dtype=dtype, seed=seed)
    if kind in ATTENTION_TYPES:
        return LuongAttention(query_dim, memory_dim, score=kind.split("-")[1], dtype=dtype,
                              seed=seed)
    raise ValueError(f"attention_type must be one of {', '.join(ATTENTION_TYPES)}; "
                     f"got {kind!r}")
