// GRU in the units schedule: the engine (engine.hpp) with the gate math of src/cells/gru_cell.hpp.
// b_hn stays inside the step (the reset gate multiplies W_hn h + b_hn); b_hr and b_hz are
// folded into the input projection.
#include <algorithm>
#include <cstring>

#include "cells/gru_cell.hpp"
#include "cells_avx512.hpp"
#include "engine.hpp"

namespace lstmx {
namespace {

template <class T>
class GruForwardCell {
 public:
  static constexpr int G = 3;
  static bool step_bias_gate(int g) { return g == 2; }

  explicit GruForwardCell(const Recurrent<T>& a)
      : a_(a), train_(a.gates != nullptr), GH_(G * a.H), h_(a.hs, a.B, a.H) {
    if (!train_) gates_buffer(own_gx_, a.T, a.B, GH_);
    h_.init(a.h0);
  }
  T* gx() { return train_ ? a_.gates : own_gx_.get(); }
  StateSlots<T>& h() { return h_; }

  void step(long t, long b, long u0, int n, const T* gh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    T* g = gx() + (t * a_.B + b) * GH_ + u0;
    T* h = h_.at(t + 1) + b * a_.H + u0;
    const T* hp = h_.at(t) + b * a_.H + u0;
    if constexpr (std::is_same_v<T, float>) {
      if (wide_) {
        avx512::gru_cell_forward(n, g, a_.H, gh, BS, hp, h, train_ ? g : nullptr, a_.H,
                                 train_ ? a_.aux + row : nullptr, a_.acts.act, a_.acts.rec,
                                 a_.acts.param);
        std::memcpy(a_.y + row, h, n * sizeof(T));
        return;
      }
    }
    gru_cell_forward(n, g, a_.H, gh, BS, hp, h, train_ ? g : nullptr, a_.H,
                     train_ ? a_.aux + row : nullptr, a_.acts);
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
  bool train_;
  bool wide_ = avx512::enabled();  // float32: the gate math's AVX-512 build (cells_avx512)
  long GH_;
  StateSlots<T> h_;
  Buffer<T> own_gx_;
};

template <class T>
class GruBackwardCell {
 public:
  static constexpr int G = 3;

  explicit GruBackwardCell(const Recurrent<T>& a)
      : a_(a), GH_(G * a.H), dgx_(a.T * a.B * GH_), dgh_(a.T * a.B * GH_) {}
  T* dgx() { return dgx_.get(); }
  T* dgh() { return dgh_.get(); }

  void step(long t, long b, long u0, int n, T* dh) {
    const long row = (t * a_.B + b) * a_.H + u0;
    const long grow = (t * a_.B + b) * GH_ + u0;
    T dht[BS];
    for (int j = 0; j < n; ++j) dht[j] = dh[j] + (a_.dy ? a_.dy[row + j] : T(0));
    gru_cell_backward(n, dht, a_.hs + row, a_.gates + grow, a_.H, a_.aux + row, dgx_.get() + grow,
                      a_.H, dgh_.get() + grow, a_.H, dh, a_.acts);
  }

 private:
  const Recurrent<T>& a_;
  long GH_;
  Buffer<T> dgx_, dgh_;
};

}  // namespace

template <class T>
void gru_units_forward(const Recurrent<T>& a) {
  GruForwardCell<T> cell(a);
  forward_engine(a, cell);
}

template <class T>
void gru_units_backward(const Recurrent<T>& a) {
  GruBackwardCell<T> cell(a);
  backward_engine(a, cell);
}

template void gru_units_forward<float>(const Recurrent<float>&);
template void gru_units_forward<double>(const Recurrent<double>&);
template void gru_units_backward<float>(const Recurrent<float>&);
template void gru_units_backward<double>(const Recurrent<double>&);

}  // namespace lstmx
