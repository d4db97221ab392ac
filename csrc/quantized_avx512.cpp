// The AVX-512 quantized products (quantized_avx512.hpp).
//
// A register tile of MR rows × NP panels (16 columns each) runs over all K: per 64-byte
// group of a panel it loads the NP weight vectors once and, for each row, broadcasts the
// row's 4 bytes of that group (4 int8 inputs or 2 bfloat16) and multiply-accumulates:
//   int8      vpdpbusd: 16 lanes, each Σ of 4 (unsigned activation byte × signed weight)
//   bfloat16  vdpbf16ps: 16 lanes, each + odd pair product, then + even pair product
// One accumulator per (row, column) over the whole of K keeps the order of the sums fixed,
// which is what makes the portable loops (quantized.cpp) give the same bits.
//
// Wide rows (the input product, batches): 6 rows × 4 panels, the 4 panels (4 · 16 · K bytes)
// staying in L1 while the rows stream past. One or two rows (batch-1 steps): 8 panels at a
// time, to keep 8 or 16 independent accumulators in flight while the weights stream from L2.
//
// Only the functions marked LSTMX_Q512 contain AVX-512 code; they run only after
// vnni_available()/bf16_available() said yes.
#include "quantized_avx512.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(LSTMX_NO_QUANTIZED_KERNELS)  // CMakeLists.txt: the compiler knows the instructions
#define LSTMX_HAVE_Q512 1
#include <immintrin.h>
#define LSTMX_Q512 __attribute__((target("avx512f,avx512bw,avx512vnni,avx512bf16,avx2,fma")))
#define LSTMX_AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vnni,avx512bf16,avx2,fma")))
#if defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace lstmx {
namespace quant {
namespace avx512 {

bool vnni_available() {
#ifdef LSTMX_HAVE_Q512
  static const bool on = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
  }();
  return on;
#else
  return false;
#endif
}

bool bf16_available() {
#ifdef LSTMX_HAVE_Q512
  static const bool on = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
  }();
  return on;
#else
  return false;
#endif
}

#ifdef LSTMX_HAVE_Q512
namespace {

using Tile = void (*)(const Matrix&, const Rows&, long, long, float*, long, long, const float*, bool);

// int8 accumulates in int32 lanes, bfloat16 in float32 lanes
template <bool BF> struct Lanes;
template <> struct Lanes<false> {
  using Acc = __m512i;
  LSTMX_Q512 static Acc zero() { return _mm512_setzero_si512(); }
};
template <> struct Lanes<true> {
  using Acc = __m512;
  LSTMX_Q512 static Acc zero() { return _mm512_setzero_ps(); }
};

LSTMX_Q512 inline __m512i mac(__m512i acc, __m512i x, __m512i w) { return _mm512_dpbusd_epi32(acc, x, w); }
LSTMX_Q512 inline __m512 mac(__m512 acc, __m512i x, __m512i w) {
  return _mm512_dpbf16_ps(acc, (__m512bh)x, (__m512bh)w);
}

// The epilogue of one panel's 16 columns: y = float(acc − 128 Σ wq) · (xs · ws), or
// fma(float(...), xs · ws, bias) with a bias (int8), or y = acc + bias (bfloat16); added to
// y when accumulating; columns past ncols are neither read nor written.
struct Columns {
  long c0;
  bool any, biased;
  __mmask16 k;
  __m512 b, ws;
  __m512i comp;
  LSTMX_Q512 Columns(const Matrix& w, long p, long ncols, const float* bias)
      : c0(p * kPanel), biased(bias != nullptr) {
    const long n = ncols - c0;
    any = n > 0;
    k = n >= kPanel ? __mmask16(0xFFFF) : n > 0 ? __mmask16((1u << n) - 1) : __mmask16(0);
    b = bias && any ? _mm512_maskz_loadu_ps(k, bias + c0) : _mm512_setzero_ps();
    comp = _mm512_setzero_si512();
    ws = _mm512_setzero_ps();
    if (w.kind == Kind::int8) {
      comp = _mm512_loadu_si512(w.comp.data() + c0);
      ws = _mm512_loadu_ps(w.scale.data() + c0);
    }
  }
  LSTMX_Q512 void store(float* out, __m512 v, bool accumulate) const {
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, out), v);
    _mm512_mask_storeu_ps(out, k, v);
  }
  LSTMX_Q512 void finish(const Matrix&, const Rows& x, long m, __m512i acc, float* y, long ldy,
                         bool accumulate) const {
    const __m512 s = _mm512_mul_ps(_mm512_set1_ps(x.scale.get()[m]), ws);
    const __m512 a = _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), __mmask16(0xFFFF), _mm512_sub_epi32(acc, comp));
    store(y + m * ldy + c0, biased ? _mm512_fmadd_ps(a, s, b) : _mm512_mul_ps(a, s), accumulate);
  }
  LSTMX_Q512 void finish(const Matrix&, const Rows&, long m, __m512 acc, float* y, long ldy,
                         bool accumulate) const {
    store(y + m * ldy + c0, _mm512_add_ps(acc, b), accumulate);
  }
};

