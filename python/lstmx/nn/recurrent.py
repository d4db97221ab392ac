"""Whole-sequence recurrent layers: LSTM, GRU and Elman RNN over the native kernels.

Names, shapes and gate order are PyTorch's, so ``torch.nn.LSTM(...).state_dict()``
converted to NumPy loads as is:

==============  ======================  ==========================================
parameter       shape                   gates (row blocks of size H)
==============  ======================  ==========================================
weight_ih_l0    (G*H, input_size)       LSTM i, f, g, o (G=4); GRU r, z, n (G=3);
weight_hh_l0    (G*H, H)                RNN one block (G=1)
bias_ih_l0      (G*H,)
bias_hh_l0      (G*H,)
==============  ======================  ==========================================

Inputs are time-major ``(T, B, input_size)`` unless ``batch_first=True`` (``(B, T, ...)``,
transposed once at the boundary). States are ``(num_layers * num_directions, B, H)``.
``lengths`` (B,) gives each sequence's number of valid steps (PyTorch PackedSequence
semantics: state carried unchanged past the end, zero outputs there).
"""

import numpy as np

from .. import _core
from ..checks import check_array, check_float_dtype, check_lengths
from .module import Module, Parameter


class _Recurrent(Module):
    """Shared machinery; see LSTM, GRU and RNN for the public interfaces."""

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if num_layers != 1:
            raise ValueError(f"num_layers={num_layers} is not supported yet: lstmx layers have one "
                             f"layer for now (stack layers by hand)")
        if bidirectional:
            raise ValueError("bidirectional=True is not supported yet: lstmx layers run one "
                             "direction for now")
        if dropout != 0.0:
            raise ValueError(f"dropout={dropout} applies between stacked layers; "
                             f"with num_layers=1 it must be 0")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = 1
        self.bidirectional = False
        self.batch_first = bool(batch_first)
        self.bias = bool(bias)
        self.dropout = 0.0
        self.dtype = check_float_dtype(dtype)
        self.seed = seed
        self._cache = None
        self.reset_parameters(seed)

    def reset_parameters(self, seed=None):
        """PyTorch's default: every weight and bias ~ U(-1/√H, 1/√H), from ``seed``."""
        rng = np.random.default_rng(seed)
        G, H, I = self._gates, self.hidden_size, self.input_size
        k = 1.0 / np.sqrt(H)

        def uniform(*shape):
            return rng.uniform(-k, k, size=shape).astype(self.dtype)

        self.weight_ih_l0 = Parameter(uniform(G * H, I))
        self.weight_hh_l0 = Parameter(uniform(G * H, H))
        if self.bias:
            self.bias_ih_l0 = Parameter(uniform(G * H))
            self.bias_hh_l0 = Parameter(uniform(G * H))
        else:
            self._zero_bias = np.zeros(G * H, dtype=self.dtype)

    # -- helpers -------------------------------------------------------------------------

    def _biases(self):
        if self.bias:
            return self.bias_ih_l0.data, self.bias_hh_l0.data
        return self._zero_bias, self._zero_bias

    def _time_major(self, a, name, last):
        """Check a sequence array and return it time-major and C-contiguous."""
        layout = "(B, T, {})" if self.batch_first else "(T, B, {})"
        a = check_array(a, name, self.dtype, 3, (None, None, last), layout.format(
            f"{'input_size' if name == 'x' else 'hidden_size'}={last}"))
        if self.batch_first:
            a = np.ascontiguousarray(a.transpose(1, 0, 2))
        return a

    def _state(self, s, name, batch):
        if s is None:
            return None
        s = check_array(s, name, self.dtype, 3, (1, batch, self.hidden_size),
                        f"(num_layers * num_directions, B, H) = (1, {batch}, {self.hidden_size})")
        return s[0]

    def _batch_out(self, y):
        return np.ascontiguousarray(y.transpose(1, 0, 2)) if self.batch_first else y

    def _run_forward(self, x, states, lengths):
        """Validate, run the native forward; returns (y (T,B,H), finals list, lengths)."""
        x = self._time_major(x, "x", self.input_size)
        T, B = x.shape[0], x.shape[1]
        if T < 1 or B < 1:
            raise ValueError(f"x must have at least one step and one sequence, got shape {x.shape}")
        lengths = check_lengths(lengths, B, T)
        init = [self._state(s, n, B) for n, s in states]
        b_ih, b_hh = self._biases()
        w_ih, w_hh = self.weight_ih_l0.data, self.weight_hh_l0.data
        kernel = getattr(_core, f"{self._kind}_forward")
        extra = {"nonlinearity": self.nonlinearity} if self._kind == "rnn" else {}
        out = kernel(x, *init, w_ih, w_hh, b_ih, b_hh, lengths=lengths,
                     training=self.training, **extra)
        *results, ws = out
        self._cache = (x, lengths, ws) if self.training else None
        return results[0], results[1:]

    def _run_backward(self, dy, dstates):
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() in training mode first "
                               "(eval() forwards keep nothing for backward)")
        x, lengths, ws = self._cache
        T, B = x.shape[0], x.shape[1]
        if dy is not None:
            dy = self._time_major(dy, "dy", self.hidden_size)
            if dy.shape[:2] != (T, B):
                raise ValueError(f"dy must match the forward output, (T, B) = {(T, B)}, "
                                 f"got {dy.shape[:2]} (time-major)")
        finals = [self._state(s, n, B) for n, s in dstates]
        kernel = getattr(_core, f"{self._kind}_backward")
        extra = {"nonlinearity": self.nonlinearity} if self._kind == "rnn" else {}
        if self._kind == "lstm":
            dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = kernel(
                x, self.weight_ih_l0.data, self.weight_hh_l0.data, lengths, ws, dy, *finals)
            dinit = (dh0[None], dc0[None])
        else:
            dx, dh0, dw_ih, dw_hh, db_ih, db_hh = kernel(
                x, self.weight_ih_l0.data, self.weight_hh_l0.data, lengths, ws, dy, *finals,
                **extra)
            dinit = dh0[None]
        self.weight_ih_l0.grad += dw_ih
        self.weight_hh_l0.grad += dw_hh
        if self.bias:
            self.bias_ih_l0.grad += db_ih
            self.bias_hh_l0.grad += db_hh
        return self._batch_out(dx), dinit

    def train(self, mode=True):
        if not mode:
            self._cache = None
        return super().train(mode)

    def __repr__(self):
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"batch_first={self.batch_first}, bias={self.bias}, dtype={self.dtype.name})")


