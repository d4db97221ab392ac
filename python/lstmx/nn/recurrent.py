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
from .init import check_scheme, init_array
from .module import Module, Parameter


def reverse_index(T, B, lengths):
    """(T, B) time indices that reverse each sequence within its length: t -> len_b - 1 - t
    for t < len_b, padding steps stay put. The map is its own inverse."""
    t = np.arange(T)[:, None]
    if lengths is None:
        return np.broadcast_to(T - 1 - t, (T, B))
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def gather_time(a, index):
    """a (T, B, F) with each column b read in the time order index[:, b]."""
    return a[index, np.arange(a.shape[1])[None, :]]


class _Recurrent(Module):
    """Shared machinery; see LSTM, GRU and RNN for the public interfaces.

    A stack of ``num_layers`` layers, each with one or two directions, every direction one
    call of the native sequence kernel. The reverse direction reads each sequence backwards
    from its last valid step (``reverse_index``). Between layers, in training mode, dropout
    with probability ``dropout`` (inverted: kept values scaled by 1/(1-p)), masks drawn from
    the layer's seeded generator.
    """

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None, init="pytorch",
                 forget_bias=0.0):
        super().__init__()
        self.init = check_scheme(init)
        if forget_bias and self._kind != "lstm":
            raise ValueError("forget_bias applies to LSTM only")
        if forget_bias and not bias:
            raise ValueError("forget_bias needs bias=True")
        self.forget_bias = float(forget_bias)
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        self.batch_first = bool(batch_first)
        self.bias = bool(bias)
        self.dropout = float(dropout)
        self.dtype = check_float_dtype(dtype)
        self.seed = seed
        self._cache = None
        self._dropout_rng = np.random.default_rng(None if seed is None else [seed, 1])
        self.reset_parameters(seed)

    @staticmethod
    def _suffix(layer, direction):
        """Parameter-name suffix of one layer and direction: ``_l1``, ``_l1_reverse``."""
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _suffixes(self):
        """(layer, direction, name suffix) in PyTorch's parameter order."""
        return [(l, d, self._suffix(l, d))
                for l in range(self.num_layers) for d in range(self.num_directions)]

    def reset_parameters(self, seed=None):
        """Initialise every parameter with ``self.init`` (see ``lstmx.nn.init``) from ``seed``,
        then add ``forget_bias`` to the forget-gate block of each LSTM ``bias_ih``."""
        rng = np.random.default_rng(seed)
        G, H = self._gates, self.hidden_size

        def make(name, *shape):
            value = init_array(self.init, name, shape, H, G, rng).astype(self.dtype)
            setattr(self, name, Parameter(value))

        for l, _, sfx in self._suffixes():
            width = self.input_size if l == 0 else H * self.num_directions
            make("weight_ih" + sfx, G * H, width)
            make("weight_hh" + sfx, G * H, H)
            if self.bias:
                make("bias_ih" + sfx, G * H)
                make("bias_hh" + sfx, G * H)
                if self.forget_bias:
                    getattr(self, "bias_ih" + sfx).data[H:2 * H] += self.forget_bias
        self._zero_bias = np.zeros(G * H, dtype=self.dtype)

    # -- helpers -------------------------------------------------------------------------

    def _weights(self, sfx):
        """(w_ih, w_hh, b_ih, b_hh) arrays of one layer and direction."""
        if self.bias:
            b_ih, b_hh = getattr(self, "bias_ih" + sfx).data, getattr(self, "bias_hh" + sfx).data
        else:
            b_ih = b_hh = self._zero_bias
        return getattr(self, "weight_ih" + sfx).data, getattr(self, "weight_hh" + sfx).data, b_ih, b_hh

    def _time_major(self, a, name, last, what):
        """Check a sequence array and return it time-major and C-contiguous."""
        layout = "(B, T, {})" if self.batch_first else "(T, B, {})"
        a = check_array(a, name, self.dtype, (None, None, last), layout.format(f"{what}={last}"))
        if self.batch_first:
            a = np.ascontiguousarray(a.transpose(1, 0, 2))
        return a

    def _state(self, s, name, batch):
        """A (L*D, B, H) state as a list of L*D contiguous (B, H) arrays (None: all None)."""
        n = self.num_layers * self.num_directions
        if s is None:
            return [None] * n
        s = check_array(s, name, self.dtype, (n, batch, self.hidden_size),
                        f"(num_layers * num_directions, B, H) = ({n}, {batch}, {self.hidden_size})")
        return [np.ascontiguousarray(s[i]) for i in range(n)]

    def _batch_out(self, y):
        return np.ascontiguousarray(y.transpose(1, 0, 2)) if self.batch_first else y

    def _extra(self):
        return {"nonlinearity": self.nonlinearity} if self._kind == "rnn" else {}

    def _run_forward(self, x, states, lengths):
        """Validate and run every layer and direction.

        states: list of (name, (L*D, B, H) array or None). Returns y (T, B, D*H) and, per
        state, the (L*D, B, H) final values.
        """
        x = self._time_major(x, "x", self.input_size, "input_size")
        T, B = x.shape[0], x.shape[1]
        if T < 1 or B < 1:
            raise ValueError(f"x must have at least one step and one sequence, got shape {x.shape}")
        lengths = check_lengths(lengths, B, T)
        init = [self._state(s, n, B) for n, s in states]
        kernel = getattr(_core, f"{self._kind}_forward")
        rev = reverse_index(T, B, lengths) if self.bidirectional else None
        D = self.num_directions
        finals = [[None] * (self.num_layers * D) for _ in states]
        layers = []  # per layer: (dropout mask or None, [(input, workspace) per direction])
        inp = x
        for l in range(self.num_layers):
            mask = None
            if l > 0 and self.training and self.dropout > 0:
                keep = self._dropout_rng.random(inp.shape) >= self.dropout
                mask = (keep / (1.0 - self.dropout)).astype(self.dtype)
                inp = inp * mask
            outs, dirs = [], []
            for d in range(D):
                i = l * D + d
                xd = inp if d == 0 else gather_time(inp, rev)  # a fresh C-contiguous copy
                *res, ws = kernel(xd, *[s[i] for s in init], *self._weights(self._suffix(l, d)),
                                  lengths=lengths, training=self.training, **self._extra())
                outs.append(res[0] if d == 0 else gather_time(res[0], rev))
                for f, r in zip(finals, res[1:]):
                    f[i] = r
                dirs.append((xd, ws))
            layers.append((mask, dirs))
            inp = outs[0] if D == 1 else np.ascontiguousarray(np.concatenate(outs, axis=2))
        self._cache = (lengths, rev, layers) if self.training else None
        return inp, [np.stack(f) for f in finals]

    def _run_backward(self, dy, dstates):
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() in training mode first "
                               "(eval() forwards keep nothing for backward)")
        lengths, rev, layers = self._cache
        x0 = layers[0][1][0][0]
        T, B = x0.shape[0], x0.shape[1]
        D, H = self.num_directions, self.hidden_size
        if dy is not None:
            dy = self._time_major(dy, "dy", D * H, "hidden_size" if D == 1 else "2 * hidden_size")
            if dy.shape[:2] != (T, B):
                raise ValueError(f"dy must match the forward output, (T, B) = {(T, B)}, "
                                 f"got {dy.shape[:2]} (time-major)")
        finals = [self._state(s, n, B) for n, s in dstates]
        kernel = getattr(_core, f"{self._kind}_backward")
        dinit = [[None] * (self.num_layers * D) for _ in dstates]
        for l in reversed(range(self.num_layers)):
            mask, dirs = layers[l]
            dinp = None
            for d in range(D):
                i = l * D + d
                sfx = self._suffix(l, d)
                xd, ws = dirs[d]
                dyd = None
                if dy is not None:
                    dyd = dy[:, :, d * H:(d + 1) * H]
                    dyd = np.ascontiguousarray(dyd if d == 0 else gather_time(dyd, rev))
                w_ih, w_hh, _, _ = self._weights(sfx)
                dx, *dst, dw_ih, dw_hh, db_ih, db_hh = kernel(
                    xd, w_ih, w_hh, lengths, ws, dyd, *[f[i] for f in finals], **self._extra())
                for di, g in zip(dinit, dst):
                    di[i] = g
                getattr(self, "weight_ih" + sfx).grad += dw_ih
                getattr(self, "weight_hh" + sfx).grad += dw_hh
                if self.bias:
                    getattr(self, "bias_ih" + sfx).grad += db_ih
                    getattr(self, "bias_hh" + sfx).grad += db_hh
                dx = dx if d == 0 else gather_time(dx, rev)
                dinp = dx if dinp is None else dinp + dx
            if mask is not None:
                dinp = dinp * mask
            dy = np.ascontiguousarray(dinp)
        return self._batch_out(dy), [np.stack(di) for di in dinit]

    def train(self, mode=True):
        if not mode:
            self._cache = None
        return super().train(mode)

    def __repr__(self):
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, "
                f"batch_first={self.batch_first}, bias={self.bias}, dtype={self.dtype.name})")


