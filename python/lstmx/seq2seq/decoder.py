"""The attentional decoder: one Python iteration per time step for the whole batch.

Each step advances a stack of native cells (``LSTMCell``/``GRUCell``) and attends over the
encoder's memory. With ``s`` the top layer's state, ``e_t`` the embedded previous token::

    bahdanau:  ctx, a = attend(s_{t-1});  s_t = cells([e_t; ctx], state)
    luong-*:   s_t = cells([e_t; h̃_{t-1}], state);  ctx, a = attend(s_t)   (input feeding)
    both:      h̃_t = tanh(W_c [s_t; ctx] + b_c)         logits_t = W_o dropout(h̃_t) + b_o

The output projection runs once over all steps ``(T, B, H) -> (T, B, V)``. Backward walks
the steps in reverse, each module popping its own LIFO stack (cells, attention, combine),
and returns the gradients of the memory and of the initial state.

Teacher forcing with ratio r < 1: from step 1 on, each row is fed the reference token with
probability r, else the argmax of the previous step's logits (computed without dropout).
The choice is not differentiable; backward is exact for the tokens actually fed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..checks import check_float_dtype
from ..nn.cells import GRUCell, LSTMCell
from ..nn.layers import Dropout, Embedding, Linear
from ..nn.module import Module
from .attention import make_attention
from .encoder import check_cell


class DecoderState:
    """What a decoder carries between steps, every array with the batch first:
    ``h`` and ``c`` (lists of L arrays (B, H); c is None for a GRU) and ``feed`` (B, H),
    the previous attentional state h̃ (Luong input feeding; None for Bahdanau)."""

    __slots__ = ("h", "c", "feed")

    def __init__(self, h: list[np.ndarray], c: list[np.ndarray] | None,
                 feed: np.ndarray | None) -> None:
        self.h, self.c, self.feed = h, c, feed

    def select(self, index: Any) -> DecoderState:
        """The state of rows ``index`` (for beam search: reorder and repeat rows)."""
        return DecoderState([x[index] for x in self.h],
                            None if self.c is None else [x[index] for x in self.c],
                            None if self.feed is None else self.feed[index])


class Decoder(Module):
    """Attentional LSTM/GRU decoder.

    Args:
        vocab_size (V), embedding_dim (E), hidden_dim (H), memory_dim (K: encoder width).
        attention_type: "bahdanau", "luong-dot", "luong-general" or "luong-concat".
        cell: "lstm" or "gru". num_layers (L): a stack of cells.
        dropout: on the target embeddings and on h̃ before the output projection.
        padding_idx: the embedding row of <pad>. dtype, seed.

    ``logits = decoder(tgt_in (T, B) int, memory (S, B, K), lengths (B,), init, teacher_forcing)``
    with ``init = (h0 (L, B, H), c0 (L, B, H) or None)``; logits ``(T, B, V)``.
    ``dmemory, (dh0, dc0) = decoder.backward(dlogits)``.
    For search: ``state = decoder.start(memory, lengths, init)`` then
    ``logits, state, weights = decoder.step(ids (B,), state)`` (eval mode).

    Example::

        >>> dec = Decoder(20, 8, 16, 32, attention_type="luong-general", seed=0)
        >>> memory = np.zeros((5, 2, 32), np.float32)           # (S, B, K)
        >>> h0 = c0 = np.zeros((1, 2, 16), np.float32)          # (L, B, H)
        >>> dec(np.array([[1, 1], [4, 5]]), memory, np.array([5, 3]), (h0, c0)).shape
        (2, 2, 20)
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, memory_dim: int,
                 attention_type: str | None = "bahdanau", cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, padding_idx: int | None = 0,
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        super().__init__()
        self.cell = check_cell(cell)
        self.dtype = check_float_dtype(dtype)
        self.attention_type = attention_type
        # None: the plain encoder-decoder (Sutskever et al., 2014): the source reaches the
        # decoder only through its initial state, and the output reads the top cell's h
        self.luong = attention_type is not None and attention_type.startswith("luong")
        self.vocab_size, self.embedding_dim = int(vocab_size), int(embedding_dim)
        self.hidden_dim, self.memory_dim = H, K = int(hidden_dim), int(memory_dim)
        self.num_layers = int(num_layers)
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(8)]
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx,
                                   dtype=self.dtype, seed=seeds[0])
        self.attention = None if attention_type is None else \
            make_attention(attention_type, H, K, dtype=self.dtype, seed=seeds[1])
        cell_type = LSTMCell if cell == "lstm" else GRUCell
        cell_rng = np.random.SeedSequence(seeds[2]).spawn(self.num_layers)
        first_in = self.embedding_dim + (
            0 if self.attention is None else H if self.luong else K)
        for l in range(self.num_layers):
            layer = cell_type(first_in if l == 0 else H, H, dtype=self.dtype,
                              seed=int(cell_rng[l].generate_state(1)[0]))
            if cell == "lstm":
                layer.bias_ih.data[H:2 * H] += 1.0  # forget-gate bias 1: remember by default
            setattr(self, f"cell{l}", layer)
        self.combine = None if self.attention is None else \
            Linear(H + K, H, dtype=self.dtype, seed=seeds[3])
        self.out = Linear(H, vocab_size, dtype=self.dtype, seed=seeds[4])
        self.embedding_dropout = Dropout(dropout, seed=seeds[5])
        self.output_dropout = Dropout(dropout, seed=seeds[6])
        self.rng = np.random.default_rng(seeds[7])
        self._cache: tuple[np.ndarray, bool] | None = None

    @property
    def cells(self) -> list[Any]:
        """The stacked cells, bottom first (registered as ``cell0``, ``cell1``, ...)."""
        return [getattr(self, f"cell{l}") for l in range(self.num_layers)]

    # -- one step ------------------------------------------------------------------------

    def start(self, memory: np.ndarray, lengths: ArrayLike | None,
              init: tuple[np.ndarray, np.ndarray | None]) -> DecoderState:
        """Attend over ``memory (S, B, K)`` from now on; the initial DecoderState."""
        self._memory_shape = memory.shape
        if self.attention is not None:
            self.attention.set_memory(memory, lengths)
        h0, c0 = init
        B = memory.shape[1]
        feed = np.zeros((B, self.hidden_dim), self.dtype) if self.luong else None
        return DecoderState([np.ascontiguousarray(x) for x in h0],
                            None if c0 is None else [np.ascontiguousarray(x) for x in c0], feed)

    def _advance(self, e, state):
        """One step from embedded tokens ``e (B, E)``: (h̃ (B, H), attention (B, S));
        ``state`` is updated in place."""
        h, c = state.h, state.c
        if self.attention is None:
            x = e
        elif self.luong:
            x = np.concatenate([e, state.feed], axis=1)
        else:
            context, weights = self.attention(h[-1])
            x = np.concatenate([e, context], axis=1)
        for l, cell in enumerate(self.cells):
            if c is None:
                h[l] = cell(x, h[l])
            else:
                h[l], c[l] = cell(x, (h[l], c[l]))
            x = h[l]
        if self.attention is None:
            return h[-1], None
        if self.luong:
            context, weights = self.attention(h[-1])
        tilde = np.tanh(self.combine(np.concatenate([h[-1], context], axis=1)))
        if self.luong:
            state.feed = tilde
        return tilde, weights

    def _logits(self, tilde):
        """Output projection of one step, kept out of the backward stacks."""
        return self.out.project(tilde)

    def step(self, ids: ArrayLike, state: DecoderState
             ) -> tuple[np.ndarray, DecoderState, np.ndarray | None]:
        """One inference step: ``ids (B,)`` previous tokens -> (logits (B, V), new state,
        attention weights (B, S)). Use in eval mode after ``start``."""
        state = state.select(slice(None))
        tilde, weights = self._advance(self.embedding(np.asarray(ids)), state)
        return self._logits(tilde), state, weights

    # -- whole sequences -----------------------------------------------------------------

    def forward(self, tgt_in: ArrayLike, memory: np.ndarray, lengths: ArrayLike | None,
                init: tuple[np.ndarray, np.ndarray | None], teacher_forcing: float = 1.0,
                return_attention: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Logits ``(T, B, V)`` (and attention ``(T, B, S)`` with ``return_attention``)."""
        tgt_in = np.asarray(tgt_in)
        if tgt_in.ndim != 2 or tgt_in.dtype.kind not in "iu":
            raise ValueError(f"tgt_in must be an integer array (T, B), got {tgt_in.dtype} "
                             f"{tgt_in.shape}")
        T, B = tgt_in.shape
        if return_attention and self.attention is None:
            raise ValueError("a decoder without attention (attention_type=None) has no "
                             "attention weights to return")
        if memory.ndim != 3 or memory.shape[1] != B:
            raise ValueError(f"memory must be (S, B={B}, K), got {memory.shape}")
        state = self.start(memory, lengths, init)
        forced = teacher_forcing >= 1.0 or not self.training
        if forced:
            emb = self.embedding_dropout(self.embedding(tgt_in))
        tildes = np.empty((T, B, self.hidden_dim), self.dtype)
        attention: Any = np.empty((T, B, memory.shape[0]), self.dtype) if return_attention \
            else None
        ids = tgt_in[0]
        for t in range(T):
            if forced:
                e = emb[t]
            else:
                if t > 0:
                    guess = self._logits(tildes[t - 1]).argmax(axis=1)
                    ids = np.where(self.rng.random(B) < teacher_forcing, tgt_in[t], guess)
                e = self.embedding_dropout(self.embedding(ids))
            tildes[t], weights = self._advance(e, state)
            if return_attention:
                attention[t] = weights
        logits = self.out(self.output_dropout(tildes))
        if self.training:
            self._cache = (tildes, forced)
        return (logits, attention) if return_attention else logits

    def backward(self, dlogits: np.ndarray
                 ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        """``(dmemory (S, B, K), (dh0 (L, B, H), dc0 or None))`` from ``dlogits (T, B, V)``."""
        if self._cache is None:
            self.check_trainable()  # a quantized decoder says so
            raise RuntimeError("backward() needs a forward() in training mode first")
        tildes, forced = self._cache
        self._cache = None
        dtildes = self.output_dropout.backward(self.out.backward(dlogits))
        T, B, H = tildes.shape
        E, L = self.embedding_dim, self.num_layers
        cells = self.cells
        zeros = np.zeros((B, H), self.dtype)
        dh = [zeros] * L
        dc = None if self.cell == "gru" else [zeros] * L
        dfeed = zeros
        demb: Any = np.empty((T, B, E), self.dtype) if forced else None
        plain = self.attention is None
        for t in reversed(range(T)):
            if plain:  # the output read h itself
                dh[-1] = dh[-1] + dtildes[t]
            else:
                assert self.combine is not None and self.attention is not None
                dtilde = dtildes[t] + dfeed if self.luong else dtildes[t]
                dcomb = self.combine.backward(dtilde * (1.0 - tildes[t] * tildes[t]))
                ds, dcontext = dcomb[:, :H], np.ascontiguousarray(dcomb[:, H:])
                if self.luong:
                    ds = ds + self.attention.backward(dcontext)
                dh[-1] = dh[-1] + ds
            for l in reversed(range(L)):
                if dc is None:
                    dx, dh[l] = cells[l].backward(dh[l])
                else:
                    dx, (dh[l], dc[l]) = cells[l].backward(dh[l], dc[l])
                if l > 0:
                    dh[l - 1] = dh[l - 1] + dx
            de = dx[:, :E]
            if plain:
                pass
            elif self.luong:
                dfeed = dx[:, E:]
            else:
                assert self.attention is not None
                dquery = self.attention.backward(np.ascontiguousarray(dcontext + dx[:, E:]))
                dh[-1] = dh[-1] + dquery
            if forced:
                demb[t] = de
            else:
                self.embedding.backward(self.embedding_dropout.backward(np.ascontiguousarray(de)))
        if forced:
            self.embedding.backward(self.embedding_dropout.backward(demb))
        dmemory = np.zeros(self._memory_shape, self.dtype) if self.attention is None else \
            self.attention.memory_backward()
        return dmemory, (np.stack(dh), None if dc is None else np.stack(dc))

    def clear(self) -> None:
        """Drop every step kept for backward (after an aborted forward)."""
        self._cache = None
        for m in (self.embedding, self.combine, self.out, self.embedding_dropout,
                  self.output_dropout, self.attention, *self.cells):
            if m is not None:
                m.clear()
