// Elman RNN in the units schedule: the engine (engine.hpp) with src/cells/rnn_cell.hpp.
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

  explicit RnnForwardCell(const Recurrent<T>& a) : a_(a), h_(a.hs, a.B, a.H) {
    gates_buffer(gx_, a.T, a.B, a.H);
    h_.init(a.h0);
  }
  T* gx() { return gx_.get(); }
  StateSlots<T>& h() { return h_; }

  void step(long t, long b, long u0, int n, const T* gh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    T* h = h_.at(t + 1) + b * a_.H + u0;
    if constexpr (std::is_same_v<T, float>) {
      if (wide_) {
        avx512::rnn_cell_forward(n, gx_.get() + row, gh, h, a_.acts.act, a_.acts.param);
        std::memcpy(a_.y + row, h, n * sizeof(T));
        return;
      }
    }
    rnn_cell_forward(n, gx_.get() + row, gh, h, a_.acts);
    std::memcpy(a_.y + row, h, n * sizeof(T));
  }
  void hold(long t, long b, long u0, int n) {
    const long off = b * a_.H + u0;
    std::memcpy(h_.at(t + 1) + off, h_.at(t) + off, n * sizeof(T));
    std::fill_n(a_.y + (t * a_.B + b) * a_.H + u0, n, T(0));
  }
  void finish() { std::memcpy(a_.h_n, h_.at(a_.T), a_.B * a_.H * sizeof(T)); }

 private:
  const Recurrent<T>& a_;
  bool wide_ = avx512::enabled();  // float32: the gate math's AVX-512 build (cells_avx512)
  StateSlots<T> h_;
  Buffer<T> gx_;
};

template <class T>
class RnnBackwardCell {
 public:
  static constexpr int G = 1;

  explicit RnnBackwardCell(const Recurrent<T>& a) : a_(a), dg_(a.T * a.B * a.H) {}
  T* dgx() { return dg_.get(); }
  T* dgh() { return dg_.get(); }

  void step(long t, long b, long u0, int n, T* dh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    T dht[BS];
    for (int j = 0; j < n; ++j) dht[j] = dh[j] + (a_.dy ? a_.dy[row + j] : T(0));
    // the output of step t is the state entering step t+1
    rnn_cell_backward(n, dht, a_.hs + row + a_.B * a_.H, dg_.get() + row, a_.acts);
    std::fill_n(dh, n, T(0));
  }

 private:
  const Recurrent<T>& a_;
  Buffer<T> dg_;
};

}  // namespace

template <class T>
void rnn_units_forward(const Recurrent<T>& a) {
  RnnForwardCell<T> cell(a);
  forward_engine(a, cell);
}

template <class T>
void rnn_units_backward(const Recurrent<T>& a) {
  RnnBackwardCell<T> cell(a);
  backward_engine(a, cell);
}

template void rnn_units_forward<float>(const Recurrent<float>&);
template void rnn_units_forward<double>(const Recurrent<double>&);
template void rnn_units_backward<float>(const Recurrent<float>&);
template void rnn_units_backward<double>(const Recurrent<double>&);

}  // namespace lstmx
