"""Layers with explicit forward/backward (see ``Module``)."""

from .cells import GRUCell, LSTMCell, RNNCell
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN

__all__ = ["Module", "Parameter", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]
