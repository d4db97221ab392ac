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

class FusedInput;

template <class T>
class RecurrentWeights {
 public:
  // w_hh: (G·H, H) in PyTorch's layout. b_hh: G·H biases, of which the gates with
  // `bias_gate[g]` are added inside the step (null for none). The arrays must outlive this
  // object: packing happens later, in pack(), by the threads that will use each block.
  //
  // own_first (panels only): each thread's panels are stored in two parts, the rows of h
  // that are its own units first, then the others (see step_fused).
  RecurrentWeights(int G, long H, long B, const T* w_hh, const T* b_hh, const bool* bias_gate,
                   bool own_first = false)
      : G_(G), H_(H), nblk_(num_blocks(H)), panels_(B <= kSmallBatch), own_first_(own_first && panels_),
        w_hh_(w_hh), b_hh_(b_hh), bias_gate_(bias_gate), rhs_(panels_ ? 0 : num_threads()) {
    const long rows = nblk_ * G_ * BS;
    // The batch-1 fused step streams these from L2 at every step: kept 2 MiB pages (scratch.hpp)
    if (own_first_) w_.use_scratch(Scratch::kPackedRecurrent, rows * H_);
    else w_.resize(rows * H_);
    if (b_hh) bias_.resize(rows);
    if (own_first_) finite_.assign(nblk_, 0);
  }

  // Packs blocks [k0, k1). Each thread packs the blocks it owns, so its slice of W_hh is
  // written (and left in cache) by the core that streams it at every step.
  void pack(long k0, long k1) {
    static_assert(BS == 16, "the panels are 16 rows wide (avx512::transpose16_rows)");
    const long g0 = k0 * G_, g1 = k1 * G_;
    // panels: the parts of the rows of h, each (c0, c1) ranges of it in order
    long ua = 0, ub = H_;
    if (own_first_) own_units(k0, k1, ua, ub);
    const long part_cols[2][2][2] = {{{ua, ub}, {0, 0}}, {{0, ua}, {ub, H_}}};
    for (long k = k0; k < k1; ++k) {
      const long rows = std::min(BS, H_ - k * BS);  // units of this block below H
      bool finite = true;  // every weight of the block's rows (own_first only)
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
        const long stride = paired ? 2 * BS : BS;
        T* part = w_.get() + g0 * H_ * BS;
        for (int q = 0; q < 2; ++q) {
          const long n = part_rows(q, ua, ub);  // rows of this part
          T* dst = part + (paired ? (first - g0) * n * BS + (grp - first) * BS : (grp - g0) * n * BS);
          part += (g1 - g0) * n * BS;
          for (const auto& cols : part_cols[q]) {
            const long c0 = cols[0], nc = cols[1] - cols[0];
            if (nc <= 0) continue;
            bool done = false;
            if constexpr (std::is_same_v<T, float>) {
              if (avx512::enabled()) {  // 16 × 16 register transposes
                if (own_first_)
                  finite &= avx512::transpose16_rows_finite(rows, nc, src + c0, H_, dst, stride);
                else
                  avx512::transpose16_rows(rows, nc, src + c0, H_, dst, stride);
                done = true;
              }
            }
            if (!done) {
              finite = false;  // not probed: step 0's product is never skipped
              for (long c = 0; c < nc; ++c)
                for (long l = 0; l < BS; ++l) dst[c * stride + l] = l < rows ? src[l * H_ + c0 + c] : T(0);
            }
            dst += nc * stride;
          }
        }
      }
      if (own_first_) finite_[k] = finite;  // this thread's own block: no other writer
    }
    if (!panels_ && k1 > k0) {  // the calling thread's GEMM operand, packed once for all steps
      const long c0 = k0 * G_ * BS, ncols = (k1 - k0) * G_ * BS;
      rhs_[thread_index()].pack(true, H_, ncols, w_.get() + c0 * H_, H_);
    }
  }

  // The rows of h that are the units of blocks [k0, k1).
  void own_units(long k0, long k1, long& ua, long& ub) const {
    ua = std::min(H_, k0 * BS);
    ub = std::min(H_, k1 * BS);
  }
  // Rows in part q (0 or 1) of a thread's panels: all of them, or with own_first, its own
  // units' (q = 0) and the others' (q = 1).
  long part_rows(int q, long ua, long ub) const {
    if (!own_first_) return q == 0 ? H_ : 0;
    return q == 0 ? ub - ua : H_ - (ub - ua);
  }

  long blocks() const { return nblk_; }
  long out_cols() const { return nblk_ * G_ * BS; }  // leading dimension of the step output

  // out[b, (k·G + g)·BS + l] = (h[b] · W_hhᵀ)[g·H + k·BS + l] (+ bias) for blocks k0 ≤ k < k1.
  // Called by each thread for its own blocks, the ones it packed.
  // step() for batch 1 with the input product of `in` folded in (float32, AVX-512, panels),
  // over part `part` of the rows of h (part_rows): y = bias + that part of the product, or
  // y += it when `add`.
  void step_fused(const float* h, long k0, long k1, float* out, FusedInput& in, long t, int part,
                  bool add) const;
  // Whether h · W_hhᵀ is zero for blocks [k0, k1): h all zeros (either sign) and every weight
  // of the blocks' rows finite (0 · Inf is NaN, which the product must carry). Known from the
  // packing, which reads every weight: with own_first only, after pack(k0, k1).
  bool product_is_zero(const float* h, long k0, long k1) const {
    if (!own_first_ || !std::all_of(h, h + H_, [](float v) { return v == 0.0f; })) return false;
    return std::all_of(finite_.begin() + k0, finite_.begin() + k1, [](char f) { return f != 0; });
  }
  // step_fused() over all of h where product_is_zero(): out = bias + 0 (bit for bit the sum
  // the product would give, which starts from +0), and the step's share of the input product.
  void step_fused_zero(long k0, long k1, float* out, FusedInput& in, long t) const;

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
  bool panels_, own_first_;
  const T* w_hh_;
  const T* b_hh_;
  const bool* bias_gate_;
  Buffer<T> w_, bias_;
  std::vector<char> finite_;       // own_first: per block, whether its rows of W_hh are finite
  std::vector<PackedRhs<T>> rhs_;  // per thread: its columns of W_hhᵀ (GEMM path)
};