class LSTM(_Recurrent):
    """Long short-term memory layer (PyTorch's ``nn.LSTM``, gate order i, f, g, o).

    One step, for every sequence b and time t < lengths[b]::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + ... )
        g = tanh(W_ig x + ... )                   o = σ(W_io x + ... )
        c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')

    Args:
        input_size (I), hidden_size (H): feature sizes.
        num_layers, bidirectional, dropout: accepted for PyTorch compatibility; this
            release supports 1, False and 0.
        bias: learn ``bias_ih_l0``/``bias_hh_l0`` (else zero).
        batch_first: x and y are ``(B, T, F)`` instead of ``(T, B, F)``.
        dtype: float32 (default) or float64; inputs must have this dtype.
        seed: seed of the initialisation (U(-1/√H, 1/√H), as PyTorch).

    Call: ``y, (h_n, c_n) = lstm(x, (h0, c0)=None, lengths=None)`` with x ``(T, B, I)``,
    h0/c0 ``(1, B, H)`` (either may be None: zeros), lengths ``(B,)`` ints in [1, T];
    y ``(T, B, H)``, h_n/c_n ``(1, B, H)``.

    Backward: ``dx, (dh0, dc0) = lstm.backward(dy, (dh_n, dc_n))``; any of the gradients
    may be None (zeros). Parameter gradients accumulate in ``p.grad``.

    Example::

        >>> lstm = LSTM(3, 5, seed=0)
        >>> y, (h, c) = lstm(np.ones((7, 2, 3), np.float32))
        >>> y.shape, h.shape
        ((7, 2, 5), (1, 2, 5))
    """

    _gates = 4
    _kind = "lstm"

    def forward(self, x, state=None, lengths=None):
        h0, c0 = state if state is not None else (None, None)
        y, (h_n, c_n) = self._run_forward(x, [("h0", h0), ("c0", c0)], lengths)
        return self._batch_out(y), (h_n[None], c_n[None])

    def backward(self, dy=None, dstate=None):
        dh_n, dc_n = dstate if dstate is not None else (None, None)
        return self._run_backward(dy, [("dh_n", dh_n), ("dc_n", dc_n)])


class GRU(_Recurrent):
    """Gated recurrent unit layer (PyTorch's ``nn.GRU``, gates r, z, n, "reset after")::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h

    Same arguments as LSTM. Call: ``y, h_n = gru(x, h0=None, lengths=None)``;
    backward: ``dx, dh0 = gru.backward(dy, dh_n)``.

    Example::

        >>> gru = GRU(3, 5, seed=0)
        >>> y, h = gru(np.ones((7, 2, 3), np.float32))
        >>> y.shape, h.shape
        ((7, 2, 5), (1, 2, 5))
    """

    _gates = 3
    _kind = "gru"

    def forward(self, x, h0=None, lengths=None):
        y, (h_n,) = self._run_forward(x, [("h0", h0)], lengths)
        return self._batch_out(y), h_n[None]

    def backward(self, dy=None, dh_n=None):
        return self._run_backward(dy, [("dh_n", dh_n)])


class RNN(_Recurrent):
    """Elman RNN layer (PyTorch's ``nn.RNN``): ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    ``nonlinearity`` is "tanh" (default) or "relu"; otherwise the same interface as GRU.

    Example::

        >>> rnn = RNN(3, 5, nonlinearity="relu", seed=0)
        >>> y, h = rnn(np.ones((7, 2, 3), np.float32))
        >>> y.shape
        (7, 2, 5)
    """

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
                 seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed)
        self.nonlinearity = nonlinearity

    forward = GRU.forward
    backward = GRU.backward
