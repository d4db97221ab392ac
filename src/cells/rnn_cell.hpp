// Elman RNN cell: the pointwise part of one time step, for `n` hidden units of one row.
//   h' = act(gx + gh),  act = tanh or relu
#pragma once

#include "simd.hpp"

namespace lstmx {

template <class T>
inline void rnn_cell_forward(int n, const T* gx, const T* gh, T* h_next, bool use_relu) {
  for_lanes<T>(n, [&](int j, auto ld) {
    const auto a = ld(gx + j) + ld(gh + j);
    store(h_next + j, use_relu ? relu(a) : tanh_(a));
  });
}

// Backward: da = dh ⊙ act'(a), written from the output h'. `dgate` may alias dh.
template <class T>
inline void rnn_cell_backward(int n, const T* dh, const T* h_next, T* dgate, bool use_relu) {
  for_lanes<T>(n, [&](int j, auto ld) {
    const auto y = ld(h_next + j);
    store(dgate + j, ld(dh + j) * (use_relu ? drelu_from_y(y) : dtanh_from_y(y)));
  });
}

}  // namespace lstmx
