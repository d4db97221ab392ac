// Additive attention scores (Bahdanau; Luong's "concat"), the elementwise part of one decoder
// step fused into one pass over the (B, S, A) keys. The projections W_q q and W_m m_j are
// matrix products done elsewhere (the keys once per batch, the query per step).
//
// forward   e[b, s, :] = tanh(keys[b, s, :] + qp[b, :])        (kept for backward when asked)
//           scores[b, s] = v · e[b, s, :]
// backward  given dscores (B, S):
//           dpre[b, s, :] = dscores[b, s] · v ⊙ (1 − e²)
//           dkeys[b, s, :] += dpre[b, s, :]
//           dqp[b, :] = Σ_s dpre[b, s, :]
//           dv += Σ_{b, s} dscores[b, s] · e[b, s, :]
// Rows b are split over threads (each owns its rows of every output), dv's columns in a
// second pass, so results do not depend on the team size. NumPy twin: lstmx.reference.attention.
#pragma once

#include <algorithm>

#include "buffer.hpp"
#include "cells/simd.hpp"
#include "parallel.hpp"

namespace lstmx {

// Operations per call, for the cost rule (parallel.hpp): a tanh and a few FMAs per element.
inline double additive_scores_flops(long B, long S, long A) { return 12.0 * B * S * A; }
inline double additive_scores_backward_flops(long B, long S, long A) { return 10.0 * B * S * A; }

// keys (B, S, A), qp (B, A), v (A,) -> scores (B, S); e (B, S, A) written when non-null.
template <class T>
void additive_scores(long B, long S, long A, const T* keys, const T* qp, const T* v, T* scores,
                     T* e) {
  const int nt = threads_for_region(additive_scores_flops(B, S, A), int(std::min<long>(num_threads(), B)));
  Buffer<T> rows(e ? 0 : nt * A);  // inference: one row of e per thread
#pragma omp parallel num_threads(nt)
  {
    long b0, b1;
    split_range(B, team_size(), thread_index(), b0, b1);
    for (long b = b0; b < b1; ++b)
      for (long s = 0; s < S; ++s) {
        const T* k = keys + (b * S + s) * A;
        T* er = e ? e + (b * S + s) * A : rows.get() + thread_index() * A;
        for_lanes<T>(int(A), [&](int j, auto ld) { store(er + j, tanh_(ld(k + j) + ld(qp + b * A + j))); });
        T sum = 0;
#pragma omp simd reduction(+ : sum)
        for (long j = 0; j < A; ++j) sum += v[j] * er[j];
        scores[b * S + s] = sum;
      }
  }
}

// dscores (B, S), e (B, S, A), v (A,) -> dqp (B, A) written; dkeys (B, S, A), dv (A,) added to.
template <class T>
void additive_scores_backward(long B, long S, long A, const T* dscores, const T* e, const T* v,
                              T* dqp, T* dkeys, T* dv) {
  const int nt = threads_for_region(additive_scores_backward_flops(B, S, A), num_threads());
#pragma omp parallel num_threads(nt)
  {
    long b0, b1;
    split_range(B, team_size(), thread_index(), b0, b1);
    for (long b = b0; b < b1; ++b) {
      T* dq = dqp + b * A;
      std::fill_n(dq, A, T(0));
      for (long s = 0; s < S; ++s) {
        const long r = (b * S + s) * A;
        const T ds = dscores[b * S + s];
#pragma omp simd
        for (long j = 0; j < A; ++j) {
          const T d = ds * v[j] * (T(1) - e[r + j] * e[r + j]);
          dkeys[r + j] += d;
          dq[j] += d;
        }
      }
    }
#pragma omp barrier
    long a0, a1;
    split_range(A, team_size(), thread_index(), a0, a1);
    for (long row = 0; row < B * S; ++row) {
      const T ds = dscores[row];
      const T* er = e + row * A;
#pragma omp simd
      for (long j = a0; j < a1; ++j) dv[j] += ds * er[j];
    }
  }
}

}  // namespace lstmx
