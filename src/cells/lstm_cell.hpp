// LSTM cell: the pointwise part of one time step, for `n` hidden units of one batch row.
//
// The gate pre-activations arrive in two parts that are summed, a = gx + gh: the input
// projection (W_ih x + biases) and the recurrent projection (W_hh h). The sequence engine
// and the single-step cells both call these functions, so the gate math lives only here.
// Gates are PyTorch's order i, f, g, o; gate k of a part starts at `ptr + k * stride`.
#pragma once

#include "activations.hpp"

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
  for (int j = 0; j < n; ++j) {
    const T i = sigmoid(gx[j] + gh[j]);
    const T f = sigmoid(gx[sx + j] + gh[sh + j]);
    const T g = tanh_(gx[2 * sx + j] + gh[2 * sh + j]);
    const T o = sigmoid(gx[3 * sx + j] + gh[3 * sh + j]);
    const T c = f * c_prev[j] + i * g;
    const T tc = tanh_(c);
    c_next[j] = c;
    h_next[j] = o * tc;
    if (act) {
      act[j] = i;
      act[sa + j] = f;
      act[2 * sa + j] = g;
      act[3 * sa + j] = o;
    }
    if (tanh_c) tanh_c[j] = tc;
  }
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
  for (int j = 0; j < n; ++j) {
    const T i = act[j], f = act[sa + j], g = act[2 * sa + j], o = act[3 * sa + j];
    const T tc = tanh_c[j];
    const T dct = dc[j] + dh[j] * o * dtanh_from_y(tc);
    const T cp = c_prev[j];
    dgate[j] = dct * g * dsigmoid_from_y(i);
    dgate[sd + j] = dct * cp * dsigmoid_from_y(f);
    dgate[2 * sd + j] = dct * i * dtanh_from_y(g);
    dgate[3 * sd + j] = dh[j] * tc * dsigmoid_from_y(o);
    dc_prev[j] = dct * f;
  }
}

}  // namespace lstmx
