// Elman RNN cell: the pointwise part of one time step, for `n` hidden units of one row.
//   h' = act(gx + gh),  act = tanh or relu
#pragma once

#include "activations.hpp"

namespace lstmx {

template <class T>
inline void rnn_cell_forward(int n, const T* gx, const T* gh, T* h_next, bool use_relu) {
  if (use_relu) {
    for (int j = 0; j < n; ++j) h_next[j] = relu(gx[j] + gh[j]);
  } else {
    for (int j = 0; j < n; ++j) h_next[j] = tanh_(gx[j] + gh[j]);
  }
}

// Backward: da = dh ⊙ act'(a), written from the output h'. `dgate` may alias dh.
template <class T>
inline void rnn_cell_backward(int n, const T* dh, const T* h_next, T* dgate, bool use_relu) {
  if (use_relu) {
    for (int j = 0; j < n; ++j) dgate[j] = dh[j] * drelu_from_y(h_next[j]);
  } else {
    for (int j = 0; j < n; ++j) dgate[j] = dh[j] * dtanh_from_y(h_next[j]);
  }
}

}  // namespace lstmx
