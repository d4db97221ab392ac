"""Plain NumPy reference implementations of the lstmx recurrent layers.

This package is the oracle the native kernels are tested against and a
readable statement of the maths: LSTM, GRU and Elman RNN cells and
sequences, forward and backward, with PyTorch's weight layout and gate
order, time-major ``(T, B, ...)`` tensors and optional per-sequence
``lengths``.  It is slow on purpose (a Python loop over time steps) and
computes in the dtype of its inputs.
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
from .extended import (
    gru_backward_ex,
    gru_forward_ex,
    lstm_backward_ex,
    lstm_forward_ex,
    rnn_backward_ex,
    rnn_forward_ex,
)
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
    "sigmoid_grad_from_output",
    "tanh_grad_from_output",
    "relu_grad_from_output",
    "lstm_forward_ex",
    "lstm_backward_ex",
    "gru_forward_ex",
    "gru_backward_ex",
    "rnn_forward_ex",
    "rnn_backward_ex",
    "layer_norm_forward",
    "layer_norm_backward",
    "layer_norm_blocks_forward",
    "layer_norm_blocks_backward",
    "leaky_relu",
    "elu",
    "hard_sigmoid",
    "leaky_relu_grad_from_output",
    "elu_grad_from_output",
    "hard_sigmoid_grad_from_output",
]
