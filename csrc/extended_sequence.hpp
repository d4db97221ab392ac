// Whole-sequence kernels of the extended recurrent layers: layer normalisation, variational
// recurrent dropout, selectable activations and (LSTM) projections, for one layer and one
// direction. The plain PyTorch cells keep their own faster engine (engine.hpp); these options
// take this one.
//
// Shapes (time-major): x (T, B, I); H hidden units, R = P with a projection else H (the size
// of h); G = 4 (LSTM), 3 (GRU), 1 (RNN). Parameters: w_ih (G·H, I), w_hh (G·H, R),
// w_hr (P, H) or null; without layer norm b_ih, b_hh (G·H) or null; with it ln_ih_w/b,
// ln_hh_w/b (G·H) and for LSTM ln_c_w/b (H). mask (B, R) or null: the recurrent-dropout mask
// (already scaled by 1/(1-p)), applied to h_{t-1} before W_hh at every step.
#pragma once

#include <cstdint>

#include "cells/extended_cells.hpp"

namespace lstmx {

enum class CellKind : int { lstm = 0, gru = 1, rnn = 2 };

template <class S>
struct ExtLayer {
  CellKind kind = CellKind::lstm;
  long T = 0, B = 0, I = 0, H = 0, R = 0, G = 0;
  ExtOptions<S> opt;
  bool layer_norm = false;
  const S *x = nullptr, *w_ih = nullptr, *w_hh = nullptr, *w_hr = nullptr;
  const S *b_ih = nullptr, *b_hh = nullptr;
  const S *ln_ih_w = nullptr, *ln_ih_b = nullptr, *ln_hh_w = nullptr, *ln_hh_b = nullptr;
  const S *ln_c_w = nullptr, *ln_c_b = nullptr;
  const S* mask = nullptr;
  const int64_t* lengths = nullptr;

  // forward
  const S *h0 = nullptr, *c0 = nullptr;
  S *y = nullptr, *h_n = nullptr, *c_n = nullptr;

  // training workspace (null in inference): gates (T, B, G·H) activated gates; hs (T+1, B, R)
  // and cs (T+1, B, H) the states entering each step and the last; aux (T, B, H): act(ĉ)
  // (LSTM) or ah_n (GRU); rs (T, B, H) r_t before the projection; nx, nh (T, B, G·H) and
  // rstd_x, rstd_h (T, B, G) the layer-normalised pre-activations; nc (T, B, H), rstd_c (T, B).
  S *gates = nullptr, *hs = nullptr, *cs = nullptr, *aux = nullptr, *rs = nullptr;
  S *nx = nullptr, *rstd_x = nullptr, *nh = nullptr, *rstd_h = nullptr, *nc = nullptr,
    *rstd_c = nullptr;

  // backward (dy, dh_n, dc_n may be null: zero); gradients are overwritten
  const S *dy = nullptr, *dh_n = nullptr, *dc_n = nullptr;
  S *dx = nullptr, *dh0 = nullptr, *dc0 = nullptr;
  S *dw_ih = nullptr, *dw_hh = nullptr, *dw_hr = nullptr, *db_ih = nullptr, *db_hh = nullptr;
  S *dln_ih_w = nullptr, *dln_ih_b = nullptr, *dln_hh_w = nullptr, *dln_hh_b = nullptr;
  S *dln_c_w = nullptr, *dln_c_b = nullptr;
};

template <class S> void ext_forward(const ExtLayer<S>& a);
template <class S> void ext_backward(const ExtLayer<S>& a);

}  // namespace lstmx
