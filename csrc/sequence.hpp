// Whole-sequence forward and backward (BPTT) of one recurrent layer in one direction: LSTM,
// GRU and Elman RNN, with every option (activations, layer norm, recurrent dropout, LSTM
// projection), in one engine (engine.hpp) with two schedules:
//
//   units  threads own blocks of hidden units; one barrier per step. PyTorch's cells, other
//          activations and recurrent dropout run here.
//   rows   threads own batch rows, with no barrier in the time loop. Layer normalisation
//          (which needs every unit of a gate block at once) and the LSTM projection run here.
//
// The rule is `uses_row_schedule` below; forward and backward of one call take the same one.
//
// Layout is time-major and PyTorch's: x (T, B, I); H hidden units, R = P with a projection
// else H (the size of h); G = 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n), 1 (RNN). Parameters:
// w_ih (G·H, I), w_hh (G·H, R), w_hr (P, H) or null; without layer norm b_ih, b_hh (G·H) or
// null (no bias); with it ln_ih_w/b, ln_hh_w/b (G·H) and for LSTM ln_c_w/b (H). mask (B, R)
// or null: the recurrent-dropout mask (already scaled by 1/(1-p)), applied to h_{t-1} before
// W_hh at every step. Pointers are to C-contiguous arrays that the caller has validated and
// allocated; the kernels allocate only their own scratch, once per call, never inside the
// time loop.
#pragma once

#include <cstdint>

#include "cells/activations.hpp"

namespace lstmx {

namespace quant { struct Matrix; }  // quantized.hpp

enum class CellKind : int { lstm = 0, gru = 1, rnn = 2 };

template <class S>  // element type: float or double
struct Recurrent {
  CellKind kind = CellKind::lstm;
  long T = 0, B = 0, I = 0, H = 0, R = 0, G = 0;
  CellActs<S> acts;
  bool layer_norm = false;
  double eps = 1e-5;  // layer norm's
  const S *x = nullptr, *w_ih = nullptr, *w_hh = nullptr, *w_hr = nullptr;
  const S *b_ih = nullptr, *b_hh = nullptr;
  const S *ln_ih_w = nullptr, *ln_ih_b = nullptr, *ln_hh_w = nullptr, *ln_hh_b = nullptr;
  const S *ln_c_w = nullptr, *ln_c_b = nullptr;
  const S* mask = nullptr;
  const int64_t* lengths = nullptr;  // (B,) in [1, T]; null: every sequence has length T
  // Inference with reduced-precision weights (float32 only, forward only): the packed
  // matrices replace w_ih, w_hh and w_hr, which are then null (quantized.hpp).
  const quant::Matrix *q_ih = nullptr, *q_hh = nullptr, *q_hr = nullptr;

  // forward
  const S *h0 = nullptr, *c0 = nullptr;  // null: zeros
  S *y = nullptr, *h_n = nullptr, *c_n = nullptr;

  // Training workspace, null in inference (what each schedule fills: workspace_keys).
  // gates (T, B, G·H) activated gates; hs (T+1, B, R), cs (T+1, B, H) the states entering
  // each step and the last; aux (T, B, H): act(ĉ) (LSTM) or gh_n (GRU); rows schedule only:
  // rs (T, B, H) o ⊙ act(ĉ) before the projection; nx, nh (T, B, G·H) and rstd_x, rstd_h
  // (T, B, G) the layer-normalised pre-activations; nc (T, B, H), rstd_c (T, B).
  S *gates = nullptr, *hs = nullptr, *cs = nullptr, *aux = nullptr, *rs = nullptr;
  S *nx = nullptr, *rstd_x = nullptr, *nh = nullptr, *rstd_h = nullptr, *nc = nullptr,
    *rstd_c = nullptr;

  // backward (dy, dh_n, dc_n may be null: zero); gradients are overwritten; dx and the
  // gradients of absent parameters are null
  const S *dy = nullptr, *dh_n = nullptr, *dc_n = nullptr;
  S *dx = nullptr, *dh0 = nullptr, *dc0 = nullptr;
  S *dw_ih = nullptr, *dw_hh = nullptr, *dw_hr = nullptr, *db_ih = nullptr, *db_hh = nullptr;
  S *dln_ih_w = nullptr, *dln_ih_b = nullptr, *dln_hh_w = nullptr, *dln_hh_b = nullptr;
  S *dln_c_w = nullptr, *dln_c_b = nullptr;
};

// The schedule rule: layer norm and the projection need whole rows; everything else is
// split by hidden units.
inline bool uses_row_schedule(bool layer_norm, bool projection) { return layer_norm || projection; }

template <class S> void recurrent_forward(const Recurrent<S>& a);
template <class S> void recurrent_backward(const Recurrent<S>& a);

}  // namespace lstmx
