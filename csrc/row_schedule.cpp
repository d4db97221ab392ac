// The rows schedule of the recurrent engine (sequence.hpp), and the choice of schedule.
//
// Threads own batch rows, not hidden units: layer normalisation needs every unit of a gate
// block at once, and rows are independent through time, so the time loop needs no barrier.
// Per step, a thread multiplies its rows of (m ⊙ h_{t-1}) by W_hhᵀ in one GEMM, normalises
// or biases them, applies the cell's gate math (src/cells/, the same functions as the units
// schedule) and, with a projection, multiplies its rows of r_t by W_hrᵀ. Backward mirrors it;
// the weight gradients are engine.hpp's weight_gradients.
#include <algorithm>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

#include "blas.hpp"
#include "buffer.hpp"
#include "cells/gru_cell.hpp"
#include "cells/lstm_cell.hpp"
#include "engine.hpp"
#include "quantized.hpp"

namespace lstmx {

template <class T> void lstm_units_forward(const Recurrent<T>& a);
template <class T> void lstm_units_backward(const Recurrent<T>& a);
template <class T> void gru_units_forward(const Recurrent<T>& a);
template <class T> void gru_units_backward(const Recurrent<T>& a);
template <class T> void rnn_units_forward(const Recurrent<T>& a);
template <class T> void rnn_units_backward(const Recurrent<T>& a);

namespace {

bool live_at(const int64_t* lengths, long b, long t) { return !lengths || t < lengths[b]; }

// A product with a quantized matrix (quantized.hpp) on rows of an operand, with activation
// buffers of `rows` rows for each of `threads` threads, allocated before the parallel region.
template <class S>
class RowProducts {
 public:
  RowProducts(const quant::Matrix& w, long rows, int threads) : w_(w), rows_(threads) {
    for (auto& r : rows_) r.reserve(w, rows);
  }
  // y[m] (+)= x[m] · Wᵀ for rows [m0, m1) of x (x points at row m0, y at row 0 of the output)
  void product(const S* x, long ldx, long m0, long m1, S* y, long ldy, bool accumulate, int thread = 0) {
    if constexpr (std::is_same_v<S, float>) {
      quant::Rows& r = rows_[thread];
      r.fill(x, ldx, m0, m1);
      quant::product(w_, r, m0, m1, 0, w_.panels, y, ldy, w_.N, nullptr, accumulate);
    }
  }

