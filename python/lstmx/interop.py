"""Move weights between PyTorch and lstmx, both ways.

lstmx layers use PyTorch's parameter names, shapes and gate order, so a conversion is a
copy of the ``state_dict`` into a layer built with the same configuration:

==========================  ======================  ============================================
PyTorch                     lstmx                   configuration carried over
==========================  ======================  ============================================
``torch.nn.LSTM``           ``lstmx.LSTM``          input_size, hidden_size, num_layers, bias,
``torch.nn.GRU``            ``lstmx.GRU``           batch_first, dropout, bidirectional
``torch.nn.RNN``            ``lstmx.RNN``           the same, and nonlinearity ("tanh"/"relu")
``torch.nn.LSTMCell``       ``lstmx.LSTMCell``      input_size, hidden_size, bias
``torch.nn.GRUCell``        ``lstmx.GRUCell``
``torch.nn.RNNCell``        ``lstmx.RNNCell``       the same, and nonlinearity
``torch.nn.Linear``         ``lstmx.nn.Linear``     in_features, out_features, bias
``torch.nn.Embedding``      ``lstmx.nn.Embedding``  num_embeddings, embedding_dim, padding_idx
==========================  ======================  ============================================

The dtype follows the weights (float32 or float64). Values are copied exactly, so
``to_torch(from_torch(m))`` and ``from_torch(to_torch(layer))`` reproduce every parameter bit for
bit. PyTorch is optional: it is imported only when one of these functions is called.

Example::

    >>> import torch, lstmx
    >>> from lstmx.interop import from_torch, to_torch
    >>> layer = from_torch(torch.nn.LSTM(8, 16, num_layers=2, batch_first=True))
    >>> layer
    LSTM(8, 16, num_layers=2, bidirectional=False, batch_first=True, bias=True, dtype=float32)
    >>> to_torch(layer)
    LSTM(8, 16, num_layers=2, batch_first=True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .nn.cells import GRUCell, LSTMCell, RNNCell
from .nn.layers import Embedding, Linear
from .nn.recurrent import GRU, LSTM, RNN

__all__ = ["from_torch", "to_torch"]

# the lstmx layers that have a PyTorch counterpart
Layer = LSTM | GRU | RNN | LSTMCell | GRUCell | RNNCell | Linear | Embedding


def _import_torch():
    """``torch``, or an ImportError that says how to get it."""
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            "lstmx.interop needs PyTorch, which is not installed; install the CPU build "
            "lstmx is tested with: `pip install \"lstmx[torch]\"` (torch==2.13.0)") from err
    return torch


# Per class name: (lstmx class, the constructor arguments both sides share).
_RECURRENT = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
              "bidirectional")
_CELL = ("input_size", "hidden_size", "bias")
_KINDS: dict[str, tuple[type[Layer], tuple[str, ...]]] = {
    "LSTM": (LSTM, _RECURRENT + ("proj_size",)),
    "GRU": (GRU, _RECURRENT),
    "RNN": (RNN, _RECURRENT + ("nonlinearity",)),
    "LSTMCell": (LSTMCell, _CELL),
    "GRUCell": (GRUCell, _CELL),
    "RNNCell": (RNNCell, _CELL + ("nonlinearity",)),
    "Linear": (Linear, ("in_features", "out_features")),
    "Embedding": (Embedding, ("num_embeddings", "embedding_dim", "padding_idx")),
}


def _kind_of(obj, classes):
    """The name in ``_KINDS`` of ``obj``'s class (exact match, subclasses by their base)."""
    for name in _KINDS:
        if isinstance(obj, classes[name]):
            return name
    supported = ", ".join(_KINDS)
    raise TypeError(f"cannot convert {type(obj).__name__}; supported layers: {supported}")


def _numpy_dtype(torch, tensor_dtype, where):
    dtypes = {torch.float32: np.float32, torch.float64: np.float64}
    if tensor_dtype not in dtypes:
        raise TypeError(f"{where} has dtype {tensor_dtype}; lstmx supports float32 and float64 "
                        f"(convert with module.float() or module.double() first)")
    return dtypes[tensor_dtype]


def _config(obj, names, kind):
    """Shared constructor arguments read from ``obj`` (an lstmx layer or a torch module)."""
    cfg = {name: getattr(obj, name) for name in names}
    if kind == "Linear":
        # both keep the bias Parameter (or None) under that name
        cfg["bias"] = obj.bias is not None
    return cfg


def from_torch(module: Any) -> Layer:
    """An lstmx layer with ``module``'s configuration and a copy of its weights.

    Args:
        module: a ``torch.nn`` LSTM, GRU, RNN, LSTMCell, GRUCell, RNNCell, Linear or
            Embedding, float32 or float64 (on any device; weights are copied to the CPU).

    Returns:
        The matching lstmx layer (table in the module docstring), dtype float32 or float64
        like the weights, in training mode (LSTM ``proj_size`` included). Raises TypeError
        for other modules or dtypes.
    """
    torch = _import_torch()
    classes = {name: getattr(torch.nn, name) for name in _KINDS}
    kind = _kind_of(module, classes)
    cls, names = _KINDS[kind]
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    dtype = _numpy_dtype(torch, next(iter(module.state_dict().values())).dtype,
                         f"torch.nn.{kind}")
    layer = cls(**_config(module, names, kind), dtype=dtype)
    layer.load_state_dict(state)
    return layer


def to_torch(layer: Layer) -> Any:
    """A ``torch.nn`` module with ``layer``'s configuration and a copy of its weights.

    Args:
        layer: an lstmx LSTM, GRU, RNN, LSTMCell, GRUCell, RNNCell, Linear or Embedding.

    Returns:
        The matching ``torch.nn`` module on the CPU, float32 or float64 like ``layer``,
        in training mode. Raises TypeError for other objects and ValueError when ``layer``
        holds parameters the PyTorch module has no place for.
    """
    torch = _import_torch()
    classes = {name: cls for name, (cls, _) in _KINDS.items()}
    kind = _kind_of(layer, classes)
    _, names = _KINDS[kind]
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[layer.dtype]
    module = getattr(torch.nn, kind)(**_config(layer, names, kind), dtype=tdtype)
    state = layer.state_dict()
    own = set(module.state_dict())
    if set(state) != own:
        raise ValueError(f"{layer!r} has parameters {sorted(set(state) - own)} that "
                         f"torch.nn.{kind} lacks, and lacks {sorted(own - set(state))}")
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return module
