// LSTM cell: the pointwise part of one time step, for `n` hidden units of one batch row.
//
// The gate pre-activations arrive in two parts that are summed, a = gx + gh: the input
// projection (W_ih x + biases) and the recurrent projection (W_hh h). The sequence engine
// and the single-step cells both call these functions, so the gate math lives only here.
// Gates are PyTorch's order i, f, g, o; gate k of a part starts at `ptr + k * stride`.
#pragma once

#include "simd.hpp"

namespace lstmx {

// Forward.
//   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c')
// `act` (the activated i, f, g, o, gate stride `sa`) and `tanh_c` are written only when
// non-null: training keeps them for backward, inference does not. `act` may alias `gx`
// (each element is read before it is written).
template <class T>
inline void lstm_cell_forward(int n, const T* gx, long sx, const T* gh, long sh,
                              const T* c_prev, T* c_next, T* h_next,
                              T* act, long sa, T* tanh_c) {
  for_lanes<T>(n, [&](int j, auto ld) {
    const auto i = sigmoid(ld(gx + j) + ld(gh + j));
    const auto f = sigmoid(ld(gx + sx + j) + ld(gh + sh + j));
    const auto g = tanh_(ld(gx + 2 * sx + j) + ld(gh + 2 * sh + j));
    const auto o = sigmoid(ld(gx + 3 * sx + j) + ld(gh + 3 * sh + j));
    const auto c = f * ld(c_prev + j) + i * g;
    const auto tc = tanh_(c);
    store(c_next + j, c);
    store(h_next + j, o * tc);
    if (act) {
      store(act + j, i);
      store(act + sa + j, f);
      store(act + 2 * sa + j, g);
      store(act + 3 * sa + j, o);
    }
    if (tanh_c) store(tanh_c + j, tc);
  });
}

// Backward of one step, given dh = ∂L/∂h' and dc = ∂L/∂c' (the carried cell gradient).
//   dc_t  = dc + dh ⊙ o ⊙ (1 − tanh²c')
//   da_o  = dh ⊙ tanh c' ⊙ o(1 − o)
//   da_i  = dc_t ⊙ g ⊙ i(1 − i)
//   da_f  = dc_t ⊙ c ⊙ f(1 − f)
//   da_g  = dc_t ⊙ i ⊙ (1 − g²)
//   dc_prev = dc_t ⊙ f
// Writes the pre-activation gradients to `dgate` (gate stride `sd`; may alias `act`) and
// dc_prev (may alias dc).
template <class T>
inline void lstm_cell_backward(int n, const T* dh, const T* dc, const T* c_prev,
                               const T* act, long sa, const T* tanh_c,
                               T* dgate, long sd, T* dc_prev) {
  for_lanes<T>(n, [&](int j, auto ld) {
    const auto i = ld(act + j), f = ld(act + sa + j), g = ld(act + 2 * sa + j), o = ld(act + 3 * sa + j);
    const auto tc = ld(tanh_c + j), d = ld(dh + j);
    const auto dct = ld(dc + j) + d * o * dtanh_from_y(tc);
    store(dgate + j, dct * g * dsigmoid_from_y(i));
    store(dgate + sd + j, dct * ld(c_prev + j) * dsigmoid_from_y(f));
    store(dgate + 2 * sd + j, dct * i * dtanh_from_y(g));
    store(dgate + 3 * sd + j, d * tc * dsigmoid_from_y(o));
    store(dc_prev + j, dct * f);
  });
}

}  // namespace lstmx
