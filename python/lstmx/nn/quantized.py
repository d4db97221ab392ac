"""Inference with int8 or bfloat16 weights: ``quantize`` and the modules it makes.

``lstmx.quantize(model, "int8")`` returns a copy of a ``Linear``, a recurrent layer, a cell or
a whole model (``Seq2Seq``, ``CharLM``, ``SequenceModel``, ...) in which every ``Linear``,
``LSTM``/``GRU``/``RNN`` and ``LSTMCell``/``GRUCell``/``RNNCell`` is replaced by its quantized
twin; embeddings, attention and everything else stay float32. Only the weight products
change (``lstmx.reference.quantized`` states their arithmetic); the gate math stays float32:

- ``"int8"``: every weight row is quantized once, ``W ≈ q · scale`` (q int8, one float32
  scale per output row); activations are quantized per row at every product (dynamic
  quantization); the integer product is exact, then dequantized.
- ``"bfloat16"``: weights and activations rounded to bfloat16, products summed in float32.

The quantized modules are the float classes' subclasses (``QuantizedLSTM`` is an ``LSTM``),
with the same calls and outputs, for inference only: ``backward`` and ``train()`` raise
RuntimeError. Their weights are parameters of the float ones' names holding the quantized
arrays, so a ``state_dict`` or a checkpoint reads as the float model's: ``weight_ih_l0`` int8
(G*H, I) with ``weight_ih_scale_l0`` float32 (G*H,) for int8, ``weight_ih_l0`` uint16
(bfloat16 bit patterns) for bfloat16; biases and layer-norm parameters are unchanged. The
native packed form of each matrix is built at its first use and again after lstmx changes its
arrays (``load_state_dict``; a raw write into ``p.data`` is not seen).

    >>> import numpy as np, lstmx
    >>> lstm = lstmx.LSTM(8, 16, num_layers=2, seed=0)
    >>> q = lstmx.quantize(lstm, "int8")
    >>> x = np.random.default_rng(0).standard_normal((5, 3, 8)).astype(np.float32)
    >>> y, (h, c) = q(x)
    >>> float(np.abs(y - lstm.eval()(x)[0]).max()) < 0.02
    True
    >>> q.weight_ih_l0.dtype, q.weight_ih_scale_l0.shape
    (dtype('int8'), (64,))
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import numpy as np

from .. import _core
from ..reference.quantized import DTYPES, check_dtype
from ..reference.quantized import quantize as quantize_matrix
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Linear
from .module import Module, Parameter
from .options import PARAM_KEYS
from .recurrent import GRU, LSTM, RNN

__all__ = ["quantize", "quantized_dtype", "DTYPES", "QuantizedLinear", "QuantizedLSTM",
           "QuantizedGRU", "QuantizedRNN", "QuantizedLSTMCell", "QuantizedGRUCell",
           "QuantizedRNNCell"]

_M = TypeVar("_M", bound=Module)

# binding keys of the quantized matrices of a recurrent layer -> parameter-name stems
_MATRIX_KEYS = {k: PARAM_KEYS[k] for k in ("w_ih", "w_hh", "w_hr")}


def _frozen(data: np.ndarray) -> Parameter:
    """A parameter that never gets a gradient: its ``grad`` is a read-only zero view."""
    p = Parameter(data)
    p.grad = np.broadcast_to(np.zeros((), data.dtype), data.shape)
    return p


class _Quantized:
    """What the quantized modules share: their quantized weights, the packed native
    matrices, and the refusals of an inference-only module. A subclass lists its weight
    matrices (``_matrices``) and how the engine wants each packed (``_packing``)."""

    quantization: str
    _packed: dict[str, Any]
    _parameters: Any

    @property
    def inference_only(self) -> str:
        return (f"{type(self).__name__} is quantized to {self.quantization} for inference "
                "only; backward and training need the float32 model (train that one, then "
                "quantize a copy with lstmx.quantize)")

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: a quantized module has no backward (RuntimeError)."""
        raise RuntimeError(self.inference_only)

    def reset_parameters(self, seed: int | None = None) -> None:
        """Refused: quantized weights are made from trained float32 ones (RuntimeError)."""
        raise RuntimeError(self.inference_only)

    def _matrices(self) -> list[tuple[str, str]]:
        """(stem, suffix) of every weight matrix: ``("weight_ih", "_l0")``."""
        raise NotImplementedError

    def _packing(self, stem: str) -> int:
        """The ``gates`` argument of ``_core.QuantizedMatrix`` for weight ``stem``: 0, the
        plain row order."""
        return 0

    def _quantize_weights(self, dtype: str) -> None:
        """Replace every float32 weight matrix by its quantized arrays (int8: the matrix and
        ``<stem>_scale<suffix>``; bfloat16: the bit patterns), keeping the parameters'
        order; the other parameters stay as they are, without gradients."""
        matrices = {stem + sfx: (stem, sfx) for stem, sfx in self._matrices()}
        params = list(self._parameters.items())
        self._parameters.clear()
        for name, p in params:
            if name not in matrices:
                setattr(self, name, _frozen(p.data))
                continue
            if not np.isfinite(p.data).all():
                raise ValueError(f"cannot quantize {name}: it holds non-finite values")
            stem, sfx = matrices[name]
            q = quantize_matrix(p.data, dtype)
            setattr(self, name, _frozen(q.data))
            if q.scale is not None:
                setattr(self, f"{stem}_scale{sfx}", _frozen(q.scale))

    def _matrix(self, stem: str, sfx: str = "") -> Any:
        """The native packed form (``_core.QuantizedMatrix``) of weight ``stem + sfx``,
        packed at first use and again once its arrays were replaced or written by lstmx
        (``load_state_dict``: versions)."""
        w = self._parameters[stem + sfx]
        s = self._parameters.get(f"{stem}_scale{sfx}")
        arrays = (w.data,) if s is None else (w.data, s.data)
        key = (tuple(id(a) for a in arrays), w.version, None if s is None else s.version)
        hit = self._packed.get(stem + sfx)
        if hit is None or hit[0] != key:
            matrix = _core.QuantizedMatrix(w.data, None if s is None else s.data,
                                           gates=self._packing(stem))
            # the arrays are kept with the key so that their ids cannot be reused meanwhile
            hit = self._packed[stem + sfx] = (key, matrix, arrays)
        return hit[1]

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles leave the packed matrices behind (rebuilt at first use)
        return dict(vars(self), _packed={})

    def __repr__(self) -> str:
        # the float module's, under this class's name, with the quantization
        args = super().__repr__().split("(", 1)[1][:-1]
        return f"{type(self).__name__}({args}, quantization={self.quantization!r})"


