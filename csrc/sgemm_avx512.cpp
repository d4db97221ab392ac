// The AVX-512 float32 GEMM of sgemm_avx512.hpp.
//
// Only the functions marked LSTMX_AVX512 contain AVX-512 instructions; the translation unit
// itself is compiled for the baseline, so nothing shared with other files (inline functions
// of headers, template instances) can carry AVX-512 code onto a CPU without it.
#include "sgemm_avx512.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "buffer.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LSTMX_HAVE_AVX512_GEMM 1
#include <immintrin.h>
#define LSTMX_AVX512 __attribute__((target("avx512f,avx2,fma")))
#endif

namespace lstmx {
namespace avx512 {

bool enabled() {
#ifdef LSTMX_HAVE_AVX512_GEMM
  static const bool on = [] {
    const char* choice = std::getenv("LSTMX_GEMM");
    if (choice && std::strcmp(choice, "blas") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;  // CPUID and the OS's zmm state
  }();
  return on;
#else
  return false;
#endif
}

#ifdef LSTMX_HAVE_AVX512_GEMM
namespace {

// Tile and blocks, tuned on the development VM (12 × 32 measured level with 8 × 32, 8 × 48
// and 14 × 32; KC 256-384, MC 144-288 and NC 256-1024 within the noise).
constexpr int MR = 12;      // rows of the register tile (broadcasts of op(A)); at most 16
constexpr int NV = 2;       // zmm vectors per tile row
constexpr long NR = 16 * NV;  // columns of the register tile
constexpr long KC = 256;    // K-block: one tile's 12 rows of op(A) are 12 KiB, in L1
constexpr long MC = 288;    // rows of op(A) (and C) per block
constexpr long NC = 512;    // columns per sweep: a 512 KiB block of packed op(B), in L2

inline long round_up(long x, long m) { return (x + m - 1) / m * m; }

struct Scratch {
  Buffer<float> buf;
  long cap = 0;
  float* get(long n) {
    if (n > cap) {
      buf.resize(n);
      cap = n;
    }
    return buf.get();
  }
};
thread_local Scratch b_scratch;

// Columns [16v, 16v + 16) of a tile row that lie below n.
LSTMX_AVX512 inline __mmask16 col_mask(long n, int v) {
  const long left = n - 16 * v;
  return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}

// C[0:R, 0:n] = alpha · A · Bp + beta · C over one K-block of length kc (beta = 0: C is not
// read). Element (r, k) of A is a[r·s + k] when RowsA (op(A) = A, row-major, read where it
// lies) and a[k·s + r] otherwise (op(A) = Aᵀ; macro_kernel passes a k-major copy). Its R
// rows × kc (at most 12 KiB) stay in L1 while the tile sweeps the panels of op(B).
// Bp: kc × NR, 64-byte aligned.
template <int R, bool RowsA>
LSTMX_AVX512 void tile(long kc, const float* __restrict a, long s, const float* __restrict bp,
                       float* c, long ldc, long n, float alpha, float beta) {
  __m512 acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (long k = 0; k < kc; ++k) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      b[v] = _mm512_load_ps(bp + k * NR + 16 * v);
      // op(B) streams from L2: ask for the panel 16 rows ahead (a small, measured gain)
      _mm_prefetch(reinterpret_cast<const char*>(bp + (k + 16) * NR + 16 * v), _MM_HINT_T0);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(RowsA ? a[r * s + k] : a[k * s + r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, b[v], acc[r][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* out = c + r * ldc + 16 * v;
      const __mmask16 m = col_mask(n, v);
      __m512 x = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, out), x);
      _mm512_mask_storeu_ps(out, m, x);
    }
  }
}

using TileFn = void (*)(long, const float*, long, const float*, float*, long, long, float, float);
template <bool RowsA, int... R>
constexpr std::array<TileFn, sizeof...(R) + 1> tile_table(std::integer_sequence<int, R...>) {
  return {nullptr, &tile<R + 1, RowsA>...};
}
// kTiles[RowsA][rows]
const std::array<TileFn, MR + 1> kTiles[2] = {
    tile_table<false>(std::make_integer_sequence<int, MR>{}),
    tile_table<true>(std::make_integer_sequence<int, MR>{})};

// Rows for the next tile when `left` rows remain: as few tiles as MR allows, as even as can
// be (64 rows: 11, 11, 11, 11, 10, 10, not 12, 12, 12, 12, 12, 4).
inline long tile_rows(long left) {
  const long tiles = (left + MR - 1) / MR;
  return (left + tiles - 1) / tiles;
}

// r[i][j] becomes r[j][i]: 32-bit, then 64-bit interleaves within 128-bit lanes, then two
// rounds of lane shuffles.
LSTMX_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16], q[16];
  for (int m = 0; m < 8; ++m) {  // t[2m], t[2m+1]: rows 2m and 2m+1 interleaved
    t[2 * m] = _mm512_unpacklo_ps(r[2 * m], r[2 * m + 1]);
    t[2 * m + 1] = _mm512_unpackhi_ps(r[2 * m], r[2 * m + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // q[4g + c], lane L: column 4L + c of rows 4g .. 4g+3
    q[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    q[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    q[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    q[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {  // column 4L + c gathers lane L of q[c], q[4+c], q[8+c], q[12+c]
    const __m512 x0 = _mm512_shuffle_f32x4(q[c], q[4 + c], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 x1 = _mm512_shuffle_f32x4(q[c], q[4 + c], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 y0 = _mm512_shuffle_f32x4(q[8 + c], q[12 + c], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 y1 = _mm512_shuffle_f32x4(q[8 + c], q[12 + c], _MM_SHUFFLE(3, 1, 3, 1));
    r[c] = _mm512_shuffle_f32x4(x0, y0, _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + c] = _mm512_shuffle_f32x4(x0, y0, _MM_SHUFFLE(3, 1, 3, 1));
    r[4 + c] = _mm512_shuffle_f32x4(x1, y1, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + c] = _mm512_shuffle_f32x4(x1, y1, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// transpose16_rows (sgemm_avx512.hpp), for the packing below as well. With kProbe, also
// whether every value read is finite: v · 0 is NaN for an Inf or a NaN and ±0 otherwise, and
// a sum of such products is NaN if any one is. Summed as a tree per 16 × 16 block, so that
// the running probe's dependency chain gains one addition per block, not one per row.
template <bool kProbe>
LSTMX_AVX512 bool transpose_rows(long rows, long n, const float* src, long lds, float* dst, long ldd) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 probe = zero;
  for (long c = 0; c < n; c += 16) {
    const long cn = std::min(16L, n - c);
    const __mmask16 m = col_mask(cn, 0);
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * lds + c) : zero;
    if constexpr (kProbe) {
      __m512 s[8];
      for (int i = 0; i < 8; ++i) s[i] = _mm512_fmadd_ps(r[2 * i + 1], zero, _mm512_mul_ps(r[2 * i], zero));
      for (int w = 4; w >= 1; w /= 2)
        for (int i = 0; i < w; ++i) s[i] = _mm512_add_ps(s[i], s[i + w]);
      probe = _mm512_add_ps(probe, s[0]);
    }
    transpose16(r);
    for (long j = 0; j < cn; ++j) _mm512_storeu_ps(dst + (c + j) * ldd, r[j]);
  }
  return _mm512_cmp_ps_mask(probe, probe, _CMP_UNORD_Q) == 0;
}

// op(B)[p0 : p0+kc, j0 : j0+nc] as ⌈nc/NR⌉ panels of kc × NR, columns past nc zero.
LSTMX_AVX512 void pack_b_block(bool tb, const float* b, long ldb, long p0, long kc, long j0,
                               long nc, float* dst) {
  if (!tb) {  // row k of op(B) is contiguous
    for (long jr = 0; jr < nc; jr += NR) {
      const long cols = std::min(NR, nc - jr);
      for (long k = 0; k < kc; ++k) {
        const float* src = b + (p0 + k) * ldb + j0 + jr;
        for (int v = 0; v < NV; ++v)
          _mm512_store_ps(dst + jr * kc + k * NR + 16 * v,
                          _mm512_maskz_loadu_ps(col_mask(cols, v), src + 16 * v));
      }
    }
    return;
  }
  // op(B)(k, j) = B[j, k]: each 16-column half of a panel is B's rows for those columns,
  // transposed 16 × 16 at a time (rows past nc give zero columns)
  for (long jr = 0; jr < nc; jr += NR) {
    const long cols = std::min(NR, nc - jr);
    for (int v = 0; v < NV; ++v)
      transpose_rows<false>(std::clamp(cols - 16 * v, 0L, 16L), kc, b + (j0 + jr + 16 * v) * ldb + p0, ldb,
                     dst + jr * kc + 16 * v, NR);
  }
}

// C[0:mc, 0:nc] = alpha · op(A)[0:mc, 0:kc] · (packed B block) + beta · C; A as in tile().
LSTMX_AVX512 void macro_kernel(long mc, long nc, long kc, bool rows_a, const float* a, long s,
                               const float* bp, float alpha, float beta, float* c, long ldc) {
  // A-stationary: one tile's rows of op(A) stay in L1 while the 32-column panels of op(B)
  // stream from L2 (the B block is 512 KiB). Measured faster here than keeping a B panel in
  // L1 across the rows (about 200 against 170 GFLOP/s on one core).
  //
  // op(A) = Aᵀ: a tile's 12 values at each k lie in one row of A, and the kc rows it spans
  // are lda apart; with a power-of-two lda (4H floats) they all fall in the same L1 sets and
  // evict one another between the panels. So they are copied first, k-major and contiguous
  // (12 KiB, once per tile for all nc / 32 panels): about 202 -> 225 GFLOP/s on one core
  // for the weight gradients' shape (2048 × 512, K = 3200).
  const auto& tiles = kTiles[rows_a];
  alignas(64) float at[MR * KC];
  for (long ir = 0; ir < mc;) {
    const long rows = tile_rows(mc - ir);
    const float* ai = rows_a ? a + ir * s : a + ir;
    long si = s;
    if (!rows_a) {
      const __mmask16 m = col_mask(rows, 0);  // rows ≤ MR ≤ 16
      for (long k = 0; k < kc; ++k) _mm512_mask_storeu_ps(at + k * rows, m, _mm512_maskz_loadu_ps(m, ai + k * s));
      ai = at;
      si = rows;
    }
    for (long jr = 0; jr < nc; jr += NR) {
      const long cols = std::min(NR, nc - jr);
      tiles[rows](kc, ai, si, bp + jr * kc, c + ir * ldc + jr, ldc, cols, alpha, beta);
    }
    ir += rows;
  }
}

void scale(long m, long n, float beta, float* c, long ldc) {
  for (long i = 0; i < m; ++i)
    for (long j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

// C = alpha · op(A) · P + beta · C, P = op(B) as pack_b leaves it (all of K and N).
// Loops: rows of op(A) in blocks of MC (C's block stays in cache across the K-blocks), then
// K-blocks, then columns in blocks of NC (a 512 KiB block of P read into L2 once and
// streamed past each tile's rows of op(A)).
LSTMX_AVX512 void gemm_packed_rhs(bool ta, long m, long n, long k, float alpha, const float* a,
                                  long lda, const float* packed, float beta, float* c, long ldc) {
  const long np = round_up(n, NR);
  for (long ic = 0; ic < m; ic += MC) {
    const long mc = std::min(MC, m - ic);
    for (long pc = 0; pc < k; pc += KC) {
      const long kc = std::min(KC, k - pc);
      const float bt = pc == 0 ? beta : 1.0f;
      const float* pk = packed + pc * np;
      const float* ab = ta ? a + pc * lda + ic : a + ic * lda + pc;  // op(A)[ic, pc]
      for (long jc = 0; jc < n; jc += NC)
        macro_kernel(mc, std::min(NC, n - jc), kc, !ta, ab, lda, pk + jc * kc, alpha, bt,
                     c + ic * ldc + jc, ldc);
    }
  }
}

}  // namespace

long packed_b_size(long k, long n) { return round_up(n, NR) * k; }

LSTMX_AVX512 void pack_b(bool tb, long k, long n, const float* b, long ldb, float* packed) {
  const long np = round_up(n, NR);
  for (long pc = 0; pc < k; pc += KC) pack_b_block(tb, b, ldb, pc, std::min(KC, k - pc), 0, n, packed + pc * np);
}

LSTMX_AVX512 void sgemm_packed(long m, long n, long k, float alpha, const float* a, long lda,
                               const float* packed, float beta, float* c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) return scale(m, n, beta, c, ldc);
  gemm_packed_rhs(false, m, n, k, alpha, a, lda, packed, beta, c, ldc);
}

// All of op(B) is packed first (each product packs each operand exactly once), then the
// packed-operand product runs.
LSTMX_AVX512 void sgemm(bool ta, bool tb, long m, long n, long k, float alpha, const float* a,
                        long lda, const float* b, long ldb, float beta, float* c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) return scale(m, n, beta, c, ldc);
  float* bp = b_scratch.get(packed_b_size(k, n));
  pack_b(tb, k, n, b, ldb, bp);
  gemm_packed_rhs(ta, m, n, k, alpha, a, lda, bp, beta, c, ldc);
}

// Panels come in pairs stored interleaved (RecurrentWeights' layout): at each k the two
// groups' 32 weights are 128 contiguous bytes, so the whole product reads one sequential
// stream. That matters: the step streams W_hh from L2 at every time step, and one stream
// runs at the L2's full 64 bytes per cycle (0.5 MiB in 2.0-2.1 us on the development VM)
// where four interleaved streams reached only 55 % of it. c is unrolled by two (four
// accumulators), which covers the FMA latency at that rate. (fused_step's loop, run with an
// empty input product, gives the same sums but was 3-4 % slower at B = 2-3: this stays.)
LSTMX_AVX512 void panel_gemv(long H, long ng, const float* panels, const float* h, const float* bias,
                             float* y) {
  long g = 0;
  for (; g + 1 < ng; g += 2) {
    const float* P = panels + g * H * 16;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, e0 = a0, e1 = a0;
    long c = 0;
    for (; c + 1 < H; c += 2) {
      const float* p = P + c * 32;
      const __m512 h0 = _mm512_set1_ps(h[c]), h1 = _mm512_set1_ps(h[c + 1]);
      a0 = _mm512_fmadd_ps(_mm512_load_ps(p), h0, a0);
      a1 = _mm512_fmadd_ps(_mm512_load_ps(p + 16), h0, a1);
      e0 = _mm512_fmadd_ps(_mm512_load_ps(p + 32), h1, e0);
      e1 = _mm512_fmadd_ps(_mm512_load_ps(p + 48), h1, e1);
    }
    if (c < H) {
      const __m512 h0 = _mm512_set1_ps(h[c]);
      a0 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 32), h0, a0);
      a1 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 32 + 16), h0, a1);
    }
    a0 = _mm512_add_ps(a0, e0);
    a1 = _mm512_add_ps(a1, e1);
    if (bias) {
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(bias + g * 16));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(bias + g * 16 + 16));
    }
    _mm512_storeu_ps(y + g * 16, a0);
    _mm512_storeu_ps(y + g * 16 + 16, a1);
  }
  if (g < ng) {  // an odd count: the last group alone, stored (H, 16)
    const float* P = panels + g * H * 16;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    long c = 0;
    for (; c + 3 < H; c += 4) {
      const float* p = P + c * 16;
      a0 = _mm512_fmadd_ps(_mm512_load_ps(p), _mm512_set1_ps(h[c]), a0);
      a1 = _mm512_fmadd_ps(_mm512_load_ps(p + 16), _mm512_set1_ps(h[c + 1]), a1);
      a2 = _mm512_fmadd_ps(_mm512_load_ps(p + 32), _mm512_set1_ps(h[c + 2]), a2);
      a3 = _mm512_fmadd_ps(_mm512_load_ps(p + 48), _mm512_set1_ps(h[c + 3]), a3);
    }
    for (; c < H; ++c) a0 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 16), _mm512_set1_ps(h[c]), a0);
    a0 = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    if (bias) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(bias + g * 16));
    _mm512_storeu_ps(y + g * 16, a0);
  }
}

// One iteration of the input product of fused_step: k of pair p for the kFusedRows rows,
// into acc[r][0..1]; when k reaches K the pair's sums are stored and reset.
#define LSTMX_FUSED_ITERATION()                                                             \
  do {                                                                                      \
    const __m512 w0 = _mm512_load_ps(q), w1 = _mm512_load_ps(q + 16);                       \
    _Pragma("GCC unroll 16") for (int r = 0; r < kFusedRows; ++r) {                         \
      const __m512 xr = _mm512_set1_ps(xk[r * ldx]);                                        \
      acc[r][0] = _mm512_fmadd_ps(xr, w0, acc[r][0]);                                       \
      acc[r][1] = _mm512_fmadd_ps(xr, w1, acc[r][1]);                                       \
    }                                                                                       \
    ++it;                                                                                   \
    ++xk;                                                                                   \
    q += 32;                                                                                \
    if (++k == K) {                                                                         \
      store_pair(in, p, acc);                                                               \
      _Pragma("GCC unroll 16") for (int r = 0; r < kFusedRows; ++r) acc[r][0] = acc[r][1] = \
          _mm512_setzero_ps();                                                              \
      k = 0;                                                                                \
      xk = in.x;                                                                            \
      ++p;                                                                                  \
    }                                                                                       \
  } while (0)

namespace {
// The finished sums of pair p: rows < in.rows, each group's ncols columns (+ bias).
// (Unrolled over all rows, so that acc is indexed by constants only and stays in registers.)
LSTMX_AVX512 __attribute__((always_inline)) inline void store_pair(const InputProduct& in, long p,
                                                                   const __m512 acc[][2]) {
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v) {
    const long g = 2 * p + v;
    const __mmask16 m = col_mask(in.ncols[g], 0);
    const __m512 b = in.bias ? _mm512_maskz_loadu_ps(m, in.bias + in.col[g]) : _mm512_setzero_ps();
    float* o = in.out + in.col[g];
#pragma GCC unroll 16
    for (int r = 0; r < kFusedRows; ++r)
      if (r < in.rows) _mm512_mask_storeu_ps(o + r * in.ldo, m, _mm512_add_ps(acc[r][v], b));
  }
}
// y's value before fused_step adds its part to the 16 columns at o
LSTMX_AVX512 __attribute__((always_inline)) inline __m512 start_value(bool add, const float* y,
                                                                      const float* bias, long o) {
  return add ? _mm512_loadu_ps(y + o) : bias ? _mm512_loadu_ps(bias + o) : _mm512_setzero_ps();
}
}  // namespace

// fused_step: the recurrent product runs over its pairs as in panel_gemv, with c unrolled by
// eight; after every eight c comes one iteration of the input product, and what is left of
// [it0, it1) runs after the loop. The input product's 16 accumulators stay in registers all
// the while (4 + 16 + operands: 26 of the 32 zmm).
LSTMX_AVX512 void fused_step(long H, bool add, long ng, const float* panels,
                             const float* h, const float* bias, float* y, const InputProduct& in,
                             long it0, long it1) {
  constexpr int U = 8;  // c per slot
  const long K = in.K, ldx = in.ldx;
  if (K <= 0) it1 = it0;
  __m512 acc[kFusedRows][2];
  long it = it0, p = K > 0 ? it0 / K : 0, k = it0 - p * K;
  const bool resume = it0 < it1 && k != 0;
#pragma GCC unroll 16
  for (int r = 0; r < kFusedRows; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < 2; ++v)
      acc[r][v] = resume ? _mm512_load_ps(in.stash + r * 32 + 16 * v) : _mm512_setzero_ps();
  const float* q = in.panels + p * K * 32 + k * 32;
  const float* xk = in.x + k;  // column k of the rows

  long g = 0;
  for (; g + 1 < ng; g += 2) {
    const float* P = panels + g * H * 16;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, e0 = a0, e1 = a0;
    long c = 0;
    for (; c + U <= H; c += U) {
#pragma GCC unroll 8
      for (int u = 0; u < U; u += 2) {
        const float* w = P + (c + u) * 32;
        const __m512 h0 = _mm512_set1_ps(h[c + u]), h1 = _mm512_set1_ps(h[c + u + 1]);
        a0 = _mm512_fmadd_ps(_mm512_load_ps(w), h0, a0);
        a1 = _mm512_fmadd_ps(_mm512_load_ps(w + 16), h0, a1);
        e0 = _mm512_fmadd_ps(_mm512_load_ps(w + 32), h1, e0);
        e1 = _mm512_fmadd_ps(_mm512_load_ps(w + 48), h1, e1);
      }
      if (it < it1) LSTMX_FUSED_ITERATION();
    }
    for (; c < H; ++c) {
      const __m512 hc = _mm512_set1_ps(h[c]);
      a0 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 32), hc, a0);
      a1 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 32 + 16), hc, a1);
    }
    _mm512_storeu_ps(y + g * 16, _mm512_add_ps(_mm512_add_ps(a0, e0), start_value(add, y, bias, g * 16)));
    _mm512_storeu_ps(y + g * 16 + 16, _mm512_add_ps(_mm512_add_ps(a1, e1), start_value(add, y, bias, g * 16 + 16)));
  }
  if (g < ng) {  // a lone last group, stored (H, 16)
    const float* P = panels + g * H * 16;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    long c = 0;
    for (; c + 1 < H; c += 2) {
      a0 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 16), _mm512_set1_ps(h[c]), a0);
      a1 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 16 + 16), _mm512_set1_ps(h[c + 1]), a1);
    }
    if (c < H) a0 = _mm512_fmadd_ps(_mm512_load_ps(P + c * 16), _mm512_set1_ps(h[c]), a0);
    _mm512_storeu_ps(y + g * 16, _mm512_add_ps(_mm512_add_ps(a0, a1), start_value(add, y, bias, g * 16)));
  }
  while (it < it1) LSTMX_FUSED_ITERATION();
  if (it0 < it1 && k != 0)  // a pair left unfinished: its sums wait for the next call
