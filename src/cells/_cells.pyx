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

from cells cimport (CellActs, NormStep, lstm_cell_forward, lstm_cell_backward,
                    gru_cell_forward, gru_cell_backward, rnn_cell_forward, rnn_cell_backward,
                    lstm_norm_step_forward, lstm_norm_step_backward, gru_norm_step_forward,
                    gru_norm_step_backward)

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


# Layer-normalised steps (src/cells/norm_step.hpp). gx, gh are the products x·W_ihᵀ and h·W_hhᵀ
# without biases (layer norm's β take their place), normalised in place. ln holds the gains
# and biases (ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b[, ln_c_w, ln_c_b]); the training cache holds
# what backward needs; backward returns the parameter gradients summed over the batch.

cdef NormStep[floating] _norm_step(floating dummy, Py_ssize_t H, Py_ssize_t G, tuple ln,
                                   double eps):
    cdef NormStep[floating] s
    cdef floating[::1] ih_w = ln[0], ih_b = ln[1], hh_w = ln[2], hh_b = ln[3], c_w, c_b
    s.H = H
    s.G = G
    s.eps = eps
    s.ih_w = &ih_w[0]
    s.ih_b = &ih_b[0]
    s.hh_w = &hh_w[0]
    s.hh_b = &hh_b[0]
    if G == 4:
        c_w = ln[4]
        c_b = ln[5]
        s.c_w = &c_w[0]
        s.c_b = &c_b[0]
    return s


def _norm_cache(Py_ssize_t B, Py_ssize_t H, Py_ssize_t G, dt):
    """nx, nh, rstd_x, rstd_h, nc, rstd_c of a training step (LSTM: all; GRU: the first four)."""
    c = [np.empty((B, G * H), dt), np.empty((B, G * H), dt), np.empty((B, G), dt),
         np.empty((B, G), dt)]
    return c + ([np.empty((B, H), dt), np.empty(B, dt)] if G == 4 else [])


cdef void _set_cache(NormStep[floating]* s, list cache, floating dummy):
    cdef floating[:, ::1] nx = cache[0], nh = cache[1], rx = cache[2], rh = cache[3], nc
    cdef floating[::1] rc
    s.nx = &nx[0, 0]
    s.nh = &nh[0, 0]
    s.rstd_x = &rx[0, 0]
    s.rstd_h = &rh[0, 0]
    if s.G == 4:
        nc = cache[4]
        rc = cache[5]
        s.nc = &nc[0, 0]
        s.rstd_c = &rc[0]


def _norm_grads(Py_ssize_t B, Py_ssize_t H, Py_ssize_t G, dt):
    """Per-row ∂L/∂γ, ∂L/∂β: ih w, b (B, G·H), hh w, b, and for LSTM c w, b (B, H)."""
    g = [np.zeros((B, G * H), dt) for _ in range(4)]
    return g + ([np.zeros((B, H), dt), np.zeros((B, H), dt)] if G == 4 else [])


cdef void _set_grads(NormStep[floating]* s, list g, floating dummy):
    cdef floating[:, ::1] a = g[0], b = g[1], c = g[2], d = g[3], e, f
    s.d_ih_w = &a[0, 0]
    s.d_ih_b = &b[0, 0]
    s.d_hh_w = &c[0, 0]
    s.d_hh_b = &d[0, 0]
    if s.G == 4:
        e = g[4]
        f = g[5]
        s.d_c_w = &e[0, 0]
        s.d_c_b = &f[0, 0]


def lstm_ln_step_forward(floating[:, ::1] gx, floating[:, ::1] gh, floating[:, ::1] c,
                           tuple ln, double eps, bint training, int num_threads,
                           int act_kind=0, int rec=4, double param=0.0):
    """gx, gh (B, 4H); c (B, H) -> (h (B, H), c_new (B, H), cache | None)."""
    cdef Py_ssize_t B = c.shape[0], H = c.shape[1], b
    dt = np.float32 if floating is float else np.float64
    h_out = np.empty((B, H), dtype=dt)
    c_out = np.empty((B, H), dtype=dt)
    work = np.empty((B, H), dtype=dt)
    act_c = np.empty((B, H), dtype=dt) if training else None
    cdef floating[:, ::1] h_v = h_out, c_v = c_out, w_v = work, ac_v
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    cdef NormStep[floating] s = _norm_step(<floating>0, H, 4, ln, eps)
    s.work = &w_v[0, 0]
    cache = None
    if training:
        ac_v = act_c
        norm = _norm_cache(B, H, 4, dt)
        _set_cache(&s, norm, <floating>0)
        cache = (gx.base, act_c, norm)  # gx becomes the activated gates
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        lstm_norm_step_forward(s, b, &gx[0, 0], &gh[0, 0], &c[0, 0], &c_v[0, 0], &h_v[0, 0],
                               &gx[0, 0], &ac_v[0, 0] if training else <floating*>NULL, o)
    return h_out, c_out, cache


