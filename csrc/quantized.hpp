// Reduced-precision matrix products for inference: int8 weights with per-output-row scales
// (activations quantized per row at every product: dynamic quantization), and bfloat16
// weights and activations with float32 accumulation. The NumPy twin, with the same
// arithmetic written out, is python/lstmx/reference/quantized.py.
//
// int8, one row v (a weight row, or one row of the activations at each product):
//   amax = max|v|;  q = rint(v · (127 / amax)) in [-127, 127];  scale = amax / 127.
//   Every step is one float32 operation rounded to nearest even, so every path (and NumPy)
//   quantizes to the same integers. A row with amax = 0, or so small that 127 / amax
//   overflows (amax < 3.7e-37), is a zero row: q = 0, scale = 0. A row holding a NaN or an
//   infinity has q = 0 and scale = NaN, so its products are NaN, as in float32.
//   y[m, n] = float(Σ_k xq[m, k] · wq[n, k]) · (xs[m] · ws[n]), or with a bias
//   fma(float(Σ ...), xs[m] · ws[n], bias[n]). The integer sum is exact on every path.
// bfloat16: v rounded to nearest even, subnormals flushed to zero (as the instructions treat
//   them; also in packed weights). y[m, n] = acc + bias[n], where acc runs over k in pairs,
//   k+1 then k, acc = fma(x[k], w[k], acc) with one rounding per step and a subnormal acc
//   flushed to zero: AVX-512 BF16's vdpbf16ps.
//
// The packed layout is the same on every path: the output columns in panels of 16; per
// panel, K (padded with zeros to a multiple of 64 for int8, of 2 for bfloat16) in groups of
// 4 (int8) or 2 (bfloat16) inputs, each group 64 bytes, (16 columns, group). The kernels for
// AVX-512 VNNI (vpdpbusd: unsigned × signed bytes, so activations are stored as q + 128 and
// 128 · Σ_k wq[n, k] is taken off), AMX tiles (the same bytes) and AVX-512 BF16 (vdpbf16ps)
// live in quantized_avx512.cpp; the portable loops in quantized.cpp give the same bits.
//
// Column orders: `plain` (column n is weight row n: linear layers, the input product), or
// `units` for a recurrent W_hh of G gate blocks of H rows, in RecurrentWeights' order:
// panel k·G + g holds units k·16 .. k·16+15 of gate g (zero past H), so a thread owning
// hidden blocks [k0, k1) owns panels [k0·G, k1·G).
#pragma once

#include <cstdint>
#include <vector>

#include "buffer.hpp"

namespace lstmx {
namespace quant {

enum class Kind : int { int8 = 0, bf16 = 1 };

constexpr long kPanel = 16;

// Inputs per 64-byte group of a panel.
inline long group_size(Kind k) { return k == Kind::int8 ? 4 : 2; }

// An immutable packed weight matrix (N, K).
struct Matrix {
  Kind kind = Kind::int8;
  long N = 0, K = 0, Kp = 0;  // Kp: K padded (int8: to whole 64-input AMX steps)
  int gates = 0;              // 0: plain order; G: a recurrent W_hh of G gate blocks
  long panels = 0;
  std::vector<long> row;      // weight row of each packed column (panels·16), -1: padding
  std::vector<float> scale;   // int8: per packed column (0 for padding)
  std::vector<int32_t> comp;  // int8: 128 · Σ_k wq per packed column
  Buffer<uint8_t> data;       // panels · Kp · 16 · (1 or 2) bytes
  long panel_bytes() const { return Kp * kPanel * (kind == Kind::int8 ? 1 : 2); }
  const uint8_t* panel(long p) const { return data.get() + p * panel_bytes(); }
  long bytes() const { return panels * panel_bytes(); }
};

// Packs int8 weights `w` (N, K) with per-row `scale` (N,), or bfloat16 bit patterns `w16`
// (N, K). gates > 0: units order (N = gates · H).
void pack_int8(Matrix& m, const int8_t* w, const float* scale, long N, long K, int gates);
void pack_bf16(Matrix& m, const uint16_t* w, long N, long K, int gates);

// Activations of one product, quantized row by row for a matrix's kind: int8 as q + 128
// (bytes) with a scale per row, bfloat16 as bit patterns; padded to Kp with zeros (int8: 128).
struct Rows {
  Kind kind = Kind::int8;
  long M = 0, Kp = 0, ld = 0, bytes = 0;  // ld: bytes per row; bytes: allocated
  Buffer<uint8_t> q;
  Buffer<float> scale;
  void reserve(const Matrix& w, long M);                  // room for M rows
  // quantizes rows [m0, m1) into rows m0.. of this buffer; x (K wide) points at row m0
  void fill(const float* x, long ldx, long m0, long m1);
  long K = 0;
};

// y[m, c] (= or +=) product of rows [m0, m1) with packed columns of panels [p0, p1):
// column c = p·16 + l of the packed order, written where c < ncols (the output's width).
// bias: per packed column, or null.
void product(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
             long ncols, const float* bias, bool accumulate);

// y (M, N) = x (M, K) · Wᵀ (+ bias (N,)) in plain order on up to `threads` OpenMP threads
// (by the cost rule): the rows quantized once, split by rows, then the product split by
// column panels.
void team_product(const Matrix& w, const float* x, long M, float* y, const float* bias, int threads);

// The path in use for a kind: "amx-int8" (AMX tiles for rows in blocks of 16, VNNI for the
// rest), "avx512-vnni", "avx512-bf16" or "portable".
const char* path_name(Kind k);
// "auto" (the CPU's best), "avx512" (AVX-512 VNNI/BF16 without AMX) or "portable"; returns
// the previous choice. The environment variable LSTMX_QUANTIZED sets the first one. Not for
// use while a product runs.
const char* set_path(const char* choice);

}  // namespace quant
}  // namespace lstmx
