// The time loops of the extended layers (extended_sequence.hpp).
//
// Threads own batch rows, not hidden units: layer normalisation needs every unit of a gate
// block at once, and rows are independent through time, so the time loop needs no barrier.
// Per step, a thread multiplies its rows of (m ⊙ h_{t-1}) by W_hhᵀ in one GEMM, normalises
// or biases them, applies the cell's pointwise math (src/cells/extended_cells.hpp) and, with
// a projection, multiplies its rows of r_t by W_hrᵀ. Backward mirrors it; the weight
// gradients are single GEMMs after the loop, as in engine.hpp.
#include "extended_sequence.hpp"

#include <algorithm>
#include <cstring>

#include "blas.hpp"
#include "buffer.hpp"
#include "engine.hpp"

namespace lstmx {
namespace {

bool live_at(const int64_t* lengths, long b, long t) { return !lengths || t < lengths[b]; }

}  // namespace

template <class S>
void ext_forward(const ExtLayer<S>& a) {
  const long T = a.T, B = a.B, H = a.H, R = a.R, G = a.G, GH = G * H, TB = T * B;
  const bool train = a.gates != nullptr, lstm = a.kind == CellKind::lstm, proj = a.w_hr;
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

  // ax = X · W_ihᵀ + b_ih, or LN(X · W_ihᵀ) per gate block, for all T·B rows at once
#pragma omp parallel num_threads(threads_for_region(2.0 * TB * GH * a.I, nt))
  {
    long r0, r1;
    split_range(TB, team_size(), thread_index(), r0, r1);
    for (long r = r0; r < r1; ++r) {
      if (a.b_ih) std::memcpy(gx + r * GH, a.b_ih, GH * sizeof(S));
      else std::fill_n(gx + r * GH, GH, S(0));
    }
    gemm(false, true, r1 - r0, GH, a.I, S(1), a.x + r0 * a.I, a.I, a.w_ih, a.I, S(1), gx + r0 * GH, GH);
    if (a.layer_norm)
      for (long r = r0; r < r1; ++r)
        for (long g = 0; g < G; ++g) {
          const S rs = layer_norm_forward(H, gx + r * GH + g * H, a.ln_ih_w + g * H, a.ln_ih_b + g * H,
                                          a.opt.eps, train ? a.nx + r * GH + g * H : nullptr);
          if (train) a.rstd_x[r * G + g] = rs;
        }
  }

  // per-thread scratch, allocated here (an allocation failure inside the parallel region
  // could not be reported): thread p uses rows [b0, b1) of each array
  const double loop_flops = 2.0 * TB * (GH * R + (proj ? H * R : 0));
  const int nrow = threads_for_region(loop_flops, int(std::min<long>(nt, B)));
  Buffer<S> gh_all(B * GH), hm_all(a.mask ? B * R : 0), r_all(lstm ? B * H : 0);
  if (lstm) r_all.zero(B * H);  // rows of finished sequences still go through W_hr
  // W_hh (and W_hr) packed once for all steps, shared read-only by the threads
  PackedRhs<S> whh, whr;
  whh.pack(true, R, GH, a.w_hh, R);
  if (proj) whr.pack(true, H, R, a.w_hr, H);
#pragma omp parallel num_threads(nrow)
  {
    long b0, b1;
    split_range(B, team_size(), thread_index(), b0, b1);
    const long nb = b1 - b0;
    S* gh = gh_all.get() + b0 * GH;
    S* hm = a.mask ? hm_all.get() + b0 * R : nullptr;
    S* rbuf = lstm ? r_all.get() + b0 * H : nullptr;
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
      whh.gemm(nb, S(1), src, R, S(1), gh, GH);

      for (long lb = 0; lb < nb; ++lb) {
        const long b = b0 + lb, row = t * B + b;
        if (!live_at(a.lengths, b, t)) continue;
        S* ah = gh + lb * GH;
        if (a.layer_norm)
          for (long g = 0; g < G; ++g) {
            const S rs = layer_norm_forward(H, ah + g * H, a.ln_hh_w + g * H, a.ln_hh_b + g * H,
                                            a.opt.eps, train ? a.nh + row * GH + g * H : nullptr);
            if (train) a.rstd_h[row * G + g] = rs;
          }
        S* ax = gx + row * GH;
        if (lstm) {
          S* r = rbuf + lb * H;
          ext_lstm_forward(H, a.opt, ax, ah, csl.at(t) + b * H, csl.at(t + 1) + b * H, a.ln_c_w,
                           a.ln_c_b, train && a.nc ? a.nc + row * H : nullptr,
                           train && a.rstd_c ? a.rstd_c + row : nullptr,
                           train ? a.aux + row * H : nullptr, r);
          if (!proj) std::memcpy(hn + lb * R, r, H * sizeof(S));
          else if (train) std::memcpy(a.rs + row * H, r, H * sizeof(S));
        } else if (a.kind == CellKind::gru) {
          ext_gru_forward(H, a.opt, ax, ah, hp + lb * R, hn + lb * R, train ? a.aux + row * H : nullptr);
        } else {
          ext_rnn_forward(H, a.opt, ax, ah, hn + lb * R);
        }
      }
      if (proj) whr.gemm(nb, S(1), rbuf, H, S(0), hn, R);  // h = W_hr r

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
void ext_backward(const ExtLayer<S>& a) {
  const long T = a.T, B = a.B, H = a.H, R = a.R, G = a.G, GH = G * H, TB = T * B;
  const bool lstm = a.kind == CellKind::lstm, gru = a.kind == CellKind::gru, proj = a.w_hr;
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

  Buffer<S> dht_all(nt * R), dr_all(nt * H), direct_all(B * R), tmp_all(B * R);
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
          ext_lstm_backward(H, a.opt, dr, dc + b * H, a.gates + row * GH, a.aux + row * H,
                            a.cs + row * H, a.ln_c_w, ln_c ? a.nc + row * H : nullptr,
                            ln_c ? a.rstd_c[row] : S(0), my + 4 * GH, my + 4 * GH + H, dxr);
          std::memcpy(dhr, dxr, GH * sizeof(S));
          std::fill_n(dir, R, S(0));
        } else if (gru) {
          ext_gru_backward(H, a.opt, dht, a.gates + row * GH, a.aux + row * H,
                           a.hs + row * R, dxr, dhr, dir);
        } else {
          ext_rnn_backward(H, a.opt, dht, a.gates + row * GH, dxr);
          std::memcpy(dhr, dxr, GH * sizeof(S));
          std::fill_n(dir, R, S(0));
        }
        if (ln)
          for (long g = 0; g < G; ++g) {
            const long o = g * H;
            for (long u = 0; u < H; ++u) {
              my[o + u] += dxr[o + u] * a.nx[row * GH + o + u];
              my[GH + o + u] += dxr[o + u];
              my[2 * GH + o + u] += dhr[o + u] * a.nh[row * GH + o + u];
              my[3 * GH + o + u] += dhr[o + u];
            }
            layer_norm_backward(H, dxr + o, a.nx + row * GH + o, a.rstd_x[row * G + g], a.ln_ih_w + o);
            layer_norm_backward(H, dhr + o, a.nh + row * GH + o, a.rstd_h[row * G + g], a.ln_hh_w + o);
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

  // the recurrent products saw m ⊙ h_{t-1}: rebuild it for ∂L/∂W_hh
  Buffer<S> hm(a.mask ? TB * R : 0);
  const S* hsrc = a.hs;
  if (a.mask) {
    for (long r = 0; r < TB; ++r)
      for (long j = 0; j < R; ++j) hm.get()[r * R + j] = a.hs[r * R + j] * a.mask[(r % B) * R + j];
    hsrc = hm.get();
  }
  const double gemm_flops = 2.0 * TB * (GH * (a.I + R + (a.dx ? a.I : 0)) + (proj ? R * H : 0));
#pragma omp parallel num_threads(threads_for_region(gemm_flops, num_threads()))
  {
    if (a.dx) gemm_rows_shared(false, false, TB, a.I, GH, S(1), dax.get(), GH, a.w_ih, a.I, S(0), a.dx, a.I);
    gemm_rows_shared(true, false, GH, a.I, TB, S(1), dax.get(), GH, a.x, a.I, S(0), a.dw_ih, a.I);
    gemm_rows_shared(true, false, GH, R, TB, S(1), dah.get(), GH, hsrc, R, S(0), a.dw_hh, R);
    if (proj) gemm_rows_shared(true, false, R, H, TB, S(1), dhs.get(), R, a.rs, H, S(0), a.dw_hr, H);
    if (a.db_ih || a.db_hh) {  // bias gradients: column sums, each thread owning columns
      long c0, c1;
      split_range(GH, team_size(), thread_index(), c0, c1);
      if (a.db_ih) std::fill(a.db_ih + c0, a.db_ih + c1, S(0));
      if (a.db_hh) std::fill(a.db_hh + c0, a.db_hh + c1, S(0));
      for (long r = 0; r < TB; ++r)
        for (long c = c0; c < c1; ++c) {
          if (a.db_ih) a.db_ih[c] += dax.get()[r * GH + c];
          if (a.db_hh) a.db_hh[c] += dah.get()[r * GH + c];
        }
    }
  }
}

template void ext_forward<float>(const ExtLayer<float>&);
template void ext_forward<double>(const ExtLayer<double>&);
template void ext_backward<float>(const ExtLayer<float>&);
template void ext_backward<double>(const ExtLayer<double>&);

}  // namespace lstmx
