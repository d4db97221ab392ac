// GRU cell (PyTorch's "reset after" form): the pointwise part of one time step, for `n`
// hidden units of one batch row. Gates r, z, n; gate k of a part starts at `ptr + k * stride`.
//
// gx = W_ih x + b_ih (+ b_hr, b_hz may be folded in here), gh = W_hh h + b_hh (at least
// b_hn must be in gh, because the reset gate multiplies it).
#pragma once

#include "activations.hpp"

namespace lstmx {

// Forward.
//   r = σ(gx_r + gh_r)   z = σ(gx_z + gh_z)
//   n = tanh(gx_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h
// When `act` is non-null it receives r, z, n (gate stride `sa`, may alias gx) and `ghn`
// receives gh_n = W_hn h + b_hn, which backward needs for ∂r.
template <class T>
inline void gru_cell_forward(int n, const T* gx, long sx, const T* gh, long sh,
                             const T* h_prev, T* h_next, T* act, long sa, T* ghn) {
  for (int j = 0; j < n; ++j) {
    const T r = sigmoid(gx[j] + gh[j]);
    const T z = sigmoid(gx[sx + j] + gh[sh + j]);
    const T hn = gh[2 * sh + j];
    const T nn = tanh_(gx[2 * sx + j] + r * hn);
    h_next[j] = (T(1) - z) * nn + z * h_prev[j];
    if (act) {
      act[j] = r;
      act[sa + j] = z;
      act[2 * sa + j] = nn;
      ghn[j] = hn;
    }
  }
}

// Backward of one step, given dh = ∂L/∂h'.
//   dn̂ = dh ⊙ (1 − z) ⊙ (1 − n²)          (n̂: pre-activation of n)
//   dẑ = dh ⊙ (h − n) ⊙ z(1 − z)
//   dr̂ = dn̂ ⊙ gh_n ⊙ r(1 − r)
//   ∂gx = (dr̂, dẑ, dn̂)     ∂gh = (dr̂, dẑ, dn̂ ⊙ r)
//   dh_direct = dh ⊙ z        (the rest of ∂h comes from ∂gh · W_hh)
// `dgx` may alias `act`; `dh_direct` may alias `dh`.
template <class T>
inline void gru_cell_backward(int n, const T* dh, const T* h_prev, const T* act, long sa,
                              const T* ghn, T* dgx, long sdx, T* dgh, long sdh,
                              T* dh_direct) {
  for (int j = 0; j < n; ++j) {
    const T r = act[j], z = act[sa + j], nn = act[2 * sa + j];
    const T d = dh[j];
    const T dn = d * (T(1) - z) * dtanh_from_y(nn);
    const T dz = d * (h_prev[j] - nn) * dsigmoid_from_y(z);
    const T dr = dn * ghn[j] * dsigmoid_from_y(r);
    dgx[j] = dr;
    dgx[sdx + j] = dz;
    dgx[2 * sdx + j] = dn;
    dgh[j] = dr;
    dgh[sdh + j] = dz;
    dgh[2 * sdh + j] = dn * r;
    dh_direct[j] = d * z;
  }
}

}  // namespace lstmx
