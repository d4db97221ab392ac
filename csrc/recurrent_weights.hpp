// W_hh repacked for the per-step recurrent product h_{t-1} · W_hhᵀ.
//
// Hidden units are cut into blocks of BS = 16. A thread owns a contiguous range of blocks and
// computes, at every step, the pre-activations of all G gates of its units (so it can apply
// the gate math to them with no further synchronisation). The packed rows are therefore
// grouped block by block: block k holds gate 0's 16 rows, then gate 1's, ..., each padded
// with zero rows past H. Output column (k·G + g)·BS + l is unit k·BS + l of gate g.
//
// Two packings of the same rows:
//  - row-major (rows × H) for the BLAS path (batch > kSmallBatch);
//  - panels, for the small-batch path, where a GEMV streams them with 16-wide FMAs (BLAS
//    GEMV/GEMM are slow at M = 1). A thread's groups are taken two at a time from its first
//    one and each pair is stored interleaved, (H, 2, 16): at every k the pair's 32 weights are
//    contiguous, so the product reads one sequential stream (which the L2 serves at its full
//    rate; separate panels read side by side reached about half of it). An odd last group is
//    stored alone, (H, 16).
#pragma once

#include <algorithm>
#include <type_traits>
#include <vector>

#include "blas.hpp"
#include "buffer.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace lstmx {

constexpr long BS = 16;          // hidden units per block
constexpr long kSmallBatch = 4;  // at most this many rows use the panel kernel

inline long num_blocks(long H) { return (H + BS - 1) / BS; }

template <class T>
class RecurrentWeights {
 public:
  // w_hh: (G·H, H) in PyTorch's layout. b_hh: G·H biases, of which the gates with
  // `bias_gate[g]` are added inside the step (null for none). The arrays must outlive this
  // object: packing happens later, in pack(), by the threads that will use each block.
  RecurrentWeights(int G, long H, long B, const T* w_hh, const T* b_hh, const bool* bias_gate)
      : G_(G), H_(H), nblk_(num_blocks(H)), panels_(B <= kSmallBatch), w_hh_(w_hh), b_hh_(b_hh),
        bias_gate_(bias_gate), rhs_(panels_ ? 0 : num_threads()) {
    const long rows = nblk_ * G_ * BS;
    w_.resize(rows * H_);
    if (b_hh) bias_.resize(rows);
  }

  // Packs blocks [k0, k1). Each thread packs the blocks it owns, so its slice of W_hh is
  // written (and left in cache) by the core that streams it at every step.
  void pack(long k0, long k1) {
    static_assert(BS == 16, "the panels are 16 rows wide (avx512::transpose16_rows)");
    const long g0 = k0 * G_, g1 = k1 * G_;
    for (long k = k0; k < k1; ++k) {
      const long rows = std::min(BS, H_ - k * BS);  // units of this block below H
      for (int g = 0; g < G_; ++g) {
        const long grp = k * G_ + g;
        const T* src = w_hh_ + (g * H_ + k * BS) * H_;  // the block's rows of gate g
        if (b_hh_)
          for (long l = 0; l < BS; ++l)
            bias_.get()[grp * BS + l] = (l < rows && bias_gate_[g]) ? b_hh_[g * H_ + k * BS + l] : T(0);
        if (!panels_) {
          T* dst = w_.get() + grp * BS * H_;
          std::copy(src, src + rows * H_, dst);
          std::fill(dst + rows * H_, dst + BS * H_, T(0));
          continue;
        }
        // panels: where row c of this group lies, and the step between rows
        const long first = g0 + ((grp - g0) & ~1L);  // the first group of its pair
        const bool paired = first + 1 < g1;
        T* dst = w_.get() + (paired ? first * H_ * BS + (grp - first) * BS : grp * H_ * BS);
        const long stride = paired ? 2 * BS : BS;
        if constexpr (std::is_same_v<T, float>) {
          if (avx512::enabled()) {  // 16 × 16 register transposes
            avx512::transpose16_rows(rows, H_, src, H_, dst, stride);
            continue;
          }
        }
        for (long c = 0; c < H_; ++c)
          for (long l = 0; l < BS; ++l) dst[c * stride + l] = l < rows ? src[l * H_ + c] : T(0);
      }
    }
    if (!panels_ && k1 > k0) {  // the calling thread's GEMM operand, packed once for all steps
      const long c0 = k0 * G_ * BS, ncols = (k1 - k0) * G_ * BS;
      rhs_[thread_index()].pack(true, H_, ncols, w_.get() + c0 * H_, H_);
    }
  }

  long blocks() const { return nblk_; }
  long out_cols() const { return nblk_ * G_ * BS; }  // leading dimension of the step output