#pragma GCC unroll 16
    for (int r = 0; r < kFusedRows; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < 2; ++v) _mm512_store_ps(in.stash + r * 32 + 16 * v, acc[r][v]);
}
#undef LSTMX_FUSED_ITERATION

LSTMX_AVX512 void transpose16_rows(long rows, long n, const float* src, long lds, float* dst,
                                   long ldd) {
  transpose_rows<false>(rows, n, src, lds, dst, ldd);
}

LSTMX_AVX512 bool transpose16_rows_finite(long rows, long n, const float* src, long lds, float* dst,
                                          long ldd) {
  return transpose_rows<true>(rows, n, src, lds, dst, ldd);
}

#else  // no AVX-512 path in this build: enabled() is false and these are never called

void sgemm(bool, bool, long, long, long, float, const float*, long, const float*, long, float,
           float*, long) { std::abort(); }
long packed_b_size(long, long) { return 0; }
void pack_b(bool, long, long, const float*, long, float*) { std::abort(); }
void sgemm_packed(long, long, long, float, const float*, long, const float*, float, float*, long) {
  std::abort();
}
void panel_gemv(long, long, const float*, const float*, const float*, float*) { std::abort(); }
void fused_step(long, bool, long, const float*, const float*, const float*, float*, const InputProduct&,
                long, long) {
  std::abort();
}
void transpose16_rows(long, long, const float*, long, float*, long) { std::abort(); }
bool transpose16_rows_finite(long, long, const float*, long, float*, long) { std::abort(); }

#endif

}  // namespace avx512
}  // namespace lstmx
