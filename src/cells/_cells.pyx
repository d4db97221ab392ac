# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Pointwise part of one LSTM/GRU/RNN step for a batch, over the C++ cell headers.

These are the single-step kernels that lstmx.LSTMCell, GRUCell and RNNCell (and the
decoders and samplers built on them) call after their two matrix products
gx = x W_ihᵀ + b_ih and gh = (m ⊙ h) W_hhᵀ + b_hh. The gate math is the same header the
sequence kernels use. Arrays are C-contiguous, of one dtype (float32 or float64), and
are validated by the Python callers; rows are split over OpenMP threads.

`act` and `rec` are the activation codes of the cells (ACT_CODES: the candidate's and the
gates'), `param` the leaky_relu slope or elu alpha.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t
cimport cython
from cython cimport floating

import numpy as np

from cells cimport (CellActs, lstm_cell_forward, lstm_cell_backward, gru_cell_forward,
                     gru_cell_backward, rnn_cell_forward, rnn_cell_backward)

# the values of lstmx::Act (src/cells/activations.hpp)
ACT_CODES = {"tanh": 0, "relu": 1, "leaky_relu": 2, "elu": 3, "sigmoid": 4, "hard_sigmoid": 5}


cdef inline CellActs[floating] _acts(floating dummy, int act, int rec, double param) noexcept nogil:
    cdef CellActs[floating] o
    o.act = act
    o.rec = rec
    o.param = <floating>param
    return o


def lstm_step_forward(floating[:, ::1] gx, floating[:, ::1] gh, floating[:, ::1] c,
                      bint training, int num_threads, int act_kind=0, int rec=4,
                      double param=0.0):
    """gx, gh (B, 4H); c (B, H) -> (h (B, H), c_new (B, H), act (B, 4H) | None, act_c | None)."""
    cdef Py_ssize_t B = c.shape[0], H = c.shape[1], b
    dt = np.float32 if floating is float else np.float64
    h_out = np.empty((B, H), dtype=dt)
    c_out = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] h_v = h_out, c_v = c_out
    cdef floating[:, ::1] act_v, tc_v
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    act = tc = None
    if training:
        act = np.empty((B, 4 * H), dtype=dt)
        tc = np.empty((B, H), dtype=dt)
        act_v = act
        tc_v = tc
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        lstm_cell_forward(<int>H, &gx[b, 0], H, &gh[b, 0], H, &c[b, 0], &c_v[b, 0], &h_v[b, 0],
                          &act_v[b, 0] if training else <floating*>NULL, H,
                          &tc_v[b, 0] if training else <floating*>NULL, o)
    return h_out, c_out, act, tc


def lstm_step_backward(floating[:, ::1] dh, floating[:, ::1] dc, floating[:, ::1] c_prev,
                       floating[:, ::1] act, floating[:, ::1] act_c, int num_threads,
                       int act_kind=0, int rec=4, double param=0.0):
    """dh, dc, c_prev, act_c (B, H); act (B, 4H) -> (dgates (B, 4H), dc_prev (B, H))."""
    cdef Py_ssize_t B = dh.shape[0], H = dh.shape[1], b
    dt = np.float32 if floating is float else np.float64
    dg = np.empty((B, 4 * H), dtype=dt)
    dcp = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] dg_v = dg, dcp_v = dcp
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        lstm_cell_backward(<int>H, &dh[b, 0], &dc[b, 0], &c_prev[b, 0], &act[b, 0], H,
                           &act_c[b, 0], &dg_v[b, 0], H, &dcp_v[b, 0], o)
    return dg, dcp


def gru_step_forward(floating[:, ::1] gx, floating[:, ::1] gh, floating[:, ::1] h,
                     bint training, int num_threads, int act_kind=0, int rec=4,
                     double param=0.0):
    """gx, gh (B, 3H) (gh includes b_hh); h (B, H) -> (h_new, act (B, 3H) | None, ghn (B, H) | None)."""
    cdef Py_ssize_t B = h.shape[0], H = h.shape[1], b
    dt = np.float32 if floating is float else np.float64
    h_out = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] h_v = h_out
    cdef floating[:, ::1] act_v, ghn_v
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    act = ghn = None
    if training:
        act = np.empty((B, 3 * H), dtype=dt)
        ghn = np.empty((B, H), dtype=dt)
        act_v = act
        ghn_v = ghn
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        gru_cell_forward(<int>H, &gx[b, 0], H, &gh[b, 0], H, &h[b, 0], &h_v[b, 0],
                         &act_v[b, 0] if training else <floating*>NULL, H,
                         &ghn_v[b, 0] if training else <floating*>NULL, o)
    return h_out, act, ghn


def gru_step_backward(floating[:, ::1] dh, floating[:, ::1] h_prev, floating[:, ::1] act,
                      floating[:, ::1] ghn, int num_threads, int act_kind=0, int rec=4,
                      double param=0.0):
    """dh, h_prev, ghn (B, H); act (B, 3H) -> (dgx (B, 3H), dgh (B, 3H), dh_direct (B, H))."""
    cdef Py_ssize_t B = dh.shape[0], H = dh.shape[1], b
    dt = np.float32 if floating is float else np.float64
    dgx = np.empty((B, 3 * H), dtype=dt)
    dgh = np.empty((B, 3 * H), dtype=dt)
    dhd = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] dgx_v = dgx, dgh_v = dgh, dhd_v = dhd
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        gru_cell_backward(<int>H, &dh[b, 0], &h_prev[b, 0], &act[b, 0], H, &ghn[b, 0],
                          &dgx_v[b, 0], H, &dgh_v[b, 0], H, &dhd_v[b, 0], o)
    return dgx, dgh, dhd


def rnn_step_forward(floating[:, ::1] gx, floating[:, ::1] gh, int num_threads, int act_kind=0,
                     double param=0.0):
    """gx, gh (B, H) -> h_new (B, H)."""
    cdef Py_ssize_t B = gx.shape[0], H = gx.shape[1], b
    dt = np.float32 if floating is float else np.float64
    h_out = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] h_v = h_out
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, 4, param)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        rnn_cell_forward(<int>H, &gx[b, 0], &gh[b, 0], &h_v[b, 0], o)
    return h_out


def rnn_step_backward(floating[:, ::1] dh, floating[:, ::1] h_new, int num_threads,
                      int act_kind=0, double param=0.0):
    """dh, h_new (B, H) -> dgate (B, H)."""
    cdef Py_ssize_t B = dh.shape[0], H = dh.shape[1], b
    dt = np.float32 if floating is float else np.float64
    dg = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] dg_v = dg
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, 4, param)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        rnn_cell_backward(<int>H, &dh[b, 0], &h_new[b, 0], &dg_v[b, 0], o)
    return dg
