// LSTM in the units schedule: the engine (engine.hpp) with the gate math of src/cells/lstm_cell.hpp.
#include <algorithm>
#include <cstring>

#include "cells/lstm_cell.hpp"
#include "cells_avx512.hpp"
#include "engine.hpp"

namespace lstmx {
namespace {

template <class T>
class LstmForwardCell {
 public:
  static constexpr int G = 4;
  static bool step_bias_gate(int) { return false; }

  explicit LstmForwardCell(const Recurrent<T>& a)
      : a_(a), train_(a.gates != nullptr), GH_(G * a.H), h_(a.hs, a.B, a.H), c_(a.cs, a.B, a.H) {
    if (!train_) gates_buffer(own_gx_, a.T, a.B, GH_);
    h_.init(a.h0);
    c_.init(a.c0);
  }
  T* gx() { return train_ ? a_.gates : own_gx_.get(); }
  StateSlots<T>& h() { return h_; }

  void step(long t, long b, long u0, int n, const T* gh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    T* g = gx() + (t * a_.B + b) * GH_ + u0;  // pre-activations in, activations out (training)
    T* h = h_.at(t + 1) + b * a_.H + u0;
    const T* cp = c_.at(t) + b * a_.H + u0;
    T* cn = c_.at(t + 1) + b * a_.H + u0;
    if constexpr (std::is_same_v<T, float>) {
      if (wide_) {
        avx512::lstm_cell_forward(n, g, a_.H, gh, BS, cp, cn, h, train_ ? g : nullptr, a_.H,
                                  train_ ? a_.aux + row : nullptr, a_.acts.act, a_.acts.rec,
                                  a_.acts.param);
        std::memcpy(a_.y + row, h, n * sizeof(T));
        return;
      }
    }
    lstm_cell_forward(n, g, a_.H, gh, BS, cp, cn, h, train_ ? g : nullptr, a_.H,
                      train_ ? a_.aux + row : nullptr, a_.acts);
    std::memcpy(a_.y + row, h, n * sizeof(T));
  }
  void hold(long t, long b, long u0, int n) {
    const long off = b * a_.H + u0;
    std::memcpy(h_.at(t + 1) + off, h_.at(t) + off, n * sizeof(T));
    std::memcpy(c_.at(t + 1) + off, c_.at(t) + off, n * sizeof(T));
    std::fill_n(a_.y + (t * a_.B + b) * a_.H + u0, n, T(0));
  }
  void finish() {
    std::memcpy(a_.h_n, h_.at(a_.T), a_.B * a_.H * sizeof(T));
    std::memcpy(a_.c_n, c_.at(a_.T), a_.B * a_.H * sizeof(T));
  }

 private:
  const Recurrent<T>& a_;
  bool train_;
  bool wide_ = avx512::enabled();  // float32: the gate math's AVX-512 build (cells_avx512)
  long GH_;
  StateSlots<T> h_, c_;
  Buffer<T> own_gx_;
};

template <class T>
class LstmBackwardCell {
 public:
  static constexpr int G = 4;

  explicit LstmBackwardCell(const Recurrent<T>& a) : a_(a), GH_(G * a.H), dg_(a.T * a.B * GH_) {
    T* dc = a.dc0;  // the cell-state carry lives in the output and ends as ∂L/∂c_0
    if (a.dc_n) std::memcpy(dc, a.dc_n, a.B * a.H * sizeof(T));
    else std::fill_n(dc, a.B * a.H, T(0));
  }
  T* dgx() { return dg_.get(); }
  T* dgh() { return dg_.get(); }

  void step(long t, long b, long u0, int n, T* dh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    const long grow = (t * a_.B + b) * GH_ + u0;
    T dht[BS];
    for (int j = 0; j < n; ++j) dht[j] = dh[j] + (a_.dy ? a_.dy[row + j] : T(0));
    T* dc = a_.dc0 + b * a_.H + u0;
    lstm_cell_backward(n, dht, dc, a_.cs + row, a_.gates + grow, a_.H, a_.aux + row,
                       dg_.get() + grow, a_.H, dc, a_.acts);
    std::fill_n(dh, n, T(0));  // all of ∂L/∂h_{t-1} comes through W_hh
  }

 private:
  const Recurrent<T>& a_;
  long GH_;
  Buffer<T> dg_;
};

}  // namespace

template <class T>
void lstm_units_forward(const Recurrent<T>& a) {
  LstmForwardCell<T> cell(a);
  forward_engine(a, cell);
}

template <class T>
void lstm_units_backward(const Recurrent<T>& a) {
  LstmBackwardCell<T> cell(a);
  backward_engine(a, cell);
}

template void lstm_units_forward<float>(const Recurrent<float>&);
template void lstm_units_forward<double>(const Recurrent<double>&);
template void lstm_units_backward<float>(const Recurrent<float>&);
template void lstm_units_backward<double>(const Recurrent<double>&);

}  // namespace lstmx
