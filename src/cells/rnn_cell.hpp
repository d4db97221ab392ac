// Elman RNN cell: the pointwise part of one time step, for `n` hidden units of one row.
//   h' = act(gx + gh),  act = acts.act (tanh by default; activations.hpp lists the others)
#pragma once

#include "simd.hpp"

namespace lstmx {

template <class T>
inline void rnn_cell_forward(int n, const T* gx, const T* gh, T* h_next, const CellActs<T>& acts) {
  with_acts(acts, [&](auto act, auto) {
    for_lanes<T>(n, [&](int j, auto ld) { store(h_next + j, act(ld(gx + j) + ld(gh + j))); });
  });
}

// Backward: da = dh ⊙ act'(a), written from the output h'. `dgate` may alias dh.
template <class T>
inline void rnn_cell_backward(int n, const T* dh, const T* h_next, T* dgate, const CellActs<T>& acts) {
  with_acts(acts, [&](auto act, auto) {
    for_lanes<T>(n, [&](int j, auto ld) { store(dgate + j, ld(dh + j) * act.grad(ld(h_next + j))); });
  });
}

}  // namespace lstmx