// Rows m .. m+MR-1, panels p .. p+NP-1.
template <bool BF, int MR, int NP>
LSTMX_Q512 void tile(const Matrix& w, const Rows& x, long m, long p, float* y, long ldy, long ncols,
                     const float* bias, bool accumulate) {
  typename Lanes<BF>::Acc acc[MR][NP];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) acc[r][j] = Lanes<BF>::zero();
  const long groups = w.Kp / group_size(w.kind), pb = w.panel_bytes();
  const uint8_t* wp = w.panel(p);
  const uint8_t* xr[MR];
  for (int r = 0; r < MR; ++r) xr[r] = x.q.get() + (m + r) * x.ld;
  for (long g = 0; g < groups; ++g) {
    __m512i wv[NP];
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) wv[j] = _mm512_load_si512(wp + j * pb + g * 64);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      int32_t four;
      std::memcpy(&four, xr[r] + 4 * g, 4);
      const __m512i xb = _mm512_set1_epi32(four);
#pragma GCC unroll 8
      for (int j = 0; j < NP; ++j) acc[r][j] = mac(acc[r][j], xb, wv[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j) {
    const Columns cols(w, p + j, ncols, bias);
    if (!cols.any) continue;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) cols.finish(w, x, m + r, acc[r][j], y, ldy, accumulate);
  }
}

template <bool BF, int MR>
Tile tile_of(long np) {
  switch (np) {
    case 1: return tile<BF, MR, 1>;
    case 2: return tile<BF, MR, 2>;
    case 3: return tile<BF, MR, 3>;
    default: return tile<BF, MR, 4>;
  }
}

template <bool BF>
Tile tile_of(long mr, long np) {
  switch (mr) {
    case 1: return tile_of<BF, 1>(np);
    case 2: return tile_of<BF, 2>(np);
    case 3: return tile_of<BF, 3>(np);
    case 4: return tile_of<BF, 4>(np);
    case 5: return tile_of<BF, 5>(np);
    default: return tile_of<BF, 6>(np);
  }
}

template <bool BF>
void run(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy, long ncols,
         const float* bias, bool accumulate) {
  long p = p0;
  if (m1 - m0 <= 2) {  // one or two rows: 8 panels per pass
    for (; p + 8 <= p1; p += 8) {
      if (m1 - m0 == 2) tile<BF, 2, 8>(w, x, m0, p, y, ldy, ncols, bias, accumulate);
      else tile<BF, 1, 8>(w, x, m0, p, y, ldy, ncols, bias, accumulate);
    }
  }
  for (; p < p1; p += 4) {
    const long np = std::min(4L, p1 - p);
    for (long m = m0; m < m1; m += 6) {
      const long mr = std::min(6L, m1 - m);
      tile_of<BF>(mr, np)(w, x, m, p, y, ldy, ncols, bias, accumulate);
    }
  }
}

// AMX (Intel since Sapphire Rapids): the same int8 products on the tile unit, 16 rows ×
// 64 inputs of the activations (A, bytes q + 128) times 64 inputs × 16 columns of a panel
// (B: 16 of its 64-byte groups, 1 KiB, exactly the VNNI layout) into 16 × 16 int32 sums,
// 2 × 2 tiles at a time. The integer sums are exact, and the epilogue is the one above, so
// the results are those of the VNNI kernel. Rows in blocks of 16; the rest go to VNNI.
struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

LSTMX_AMX void amx_int8(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                        long ncols, const float* bias, bool accumulate) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  alignas(64) int32_t sums[4][kPanel * kPanel];
  const long steps = w.Kp / 64;
  for (long p = p0; p < p1; p += 2) {
    const bool two = p + 1 < p1;
    const uint8_t* b0 = w.panel(p);
    const uint8_t* b1 = two ? w.panel(p + 1) : b0;
    for (long m = m0; m + 16 <= m1; m += 32) {
      const bool tall = m + 32 <= m1;
      const uint8_t* a0 = x.q.get() + m * x.ld;
      const uint8_t* a1 = a0 + 16 * x.ld;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (long st = 0; st < steps; ++st) {
        _tile_loadd(4, a0 + st * 64, x.ld);
        _tile_loadd(6, b0 + st * 1024, 64);
        _tile_dpbusd(0, 4, 6);
        if (two) {
          _tile_loadd(7, b1 + st * 1024, 64);
          _tile_dpbusd(1, 4, 7);
        }
        if (tall) {
          _tile_loadd(5, a1 + st * 64, x.ld);
          _tile_dpbusd(2, 5, 6);
          if (two) _tile_dpbusd(3, 5, 7);
        }
      }
      _tile_stored(0, sums[0], 64);
      _tile_stored(1, sums[1], 64);
      _tile_stored(2, sums[2], 64);
      _tile_stored(3, sums[3], 64);
      for (int t = 0; t < 4; ++t) {
        const int rh = t / 2, ph = t % 2;
        if ((ph && !two) || (rh && !tall)) continue;
        const Columns cols(w, p + ph, ncols, bias);
        if (!cols.any) continue;
        for (int r = 0; r < 16; ++r)
          cols.finish(w, x, m + rh * 16 + r, _mm512_load_si512(sums[t] + r * kPanel), y, ldy, accumulate);
      }
    }
  }
  _tile_release();
}

}  // namespace

