// GRU cell (PyTorch's "reset after" form): the pointwise part of one time step, for `n`
// hidden units of one batch row. Gates r, z, n; gate k of a part starts at `ptr + k * stride`.
//
// gx = W_ih x + b_ih (+ b_hr, b_hz may be folded in here), gh = W_hh h + b_hh (at least
// b_hn must be in gh, because the reset gate multiplies it). With layer normalisation the
// row schedule passes the normalised parts. `rec` is the gates' activation (σ by default),
// `act` the candidate's (tanh by default).
#pragma once

#include "simd.hpp"

namespace lstmx {

// Forward.
//   r = rec(gx_r + gh_r)   z = rec(gx_z + gh_z)
//   n = act(gx_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h
// When `act_out` is non-null it receives r, z, n (gate stride `sa`, may alias gx) and `ghn`
// receives gh_n, which backward needs for ∂r.
template <class T>
inline void gru_cell_forward(int n, const T* gx, long sx, const T* gh, long sh, const T* h_prev,
                             T* h_next, T* act_out, long sa, T* ghn, const CellActs<T>& acts) {
  with_acts(acts, [&](auto act, auto rec) {
    for_lanes<T>(n, [&](int j, auto ld) {
      const auto r = rec(ld(gx + j) + ld(gh + j));
      const auto z = rec(ld(gx + sx + j) + ld(gh + sh + j));
      const auto hn = ld(gh + 2 * sh + j);
      const auto nn = act(ld(gx + 2 * sx + j) + r * hn);
      using V = std::decay_t<decltype(r)>;
      store(h_next + j, (V(1) - z) * nn + z * ld(h_prev + j));
      if (act_out) {
        store(act_out + j, r);
        store(act_out + sa + j, z);
        store(act_out + 2 * sa + j, nn);
        store(ghn + j, hn);
      }
    });
  });
}

// Backward of one step, given dh = ∂L/∂h'.
//   dn̂ = dh ⊙ (1 − z) ⊙ act'(n)          (n̂: pre-activation of n)
//   dẑ = dh ⊙ (h − n) ⊙ rec'(z)
//   dr̂ = dn̂ ⊙ gh_n ⊙ rec'(r)
//   ∂gx = (dr̂, dẑ, dn̂)     ∂gh = (dr̂, dẑ, dn̂ ⊙ r)
//   dh_direct = dh ⊙ z        (the rest of ∂h comes from ∂gh · W_hh)
// `dgx` may alias `act_in`; `dh_direct` may alias `dh`.
template <class T>
inline void gru_cell_backward(int n, const T* dh, const T* h_prev, const T* act_in, long sa,
                              const T* ghn, T* dgx, long sdx, T* dgh, long sdh, T* dh_direct,
                              const CellActs<T>& acts) {
  with_acts(acts, [&](auto act, auto rec) {
    for_lanes<T>(n, [&](int j, auto ld) {
      const auto r = ld(act_in + j), z = ld(act_in + sa + j), nn = ld(act_in + 2 * sa + j);
      const auto d = ld(dh + j);
      using V = std::decay_t<decltype(r)>;
      const auto dn = d * (V(1) - z) * act.grad(nn);
      const auto dz = d * (ld(h_prev + j) - nn) * rec.grad(z);
      const auto dr = dn * ld(ghn + j) * rec.grad(r);
      store(dgx + j, dr);
      store(dgx + sdx + j, dz);
      store(dgx + 2 * sdx + j, dn);
      store(dgh + j, dr);
      store(dgh + sdh + j, dz);
      store(dgh + 2 * sdh + j, dn * r);
      store(dh_direct + j, d * z);
    });
  });
}

}  // namespace lstmx