class LSTM(_Recurrent):
    """Long short-term memory layer (PyTorch's ``nn.LSTM``, gate order i, f, g, o).

    One step, for every sequence b and time t < lengths[b]::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + ... )
        g = tanh(W_ig x + ... )                   o = σ(W_io x + ... )
        c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')

    Args:
        input_size (I), hidden_size (H): feature sizes.
        num_layers (L): stacked layers; layer k > 0 reads layer k-1's output.
        bidirectional: a second direction per layer reads each sequence backwards from its
            last valid step (parameters ``..._l{k}_reverse``); outputs are concatenated.
        dropout: probability of dropping layer outputs between layers (training only).
        bias: learn ``bias_ih_l{k}``/``bias_hh_l{k}`` (else zero).
        batch_first: x and y are ``(B, T, F)`` instead of ``(T, B, F)``.
        dtype: float32 (default) or float64; inputs must have this dtype.
        seed: seed of the initialisation and of the dropout masks.
        init: "pytorch" (U(-1/√H, 1/√H), the default), "orthogonal" (Glorot input weights,
            orthogonal recurrent gate blocks, zero biases) or ``f(name, shape, rng)``.
        forget_bias: added to the forget-gate block of ``bias_ih`` (0 keeps PyTorch parity;
            1.0 is recommended when training from scratch).

    Call: ``y, (h_n, c_n) = lstm(x, (h0, c0)=None, lengths=None)`` with x ``(T, B, I)``,
    h0/c0 ``(L*D, B, H)`` (D = 2 if bidirectional else 1; either may be None: zeros),
    lengths ``(B,)`` ints in [1, T]; y ``(T, B, D*H)``, h_n/c_n ``(L*D, B, H)`` in PyTorch's
    order (layer 0 forward, layer 0 reverse, layer 1 forward, ...).

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
        return self._batch_out(y), (h_n, c_n)

    def backward(self, dy=None, dstate=None):
        dh_n, dc_n = dstate if dstate is not None else (None, None)
        dx, (dh0, dc0) = self._run_backward(dy, [("dh_n", dh_n), ("dc_n", dc_n)])
        return dx, (dh0, dc0)


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
        return self._batch_out(y), h_n

    def backward(self, dy=None, dh_n=None):
        dx, (dh0,) = self._run_backward(dy, [("dh_n", dh_n)])
        return dx, dh0


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
                 seed=None, init="pytorch"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init)
        self.nonlinearity = nonlinearity

    forward = GRU.forward
    backward = GRU.backward
