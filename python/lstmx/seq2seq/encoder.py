"""The encoder: embedding, then a multi-layer (optionally bidirectional) LSTM or GRU.

One call of the native sequence kernel per layer and direction, over the padded batch with
its lengths: ``memory (S, B, D*H)`` holds every source position's state (zeros past each
sequence's end), ``final`` each layer's last states with the two directions concatenated,
``(L, B, D*H)``, ready for the Bridge that starts the decoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..checks import check_float_dtype
from ..nn.layers import Dropout, Embedding, Linear
from ..nn.module import Module
from ..nn.recurrent import GRU, LSTM

CELLS = ("lstm", "gru")


def check_cell(cell: str) -> str:
    """``cell`` must be "lstm" or "gru"."""
    if cell not in CELLS:
        raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    return cell


def join_directions(states: np.ndarray, num_layers: int, num_directions: int) -> np.ndarray:
    """(L*D, B, H) in PyTorch's order -> (L, B, D*H), each layer's directions side by side."""
    L, D = num_layers, num_directions
    _, B, H = states.shape
    joined = states.reshape(L, D, B, H).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(joined.reshape(L, B, D * H))


def split_directions(joined: np.ndarray, num_directions: int) -> np.ndarray:
    """Inverse of ``join_directions``: (L, B, D*H) -> (L*D, B, H)."""
    L, B, DH = joined.shape
    D = num_directions
    H = DH // D
    states = joined.reshape(L, B, D, H).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(states.reshape(L * D, B, H))


class Encoder(Module):
    """Embedding + ``num_layers`` LSTM/GRU layers over a padded source batch.

    Args:
        vocab_size (V), embedding_dim (E), hidden_dim (H, per direction).
        cell: "lstm" or "gru". num_layers (L). bidirectional: D = 2 directions.
        dropout: on the embeddings and between layers (training only).
        padding_idx: the embedding row of <pad> (zero, no gradient).
        dtype: float32 or float64. seed: initialisation and dropout masks.

    ``memory, final = encoder(src (S, B) int, lengths (B,))`` with memory ``(S, B, D*H)``
    and final ``(h, c)``: ``(L, B, D*H)`` each (c is None for a GRU).
    ``encoder.backward(dmemory (S, B, D*H), (dh, dc))`` accumulates parameter gradients.

    Example::

        >>> enc = Encoder(20, 8, 16, bidirectional=True, seed=0)
        >>> memory, (h, c) = enc(np.array([[4, 5], [6, 0]]), np.array([2, 1]))
        >>> memory.shape, h.shape
        ((2, 2, 32), (1, 2, 32))
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, cell: str = "lstm",
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0,
                 padding_idx: int | None = 0, dtype: DTypeLike = np.float32,
                 seed: int | None = None) -> None:
        super().__init__()
        self.cell = check_cell(cell)
        self.dtype = check_float_dtype(dtype)
        self.num_layers = int(num_layers)
        self.num_directions = 2 if bidirectional else 1
        self.output_dim = self.num_directions * int(hidden_dim)
        ss = np.random.SeedSequence(seed)
        s_emb, s_rnn, s_drop = (int(s.generate_state(1)[0]) for s in ss.spawn(3))
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx,
                                   dtype=self.dtype, seed=s_emb)
        self.dropout = Dropout(dropout, seed=s_drop)
        # Any: an LSTM's and a GRU's forward and backward take different states
        layer: Any = LSTM if cell == "lstm" else GRU
        self.rnn = layer(embedding_dim, hidden_dim, num_layers=self.num_layers,
                         bidirectional=bool(bidirectional), dropout=dropout, dtype=self.dtype,
                         seed=s_rnn, **({"forget_bias": 1.0} if cell == "lstm" else {}))

    def forward(self, src: ArrayLike, lengths: ArrayLike | None
                ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        x = self.dropout(self.embedding(src))
        if self.cell == "lstm":
            memory, (h, c) = self.rnn(x, None, lengths)
        else:
            memory, h = self.rnn(x, None, lengths)
            c = None
        L, D = self.num_layers, self.num_directions
        return memory, (join_directions(h, L, D),
                        None if c is None else join_directions(c, L, D))

    def backward(self, dmemory: np.ndarray | None,
                 dfinal: tuple[np.ndarray | None, np.ndarray | None]) -> None:
        """Gradients of the memory and of the final states (either may be None)."""
        dh, dc = dfinal
        D = self.num_directions
        dh = None if dh is None else split_directions(dh, D)
        dc = None if dc is None else split_directions(dc, D)
        if self.cell == "lstm":
            dx, _ = self.rnn.backward(dmemory, (dh, dc))
        else:
            dx, _ = self.rnn.backward(dmemory, dh)
        self.embedding.backward(self.dropout.backward(dx))


class Bridge(Module):
    """The decoder's initial state from the encoder's final one, layer by layer:
    ``h0 = tanh(W_h h_enc + b_h)`` and, for an LSTM, ``c0 = tanh(W_c c_enc + b_c)``.

    ``forward((h (L, B, K), c or None)) -> (h0 (L, B, H), c0 or None)``;
    ``backward((dh0, dc0)) -> (dh, dc)``.
    """

    def __init__(self, in_dim: int, out_dim: int, cell: str = "lstm",
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        super().__init__()
        self.cell = check_cell(cell)
        ss = np.random.SeedSequence(seed)
        s_h, s_c = (int(s.generate_state(1)[0]) for s in ss.spawn(2))
        self.h = Linear(in_dim, out_dim, dtype=dtype, seed=s_h)
        if cell == "lstm":
            self.c = Linear(in_dim, out_dim, dtype=dtype, seed=s_c)
        self._out: Any = None

    def forward(self, final: tuple[np.ndarray, np.ndarray | None]
                ) -> tuple[np.ndarray, np.ndarray | None]:
        h, c = final
        h0 = np.tanh(self.h(h))
        c0 = np.tanh(self.c(c)) if self.cell == "lstm" else None
        if self.training:
            self._out = (h0, c0)
        return h0, c0

    def backward(self, dfinal: tuple[np.ndarray, np.ndarray | None]
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        h0, c0 = self._out
        dh0, dc0 = dfinal
        dh = self.h.backward(dh0 * (1.0 - h0 * h0))
        dc = self.c.backward(dc0 * (1.0 - c0 * c0)) if self.cell == "lstm" else None
        return dh, dc
