# Declarations of the cell headers (src/cells/*.hpp) for Cython.

cdef extern from "cells/activations.hpp" namespace "lstmx" nogil:
    cdef cppclass CellActs[T]:
        int act
        int rec
        T param

cdef extern from "cells/lstm_cell.hpp" namespace "lstmx" nogil:
    void lstm_cell_forward[T](int n, const T* gx, long sx, const T* gh, long sh,
                              const T* c_prev, T* c_next, T* h_next,
                              T* act, long sa, T* act_c, const CellActs[T]& acts)
    void lstm_cell_backward[T](int n, const T* dh, const T* dc, const T* c_prev,
                               const T* act, long sa, const T* act_c,
                               T* dgate, long sd, T* dc_prev, const CellActs[T]& acts)

cdef extern from "cells/gru_cell.hpp" namespace "lstmx" nogil:
    void gru_cell_forward[T](int n, const T* gx, long sx, const T* gh, long sh,
                             const T* h_prev, T* h_next, T* act, long sa, T* ghn,
                             const CellActs[T]& acts)
    void gru_cell_backward[T](int n, const T* dh, const T* h_prev, const T* act, long sa,
                              const T* ghn, T* dgx, long sdx, T* dgh, long sdh, T* dh_direct,
                              const CellActs[T]& acts)

cdef extern from "cells/rnn_cell.hpp" namespace "lstmx" nogil:
    void rnn_cell_forward[T](int n, const T* gx, const T* gh, T* h_next, const CellActs[T]& acts)
    void rnn_cell_backward[T](int n, const T* dh, const T* h_next, T* dgate,
                              const CellActs[T]& acts)

cdef extern from "cells/norm_step.hpp" namespace "lstmx" nogil:
    cdef cppclass NormStep[T]:
        long H, G
        double eps
        const T* ih_w
        const T* ih_b
        const T* hh_w
        const T* hh_b
        const T* c_w
        const T* c_b
        T* nx
        T* nh
        T* rstd_x
        T* rstd_h
        T* nc
        T* rstd_c
        T* work
        T* d_ih_w
        T* d_ih_b
        T* d_hh_w
        T* d_hh_b
        T* d_c_w
        T* d_c_b
    void lstm_norm_step_forward[T](const NormStep[T]& s, long b, T* gx, T* gh, const T* c_prev,
                                   T* c_next, T* h_next, T* act, T* act_c, const CellActs[T]& acts)
    void lstm_norm_step_backward[T](const NormStep[T]& s, long b, const T* dh, const T* dc,
                                    const T* c_prev, const T* act, const T* act_c, T* dgx, T* dgh,
                                    T* dc_prev, const CellActs[T]& acts)
    void gru_norm_step_forward[T](const NormStep[T]& s, long b, T* gx, T* gh, const T* h_prev,
                                  T* h_next, T* act, T* ghn, const CellActs[T]& acts)
    void gru_norm_step_backward[T](const NormStep[T]& s, long b, const T* dh, const T* h_prev,
                                   const T* act, const T* ghn, T* dgx, T* dgh, T* dh_direct,
                                   const CellActs[T]& acts)
