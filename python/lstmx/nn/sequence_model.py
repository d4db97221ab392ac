"""SequenceModel: the common "sequence in, prediction out" network, built from a plain dict.

A recurrent stack (LSTM, GRU or RNN with any of their options) and an optional linear output
layer, applied either to the last valid step of every sequence (``"output": "last"``: the
final hidden states of the top layer, both directions concatenated) or to every step
(``"output": "all"``). The configuration is a JSON-ready dict, so a model can be described
in a file and rebuilt::

    >>> import json, numpy as np, lstmx
    >>> config = {"cell": "lstm", "input_size": 3, "hidden_size": 16, "num_layers": 2,
    ...           "bidirectional": True, "layer_norm": True, "dropout": 0.1,
    ...           "output_size": 1, "output": "last", "seed": 0}
    >>> model = lstmx.nn.SequenceModel(config)
    >>> again = lstmx.nn.SequenceModel(json.loads(json.dumps(model.config)))
    >>> model(np.zeros((10, 4, 3), np.float32)).shape
    (4, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..checks import check_array
from .layers import Linear
from .module import Module
from .recurrent import GRU, LSTM, RNN

if TYPE_CHECKING:
    from typing_extensions import Self

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
# recurrent options passed through to the layer as they are
_RECURRENT_KEYS = ("num_layers", "bidirectional", "dropout", "bias", "batch_first", "init",
                   "forget_bias", "proj_size", "layer_norm", "recurrent_dropout",
                   "input_dropout", "activation", "recurrent_activation", "activation_param",
                   "nonlinearity")
_OWN_KEYS = ("cell", "input_size", "hidden_size", "output_size", "output", "dtype", "seed")
# options that belong to some cells only
_ONLY = {"nonlinearity": ("rnn",), "activation": ("lstm", "gru"),
         "recurrent_activation": ("lstm", "gru"), "layer_norm": ("lstm", "gru"),
         "proj_size": ("lstm",), "forget_bias": ("lstm",)}


class SequenceModel(Module):
    """Recurrent stack + optional output projection, from a config dict.

    Config keys: ``cell`` ("lstm", "gru", "rnn"), ``input_size``, ``hidden_size`` (required);
    ``output_size`` (None: no projection, the recurrent features are the output);
    ``output`` ("last" (default) or "all"); ``dtype`` ("float32" or "float64"); ``seed``;
    and any option of the recurrent layer (``num_layers``, ``bidirectional``, ``dropout``,
    ``layer_norm``, ``recurrent_dropout``, ``input_dropout``, ``proj_size``, ``activation``,
    ``recurrent_activation``, ``activation_param``, ``init``, ``forget_bias``, ``bias``,
    ``batch_first``, ``nonlinearity`` for RNN).

    ``forward(x, lengths=None)``: x ``(T, B, I)`` (``(B, T, I)`` with batch_first) ->
    ``(B, O)`` for "last", ``(T, B, O)`` (or ``(B, T, O)``) for "all", with O = output_size,
    or D·R recurrent features without a projection. ``backward(dy)`` -> dx like x.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        unknown = sorted(set(config) - set(_RECURRENT_KEYS) - set(_OWN_KEYS))
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; allowed: "
                             f"{sorted(_OWN_KEYS + _RECURRENT_KEYS)}")
        for key in ("cell", "input_size", "hidden_size"):
            if key not in config:
                raise ValueError(f"config needs '{key}'")
        cell = config["cell"]
        if cell not in _CELLS:
            raise ValueError(f"config['cell'] must be one of {sorted(_CELLS)}, got {cell!r}")
        for key, cells in _ONLY.items():
            if key in config and cell not in cells:
                hint = " (use 'nonlinearity' for RNN)" if key == "activation" else ""
                raise ValueError(f"config['{key}'] does not apply to cell {cell!r}{hint}")
        output = config.get("output", "last")
        if output not in ("last", "all"):
            raise ValueError(f"config['output'] must be 'last' or 'all', got {output!r}")
        dtype = np.dtype(config.get("dtype", "float32"))
        self._config = dict(config, output=output, dtype=dtype.name)
        self.output = output
        seed = config.get("seed")
        options = {k: config[k] for k in _RECURRENT_KEYS if k in config}
        self.rnn = _CELLS[cell](config["input_size"], config["hidden_size"], dtype=dtype,
                                seed=seed, **options)
        self.features = self.rnn.num_directions * self.rnn.output_size
        self.head: Linear | None = None
        if config.get("output_size") is not None:
            self.head = Linear(self.features, config["output_size"], dtype=dtype,
                               seed=None if seed is None else seed + 1)
        self._batch: tuple[tuple[int, ...], int] | None = None

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the configuration (JSON-ready)."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        return cls(config)

    def forward(self, x: np.ndarray, lengths: ArrayLike | None = None) -> np.ndarray:
        out = self.rnn(x, None, lengths=lengths)
        y, h_n = (out[0], out[1][0]) if isinstance(self.rnn, LSTM) else out
        if self.output == "last":
            D = self.rnn.num_directions
            feats = np.concatenate(list(h_n[-D:]), axis=1)  # (B, D·R)
            self._batch = (h_n.shape, D)
        else:
            feats = y
            self._batch = None
        return self.head(feats) if self.head is not None else feats

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self.head is not None:
            dfeats = self.head.backward(dy)
        elif self.output == "last":
            if self._batch is None:
                raise RuntimeError("backward() needs a training-mode forward() first")
            B = self._batch[0][1]
            dfeats = check_array(dy, "dy", self.rnn.dtype, (B, self.features),
                                 f"(B, features) = ({B}, {self.features})")
        else:
            dfeats = dy  # the recurrent layer checks it against its output
        if self.output == "last":
            if self._batch is None:
                raise RuntimeError("backward() needs a training-mode forward() first")
            shape, D = self._batch
            dh_n = np.zeros(shape, dtype=dfeats.dtype)
            R = shape[2]
            for d in range(D):
                dh_n[shape[0] - D + d] = dfeats[:, d * R:(d + 1) * R]
            dstate = (dh_n, None) if isinstance(self.rnn, LSTM) else dh_n
            return self.rnn.backward(None, dstate)[0]
        return self.rnn.backward(dfeats, None)[0]

    def __repr__(self) -> str:
        return f"SequenceModel({self._config})"
