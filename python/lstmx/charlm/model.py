"""CharLM: a character language model, embedding -> recurrent stack -> linear read-out.

    ids (T, B) ──Embedding──► x (T, B, E) ──LSTM/GRU/RNN × num_layers──► y (T, B, H)
        ──Linear──► logits (T, B, V)            V = len(vocab), the unknown id included

Trained with truncated BPTT (``BPTTBatches``): ``train_step`` starts each window from the
state the previous window ended in and back-propagates only within the window (the carried
state enters as a constant, so no gradient reaches earlier windows). Validation windows carry
their own state, so validating between training windows does not disturb the training stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..heap import keep_freed_memory
from ..nn.layers import Embedding, Linear
from ..nn.module import Module
from ..nn.recurrent import GRU, LSTM, RNN
from .dataset import Window
from .vocab import CharVocab

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


class CharLM(Module):
    """Character language model (see the module docstring for the layers).

    Args:
        vocab: a ``CharVocab`` (or the str of its characters).
        cell: "lstm", "gru" or "rnn" (tanh).
        embed_dim (E): size of the character embedding.
        hidden_size (H), num_layers: the recurrent stack.
        dropout: between recurrent layers, in training.
        dtype: float32 (default) or float64.
        seed: initialisation seed (the LSTM's forget-gate bias starts at 1).

    ``forward(ids (T, B) int, state=None) -> (logits (T, B, V), state)``, state as the stack
    returns it (LSTM: ``(h, c)``, each ``(num_layers, B, H)``; GRU/RNN: ``h``); ``backward(
    dlogits (T, B, V))`` accumulates every parameter's gradient. ``train_step``/``eval_step``
    follow ``lstmx.train.Trainer``'s protocol on ``BPTTBatches`` windows.

    Example::

        >>> model = CharLM(CharVocab.from_text("hello world"), hidden_size=32, seed=0)
        >>> logits, state = model(np.array([[1], [2]]))
        >>> logits.shape
        (2, 1, 9)
    """

    def __init__(self, vocab: CharVocab | str, cell: str = "lstm", embed_dim: int = 32,
                 hidden_size: int = 128, num_layers: int = 1, dropout: float = 0.0,
                 dtype: DTypeLike = np.float32, seed: int | None = 0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.vocab = vocab if isinstance(vocab, CharVocab) else CharVocab(vocab)
        V = len(self.vocab)
        self.cell = cell
        self.dtype = np.dtype(dtype)
        rnn_args: dict[str, Any] = dict(num_layers=num_layers, dropout=dropout, dtype=dtype,
                                        seed=seed)
        if cell == "lstm":
            rnn_args["forget_bias"] = 1.0
        self.embed = Embedding(V, embed_dim, dtype=dtype, seed=seed)
        self.rnn = CELLS[cell](embed_dim, hidden_size, **rnn_args)
        self.out = Linear(hidden_size, V, dtype=dtype, seed=None if seed is None else seed + 1)
        self.config = {"chars": self.vocab.chars, "cell": cell, "embed_dim": int(embed_dim),
                       "hidden_size": int(hidden_size), "num_layers": int(num_layers),
                       "dropout": float(dropout), "dtype": self.dtype.name, "seed": seed}
        # last window's final state, per mode
        self._carried: dict[bool, Any] = {True: None, False: None}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CharLM:
        """Rebuild a CharLM from its ``config`` (as saved in a checkpoint)."""
        config = dict(config)
        return cls(CharVocab(config.pop("chars")), **config)

    def forward(self, ids: ArrayLike, state: Any = None) -> tuple[np.ndarray, Any]:
        x = self.embed(ids)
        y, state = self.rnn(x, state)
        return self.out(y), state

    def backward(self, dlogits: np.ndarray) -> None:
        dy = self.out.backward(dlogits)
        dx, _ = self.rnn.backward(dy)
        self.embed.backward(dx)

    def _window(self, window):
        """Forward one ``Window`` from zeros (reset) or from the state carried in this mode."""
        ids, targets, reset = window
        state = None if reset else self._carried[self.training]
        if state is None and not reset:
            raise RuntimeError("a window with reset=False needs the window before it first "
                               "(iterate BPTTBatches in order)")
        logits, self._carried[self.training] = self.forward(ids, state)
        return logits, targets

    def train_step(self, window: Window, loss: Any) -> tuple[float, int]:
        """Forward one window from the carried state, the loss, backward within the window;
        returns ``(mean loss, predicted characters)`` (Trainer protocol)."""
        keep_freed_memory()  # every step allocates the same large arrays (lstmx.heap)
        logits, targets = self._window(window)
        value = loss.forward(logits, targets)
        self.backward(loss.backward())
        return value, targets.size

    def eval_step(self, window: Window, loss: Any) -> tuple[float, int]:
        """``train_step`` without backward, for validation (model in eval mode)."""
        logits, targets = self._window(window)
        return loss.forward(logits, targets), targets.size

    def __repr__(self):
        c = self.config
        return (f"CharLM({c['cell']}, vocab={len(self.vocab)}, embed_dim={c['embed_dim']}, "
                f"hidden_size={c['hidden_size']}, num_layers={c['num_layers']}, "
                f"dtype={c['dtype']})")
