"""Keeping NumPy's BLAS threads and lstmx's OpenMP threads off each other's cores.

lstmx's kernels run in one OpenMP pool (``lstmx.set_num_threads``); NumPy brings its own
OpenBLAS with a pool of its own, whose threads keep spinning for a while after each matrix
product. Loops that alternate the two at every step (a decoder: attention in NumPy, then a
native cell step; a training step: native layer, then NumPy's output projection) make the
pools steal cores from each other, and a step that meets at a barrier waits for a
descheduled thread: measured on 2 cores, one LSTMCell step took 0.15 ms with NumPy's BLAS on
one thread and about 10 ms with it on two, and the translation demo trained at 28,000
tokens/s against 2,500.

``one_numpy_blas_thread`` runs a function with every BLAS library's pool at one thread
(threadpoolctl), and restores the previous counts afterwards. lstmx applies it to its own
loops (``Trainer.fit``/``evaluate``, translation, sampling); outside them NumPy keeps its
threads.
"""

import functools

from threadpoolctl import threadpool_limits


def one_numpy_blas_thread(fn):
    """Decorator: call ``fn`` with BLAS pools (NumPy's included) limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