  // out[b, (k·G + g)·BS + l] = (h[b] · W_hhᵀ)[g·H + k·BS + l] (+ bias) for blocks k0 ≤ k < k1.
  // Called by each thread for its own blocks, the ones it packed.
  void step(const T* h, long B, long k0, long k1, T* out) const {
    if (k1 <= k0) return;
    const long ld = out_cols();
    const long c0 = k0 * G_ * BS, ncols = (k1 - k0) * G_ * BS;
    if (panels_) {
      if constexpr (std::is_same_v<T, float>) {
        if (avx512::enabled()) {
          for (long b = 0; b < B; ++b)
            avx512::panel_gemv(H_, ncols / BS, w_.get() + c0 * H_, h + b * H_,
                               bias_.get() ? bias_.get() + c0 : nullptr, out + b * ld + c0);
          return;
        }
      }
      for (long b = 0; b < B; ++b) {
        for (long grp = k0 * G_; grp < k1 * G_; grp += 2) {
          const bool pair = grp + 1 < k1 * G_;
          panel_gemv(h + b * H_, grp, pair, out + b * ld + grp * BS);
        }
      }
      return;
    }
    T beta = T(0);
    if (bias_.get()) {
      for (long b = 0; b < B; ++b) std::copy(bias_.get() + c0, bias_.get() + c0 + ncols, out + b * ld + c0);
      beta = T(1);
    }
    rhs_[thread_index()].gemm(B, T(1), h, H_, beta, out + c0, ld);
  }

 private:
  // y[0:16] = W_grp · h (+ bias), and likewise y[16:32] for group grp+1 when `pair` (the
  // two stored interleaved; a lone group is stored (H, 16)).
  void panel_gemv(const T* h, long grp, bool pair, T* y) const;

  int G_;
  long H_, nblk_;
  bool panels_;
  const T* w_hh_;
  const T* b_hh_;
  const bool* bias_gate_;
  Buffer<T> w_, bias_;
  std::vector<PackedRhs<T>> rhs_;  // per thread: its columns of W_hhᵀ (GEMM path)
};

template <class T>
inline void RecurrentWeights<T>::panel_gemv(const T* h, long grp, bool pair, T* y) const {
  const long stride = pair ? 2 * BS : BS;
  for (long q = 0; q < (pair ? 2 : 1); ++q) {
    const T* P = w_.get() + grp * H_ * BS + q * BS;
    T acc[BS];
    for (long l = 0; l < BS; ++l) acc[l] = bias_.get() ? bias_.get()[(grp + q) * BS + l] : T(0);
    for (long c = 0; c < H_; ++c) {
      const T hc = h[c];
#pragma omp simd
      for (long l = 0; l < BS; ++l) acc[l] += P[c * stride + l] * hc;
    }
    std::copy(acc, acc + BS, y + q * BS);
  }
}

#if defined(__AVX2__) && defined(__FMA__)
// float: two panels at once, k unrolled by two: eight independent accumulators cover the
// FMA latency. Named registers, not an array (GCC spills arrays of __m256).
template <>
inline void RecurrentWeights<float>::panel_gemv(const float* h, long grp, bool pair, float* y) const {
  // Row c of the first group at P + c·stride, of the second at P + c·stride + BS; a lone
  // group is read twice (computed, never stored).
  const float* P = w_.get() + grp * H_ * BS;
  const long stride = pair ? 2 * BS : BS, q1 = pair ? BS : 0;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;  // even c
  __m256 e0 = a0, e1 = a0, e2 = a0, e3 = a0;                   // odd c
  long c = 0;
  for (; c + 1 < H_; c += 2) {
    const __m256 h0 = _mm256_broadcast_ss(h + c), h1 = _mm256_broadcast_ss(h + c + 1);
    const float* p = P + c * stride;
    const float* o = p + stride;
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p), h0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8), h0, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + q1), h0, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + q1 + 8), h0, a3);
    e0 = _mm256_fmadd_ps(_mm256_loadu_ps(o), h1, e0);
    e1 = _mm256_fmadd_ps(_mm256_loadu_ps(o + 8), h1, e1);
    e2 = _mm256_fmadd_ps(_mm256_loadu_ps(o + q1), h1, e2);
    e3 = _mm256_fmadd_ps(_mm256_loadu_ps(o + q1 + 8), h1, e3);
  }
  if (c < H_) {
    const __m256 h0 = _mm256_broadcast_ss(h + c);
    const float* p = P + c * stride;
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p), h0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8), h0, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + q1), h0, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + q1 + 8), h0, a3);
  }
  a0 = _mm256_add_ps(a0, e0);
  a1 = _mm256_add_ps(a1, e1);
  a2 = _mm256_add_ps(a2, e2);
  a3 = _mm256_add_ps(a3, e3);
  if (bias_.get()) {
    const float* b0 = bias_.get() + grp * BS;
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(b0));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(b0 + 8));
    if (pair) {
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(b0 + BS));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(b0 + BS + 8));
    }
  }
  _mm256_storeu_ps(y, a0);
  _mm256_storeu_ps(y + 8, a1);
  if (pair) {
    _mm256_storeu_ps(y + BS, a2);
    _mm256_storeu_ps(y + BS + 8, a3);
  }
}
#endif

}  // namespace lstmx