def lstm_ln_step_backward(floating[:, ::1] dh, floating[:, ::1] dc, floating[:, ::1] c_prev,
                            tuple cache, tuple ln, double eps, int num_threads, int act_kind=0,
                            int rec=4, double param=0.0):
    """-> (dgx, dgh (B, 4H), dc_prev (B, H), [∂L/∂ ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b, ln_c_w,
    ln_c_b])."""
    cdef Py_ssize_t B = dh.shape[0], H = dh.shape[1], b
    dt = np.float32 if floating is float else np.float64
    act_arr, act_c_arr, norm = cache
    cdef floating[:, ::1] act = act_arr, act_c = act_c_arr
    dgx = np.empty((B, 4 * H), dtype=dt)
    dgh = np.empty((B, 4 * H), dtype=dt)
    dcp = np.empty((B, H), dtype=dt)
    work = np.empty((B, H), dtype=dt)
    grads = _norm_grads(B, H, 4, dt)
    cdef floating[:, ::1] dgx_v = dgx, dgh_v = dgh, dcp_v = dcp, w_v = work
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    cdef NormStep[floating] s = _norm_step(<floating>0, H, 4, ln, eps)
    s.work = &w_v[0, 0]
    _set_cache(&s, norm, <floating>0)
    _set_grads(&s, grads, <floating>0)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        lstm_norm_step_backward(s, b, &dh[0, 0], &dc[0, 0], &c_prev[0, 0], &act[0, 0],
                                &act_c[0, 0], &dgx_v[0, 0], &dgh_v[0, 0], &dcp_v[0, 0], o)
    return dgx, dgh, dcp, [g.sum(axis=0) for g in grads]


def gru_ln_step_forward(floating[:, ::1] gx, floating[:, ::1] gh, floating[:, ::1] h,
                          tuple ln, double eps, bint training, int num_threads, int act_kind=0,
                          int rec=4, double param=0.0):
    """gx, gh (B, 3H); h (B, H) -> (h_new (B, H), cache | None)."""
    cdef Py_ssize_t B = h.shape[0], H = h.shape[1], b
    dt = np.float32 if floating is float else np.float64
    h_out = np.empty((B, H), dtype=dt)
    cdef floating[:, ::1] h_v = h_out, act_v, ghn_v
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    cdef NormStep[floating] s = _norm_step(<floating>0, H, 3, ln, eps)
    cache = None
    if training:
        act = np.empty((B, 3 * H), dtype=dt)
        ghn = np.empty((B, H), dtype=dt)
        act_v = act
        ghn_v = ghn
        norm = _norm_cache(B, H, 3, dt)
        _set_cache(&s, norm, <floating>0)
        cache = (act, ghn, norm)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        gru_norm_step_forward(s, b, &gx[0, 0], &gh[0, 0], &h[0, 0], &h_v[0, 0],
                              &act_v[0, 0] if training else <floating*>NULL,
                              &ghn_v[0, 0] if training else <floating*>NULL, o)
    return h_out, cache


def gru_ln_step_backward(floating[:, ::1] dh, floating[:, ::1] h_prev, tuple cache,
                           tuple ln, double eps, int num_threads, int act_kind=0, int rec=4,
                           double param=0.0):
    """-> (dgx, dgh (B, 3H), dh_direct (B, H), [∂L/∂ ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b])."""
    cdef Py_ssize_t B = dh.shape[0], H = dh.shape[1], b
    dt = np.float32 if floating is float else np.float64
    act_arr, ghn_arr, norm = cache
    cdef floating[:, ::1] act = act_arr, ghn = ghn_arr
    dgx = np.empty((B, 3 * H), dtype=dt)
    dgh = np.empty((B, 3 * H), dtype=dt)
    dhd = np.empty((B, H), dtype=dt)
    grads = _norm_grads(B, H, 3, dt)
    cdef floating[:, ::1] dgx_v = dgx, dgh_v = dgh, dhd_v = dhd
    cdef CellActs[floating] o = _acts(<floating>0, act_kind, rec, param)
    cdef NormStep[floating] s = _norm_step(<floating>0, H, 3, ln, eps)
    _set_cache(&s, norm, <floating>0)
    _set_grads(&s, grads, <floating>0)
    for b in prange(B, nogil=True, num_threads=num_threads, schedule="static"):
        gru_norm_step_backward(s, b, &dh[0, 0], &h_prev[0, 0], &act[0, 0], &ghn[0, 0],
                               &dgx_v[0, 0], &dgh_v[0, 0], &dhd_v[0, 0], o)
    return dgx, dgh, dhd, [g.sum(axis=0) for g in grads]