class QuantizedLinear(_Quantized, Linear):
    """``Linear`` with an int8 or bfloat16 weight (made by ``lstmx.quantize``).

    ``forward(x (..., in) float32) -> (..., out) float32``: one ``_core.quantized_linear``
    over all leading axes, the bias added in float32. Parameters: ``weight`` (out, in) int8
    and ``weight_scale`` (out,) float32, or ``weight`` uint16 (bfloat16); ``bias`` (out,).
    """

    def _matrices(self):
        return [("weight", "")]

    def _affine(self, x):
        y = _core.quantized_linear(x.reshape(-1, self.in_features), self._matrix("weight"),
                                   None if self.bias is None else self.bias.data)
        return y.reshape(x.shape[:-1] + (self.out_features,))


class _QuantizedRecurrent(_Quantized):
    """A stack of quantized layers: each layer and direction is one call of the native
    engine with its matrices packed for it (``_core.recurrent_forward(..., quantized=...)``);
    the rest of the machinery (directions, lengths, states, batch_first) is the float
    layer's."""

    def _matrices(self):
        return [(stem, sfx) for _, _, sfx in self._suffixes() for stem in _MATRIX_KEYS.values()
                if stem + sfx in self._parameters]

    def _packing(self, stem):
        # the engine's unit-blocked W_hh, except where the row schedule runs the layer
        plain = self.layer_norm or self.proj_size or stem != "weight_hh"
        return 0 if plain else self._gates

    def _weights(self, sfx):
        quantized = {key: self._matrix(stem, sfx) for key, stem in _MATRIX_KEYS.items()
                     if stem + sfx in self._parameters}
        params = {k: p.data for k, p in self._params(sfx).items() if k not in quantized}
        return params, {"quantized": quantized}


class QuantizedLSTM(_QuantizedRecurrent, LSTM):
    """``LSTM`` with int8 or bfloat16 ``weight_ih``, ``weight_hh`` (and ``weight_hr``),
    made by ``lstmx.quantize``: the same call, ``y, (h_n, c_n) = lstm(x, (h0, c0), lengths)``,
    every option of the float layer."""


class QuantizedGRU(_QuantizedRecurrent, GRU):
    """``GRU`` with int8 or bfloat16 weights (``lstmx.quantize``): ``y, h_n = gru(x, h0,
    lengths)``."""