// Batch 1, float32, AVX-512: the input product x · W_ihᵀ done inside the recurrent step
// (avx512::fused_step) instead of as one GEMM before the time loop. A thread computes the
// input pre-activations of its own units only, the ones its gate math reads, so this needs
// no synchronisation beyond the step's barrier.
//
// Time is cut into chunks of R = kFusedRows steps. The rows of chunk 0 are computed before
// the loop; during the R steps of chunk c, each step computes 1/R of chunk c + 1's rows.
// W_ih's rows of the thread's groups are packed as the recurrent panels are, in pairs, (I,
// 2, 16), a lone last group paired with zeros.
class FusedInput {
 public:
  static constexpr long R = avx512::kFusedRows;

  // Blocks [k0, k1) of a G-gate cell with hidden size H; w_ih (G·H, I); x (T, I); gx
  // (T, G·H) receives the products (+ bias (G·H) when not null).
  FusedInput(int G, long H, long I, long T, const float* w_ih, const float* x, float* gx,
             const float* bias, long k0, long k1)
      : T_(T), x_(x), gx_(gx), GH_(G * H) {
    const long groups = (k1 - k0) * G, pairs = (groups + 1) / 2;
    panels_.use_scratch(Scratch::kInputPanels, pairs * I * 32);  // see scratch.hpp
    col_.assign(2 * pairs, 0);
    ncols_.assign(2 * pairs, 0);
    for (long j = 0; j < 2 * pairs; ++j) {
      float* dst = panels_.get() + (j / 2) * I * 32 + (j % 2) * 16;
      long rows = 0;
      const float* src = w_ih;
      if (j < groups) {
        const long k = k0 + j / G, g = j % G;
        rows = std::min(BS, H - k * BS);
        src = w_ih + (g * H + k * BS) * I;
        col_[j] = g * H + k * BS;
        ncols_[j] = int(rows);
      }
      avx512::transpose16_rows(rows, I, src, I, dst, 32);  // rows = 0: zeros
    }
    stash_.resize(R * 32);
    pad_.resize(R * I);
    others_.resize(H);
    in_ = {I, pairs, panels_.get(), col_.data(), ncols_.data(), bias, x, I, gx, GH_, 0, stash_.get()};
  }

