"""Single-step cells: LSTMCell, GRUCell, RNNCell (PyTorch's ``nn.LSTMCell`` & co.).

For decoders and samplers that advance one step at a time. A step is two matrix products
(``gx = x W_ihᵀ + b_ih``, ``gh = h W_hhᵀ + b_hh``) and the fused pointwise gate math of the
native cell header (``src/cells/``, the one the sequence kernels use), through Cython.

Each training-mode ``forward`` pushes what its backward needs onto a stack, and each
``backward`` pops the most recent: a decoder that runs steps 0..T-1 forward calls
backward for steps T-1..0. ``eval()`` (and ``clear()``) drop the stack.

Parameters: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,).

Options of the recurrent layers that make sense for one step: ``activation`` and
``recurrent_activation`` (and ``activation_param``), and ``layer_norm`` (LSTMCell, GRUCell;
parameters ``ln_ih_weight/bias``, ``ln_hh_weight/bias`` and for LSTM ``ln_cell_weight/bias``,
replacing the biases), as documented on ``lstmx.LSTM``. Every option runs in the Cython
step, on the gate math the sequence engine uses.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from .. import _cells, _core
from .._matmul import mm
from ..checks import check_array, check_float_dtype, positive_int
from .init import init_array
from .module import Parameter, StackedModule
from .options import ACTIVATIONS, check_cell_options, state_pair

_LN_NAMES = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias", "ln_cell_weight",
             "ln_cell_bias")
_EPS = 1e-5  # layer norm's epsilon, as in the layers (nn.options.kernel_options)

# Operations per element of a step's gate math (its exp/tanh dominate), for the cost rule.
_POINTWISE_FLOPS = 40.0


def _pointwise_threads(gates):
    """Threads for one step's gate math over ``gates`` (B, G·H): by the cost rule, one unless
    the batch is large (lstmx.threads)."""
    return _core.threads_for(_POINTWISE_FLOPS * gates.size)


class _Cell(StackedModule):
    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: DTypeLike = np.float32, seed: int | None = None,
                 layer_norm: bool = False, activation: str = "tanh",
                 recurrent_activation: str = "sigmoid",
                 activation_param: float | None = None) -> None:
        super().__init__()
        activation_param = check_cell_options(self._kind, hidden_size, bias, layer_norm,
                                              activation, recurrent_activation,
                                              activation_param)
        self.layer_norm = bool(layer_norm)
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.activation_param = activation_param
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        self.dtype = check_float_dtype(dtype)
        rng = np.random.default_rng(seed)
        G, H, I = self._gates, self.hidden_size, self.input_size
        k = 1.0 / np.sqrt(H)
        self.weight_ih = Parameter(rng.uniform(-k, k, (G * H, I)).astype(self.dtype))
        self.weight_hh = Parameter(rng.uniform(-k, k, (G * H, H)).astype(self.dtype))
        if self.layer_norm:
            for name in self._ln_names():
                size = H if name.startswith("ln_cell") else G * H
                setattr(self, name, Parameter(init_array("pytorch", name, (size,), H, G, rng)
                                              .astype(self.dtype)))
        elif self.bias:
            self.bias_ih = Parameter(rng.uniform(-k, k, G * H).astype(self.dtype))
            self.bias_hh = Parameter(rng.uniform(-k, k, G * H).astype(self.dtype))

    def _check_x(self, x):
        self.check_parameters()
        given = x
        x = check_array(x, "x", self.dtype, (None, self.input_size),
                        f"(B, input_size={self.input_size})")
        if x.shape[0] < 1:
            raise ValueError("x must hold at least one row")
        if self.training and np.may_share_memory(x, given):
            x = x.copy()  # kept for backward: the caller may reuse its array in place
        return x

    def _check_state(self, s, name, batch, kept=False):
        """A (B, H) state or gradient (None: zeros); ``kept`` (a state that training keeps
        for backward) is copied when it is the caller's own array."""
        if s is None:
            return np.zeros((batch, self.hidden_size), self.dtype)
        checked = check_array(s, name, self.dtype, (batch, self.hidden_size),
                              f"(B, H) = ({batch}, {self.hidden_size})")
        if kept and self.training and np.may_share_memory(checked, s):
            checked = checked.copy()
        return checked

    def _projections(self, x, h):
        gx = mm(x, self.weight_ih.data, tb=True)
        gh = mm(h, self.weight_hh.data, tb=True)
        if self.bias and not self.layer_norm:  # layer norm's biases replace them
            gx += self.bias_ih.data
            gh += self.bias_hh.data
        return gx, gh

    def _accumulate(self, x, h, dgx, dgh):
        """Parameter gradients of one step and ∂L/∂x, ∂L/∂h through the products."""
        mm(dgx, x, ta=True, out=self.weight_ih.grad, beta=1.0)
        mm(dgh, h, ta=True, out=self.weight_hh.grad, beta=1.0)
        if self.bias and not self.layer_norm:
            self.bias_ih.grad += dgx.sum(axis=0)
            self.bias_hh.grad += dgh.sum(axis=0)
        return mm(dgx, self.weight_ih.data), mm(dgh, self.weight_hh.data)

    def _codes(self):
        """The activation arguments of the Cython step (lstmx._cells.ACT_CODES)."""
        return dict(act_kind=_cells.ACT_CODES[self.activation],
                    param=self.activation_param) | (
            {} if self._kind == "rnn" else {"rec": _cells.ACT_CODES[self.recurrent_activation]})

    def _ln_names(self):
        """The layer-norm gains and biases in the Cython step's order."""
        return _LN_NAMES if self._kind == "lstm" else _LN_NAMES[:4]

    def _ln(self):
        return tuple(getattr(self, n).data for n in self._ln_names())

    def _add_ln_grads(self, grads):
        for name, g in zip(self._ln_names(), grads):
            getattr(self, name).grad += g

    def __repr__(self) -> str:
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
    _kind = "lstm"

    def forward(self, x: np.ndarray,
                state: tuple[np.ndarray | None, np.ndarray | None] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x)
        h, c = state_pair(state, "state", "(h, c)")
        h = self._check_state(h, "h", x.shape[0], kept=True)
        c = self._check_state(c, "c", x.shape[0], kept=True)
        gx, gh = self._projections(x, h)
        if self.layer_norm:
            h_new, c_new, cache = _cells.lstm_ln_step_forward(
                gx, gh, c, self._ln(), _EPS, self.training, _pointwise_threads(gx), **self._codes())
            if self.training:
                self._stack.append((x, h, c, cache))
            return h_new, c_new
        h_new, c_new, act, tanh_c = _cells.lstm_step_forward(gx, gh, c, self.training,
                                                             _pointwise_threads(gx), **self._codes())
        if self.training:
            self._stack.append((x, h, c, act, tanh_c))
        return h_new, c_new

    def backward(self, dh_new: np.ndarray | None = None, dc_new: np.ndarray | None = None
                 ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        step = self._last()
        x, h, c = step[:3]
        dh_new = self._check_state(dh_new, "dh_new", x.shape[0])
        dc_new = self._check_state(dc_new, "dc_new", x.shape[0])
        self._stack.pop()
        if self.layer_norm:
            dgx, dgh, dc, ln_grads = _cells.lstm_ln_step_backward(
                dh_new, dc_new, c, step[3], self._ln(), _EPS, _pointwise_threads(h),
                **self._codes())
            self._add_ln_grads(ln_grads)
            dx, dh = self._accumulate(x, h, dgx, dgh)
            return dx, (dh, dc)
        act, tanh_c = step[3:]
        dg, dc = _cells.lstm_step_backward(dh_new, dc_new, c, act, tanh_c, _pointwise_threads(act),
                                           **self._codes())
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
    _kind = "gru"

    def forward(self, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        x = self._check_x(x)
        h = self._check_state(h, "h", x.shape[0], kept=True)
        gx, gh = self._projections(x, h)
        if self.layer_norm:
            h_new, cache = _cells.gru_ln_step_forward(gx, gh, h, self._ln(), _EPS, self.training,
                                                      _pointwise_threads(gx), **self._codes())
            if self.training:
                self._stack.append((x, h, cache))
            return h_new
        h_new, act, ghn = _cells.gru_step_forward(gx, gh, h, self.training, _pointwise_threads(gx),
                                                  **self._codes())
        if self.training:
            self._stack.append((x, h, act, ghn))
        return h_new

    def backward(self, dh_new: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        step = self._last()
        x, h = step[:2]
        dh_new = self._check_state(dh_new, "dh_new", x.shape[0])
        self._stack.pop()
        if self.layer_norm:
            dgx, dgh, dh_direct, ln_grads = _cells.gru_ln_step_backward(
                dh_new, h, step[2], self._ln(), _EPS, _pointwise_threads(h), **self._codes())
            self._add_ln_grads(ln_grads)
        else:
            act, ghn = step[2:]
            dgx, dgh, dh_direct = _cells.gru_step_backward(dh_new, h, act, ghn,
                                                           _pointwise_threads(act), **self._codes())
        dx, dh = self._accumulate(x, h, dgx, dgh)
        return dx, dh + dh_direct


class RNNCell(_Cell):
    """One Elman step ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act "tanh" or "relu"
    (PyTorch's), or "leaky_relu", "elu", "sigmoid".

    ``h = cell(x, h)``; ``dx, dh = cell.backward(dh_new)``.

    Example::

        >>> cell = RNNCell(3, 4, nonlinearity="relu", seed=0)
        >>> cell(np.ones((2, 3), np.float32)).shape
        (2, 4)
    """

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: DTypeLike = np.float32,
                 seed: int | None = None, activation_param: float | None = None) -> None:
        if nonlinearity not in ACTIVATIONS:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu' (PyTorch's), or one of "
                             f"{ACTIVATIONS[2:]}, got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, seed, activation=nonlinearity,
                         activation_param=activation_param)
        self.nonlinearity = nonlinearity

    def forward(self, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        x = self._check_x(x)
        h = self._check_state(h, "h", x.shape[0], kept=True)
        gx, gh = self._projections(x, h)
        h_new = _cells.rnn_step_forward(gx, gh, _pointwise_threads(gx), **self._codes())
        if self.training:
            self._stack.append((x, h, h_new))
        return h_new

    def backward(self, dh_new: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        step = self._last()
        x, h, h_new = step
        dh_new = self._check_state(dh_new, "dh_new", x.shape[0])
        self._stack.pop()
        dg = _cells.rnn_step_backward(dh_new, h_new, _pointwise_threads(h_new), **self._codes())
        return self._accumulate(x, h, dg, dg)
