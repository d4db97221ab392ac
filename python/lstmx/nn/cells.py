"""Single-step cells: LSTMCell, GRUCell, RNNCell (PyTorch's ``nn.LSTMCell`` & co.).

For decoders and samplers that advance one step at a time. A step is two matrix products
(``gx = x W_ihᵀ + b_ih``, ``gh = h W_hhᵀ + b_hh``) and the fused pointwise gate math of the
native cell header (``src/cells/``, the one the sequence kernels use), through Cython.

Each training-mode ``forward`` pushes what its backward needs onto a stack, and each
``backward`` pops the most recent: a decoder that runs steps 0..T-1 forward calls
backward for steps T-1..0. ``eval()`` (and ``clear()``) drop the stack.

Parameters: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,).
"""

import numpy as np

from .. import _cells, _core
from ..checks import check_array, check_float_dtype
from .module import Module, Parameter


class _Cell(Module):
    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)
        self.dtype = check_float_dtype(dtype)
        self._stack = []
        rng = np.random.default_rng(seed)
        G, H, I = self._gates, self.hidden_size, self.input_size
        k = 1.0 / np.sqrt(H)
        self.weight_ih = Parameter(rng.uniform(-k, k, (G * H, I)).astype(self.dtype))
        self.weight_hh = Parameter(rng.uniform(-k, k, (G * H, H)).astype(self.dtype))
        if self.bias:
            self.bias_ih = Parameter(rng.uniform(-k, k, G * H).astype(self.dtype))
            self.bias_hh = Parameter(rng.uniform(-k, k, G * H).astype(self.dtype))

    def _check_x(self, x):
        x = check_array(x, "x", self.dtype, (None, self.input_size),
                        f"(B, input_size={self.input_size})")
        if x.shape[0] < 1:
            raise ValueError("x must hold at least one row")
        return x

    def _check_state(self, s, name, batch):
        if s is None:
            return np.zeros((batch, self.hidden_size), self.dtype)
        return check_array(s, name, self.dtype, (batch, self.hidden_size),
                           f"(B, H) = ({batch}, {self.hidden_size})")

    def _projections(self, x, h):
        gx = x @ self.weight_ih.data.T
        gh = h @ self.weight_hh.data.T
        if self.bias:
            gx += self.bias_ih.data
            gh += self.bias_hh.data
        return gx, gh

    def _accumulate(self, x, h, dgx, dgh):
        """Parameter gradients of one step and ∂L/∂x, ∂L/∂h through the products."""
        self.weight_ih.grad += dgx.T @ x
        self.weight_hh.grad += dgh.T @ h
        if self.bias:
            self.bias_ih.grad += dgx.sum(axis=0)
            self.bias_hh.grad += dgh.sum(axis=0)
        return dgx @ self.weight_ih.data, dgh @ self.weight_hh.data

    def _last(self):
        """The most recent step kept for backward (popped once backward's checks pass)."""
        if not self._stack:
            raise RuntimeError("backward() needs a forward() in training mode first "
                               "(one backward per forward step, most recent first)")
        return self._stack[-1]

    def clear(self):
        """Forget the steps kept for backward."""
        self._stack.clear()

    def train(self, mode=True):
        if not mode:
            self.clear()
        return super().train(mode)

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, dtype={self.dtype.name})"


class LSTMCell(_Cell):
    """One LSTM step (gates i, f, g, o; equations in ``lstmx.LSTM``).

    ``h, c = cell(x, (h, c))`` with x ``(B, I)``, h and c ``(B, H)`` (state None: zeros).
    ``dx, (dh, dc) = cell.backward(dh_new, dc_new)`` (dc_new may be None).

    Example::

        >>> cell = LSTMCell(3, 4, seed=0)
        >>> h, c = cell(np.ones((2, 3), np.float32))
        >>> h.shape
        (2, 4)
    """

    _gates = 4

    def forward(self, x, state=None):
        x = self._check_x(x)
        h, c = state if state is not None else (None, None)
        h = self._check_state(h, "h", x.shape[0])
        c = self._check_state(c, "c", x.shape[0])
        gx, gh = self._projections(x, h)
        h_new, c_new, act, tanh_c = _cells.lstm_step_forward(gx, gh, c, self.training,
                                                             _core.get_num_threads())
        if self.training:
            self._stack.append((x, h, c, act, tanh_c))
        return h_new, c_new

    def backward(self, dh_new=None, dc_new=None):
        x, h, c, act, tanh_c = self._last()
        dh_new = self._check_state(dh_new, "dh_new", x.shape[0])
        dc_new = self._check_state(dc_new, "dc_new", x.shape[0])
        self._stack.pop()
        dg, dc = _cells.lstm_step_backward(dh_new, dc_new, c, act, tanh_c, _core.get_num_threads())
        dx, dh = self._accumulate(x, h, dg, dg)
        return dx, (dh, dc)


class GRUCell(_Cell):
    """One GRU step (gates r, z, n, reset after; equations in ``lstmx.GRU``).

    ``h = cell(x, h)``; ``dx, dh = cell.backward(dh_new)``.

    Example::

        >>> cell = GRUCell(3, 4, seed=0)
        >>> cell(np.ones((2, 3), np.float32)).shape
        (2, 4)
    """

    _gates = 3

    def forward(self, x, h=None):
        x = self._check_x(x)
        h = self._check_state(h, "h", x.shape[0])
        gx, gh = self._projections(x, h)
        h_new, act, ghn = _cells.gru_step_forward(gx, gh, h, self.training, _core.get_num_threads())
        if self.training:
            self._stack.append((x, h, act, ghn))
        return h_new

    def backward(self, dh_new=None):
        x, h, act, ghn = self._last()
        dh_new = self._check_state(dh_new, "dh_new", x.shape[0])
        self._stack.pop()
        dgx, dgh, dh_direct = _cells.gru_step_backward(dh_new, h, act, ghn, _core.get_num_threads())
        dx, dh = self._accumulate(x, h, dgx, dgh)
        return dx, dh + dh_direct


class RNNCell(_Cell):
    """One Elman step ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act "tanh" or "relu".

    ``h = cell(x, h)``; ``dx, dh = cell.backward(dh_new)``.

    Example::

        >>> cell = RNNCell(3, 4, nonlinearity="relu", seed=0)
        >>> cell(np.ones((2, 3), np.float32)).shape
        (2, 4)
    """

    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh",
                 dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, seed)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        x = self._check_x(x)
        h = self._check_state(h, "h", x.shape[0])
        gx, gh = self._projections(x, h)
        relu = self.nonlinearity == "relu"
        h_new = _cells.rnn_step_forward(gx, gh, relu, _core.get_num_threads())
        if self.training:
            self._stack.append((x, h, h_new))
        return h_new

    def backward(self, dh_new=None):
        x, h, h_new = self._last()
        dh_new = self._check_state(dh_new, "dh_new", x.shape[0])
        self._stack.pop()
        dg = _cells.rnn_step_backward(dh_new, h_new, self.nonlinearity == "relu",
                                      _core.get_num_threads())
        return self._accumulate(x, h, dg, dg)
