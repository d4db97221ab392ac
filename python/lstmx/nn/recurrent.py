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

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .. import _core
from ..checks import check_array, check_float_dtype, check_lengths, positive_int
from .init import Scheme, check_scheme, init_array
from .module import Module, Parameter
from .options import (ACTIVATIONS, check_cell_options, check_rate, kernel_options,
                      kernel_params, state_pair)

if TYPE_CHECKING:
    from typing_extensions import Self


def reverse_index(T: int, B: int, lengths: np.ndarray | None) -> np.ndarray:
    """(T, B) time indices that reverse each sequence within its length: t -> len_b - 1 - t
    for t < len_b, padding steps stay put. The map is its own inverse."""
    t = np.arange(T)[:, None]
    if lengths is None:
        return np.broadcast_to(T - 1 - t, (T, B))
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def gather_time(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """a (T, B, F) with each column b read in the time order index[:, b]."""
    return a[index, np.arange(a.shape[1])[None, :]]


class _Recurrent(Module):
    """Shared machinery; see LSTM, GRU and RNN for the public interfaces.

    A stack of ``num_layers`` layers, each with one or two directions, every direction one
    call of the native recurrent engine (``lstmx._core.recurrent_forward``), whatever the
    options (layer norm, recurrent dropout, other activations, projections). The reverse direction
    reads each sequence backwards from its last valid step (``reverse_index``). In training
    mode, masks (inverted: kept values scaled by 1/(1-p)) come from the layer's seeded
    generator: ``dropout`` on the outputs between layers, ``input_dropout`` on each layer's
    input and ``recurrent_dropout`` on its recurrent state (one mask per sequence, the same
    at every step: Gal and Ghahramani, 2016).
    """

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: DTypeLike = np.float32,
                 seed: int | None = None, init: Scheme = "pytorch", forget_bias: float = 0.0,
                 proj_size: int = 0, layer_norm: bool = False, recurrent_dropout: float = 0.0,
                 input_dropout: float = 0.0, activation: str = "tanh",
                 recurrent_activation: str = "sigmoid",
                 activation_param: float | None = None) -> None:
        super().__init__()
        self.init = check_scheme(init)
        if forget_bias and self._kind != "lstm":
            raise ValueError("forget_bias applies to LSTM only")
        if forget_bias and not bias:
            raise ValueError("forget_bias needs bias=True")
        self.forget_bias = float(forget_bias)
        if not np.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be a finite number, got {forget_bias!r}")
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)):
            positive_int(v, name)
        if not isinstance(proj_size, (int, np.integer)) or proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative integer, got {proj_size!r}")
        if proj_size and self._kind != "lstm":
            raise ValueError(f"proj_size applies to LSTM only, not {type(self).__name__}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size={hidden_size}, "
                             f"got {proj_size}")
        activation_param = check_cell_options(self._kind, hidden_size, bias, layer_norm,
                                              activation, recurrent_activation,
                                              activation_param)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        self.batch_first = bool(batch_first)
        self.bias = bool(bias)
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")
        self.input_dropout = check_rate(input_dropout, "input_dropout")
        self.proj_size = int(proj_size)
        self.layer_norm = bool(layer_norm)
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.activation_param = activation_param
        self.dtype = check_float_dtype(dtype)
        self.seed = seed
        self._cache: tuple[Any, ...] | None = None
        self._dropout_rng = np.random.default_rng(None if seed is None else [seed, 1])
        self.reset_parameters(seed)

    @property
    def output_size(self) -> int:
        """Size of h per direction: proj_size when projecting, else hidden_size."""
        return self.proj_size or self.hidden_size

    @staticmethod
    def _suffix(layer, direction):
        """Parameter-name suffix of one layer and direction: ``_l1``, ``_l1_reverse``."""
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _suffixes(self):
        """(layer, direction, name suffix) in PyTorch's parameter order."""
        return [(l, d, self._suffix(l, d))
                for l in range(self.num_layers) for d in range(self.num_directions)]

    def reset_parameters(self, seed: int | None = None) -> None:
        """Initialise every parameter with ``self.init`` (see ``lstmx.nn.init``) from ``seed``,
        then add ``forget_bias`` to the forget-gate block of each LSTM input bias."""
        rng = np.random.default_rng(seed)
        G, H, R = self._gates, self.hidden_size, self.output_size

        def make(name: str, *shape: int) -> None:
            value = init_array(self.init, name, shape, H, G, rng).astype(self.dtype)
            setattr(self, name, Parameter(value))

        for l, _, sfx in self._suffixes():
            width = self.input_size if l == 0 else R * self.num_directions
            make("weight_ih" + sfx, G * H, width)
            make("weight_hh" + sfx, G * H, R)
            if self.layer_norm:
                for part in ("ih", "hh"):
                    make(f"ln_{part}_weight" + sfx, G * H)
                    make(f"ln_{part}_bias" + sfx, G * H)
                if self._kind == "lstm":
                    make("ln_cell_weight" + sfx, H)
                    make("ln_cell_bias" + sfx, H)
            elif self.bias:
                make("bias_ih" + sfx, G * H)
                make("bias_hh" + sfx, G * H)
            if self.proj_size:
                make("weight_hr" + sfx, self.proj_size, H)
            if self.forget_bias:
                first = "ln_ih_bias" if self.layer_norm else "bias_ih"
                getattr(self, first + sfx).data[H:2 * H] += self.forget_bias

    # -- helpers -------------------------------------------------------------------------

    def _params(self, sfx):
        """{binding key: Parameter} of one layer and direction."""
        return kernel_params(self._parameters, sfx)

    def _options(self):
        return kernel_options(self.activation, self.activation_param,
                              self.recurrent_activation, self.layer_norm)

    def _time_major(self, a, name, last, what):
        """Check a sequence array and return it time-major and C-contiguous."""
        layout = "(B, T, {})" if self.batch_first else "(T, B, {})"
        a = check_array(a, name, self.dtype, (None, None, last), layout.format(f"{what}={last}"))
        if self.batch_first:
            a = np.ascontiguousarray(a.transpose(1, 0, 2))
        return a

    def _state(self, s, name, batch, width):
        """A (L*D, B, width) state as a list of L*D contiguous (B, width) arrays."""
        n = self.num_layers * self.num_directions
        if s is None:
            return [None] * n
        what = "H" if width == self.hidden_size else "proj_size"
        s = check_array(s, name, self.dtype, (n, batch, width),
                        f"(num_layers * num_directions, B, {what}) = ({n}, {batch}, {width})")
        return [np.ascontiguousarray(s[i]) for i in range(n)]

    def _state_widths(self):
        """Width of each state: h (proj_size or H) and, for LSTM, c (H)."""
        return [self.output_size, self.hidden_size] if self._kind == "lstm" else [self.output_size]

    def _batch_out(self, y):
        return np.ascontiguousarray(y.transpose(1, 0, 2)) if self.batch_first else y

    def _mask(self, shape, p):
        """An inverted-dropout mask of ``shape`` (values 0 or 1/(1-p)), or None."""
        if not (self.training and p > 0):
            return None
        keep = self._dropout_rng.random(shape) >= p
        return (keep / (1.0 - p)).astype(self.dtype)

    def _weights(self, sfx):
        """What the engine gets of one layer and direction: (params {binding key: array},
        extra keyword arguments); the quantized layers hand their matrices over apart."""
        return {k: p.data for k, p in self._params(sfx).items()}, {}

    def _call_forward(self, l, d, xd, init, lengths, rec_mask):
        """One layer and direction forward: (y, [final states], workspace)."""
        params, extra = self._weights(self._suffix(l, d))
        c0 = init[1] if self._kind == "lstm" else None
        y, h_n, c_n, ws = _core.recurrent_forward(self._kind, xd, init[0], c0, params, lengths,
                                                  rec_mask, training=self.training,
                                                  **self._options(), **extra)
        return y, ([h_n, c_n] if self._kind == "lstm" else [h_n]), ws

    def _call_backward(self, l, d, xd, ws, dyd, dfinal, lengths, rec_mask):
        """One layer and direction backward: (dx, [initial-state gradients]); parameter
        gradients accumulate."""
        params = self._params(self._suffix(l, d))
        dc_n = dfinal[1] if self._kind == "lstm" else None
        dx, dh0, dc0, grads = _core.recurrent_backward(
            self._kind, xd, {k: p.data for k, p in params.items()}, lengths, rec_mask,
            workspace=ws, dy=dyd, dh_n=dfinal[0], dc_n=dc_n, **self._options())
        for k, g in grads.items():
            params[k].grad += g
        return dx, ([dh0, dc0] if self._kind == "lstm" else [dh0])

    def _run_forward(self, x, states, lengths):
        """Validate and run every layer and direction.

        states: list of (name, (L*D, B, width) array or None). Returns y (T, B, D*R) and,
        per state, the (L*D, B, width) final values.
        """
        self.check_parameters()
        given = x
        x = self._time_major(x, "x", self.input_size, "input_size")
        T, B = x.shape[0], x.shape[1]
        if T < 1 or B < 1:
            raise ValueError(f"x must have at least one step and one sequence, got shape {x.shape}")
        lengths = check_lengths(lengths, B, T)
        if self.training:
            # kept for backward: private copies, so that the caller reusing its arrays in
            # place cannot change the gradients (one copy of x, of B lengths)
            if np.may_share_memory(x, given):
                x = x.copy()
            lengths = None if lengths is None else lengths.copy()
        init = [self._state(s, n, B, w) for (n, s), w in zip(states, self._state_widths())]
        rev = reverse_index(T, B, lengths) if self.bidirectional else None
        D, R = self.num_directions, self.output_size
        finals = [[None] * (self.num_layers * D) for _ in states]
        layers = []  # per layer: (input mask or None, [(input, workspace, rec mask) per direction])
        inp = x
        for l in range(self.num_layers):
            # between-layer dropout and input dropout are both masks on this layer's input
            mask = self._mask(inp.shape, self.dropout) if l > 0 else None
            in_mask = self._mask((1, B, inp.shape[2]), self.input_dropout)
            if in_mask is not None:
                mask = in_mask if mask is None else mask * in_mask
            if mask is not None:
                inp = inp * mask
            outs, dirs = [], []
            for d in range(D):
                i = l * D + d
                xd = inp if d == 0 else gather_time(inp, rev)  # a fresh C-contiguous copy
                rec_mask = self._mask((B, R), self.recurrent_dropout)
                y, fin, ws = self._call_forward(l, d, xd, [s[i] for s in init], lengths,
                                                rec_mask)
                outs.append(y if d == 0 else gather_time(y, rev))
                for f, r in zip(finals, fin):
                    f[i] = r
                dirs.append((xd, ws, rec_mask))
            layers.append((mask, dirs))
            inp = outs[0] if D == 1 else np.ascontiguousarray(np.concatenate(outs, axis=2))
        self._cache = (lengths, rev, layers, self.parameter_versions()) \
            if self.training else None
        # one layer and direction: a view with the leading axis, not a copy (np.stack)
        return inp, [np.stack(f) if len(f) > 1 else f[0][np.newaxis] for f in finals]

    def _run_backward(self, dy, dstates):
        self.check_parameters()
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() in training mode first "
                               "(eval() forwards keep nothing for backward)")
        lengths, rev, layers, versions = self._cache
        self.check_versions(versions)
        x0 = layers[0][1][0][0]
        T, B = x0.shape[0], x0.shape[1]
        D, R = self.num_directions, self.output_size
        if dy is not None:
            what = ("proj_size" if self.proj_size else "hidden_size")
            dy = self._time_major(dy, "dy", D * R, what if D == 1 else f"2 * {what}")
            if dy.shape[:2] != (T, B):
                raise ValueError(f"dy must match the forward output, (T, B) = {(T, B)}, "
                                 f"got {dy.shape[:2]} (time-major)")
        finals = [self._state(s, n, B, w) for (n, s), w in zip(dstates, self._state_widths())]
        dinit = [[None] * (self.num_layers * D) for _ in dstates]
        for l in reversed(range(self.num_layers)):
            mask, dirs = layers[l]
            dinp = None
            for d in range(D):
                i = l * D + d
                xd, ws, rec_mask = dirs[d]
                dyd = None
                if dy is not None:
                    dyd = dy[:, :, d * R:(d + 1) * R]
                    dyd = np.ascontiguousarray(dyd if d == 0 else gather_time(dyd, rev))
                dx, dst = self._call_backward(l, d, xd, ws, dyd, [f[i] for f in finals],
                                              lengths, rec_mask)
                for di, g in zip(dinit, dst):
                    di[i] = g
                dx = dx if d == 0 else gather_time(dx, rev)
                dinp = dx if dinp is None else dinp + dx
            if mask is not None:
                dinp = dinp * mask
            dy = np.ascontiguousarray(dinp)
        self._cache = None  # one backward per forward: a second one raises
        return self._batch_out(dy), [np.stack(di) for di in dinit]

    def train(self, mode: bool = True) -> Self:
        if not mode:
            self._cache = None
        return super().train(mode)

    def __repr__(self) -> str:
        extra = ""
        if self.proj_size:
            extra += f", proj_size={self.proj_size}"
        if self.layer_norm:
            extra += ", layer_norm=True"
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}{extra}, "
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
        forget_bias: added to the forget-gate block of the input bias (0 keeps PyTorch
            parity; 1.0 is recommended when training from scratch).
        proj_size (P): PyTorch's LSTM with projections: ``h = W_hr (o ⊙ tanh(c))`` with
            ``weight_hr_l{k}`` (P, H); ``weight_hh_l{k}`` is then (4H, P), h and y have P
            features per direction, c keeps H. Must be < hidden_size.
        layer_norm: layer-normalised LSTM (Ba, Kiros and Hinton, 2016): the input and the
            recurrent pre-activations are normalised per gate block, and the cell state
            before its output nonlinearity, each with a gain and a bias:
            ``ln_ih_weight/bias_l{k}`` (4H), ``ln_hh_weight/bias_l{k}`` (4H),
            ``ln_cell_weight/bias_l{k}`` (H). The layer-norm biases replace ``bias_ih`` and
            ``bias_hh`` (which are then not created). Equations in ``lstmx.reference``.
        recurrent_dropout: variational dropout on h_{t-1} before ``W_hh`` (Gal and
            Ghahramani, 2016): one mask per sequence, reused at every step (training only).
        input_dropout: dropout on each layer's input, one mask per sequence for all steps.
        activation: candidate and cell-output nonlinearity, "tanh" (default), "relu",
            "leaky_relu", "elu" or "sigmoid"; ``activation_param`` is the leaky slope
            (default 0.01) or the elu alpha (default 1.0).
        recurrent_activation: gate nonlinearity, "sigmoid" (default) or "hard_sigmoid"
            (``clip(0.2 x + 0.5, 0, 1)``).

    The defaults give PyTorch's cell. Every option runs in the same native engine; layer
    norm and the projection use its row schedule (threads own batch rows), the rest its
    unit schedule (threads own hidden units; see docs/performance.md).

    Call: ``y, (h_n, c_n) = lstm(x, (h0, c0)=None, lengths=None)`` with x ``(T, B, I)``,
    h0 ``(L*D, B, R)`` and c0 ``(L*D, B, H)`` (R = proj_size or H; D = 2 if bidirectional
    else 1; either may be None: zeros), lengths ``(B,)`` ints in [1, T]; y ``(T, B, D*R)``,
    h_n/c_n like h0/c0, in PyTorch's order (layer 0 forward, layer 0 reverse, layer 1 ...).

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

    def forward(self, x: np.ndarray,
                state: tuple[np.ndarray | None, np.ndarray | None] | None = None,
                lengths: ArrayLike | None = None
                ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        h0, c0 = state_pair(state, "state", "(h0, c0)")
        y, (h_n, c_n) = self._run_forward(x, [("h0", h0), ("c0", c0)], lengths)
        return self._batch_out(y), (h_n, c_n)

    def backward(self, dy: np.ndarray | None = None,
                 dstate: tuple[np.ndarray | None, np.ndarray | None] | None = None
                 ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        dh_n, dc_n = state_pair(dstate, "dstate", "(dh_n, dc_n)")
        dx, (dh0, dc0) = self._run_backward(dy, [("dh_n", dh_n), ("dc_n", dc_n)])
        return dx, (dh0, dc0)


class _HiddenStateOnly(_Recurrent):
    """GRU and RNN: one state, h."""

    def forward(self, x: np.ndarray, h0: np.ndarray | None = None,
                lengths: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        y, (h_n,) = self._run_forward(x, [("h0", h0)], lengths)
        return self._batch_out(y), h_n

    def backward(self, dy: np.ndarray | None = None,
                 dh_n: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        dx, (dh0,) = self._run_backward(dy, [("dh_n", dh_n)])
        return dx, dh0


class GRU(_HiddenStateOnly):
    """Gated recurrent unit layer (PyTorch's ``nn.GRU``, gates r, z, n, "reset after")::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h

    Same arguments as LSTM except ``proj_size`` and ``forget_bias``; with ``layer_norm``
    the input and recurrent pre-activations are normalised per gate block (``ln_ih_*``,
    ``ln_hh_*``; the recurrent n block is normalised before the reset gate multiplies it).
    Call: ``y, h_n = gru(x, h0=None, lengths=None)``;
    backward: ``dx, dh0 = gru.backward(dy, dh_n)``.

    Example::

        >>> gru = GRU(3, 5, seed=0)
        >>> y, h = gru(np.ones((7, 2, 3), np.float32))
        >>> y.shape, h.shape
        ((7, 2, 5), (1, 2, 5))
    """

    _gates = 3
    _kind = "gru"


class RNN(_HiddenStateOnly):
    """Elman RNN layer (PyTorch's ``nn.RNN``): ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    ``nonlinearity`` is "tanh" (default, PyTorch's), "relu" (PyTorch's), "leaky_relu",
    "elu" or "sigmoid" (``activation_param``: the leaky slope, default 0.01, or the elu
    alpha, default 1.0); ``recurrent_dropout`` and ``input_dropout`` as for LSTM; otherwise
    the same interface as GRU.

    Example::

        >>> rnn = RNN(3, 5, nonlinearity="relu", seed=0)
        >>> y, h = rnn(np.ones((7, 2, 3), np.float32))
        >>> y.shape
        (7, 2, 5)
    """

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False,
                 dtype: DTypeLike = np.float32, seed: int | None = None,
                 init: Scheme = "pytorch", recurrent_dropout: float = 0.0,
                 input_dropout: float = 0.0, activation_param: float | None = None) -> None:
        if nonlinearity not in ACTIVATIONS:
            raise ValueError(f"nonlinearity must be one of {ACTIVATIONS}, got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init, recurrent_dropout=recurrent_dropout,
                         input_dropout=input_dropout, activation=nonlinearity,
                         activation_param=activation_param)
        self.nonlinearity = nonlinearity