class QuantizedRNN(_QuantizedRecurrent, RNN):
    """``RNN`` with int8 or bfloat16 weights (``lstmx.quantize``): ``y, h_n = rnn(x, h0,
    lengths)``."""


class _QuantizedCell(_Quantized):
    """A quantized cell: its two products through ``_core.quantized_linear``, the gate math
    the float cell's (``lstmx._cells``)."""

    def _matrices(self):
        return [("weight_ih", ""), ("weight_hh", "")]

    def _projections(self, x, h):
        biased = self.bias and not self.layer_norm  # layer norm's biases replace them
        gx = _core.quantized_linear(x, self._matrix("weight_ih"),
                                    self.bias_ih.data if biased else None)
        gh = _core.quantized_linear(h, self._matrix("weight_hh"),
                                    self.bias_hh.data if biased else None)
        return gx, gh


class QuantizedLSTMCell(_QuantizedCell, LSTMCell):
    """``LSTMCell`` with int8 or bfloat16 weights (``lstmx.quantize``): ``h, c = cell(x,
    (h, c))``."""


class QuantizedGRUCell(_QuantizedCell, GRUCell):
    """``GRUCell`` with int8 or bfloat16 weights (``lstmx.quantize``): ``h = cell(x, h)``."""


class QuantizedRNNCell(_QuantizedCell, RNNCell):
    """``RNNCell`` with int8 or bfloat16 weights (``lstmx.quantize``): ``h = cell(x, h)``."""


# the float classes quantize replaces (exactly these: a subclass may compute otherwise)
_QUANTIZED: dict[type, type] = {
    Linear: QuantizedLinear, LSTM: QuantizedLSTM, GRU: QuantizedGRU, RNN: QuantizedRNN,
    LSTMCell: QuantizedLSTMCell, GRUCell: QuantizedGRUCell, RNNCell: QuantizedRNNCell}


def quantized_dtype(model: Module) -> str | None:
    """The quantization of ``model`` ("int8" or "bfloat16"), or None for a float model."""
    for _, m in model.named_modules():
        if isinstance(m, _Quantized):
            return m.quantization
    return None


def quantize(model: _M, dtype: str = "int8") -> _M:
    """An inference-only copy of ``model`` with int8 or bfloat16 weights.

    Args:
        model: a float32 ``Linear``, ``LSTM``/``GRU``/``RNN``, ``LSTMCell``/``GRUCell``/
            ``RNNCell``, or any Module holding some (``Seq2Seq``, ``CharLM``,
            ``SequenceModel``): each of those is replaced, the rest is copied as is.
        dtype: "int8" (per-row weight scales, activations quantized per row at each
            product) or "bfloat16" (float32 sums).

    Returns:
        The quantized copy, in eval mode (``model`` itself is untouched): same calls, same
        output shapes, float32 outputs. ``backward`` and ``train()`` raise RuntimeError.

    Raises:
        ValueError: an unknown ``dtype``, a model that is not float32 (naming the module and
            its dtype), already quantized, with nothing to quantize, or with non-finite
            weights.

    Example::

        >>> import lstmx
        >>> lin = lstmx.quantize(lstmx.nn.Linear(4, 3, seed=0), "bfloat16")
        >>> lin(np.ones((2, 4), np.float32)).shape
        (2, 3)
    """
    check_dtype(dtype)
    if not isinstance(model, Module):
        raise TypeError(f"quantize takes an lstmx Module, got {type(model).__name__}")
    done = quantized_dtype(model)
    if done is not None:
        raise ValueError(f"this {type(model).__name__} is already quantized ({done}); "
                         "quantize the float32 model")
    targets = [(name, m) for name, m in model.named_modules() if type(m) in _QUANTIZED]
    if not targets:
        raise ValueError(f"{type(model).__name__} holds no Linear, LSTM, GRU, RNN or cell "
                         "to quantize")
    for name, m in targets:
        dt = getattr(m, "dtype")
        if dt != np.float32:
            raise ValueError(f"quantize takes float32 models; {name or 'the model'} "
                             f"({type(m).__name__}) is {dt.name}")
    quantized = copy.deepcopy(model).eval()
    for _, m in quantized.named_modules():
        if type(m) in _QUANTIZED:
            _become_quantized(m, dtype)
    return quantized


def _become_quantized(module: Any, dtype: str) -> None:
    """Turn a float module into its quantized subclass in place: every setting and the call
    machinery stay, the weights are replaced."""
    module.__class__ = _QUANTIZED[type(module)]
    module.quantization = dtype
    module._packed = {}
    module._quantize_weights(dtype)
