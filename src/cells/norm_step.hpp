// Layer-normalised single steps of B rows, for the Cython cells (_cells.pyx): the same
// functions as the sequence engine's rows schedule (layer_norm_blocks_*, the cells' gate math
// with CellNorm), one batch row per call so that Cython can split rows over threads.
//
// Shapes: gx, gh (B, G·H) the products x·W_ihᵀ and h·W_hhᵀ (no biases: layer norm's β take
// their place); nx, nh (B, G·H), rstd_x, rstd_h (B, G), nc (B, H), rstd_c (B) what backward
// needs (null in inference); work (B, H) scratch. γ, β: ih_*, hh_* (G·H), c_* (H, LSTM).
#pragma once

#include <algorithm>

#include "gru_cell.hpp"
#include "layer_norm.hpp"
#include "lstm_cell.hpp"

namespace lstmx {

template <class T>
struct NormStep {
  long H = 0, G = 0;
  double eps = 1e-5;
  const T *ih_w = nullptr, *ih_b = nullptr, *hh_w = nullptr, *hh_b = nullptr;
  const T *c_w = nullptr, *c_b = nullptr;
  T *nx = nullptr, *nh = nullptr, *rstd_x = nullptr, *rstd_h = nullptr;
  T *nc = nullptr, *rstd_c = nullptr, *work = nullptr;
  // backward: per-row ∂L/∂γ, ∂L/∂β (B, G·H) for ih and hh, (B, H) for c; the caller sums rows
  T *d_ih_w = nullptr, *d_ih_b = nullptr, *d_hh_w = nullptr, *d_hh_b = nullptr;
  T *d_c_w = nullptr, *d_c_b = nullptr;

  T* row(T* p, long b, long width) const { return p ? p + b * width : nullptr; }

  // normalise row b of gx and gh in place
  void normalise(long b, T* gx, T* gh) const {
    const long GH = G * H;
    layer_norm_blocks_forward(G, H, gx + b * GH, ih_w, ih_b, eps, row(nx, b, GH), row(rstd_x, b, G));
    layer_norm_blocks_forward(G, H, gh + b * GH, hh_w, hh_b, eps, row(nh, b, GH), row(rstd_h, b, G));
  }
  // ∂L/∂(products) of row b from the gradients of the normalised ones, in place
  void normalise_backward(long b, T* dgx, T* dgh) const {
    const long GH = G * H;
    layer_norm_blocks_backward(G, H, dgx + b * GH, nx + b * GH, rstd_x + b * G, ih_w, d_ih_w + b * GH,
                               d_ih_b + b * GH);
    layer_norm_blocks_backward(G, H, dgh + b * GH, nh + b * GH, rstd_h + b * G, hh_w, d_hh_w + b * GH,
                               d_hh_b + b * GH);
  }
  CellNorm<T> cell_norm(long b) const {
    CellNorm<T> cn;
    cn.gamma = c_w;
    cn.beta = c_b;
    cn.eps = eps;
    cn.norm = row(nc, b, H);
    cn.rstd = row(rstd_c, b, 1);
    cn.dgamma = row(d_c_w, b, H);
    cn.dbeta = row(d_c_b, b, H);
    cn.work = work + b * H;
    return cn;
  }
};

// Row b forward. act (B, 4H) may be gx (it always receives the activated gates); act_c
// (B, H) may be null (inference).
template <class T>
inline void lstm_norm_step_forward(const NormStep<T>& s, long b, T* gx, T* gh, const T* c_prev,
                                   T* c_next, T* h_next, T* act, T* act_c, const CellActs<T>& acts) {
  const long H = s.H, GH = 4 * H;
  s.normalise(b, gx, gh);
  const CellNorm<T> cn = s.cell_norm(b);
  lstm_cell_forward(int(H), gx + b * GH, H, gh + b * GH, H, c_prev + b * H, c_next + b * H,
                    h_next + b * H, act + b * GH, H, s.row(act_c, b, H), acts, &cn);
}

// Row b backward: dgx, dgh (B, 4H) receive ∂L/∂(x·W_ihᵀ), ∂L/∂(h·W_hhᵀ); dc_prev (B, H).
template <class T>
inline void lstm_norm_step_backward(const NormStep<T>& s, long b, const T* dh, const T* dc,
                                    const T* c_prev, const T* act, const T* act_c, T* dgx, T* dgh,
                                    T* dc_prev, const CellActs<T>& acts) {
  const long H = s.H, GH = 4 * H;
  const CellNorm<T> cn = s.cell_norm(b);
  lstm_cell_backward(int(H), dh + b * H, dc + b * H, c_prev + b * H, act + b * GH, H, act_c + b * H,
                     dgx + b * GH, H, dc_prev + b * H, acts, &cn);
  std::copy(dgx + b * GH, dgx + (b + 1) * GH, dgh + b * GH);
  s.normalise_backward(b, dgx, dgh);
}

template <class T>
inline void gru_norm_step_forward(const NormStep<T>& s, long b, T* gx, T* gh, const T* h_prev,
                                  T* h_next, T* act, T* ghn, const CellActs<T>& acts) {
  const long H = s.H, GH = 3 * H;
  s.normalise(b, gx, gh);
  gru_cell_forward(int(H), gx + b * GH, H, gh + b * GH, H, h_prev + b * H, h_next + b * H,
                   s.row(act, b, GH), H, s.row(ghn, b, H), acts);
}

// dgx, dgh (B, 3H); dh_direct (B, H): the part of ∂L/∂h that does not pass through W_hh.
template <class T>
inline void gru_norm_step_backward(const NormStep<T>& s, long b, const T* dh, const T* h_prev,
                                   const T* act, const T* ghn, T* dgx, T* dgh, T* dh_direct,
                                   const CellActs<T>& acts) {
  const long H = s.H, GH = 3 * H;
  gru_cell_backward(int(H), dh + b * H, h_prev + b * H, act + b * GH, H, ghn + b * H, dgx + b * GH, H,
                    dgh + b * GH, H, dh_direct + b * H, acts);
  s.normalise_backward(b, dgx, dgh);
}

}  // namespace lstmx
