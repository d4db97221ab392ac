"""lstmx: LSTM, GRU and RNN layers whose time loops run in C++/OpenMP, NumPy in and out.

    >>> import numpy as np, lstmx
    >>> lstm = lstmx.LSTM(input_size=8, hidden_size=16, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((5, 2, 8)).astype(np.float32)
    >>> y, (h_n, c_n) = lstm(x)
    >>> dx, (dh0, dc0) = lstm.backward(np.ones_like(y))
"""

import os

from . import threads

# The native module links against scipy-openblas32's library (found through its RUNPATH).
import scipy_openblas32  # noqa: F401


def _avx512_cpu():
    """Whether this (Linux) CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags
    except OSError:
        pass
    return False


def _load_native():
    """Import the native modules. OpenBLAS picks its kernels when its library loads, by the
    CPU's family and model; on some AVX-512 CPUs (AMD Zen 4 under a hypervisor, measured
    here) it falls back to its AVX2 "Haswell" kernels, and lstmx's float32 GEMMs run at
    about half speed (LSTM 50×64×512 forward: 68 ms with Haswell kernels, 41 ms with
    SkylakeX). When the CPU has AVX-512 and the user has not chosen (OPENBLAS_CORETYPE unset),
    ask for the SkylakeX kernels while the library loads; the variable is removed again
    afterwards so other libraries loaded later choose for themselves."""
    forced = "OPENBLAS_CORETYPE" not in os.environ and _avx512_cpu()
    if forced:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    # The OpenMP runtime reads its wait policy when it loads, with the native modules.
    spin = threads.configure_openmp_waits()
    try:
        from . import _cells, _core  # noqa: F401
    finally:
        if forced:
            del os.environ["OPENBLAS_CORETYPE"]
        if spin:
            del os.environ[spin]
    _core.set_cpu_budget(threads.available_cpus())


_load_native()
from . import _cells, _core  # noqa: E402,F401
from .nn import (GRU, LSTM, RNN, GRUCell, LSTMCell, Module, Parameter, RNNCell, detect_raw_writes,
                 quantize)

__version__ = "0.1.0"


def build_info():
    """How the native kernels were built: a dict with ``compiler``, ``openmp`` (bool),
    ``openmp_version`` (the spec's yyyymm, e.g. 201511 for 4.5, or None), ``blas``,
    ``blas_threads`` (always 1: lstmx keeps its parallelism in one OpenMP pool), ``simd``
    (the instruction sets the kernels were compiled for) and ``num_threads``."""
    return _core.build_info()


set_num_threads = threads.set_num_threads
get_num_threads = threads.get_num_threads


__all__ = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "Module", "Parameter",
           "detect_raw_writes", "quantize",
           "build_info", "set_num_threads", "get_num_threads"]
