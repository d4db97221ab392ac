"""lstmx: LSTM, GRU and RNN layers whose time loops run in C++/OpenMP, NumPy in and out.

    >>> import numpy as np, lstmx
    >>> lstm = lstmx.LSTM(input_size=8, hidden_size=16, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((5, 2, 8)).astype(np.float32)
    >>> y, (h_n, c_n) = lstm(x)
    >>> dx, (dh0, dc0) = lstm.backward(np.ones_like(y))
"""

# The native module links against scipy-openblas32's library; importing the wheel first
# loads it, so the extension resolves it even where its RUNPATH does not (editable installs).
import scipy_openblas32  # noqa: F401

from . import _cells, _core  # noqa: F401
from .nn import GRU, LSTM, RNN, GRUCell, LSTMCell, Module, Parameter, RNNCell

__version__ = "0.1.0"


def build_info():
    """How the native kernels were built: a dict with ``compiler``, ``openmp`` (bool),
    ``openmp_version`` (the spec's yyyymm, e.g. 201511 for 4.5, or None), ``blas``,
    ``blas_threads`` (always 1: lstmx keeps its parallelism in one OpenMP pool), ``simd``
    (the instruction sets the kernels were compiled for) and ``num_threads``."""
    return _core.build_info()


def set_num_threads(n):
    """Threads the kernels use (default: ``OMP_NUM_THREADS``, else the number of cores)."""
    _core.set_num_threads(int(n))


def get_num_threads():
    """Threads the kernels use."""
    return _core.get_num_threads()


__all__ = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "Module", "Parameter",
           "build_info", "set_num_threads", "get_num_threads"]
