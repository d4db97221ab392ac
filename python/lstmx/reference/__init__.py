"""Plain NumPy reference implementations of the lstmx recurrent layers.

This package is the oracle the native kernels are tested against and a readable statement
of the maths: LSTM, GRU and Elman RNN cells and sequences, forward and backward, with every
cell option (activations, layer norm, recurrent dropout mask, LSTM projection; PyTorch's
cell by default), PyTorch's weight layout and gate order, time-major ``(T, B, ...)``
tensors and optional per-sequence ``lengths``. It is slow on purpose (a Python loop over
time steps) and computes in the dtype of its inputs.

    lstm.py, gru.py, rnn.py   one step of each cell (the equations), forward and backward,
                              and the public functions of that cell
    cell.py                   what the cells share: parameters, options, input checks and
                              the input and hidden projections
    sequence.py               the time loop, with variable lengths
    activations.py, layer_norm.py, attention.py   the element-wise pieces
    quantized.py              int8 and bfloat16 weight products (``lstmx.quantize``'s math),
                              and the ``matmul`` that runs the cells above with them

Parameters are one dict: ``w_ih``, ``w_hh`` and optionally ``b_ih``, ``b_hh``, ``w_hr`` or
the layer-norm ``ln_ih_w``, ``ln_ih_b``, ``ln_hh_w``, ``ln_hh_b``, ``ln_c_w``, ``ln_c_b``;
the backward functions return the parameter gradients as a dict with the same keys.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p = {k: rng.normal(size=s) for k, s in [("w_ih", (8, 3)), ("w_hh", (8, 2)),
...                                         ("b_ih", (8,)), ("b_hh", (8,))]}
>>> y, h_n, c_n, cache = lstm_forward(rng.normal(size=(5, 4, 3)), None, None, p)
>>> dx, dh0, dc0, grads = lstm_backward(np.ones_like(y), None, None, cache)
>>> dx.shape, sorted(grads)
((5, 4, 3), ['b_hh', 'b_ih', 'w_hh', 'w_ih'])
"""

from .activations import (
    elu,
    elu_grad_from_output,
    hard_sigmoid,
    hard_sigmoid_grad_from_output,
    leaky_relu,
    leaky_relu_grad_from_output,
    relu,
    relu_grad_from_output,
    sigmoid,
    sigmoid_grad_from_output,
    tanh,
    tanh_grad_from_output,
)
from .attention import additive_scores, additive_scores_backward
from .gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from .layer_norm import (
    layer_norm_backward,
    layer_norm_blocks_backward,
    layer_norm_blocks_forward,
    layer_norm_forward,
)
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward

__all__ = [
    "additive_scores",
    "additive_scores_backward",
    "lstm_forward",
    "lstm_backward",
    "lstm_cell_forward",
    "lstm_cell_backward",
    "gru_forward",
    "gru_backward",
    "gru_cell_forward",
    "gru_cell_backward",
    "rnn_forward",
    "rnn_backward",
    "rnn_cell_forward",
    "rnn_cell_backward",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "hard_sigmoid",
    "sigmoid_grad_from_output",
    "tanh_grad_from_output",
    "relu_grad_from_output",
    "leaky_relu_grad_from_output",
    "elu_grad_from_output",
    "hard_sigmoid_grad_from_output",
    "layer_norm_forward",
    "layer_norm_backward",
    "layer_norm_blocks_forward",
    "layer_norm_blocks_backward",
]