  // Chunk 0's rows, outright.
  void start() {
    aim(0);
    avx512::fused_step(0, false, 0, nullptr, nullptr, nullptr, nullptr, in_, 0, in_.iterations());
  }

  // The recurrent product of step t over n of the H rows of h (avx512::fused_step), with
  // step t's share of the next chunk. A step may be done in several calls over disjoint
  // rows; its share of the input product is spread over them in proportion to their rows.
  void step(long t, long n, bool add, long H, long ng, const float* panels, const float* h,
            const float* bias, float* y) {
    const long i = t % R, next = t - i + R, W = in_.iterations();
    long lo = 0, hi = 0;
    if (next < T_) {
      lo = i * W / R;
      hi = (i + 1) * W / R;
    }
    if (t != t_) {  // the step's first call
      t_ = t;
      covered_ = 0;
      cursor_ = lo;
      if (i == 0 && next < T_) aim(next);
    }
    covered_ += n;
    const long end = covered_ >= H ? hi : lo + (hi - lo) * covered_ / H;
    avx512::fused_step(n, add, ng, panels, h, bias, y, in_, cursor_, end);
    cursor_ = end;
  }

  // h[0 : ua] and h[ub : H], contiguous. Copied even when one of them is empty: the copy
  // fetches the other threads' freshly written lines all at once, while broadcasting from
  // them inside the product stalls on each (measured 6 % slower at lat-b1 with 2 threads).
  const float* others(const float* h, long ua, long ub, long H) {
    std::copy(h, h + ua, others_.get());
    std::copy(h + ub, h + H, others_.get() + ua);
    return others_.get();
  }

 private:
  // Point the product at rows [t0, t0 + R) (a zero-padded copy where fewer are left).
  void aim(long t0) {
    const long rows = std::min(R, T_ - t0), I = in_.K;
    const float* x = x_ + t0 * I;
    if (rows < R) {
      std::copy(x, x + rows * I, pad_.get());
      std::fill(pad_.get() + rows * I, pad_.get() + R * I, 0.0f);
      x = pad_.get();
    }
    in_.x = x;
    in_.out = gx_ + t0 * GH_;
    in_.rows = int(rows);
  }

  long T_;
  const float* x_;
  float* gx_;
  long GH_;
  Buffer<float> panels_, stash_, pad_, others_;
  std::vector<long> col_;
  std::vector<int> ncols_;
  avx512::InputProduct in_{};
  long t_ = -1, covered_ = 0, cursor_ = 0;  // the step in progress: c-rows done, next iteration
};

template <class T>
inline void RecurrentWeights<T>::step_fused(const float* h, long k0, long k1, float* out,
                                            FusedInput& in, long t, int part, bool add) const {
  if constexpr (std::is_same_v<T, float>) {
    long ua = 0, ub = H_;
    if (own_first_) own_units(k0, k1, ua, ub);
    const long ng = (k1 - k0) * G_, c = k0 * G_ * BS, n = part_rows(part, ua, ub);
    const float* panels = w_.get() + c * H_ + (part == 0 ? 0 : ng * part_rows(0, ua, ub) * BS);
    const float* hp = part == 0 ? h + ua : in.others(h, ua, ub, H_);
    in.step(t, n, add, H_, ng, panels, hp, bias_.get() ? bias_.get() + c : nullptr, out + c);
  }
}

template <class T>
inline void RecurrentWeights<T>::step_fused_zero(long k0, long k1, float* out, FusedInput& in,
                                                 long t) const {
  if constexpr (std::is_same_v<T, float>) {
    const long c = k0 * G_ * BS, n = (k1 - k0) * G_ * BS;
    for (long j = 0; j < n; ++j) out[c + j] = (bias_.get() ? bias_.get()[c + j] : 0.0f) + 0.0f;
    in.step(t, H_, false, H_, 0, nullptr, nullptr, nullptr, nullptr);
  }
}

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
