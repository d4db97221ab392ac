// Whole-sequence forward and backward (BPTT) kernels for LSTM, GRU and Elman RNN.
//
// Layout is time-major and PyTorch's: x (T, B, I), states (B, H), w_ih (G·H, I),
// w_hh (G·H, H), biases (G·H). G = 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n), 1 (RNN).
// Pointers are to C-contiguous arrays that the caller has validated and allocated; the
// kernels allocate only their own scratch, once per call, never inside the time loop.
#pragma once

#include <cstdint>

namespace lstmx {

template <class S>  // element type: float or double
struct SeqForward {
  long T = 0, B = 0, I = 0, H = 0;
  const S *x = nullptr, *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr;
  const int64_t* lengths = nullptr;  // (B,) in [1, T]; null: every sequence has length T
  const S *h0 = nullptr, *c0 = nullptr;  // initial state (c0: LSTM only)
  S *y = nullptr, *h_n = nullptr, *c_n = nullptr;  // outputs (c_n: LSTM only)
  // Training workspace, null in inference. gates (T, B, G·H): activated gates;
  // hs, cs (T+1, B, H): the state entering each step and the final one;
  // aux (T, B, H): tanh(c_t) for LSTM, W_hn h + b_hn for GRU, unused for RNN.
  S *gates = nullptr, *hs = nullptr, *cs = nullptr, *aux = nullptr;
};

template <class S>
struct SeqBackward {
  long T = 0, B = 0, I = 0, H = 0;
  const S *x = nullptr, *w_ih = nullptr, *w_hh = nullptr;
  const int64_t* lengths = nullptr;
  const S *gates = nullptr, *hs = nullptr, *cs = nullptr, *aux = nullptr;  // from forward
  const S *dy = nullptr, *dh_n = nullptr, *dc_n = nullptr;                // null: zero
  S* dx = nullptr;  // null: not wanted (saves a GEMM)
  S *dh0 = nullptr, *dc0 = nullptr;
  S *dw_ih = nullptr, *dw_hh = nullptr, *db_ih = nullptr, *db_hh = nullptr;  // overwritten
};

template <class T> void lstm_forward(const SeqForward<T>& a);
template <class T> void lstm_backward(const SeqBackward<T>& a);
template <class T> void gru_forward(const SeqForward<T>& a);
template <class T> void gru_backward(const SeqBackward<T>& a);
template <class T> void rnn_forward(const SeqForward<T>& a, bool relu);
template <class T> void rnn_backward(const SeqBackward<T>& a, bool relu);

}  // namespace lstmx