 private:
  const quant::Matrix& w_;
  std::vector<quant::Rows> rows_;
};

// Row time loop forward (LSTM with layer norm and/or a projection, GRU with layer norm).
template <class S>
void rows_forward(const Recurrent<S>& a) {
  const long T = a.T, B = a.B, H = a.H, R = a.R, G = a.G, GH = G * H, TB = T * B;
  const bool train = a.gates != nullptr, lstm = a.kind == CellKind::lstm, proj = a.w_hr || a.q_hr;
  Buffer<S> own_gx;
  S* gx = a.gates;
  if (!train) {
    own_gx.resize(TB * GH);
    gx = own_gx.get();
  }
  StateSlots<S> hsl(a.hs, B, R), csl(a.cs, B, lstm ? H : 0);
  hsl.init(a.h0);
  if (lstm) csl.init(a.c0);
  const int nt = num_threads();
  // inference with quantized weights (float32): the three products on the packed matrices
  std::optional<RowProducts<S>> qx, qh, qr;
  if (a.q_ih) {
    qx.emplace(*a.q_ih, TB, 1);
    qh.emplace(*a.q_hh, B, nt);
    if (proj) qr.emplace(*a.q_hr, B, nt);
  }

  // ax = X · W_ihᵀ + b_ih, or LN(X · W_ihᵀ) per gate block, for all T·B rows at once
#pragma omp parallel num_threads(threads_for_region(2.0 * TB * GH * a.I, nt))
  {
    long r0, r1;
    split_range(TB, team_size(), thread_index(), r0, r1);
    for (long r = r0; r < r1; ++r) {
      if (a.b_ih) std::memcpy(gx + r * GH, a.b_ih, GH * sizeof(S));
      else std::fill_n(gx + r * GH, GH, S(0));
    }
    if (qx) qx->product(a.x + r0 * a.I, a.I, r0, r1, gx, GH, true);
    else gemm(false, true, r1 - r0, GH, a.I, S(1), a.x + r0 * a.I, a.I, a.w_ih, a.I, S(1), gx + r0 * GH, GH);
    if (a.layer_norm)
      for (long r = r0; r < r1; ++r)
        layer_norm_blocks_forward(G, H, gx + r * GH, a.ln_ih_w, a.ln_ih_b, a.eps,
                                  train ? a.nx + r * GH : nullptr, train ? a.rstd_x + r * G : nullptr);
  }

  // per-thread scratch, allocated here (an allocation failure inside the parallel region
  // could not be reported): thread p uses rows [b0, b1) of each array
  const double loop_flops = 2.0 * TB * (GH * R + (proj ? H * R : 0));
  const int nrow = threads_for_region(loop_flops, int(std::min<long>(nt, B)));
  Buffer<S> gh_all(B * GH), hm_all(a.mask ? B * R : 0), r_all(lstm ? B * H : 0), work_all(B * H);
  if (lstm) r_all.zero(B * H);  // rows of finished sequences still go through W_hr
  // W_hh (and W_hr) packed once for all steps, shared read-only by the threads
  PackedRhs<S> whh, whr;
  if (!qh) {
    whh.pack(true, R, GH, a.w_hh, R);
    if (proj) whr.pack(true, H, R, a.w_hr, H);
  }
#pragma omp parallel num_threads(nrow)
  {
    long b0, b1;
    split_range(B, team_size(), thread_index(), b0, b1);
    const long nb = b1 - b0;
    S* gh = gh_all.get() + b0 * GH;
    S* hm = a.mask ? hm_all.get() + b0 * R : nullptr;
    S* rbuf = lstm ? r_all.get() + b0 * H : nullptr;
    CellNorm<S> ln;
    ln.gamma = a.ln_c_w;
    ln.beta = a.ln_c_b;
    ln.eps = a.eps;
    ln.work = work_all.get() + b0 * H;
    for (long t = 0; t < T; ++t) {
      const S* hp = hsl.at(t) + b0 * R;
      S* hn = hsl.at(t + 1) + b0 * R;
      const S* src = hp;
      if (a.mask) {  // variational dropout: the same mask on h_{t-1} at every step
        for (long j = 0; j < nb * R; ++j) hm[j] = hp[j] * a.mask[b0 * R + j];
        src = hm;
      }
      for (long lb = 0; lb < nb; ++lb) {
        if (a.b_hh) std::memcpy(gh + lb * GH, a.b_hh, GH * sizeof(S));
        else std::fill_n(gh + lb * GH, GH, S(0));
      }
      if (qh) qh->product(src, R, 0, nb, gh, GH, true, thread_index());
      else whh.gemm(nb, S(1), src, R, S(1), gh, GH);

      for (long lb = 0; lb < nb; ++lb) {
        const long b = b0 + lb, row = t * B + b;
        if (!live_at(a.lengths, b, t)) continue;
        S* ah = gh + lb * GH;
        if (a.layer_norm)
          layer_norm_blocks_forward(G, H, ah, a.ln_hh_w, a.ln_hh_b, a.eps,
                                    train ? a.nh + row * GH : nullptr, train ? a.rstd_h + row * G : nullptr);
        S* ax = gx + row * GH;  // its pre-activations become the activated gates
        if (lstm) {
          S* r = rbuf + lb * H;
          ln.norm = train && a.nc ? a.nc + row * H : nullptr;
          ln.rstd = train && a.rstd_c ? a.rstd_c + row : nullptr;
          lstm_cell_forward(int(H), ax, H, ah, H, csl.at(t) + b * H, csl.at(t + 1) + b * H, r, ax, H,
                            train ? a.aux + row * H : nullptr, a.acts, a.ln_c_w ? &ln : nullptr);
          if (!proj) std::memcpy(hn + lb * R, r, H * sizeof(S));
          else if (train) std::memcpy(a.rs + row * H, r, H * sizeof(S));
        } else {
          gru_cell_forward(int(H), ax, H, ah, H, hp + lb * R, hn + lb * R, train ? ax : nullptr, H,
                           train ? a.aux + row * H : nullptr, a.acts);
        }
      }
      if (proj && qr) qr->product(rbuf, H, 0, nb, hn, R, false, thread_index());
      else if (proj) whr.gemm(nb, S(1), rbuf, H, S(0), hn, R);  // h = W_hr r

      for (long lb = 0; lb < nb; ++lb) {
        const long b = b0 + lb, row = t * B + b;
        if (live_at(a.lengths, b, t)) {
          std::memcpy(a.y + row * R, hn + lb * R, R * sizeof(S));
          continue;
        }
        // past the end: carry the state, zero output (and zero what backward would read)
        std::memcpy(hn + lb * R, hp + lb * R, R * sizeof(S));
        if (lstm) std::memcpy(csl.at(t + 1) + b * H, csl.at(t) + b * H, H * sizeof(S));
        std::fill_n(a.y + row * R, R, S(0));
        if (train && proj) std::fill_n(a.rs + row * H, H, S(0));
      }
    }
  }
  std::memcpy(a.h_n, hsl.at(T), B * R * sizeof(S));
  if (lstm) std::memcpy(a.c_n, csl.at(T), B * H * sizeof(S));
}

template <class S>
void rows_backward(const Recurrent<S>& a) {
  const long T = a.T, B = a.B, H = a.H, R = a.R, G = a.G, GH = G * H, TB = T * B;
  const bool lstm = a.kind == CellKind::lstm, proj = a.w_hr;
  const bool ln = a.layer_norm, ln_c = lstm && a.ln_c_w;
  Buffer<S> dax(TB * GH), dah(TB * GH), dhs(proj ? TB * R : 0);
  S* dh = a.dh0;  // the carries live in the outputs and end as ∂L/∂h_0, ∂L/∂c_0
  if (a.dh_n) std::memcpy(dh, a.dh_n, B * R * sizeof(S));
  else std::fill_n(dh, B * R, S(0));
  S* dc = a.dc0;
  if (lstm) {
    if (a.dc_n) std::memcpy(dc, a.dc_n, B * H * sizeof(S));
    else std::fill_n(dc, B * H, S(0));
  }

  // per-thread sums of the layer-norm parameter gradients: ih (w, b), hh (w, b), c (w, b)
  const double loop_flops = 2.0 * TB * (GH * R + (proj ? H * R : 0));
  const int nt = threads_for_region(loop_flops, int(std::min<long>(num_threads(), B)));
  const long nacc = 4 * GH + 2 * H;
  Buffer<S> acc(nt * nacc);
  acc.zero(nt * nacc);

  Buffer<S> dht_all(nt * R), dr_all(nt * H), work_all(nt * H), direct_all(B * R), tmp_all(B * R);
  PackedRhs<S> whh;  // W_hh (GH, R) as the right operand of dA_h · W_hh, packed once
  whh.pack(false, GH, R, a.w_hh, R);
#pragma omp parallel num_threads(nt)
  {
    long b0, b1;
    split_range(B, team_size(), thread_index(), b0, b1);
    const long nb = b1 - b0;
    S* my = acc.get() + thread_index() * nacc;
    S* dht = dht_all.get() + thread_index() * R;
    S* dr = dr_all.get() + thread_index() * H;
    S* direct = direct_all.get() + b0 * R;
    S* tmp = tmp_all.get() + b0 * R;
    CellNorm<S> cn;
    cn.gamma = a.ln_c_w;
    cn.eps = a.eps;
    cn.dgamma = my + 4 * GH;
    cn.dbeta = my + 4 * GH + H;
    cn.work = work_all.get() + thread_index() * H;
    for (long t = T - 1; t >= 0; --t) {
      for (long lb = 0; lb < nb; ++lb) {
        const long b = b0 + lb, row = t * B + b;
        S* dxr = dax.get() + row * GH;
        S* dhr = dah.get() + row * GH;
        S* dir = direct + lb * R;
        if (!live_at(a.lengths, b, t)) {  // gradients of the carried state pass through
          std::fill_n(dxr, GH, S(0));
          std::fill_n(dhr, GH, S(0));
          std::memcpy(dir, dh + b * R, R * sizeof(S));
          if (proj) std::fill_n(dhs.get() + row * R, R, S(0));
          continue;
        }
        for (long j = 0; j < R; ++j) dht[j] = dh[b * R + j] + (a.dy ? a.dy[row * R + j] : S(0));
        if (lstm) {
          if (proj) {  // h = W_hr r:  ∂L/∂r = W_hrᵀ ∂L/∂h
            std::memcpy(dhs.get() + row * R, dht, R * sizeof(S));
            gemv(true, R, H, S(1), a.w_hr, H, dht, S(0), dr);
          } else {
            std::memcpy(dr, dht, H * sizeof(S));
          }
          if (ln_c) {
            cn.norm = a.nc + row * H;
            cn.rstd = a.rstd_c + row;
          }
          lstm_cell_backward(int(H), dr, dc + b * H, a.cs + row * H, a.gates + row * GH, H,
                             a.aux + row * H, dxr, H, dc + b * H, a.acts, ln_c ? &cn : nullptr);
          std::memcpy(dhr, dxr, GH * sizeof(S));
          std::fill_n(dir, R, S(0));
        } else {
          gru_cell_backward(int(H), dht, a.hs + row * R, a.gates + row * GH, H, a.aux + row * H,
                            dxr, H, dhr, H, dir, a.acts);
        }
        if (ln) {
          layer_norm_blocks_backward(G, H, dxr, a.nx + row * GH, a.rstd_x + row * G, a.ln_ih_w, my, my + GH);
          layer_norm_blocks_backward(G, H, dhr, a.nh + row * GH, a.rstd_h + row * G, a.ln_hh_w,
                                     my + 2 * GH, my + 3 * GH);
        }
      }
      // ∂L/∂h_{t-1} = direct + m ⊙ (∂L/∂(W_hh hm) · W_hh)
      whh.gemm(nb, S(1), dah.get() + (t * B + b0) * GH, GH, S(0), tmp, R);
      for (long j = 0; j < nb * R; ++j)
        dh[b0 * R + j] = direct[j] + tmp[j] * (a.mask ? a.mask[b0 * R + j] : S(1));
    }
  }

  if (ln) {
    std::fill_n(a.dln_ih_w, GH, S(0)); std::fill_n(a.dln_ih_b, GH, S(0));
    std::fill_n(a.dln_hh_w, GH, S(0)); std::fill_n(a.dln_hh_b, GH, S(0));
    if (ln_c) { std::fill_n(a.dln_c_w, H, S(0)); std::fill_n(a.dln_c_b, H, S(0)); }
    for (int p = 0; p < nt; ++p) {
      const S* s = acc.get() + p * nacc;
      for (long j = 0; j < GH; ++j) {
        a.dln_ih_w[j] += s[j]; a.dln_ih_b[j] += s[GH + j];
        a.dln_hh_w[j] += s[2 * GH + j]; a.dln_hh_b[j] += s[3 * GH + j];
      }
      if (ln_c)
        for (long u = 0; u < H; ++u) { a.dln_c_w[u] += s[4 * GH + u]; a.dln_c_b[u] += s[4 * GH + H + u]; }
    }
  }
  weight_gradients(a, dax.get(), dah.get(), dhs.get());
}

}  // namespace

template <class S>
void recurrent_forward(const Recurrent<S>& a) {
  if (uses_row_schedule(a.layer_norm, a.w_hr != nullptr || a.q_hr != nullptr)) return rows_forward(a);
  if (a.kind == CellKind::lstm) lstm_units_forward(a);
  else if (a.kind == CellKind::gru) gru_units_forward(a);
  else rnn_units_forward(a);
}

template <class S>
void recurrent_backward(const Recurrent<S>& a) {
  if (uses_row_schedule(a.layer_norm, a.w_hr != nullptr)) return rows_backward(a);
  if (a.kind == CellKind::lstm) lstm_units_backward(a);
  else if (a.kind == CellKind::gru) gru_units_backward(a);
  else rnn_units_backward(a);
}

template void recurrent_forward<float>(const Recurrent<float>&);
template void recurrent_forward<double>(const Recurrent<double>&);
template void recurrent_backward<float>(const Recurrent<float>&);
template void recurrent_backward<double>(const Recurrent<double>&);

}  // namespace lstmx
