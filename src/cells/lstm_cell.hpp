// LSTM cell: the pointwise part of one time step, for `n` hidden units of one batch row.
//
// The gate pre-activations arrive in two parts that are summed, a = gx + gh: the input
// projection (W_ih x + biases) and the recurrent projection (W_hh h). The sequence engine
// (both schedules) and the single-step cells all call these functions, so the gate math
// lives only here. Gates are PyTorch's order i, f, g, o; gate k of a part starts at
// `ptr + k * stride`. `rec` is the gates' activation (σ by default), `act` the candidate's
// and the cell output's (tanh by default); activations.hpp lists them.
#pragma once

#include <utility>

#include "layer_norm.hpp"
#include "simd.hpp"

namespace lstmx {

// Layer normalisation of the cell state before its output activation (Ba et al., 2016):
// ĉ = γ ⊙ LN(c) + β. It needs all H units of a row at once (n = H; the row schedule).
template <class T>
struct CellNorm {
  const T *gamma = nullptr, *beta = nullptr;
  double eps = 1e-5;
  T* norm = nullptr;  // (H) the normalised c: forward writes it (if non-null), backward reads it
  T* rstd = nullptr;  // its 1/std: forward writes *rstd (if non-null), backward reads it
  T *dgamma = nullptr, *dbeta = nullptr;  // backward: ∂L/∂γ, ∂L/∂β accumulate here
  T* work = nullptr;  // (H) scratch
};

// Forward.
//   i = rec(a_i)   f = rec(a_f)   g = act(a_g)   o = rec(a_o)
//   c' = f ⊙ c + i ⊙ g
//   ĉ = LN(c') with `ln`, else c'
//   h' = o ⊙ act(ĉ)
// `act_out` (the activated i, f, g, o, gate stride `sa`; may alias gx: each element is read
// before it is written) and `act_c` (act(ĉ)) are written when non-null: training keeps them
// for backward, inference does not. With `ln`, act_out must be non-null.
template <class T>
inline void lstm_cell_forward(int n, const T* gx, long sx, const T* gh, long sh, const T* c_prev,
                              T* c_next, T* h_next, T* act_out, long sa, T* act_c,
                              const CellActs<T>& acts, const CellNorm<T>* ln = nullptr) {
  with_acts(acts, [&](auto act, auto rec) {
    // the gates and the new cell state of lanes [j, j + width)
    auto gates = [&](int j, auto ld) {
      const auto i = rec(ld(gx + j) + ld(gh + j));
      const auto f = rec(ld(gx + sx + j) + ld(gh + sh + j));
      const auto g = act(ld(gx + 2 * sx + j) + ld(gh + 2 * sh + j));
      const auto o = rec(ld(gx + 3 * sx + j) + ld(gh + 3 * sh + j));
      const auto c = f * ld(c_prev + j) + i * g;
      store(c_next + j, c);
      if (act_out) {
        store(act_out + j, i);
        store(act_out + sa + j, f);
        store(act_out + 2 * sa + j, g);
        store(act_out + 3 * sa + j, o);
      }
      return std::make_pair(o, c);
    };
    auto output = [&](int j, auto o, auto c_hat) {
      const auto y = act(c_hat);
      store(h_next + j, o * y);
      if (act_c) store(act_c + j, y);
    };
    if (!ln) {
      for_lanes<T>(n, [&](int j, auto ld) {
        const auto [o, c] = gates(j, ld);
        output(j, o, c);
      });
      return;
    }
    for_lanes<T>(n, [&](int j, auto ld) { gates(j, ld); });
    for (int j = 0; j < n; ++j) ln->work[j] = c_next[j];
    const T rs = layer_norm_forward(n, ln->work, ln->gamma, ln->beta, ln->eps, ln->norm);
    if (ln->rstd) *ln->rstd = rs;
    for_lanes<T>(n, [&](int j, auto ld) { output(j, ld(act_out + 3 * sa + j), ld(ln->work + j)); });
  });
}

// Backward of one step, given dh = ∂L/∂h' and dc = ∂L/∂c' (the carried cell gradient).
//   dĉ    = dh ⊙ o ⊙ act'(ĉ)        (through LN's backward with `ln`, to ∂c')
//   dc_t  = dc + dĉ
//   da_o  = dh ⊙ act(ĉ) ⊙ rec'(o)
//   da_i  = dc_t ⊙ g ⊙ rec'(i)
//   da_f  = dc_t ⊙ c ⊙ rec'(f)
//   da_g  = dc_t ⊙ i ⊙ act'(g)
//   dc_prev = dc_t ⊙ f
// Writes the pre-activation gradients to `dgate` (gate stride `sd`; may alias `act_in`) and
// dc_prev (may alias dc). With `ln` it also adds to ln->dgamma and ln->dbeta.
template <class T>
inline void lstm_cell_backward(int n, const T* dh, const T* dc, const T* c_prev, const T* act_in,
                               long sa, const T* act_c, T* dgate, long sd, T* dc_prev,
                               const CellActs<T>& acts, const CellNorm<T>* ln = nullptr) {
  with_acts(acts, [&](auto act, auto rec) {
    // da_o of lanes [j, j + width) and dĉ
    auto out_grad = [&](int j, auto ld) {
      const auto o = ld(act_in + 3 * sa + j), y = ld(act_c + j), d = ld(dh + j);
      store(dgate + 3 * sd + j, d * y * rec.grad(o));
      return d * o * act.grad(y);
    };
    auto cell_grad = [&](int j, auto ld, auto dc_hat) {
      const auto i = ld(act_in + j), f = ld(act_in + sa + j), g = ld(act_in + 2 * sa + j);
      const auto dct = ld(dc + j) + dc_hat;
      store(dgate + j, dct * g * rec.grad(i));
      store(dgate + sd + j, dct * ld(c_prev + j) * rec.grad(f));
      store(dgate + 2 * sd + j, dct * i * act.grad(g));
      store(dc_prev + j, dct * f);
    };
    if (!ln) {
      for_lanes<T>(n, [&](int j, auto ld) { cell_grad(j, ld, out_grad(j, ld)); });
      return;
    }
    for_lanes<T>(n, [&](int j, auto ld) { store(ln->work + j, out_grad(j, ld)); });
    for (int j = 0; j < n; ++j) {
      ln->dgamma[j] += ln->work[j] * ln->norm[j];
      ln->dbeta[j] += ln->work[j];
    }
    layer_norm_backward(n, ln->work, ln->norm, *ln->rstd, ln->gamma);
    for_lanes<T>(n, [&](int j, auto ld) { cell_grad(j, ld, ld(ln->work + j)); });
  });
}

}  // namespace lstmx