// Rows::fill's quantization, 16 values at a time, with the same float32 operations (and so
// the same results) as the portable loop in quantized.cpp.
LSTMX_Q512 void fill_int8(const float* v, long K, long Kp, uint8_t* out, float* scale) {
  __m512 mx = _mm512_setzero_ps();
  const __m512 big = _mm512_set1_ps(std::numeric_limits<float>::max());
  __mmask16 bad = 0;  // NaN or infinite values
  for (long k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    const __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(m, v + k));
    bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);
    mx = _mm512_max_ps(mx, a);
  }
  if (bad) {  // a NaN scale: the row's products are NaN, as in float32
    *scale = std::numeric_limits<float>::quiet_NaN();
    std::memset(out, 128, size_t(Kp));
    return;
  }
  const float amax = _mm512_reduce_max_ps(mx);
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  if (!(inv <= std::numeric_limits<float>::max())) {  // amax < 127 / FLT_MAX: a zero row
    *scale = 0.0f;
    std::memset(out, 128, size_t(Kp));
    return;
  }
  *scale = amax / 127.0f;
  const __m512 vi = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i off = _mm512_set1_epi32(128);
  for (long k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, v + k), vi),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_ps(hi, _mm512_max_ps(lo, r));
    _mm512_mask_cvtepi32_storeu_epi8(out + k, m, _mm512_add_epi32(_mm512_cvttps_epi32(r), off));
  }
  std::memset(out + K, 128, size_t(Kp - K));
}

LSTMX_Q512 void fill_bf16(const float* v, long K, long Kp, uint16_t* out) {
  const __m512i expo = _mm512_set1_epi32(0x7f800000), sign = _mm512_set1_epi32(int(0x80000000u));
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), bias = _mm512_set1_epi32(0x7fff);
  const __m512i one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
  for (long k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, v + k));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_srli_epi32(u, 16), one)), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), expo);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), quiet));
    const __mmask16 tiny = _mm512_testn_epi32_mask(u, expo);  // zero or subnormal
    r = _mm512_mask_mov_epi32(r, tiny, _mm512_srli_epi32(_mm512_and_si512(u, sign), 16));
    _mm512_mask_cvtepi32_storeu_epi16(out + k, m, r);
  }
  std::memset(out + K, 0, size_t(Kp - K) * 2);
}

bool amx_available() {
#if defined(__linux__)
  static const bool on = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!((d >> 24) & 1u) || !((d >> 25) & 1u)) return false;  // AMX-TILE, AMX-INT8
    // Linux gives a process the tiles' register state only when asked
    // (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA)
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return on && vnni_available();
#else
  return false;
#endif
}

void int8_product(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                  long ncols, const float* bias, bool accumulate, bool use_amx) {
  if (use_amx && m1 - m0 >= 16 && amx_available()) {
    const long whole = m0 + (m1 - m0) / 16 * 16;
    amx_int8(w, x, m0, whole, p0, p1, y, ldy, ncols, bias, accumulate);
    m0 = whole;
  }
  if (m1 > m0) run<false>(w, x, m0, m1, p0, p1, y, ldy, ncols, bias, accumulate);
}

void bf16_product(const Matrix& w, const Rows& x, long m0, long m1, long p0, long p1, float* y, long ldy,
                  long ncols, const float* bias, bool accumulate) {
  run<true>(w, x, m0, m1, p0, p1, y, ldy, ncols, bias, accumulate);
}

#else
bool amx_available() { return false; }
void fill_int8(const float*, long, long, uint8_t*, float*) {}
void fill_bf16(const float*, long, long, uint16_t*) {}
void int8_product(const Matrix&, const Rows&, long, long, long, long, float*, long, long, const float*, bool, bool) {}
void bf16_product(const Matrix&, const Rows&, long, long, long, long, float*, long, long, const float*, bool) {}
#endif

}  // namespace avx512
}  // namespace quant
}  // namespace lstmx
