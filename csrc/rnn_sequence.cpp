// Elman RNN sequence kernels: the engine (engine.hpp) with src/cells/rnn_cell.hpp.
#include <algorithm>
#include <cstring>

#include "cells/rnn_cell.hpp"
#include "cells_avx512.hpp"
#include "engine.hpp"

namespace lstmx {
namespace {

template <class T>
class RnnForwardCell {
 public:
  static constexpr int G = 1;
  static bool step_bias_gate(int) { return false; }

  RnnForwardCell(const SeqForward<T>& a, bool relu)
      : a_(a), relu_(relu), h_(a.hs, a.B, a.H) {
    gates_buffer(gx_, a.T, a.B, a.H);
    h_.init(a.h0);
  }
  T* gx() { return gx_.get(); }
  const T* h_state(long t) const { return h_.at(t); }

  void step(long t, long b, long u0, int n, const T* gh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    T* h = h_.at(t + 1) + b * a_.H + u0;
    if constexpr (std::is_same_v<T, float>) {
      if (wide_) {
        avx512::rnn_cell_forward(n, gx_.get() + row, gh, h, relu_);
        std::memcpy(a_.y + row, h, n * sizeof(T));
        return;
      }
    }
    rnn_cell_forward(n, gx_.get() + row, gh, h, relu_);
    std::memcpy(a_.y + row, h, n * sizeof(T));
  }
  void hold(long t, long b, long u0, int n) {
    const long off = b * a_.H + u0;
    std::memcpy(h_.at(t + 1) + off, h_.at(t) + off, n * sizeof(T));
    std::fill_n(a_.y + (t * a_.B + b) * a_.H + u0, n, T(0));
  }
  void finish() { std::memcpy(a_.h_n, h_.at(a_.T), a_.B * a_.H * sizeof(T)); }

 private:
  const SeqForward<T>& a_;
  bool relu_;
  bool wide_ = avx512::enabled();  // float32: the gate math's AVX-512 build (cells_avx512)
  StateSlots<T> h_;
  Buffer<T> gx_;
};

template <class T>
class RnnBackwardCell {
 public:
  static constexpr int G = 1;

  RnnBackwardCell(const SeqBackward<T>& a, bool relu) : a_(a), relu_(relu), dg_(a.T * a.B * a.H) {}
  T* dgx() { return dg_.get(); }
  T* dgh() { return dg_.get(); }

  void step(long t, long b, long u0, int n, T* dh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    T dht[BS];
    for (int j = 0; j < n; ++j) dht[j] = dh[j] + (a_.dy ? a_.dy[row + j] : T(0));
    // the output of step t is the state entering step t+1
    rnn_cell_backward(n, dht, a_.hs + row + a_.B * a_.H, dg_.get() + row, relu_);
    std::fill_n(dh, n, T(0));
  }

 private:
  const SeqBackward<T>& a_;
  bool relu_;
  Buffer<T> dg_;
};

}  // namespace

template <class T>
void rnn_forward(const SeqForward<T>& a, bool relu) {
  RnnForwardCell<T> cell(a, relu);
  forward_engine(a, cell);
}

template <class T>
void rnn_backward(const SeqBackward<T>& a, bool relu) {
  RnnBackwardCell<T> cell(a, relu);
  backward_engine(a, cell);
}

template void rnn_forward<float>(const SeqForward<float>&, bool);
template void rnn_forward<double>(const SeqForward<double>&, bool);
template void rnn_backward<float>(const SeqBackward<float>&, bool);
template void rnn_backward<double>(const SeqBackward<double>&, bool);

}  // namespace lstmx
