"""Layers with explicit forward/backward (see ``Module``)."""

from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, LayerNorm, Linear, Sequential
from .module import Module, Parameter, detect_raw_writes
from .quantized import (QuantizedGRU, QuantizedGRUCell, QuantizedLinear, QuantizedLSTM,
                        QuantizedLSTMCell, QuantizedRNN, QuantizedRNNCell, quantize)
from .recurrent import GRU, LSTM, RNN
from .sequence_model import SequenceModel

__all__ = ["Module", "Parameter", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]
__all__ += ["Linear", "Embedding", "Dropout", "LayerNorm", "Sequential"]
__all__ += ["SequenceModel", "detect_raw_writes"]
__all__ += ["quantize", "QuantizedLinear", "QuantizedLSTM", "QuantizedGRU", "QuantizedRNN",
            "QuantizedLSTMCell", "QuantizedGRUCell", "QuantizedRNNCell"]
