"""Plain NumPy reference implementations of the lstmx recurrent layers.

This package is the oracle the native kernels are tested against and a
readable statement of the maths: LSTM, GRU and Elman RNN cells and
sequences, forward and backward, with PyTorch's weight layout and gate
order, time-major ``(T, B, ...)`` tensors and optional per-sequence
``lengths``.  It is slow on purpose (a Python loop over time steps) and
computes in the dtype of its inputs.
"""

from .activations import (
    relu,
    relu_grad_from_output,
    sigmoid,
    sigmoid_grad_from_output,
    tanh,
    tanh_grad_from_output,
)
from .gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from .rnn import rnn_backward, rnn_cell_backward, rnn_cell_forward, rnn_forward

__all__ = [
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
]
