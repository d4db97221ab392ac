// The AVX-512 float32 GEMM of sgemm_avx512.hpp.
//
// Only the functions marked LSTMX_AVX512 contain AVX-512 instructions; the translation unit
// itself is compiled for the baseline, so nothing shared with other files (inline functions
// of headers, template instances) can carry AVX-512 code onto a CPU without it.
#include "sgemm_avx512.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

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

constexpr long MR = 12;    // rows of the register tile (broadcasts of op(A))
constexpr long NR = 32;    // columns of the register tile (two zmm of op(B))
#ifndef LSTMX_GEMM_KC  // blocking; overridable at build time for tuning
#define LSTMX_GEMM_KC 256
#define LSTMX_GEMM_MC 288
#define LSTMX_GEMM_NC 512
#endif
constexpr long KC = LSTMX_GEMM_KC;  // K-block: a 12-row panel of op(A) is 12 KiB, in L1
constexpr long MC = LSTMX_GEMM_MC;  // rows of op(A) packed at once (288 KiB)
constexpr long NC = LSTMX_GEMM_NC;  // columns of op(B) packed at once (512 KiB, in L2)

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
thread_local Scratch a_scratch, b_scratch;

LSTMX_AVX512 inline __mmask16 low_mask(long n) {
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
}
LSTMX_AVX512 inline __mmask16 high_mask(long n) {
  return n <= 16 ? __mmask16(0) : n >= 32 ? __mmask16(0xFFFF) : __mmask16((1u << (n - 16)) - 1);
}

// C[0:R, 0:n] = alpha · Ap · Bp + beta · C over one K-block of length kc (beta = 0: C is not
// read). Ap: kc × MR (row r of the tile at offset r), Bp: kc × NR, both 64-byte aligned.
template <int R>
LSTMX_AVX512 void tile(long kc, const float* __restrict ap, const float* __restrict bp, float* c,
                       long ldc, long n, float alpha, float beta) {
  __m512 c0[R], c1[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  for (long k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(bp + k * NR);
    const __m512 b1 = _mm512_load_ps(bp + k * NR + 16);
    // op(B) streams from L2: ask for the panel rows 16 steps ahead (a small, measured gain)
    _mm_prefetch(reinterpret_cast<const char*>(bp + (k + 16) * NR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bp + (k + 16) * NR + 16), _MM_HINT_T0);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(ap[k * MR + r]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
  }
  const __mmask16 m0 = low_mask(n), m1 = high_mask(n);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(va, c0[r]), x1 = _mm512_mul_ps(va, c1[r]);
    if (beta != 0.0f) {
      x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), x1);
    }
    _mm512_mask_storeu_ps(row, m0, x0);
    _mm512_mask_storeu_ps(row + 16, m1, x1);
  }
}

using TileFn = void (*)(long, const float*, const float*, float*, long, long, float, float);
const TileFn kTiles[MR + 1] = {nullptr,  tile<1>, tile<2>, tile<3>,  tile<4>,  tile<5>, tile<6>,
                               tile<7>,  tile<8>, tile<9>, tile<10>, tile<11>, tile<12>};

// op(A)[i0 : i0+mc, p0 : p0+kc] as ⌈mc/MR⌉ panels of kc × MR; panel rows past mc are never
// read (the tile for the last panel has fewer rows), so they are left unwritten.
LSTMX_AVX512 void pack_a(bool ta, const float* a, long lda, long i0, long mc, long p0, long kc,
                         float* dst) {
  for (long ir = 0; ir < mc; ir += MR) {
    const long rows = std::min(MR, mc - ir);
    float* panel = dst + ir * kc;
    if (ta) {  // op(A)(i, k) = A[k, i]: MR consecutive floats per k
      for (long k = 0; k < kc; ++k) {
        const float* src = a + (p0 + k) * lda + i0 + ir;
        for (long i = 0; i < rows; ++i) panel[k * MR + i] = src[i];
      }
    } else {
      for (long i = 0; i < rows; ++i) {
        const float* src = a + (i0 + ir + i) * lda + p0;
        for (long k = 0; k < kc; ++k) panel[k * MR + i] = src[k];
      }
    }
  }
}

// op(B)[p0 : p0+kc, j0 : j0+nc] as ⌈nc/NR⌉ panels of kc × NR, columns past nc zero.
LSTMX_AVX512 void pack_b_block(bool tb, const float* b, long ldb, long p0, long kc, long j0,
                               long nc, float* dst) {
  for (long jr = 0; jr < nc; jr += NR) {
    const long cols = std::min(NR, nc - jr);
    float* panel = dst + jr * kc;
    if (!tb) {  // row k of op(B) is contiguous
      const __mmask16 m0 = low_mask(cols), m1 = high_mask(cols);
      for (long k = 0; k < kc; ++k) {
        const float* src = b + (p0 + k) * ldb + j0 + jr;
        _mm512_store_ps(panel + k * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(panel + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    } else {  // op(B)(k, j) = B[j, k]: column j of the panel is a row of B
      for (long j = 0; j < cols; ++j) {
        const float* src = b + (j0 + jr + j) * ldb + p0;
        for (long k = 0; k < kc; ++k) panel[k * NR + j] = src[k];
      }
      for (long j = cols; j < NR; ++j)
        for (long k = 0; k < kc; ++k) panel[k * NR + j] = 0.0f;
    }
  }
}

// C[0:mc, 0:nc] = alpha · (packed A block) · (packed B block) + beta · C.
LSTMX_AVX512 void macro_kernel(long mc, long nc, long kc, const float* ap, const float* bp,
                               float alpha, float beta, float* c, long ldc) {
  // A-stationary: one 12-row panel of op(A) (12 KiB) stays in L1 while the 32-column panels
  // of op(B) stream from L2 (the B block is 512 KiB). Measured faster here than keeping a B
  // panel in L1 across the rows (about 200 against 170 GFLOP/s on one core).
  for (long ir = 0; ir < mc; ir += MR) {
    const long rows = std::min(MR, mc - ir);
    for (long jr = 0; jr < nc; jr += NR) {
      const long cols = std::min(NR, nc - jr);
      kTiles[rows](kc, ap + ir * kc, bp + jr * kc, c + ir * ldc + jr, ldc, cols, alpha, beta);
    }
  }
}

void scale(long m, long n, float beta, float* c, long ldc) {
  for (long i = 0; i < m; ++i)
    for (long j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

}  // namespace

LSTMX_AVX512 void sgemm(bool ta, bool tb, long m, long n, long k, float alpha, const float* a,
                        long lda, const float* b, long ldb, float beta, float* c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) return scale(m, n, beta, c, ldc);
  float* bp = b_scratch.get(round_up(std::min(n, NC), NR) * std::min(k, KC));
  float* ap = a_scratch.get(round_up(std::min(m, MC), MR) * std::min(k, KC));
  for (long jc = 0; jc < n; jc += NC) {
    const long nc = std::min(NC, n - jc);
    for (long pc = 0; pc < k; pc += KC) {
      const long kc = std::min(KC, k - pc);
      pack_b_block(tb, b, ldb, pc, kc, jc, nc, bp);
      const float bt = pc == 0 ? beta : 1.0f;
      for (long ic = 0; ic < m; ic += MC) {
        const long mc = std::min(MC, m - ic);
        pack_a(ta, a, lda, ic, mc, pc, kc, ap);
        macro_kernel(mc, nc, kc, ap, bp, alpha, bt, c + ic * ldc + jc, ldc);
      }
    }
  }
}

long packed_b_size(long k, long n) { return round_up(n, NR) * k; }

LSTMX_AVX512 void pack_b(bool tb, long k, long n, const float* b, long ldb, float* packed) {
  const long np = round_up(n, NR);
  for (long pc = 0; pc < k; pc += KC) pack_b_block(tb, b, ldb, pc, std::min(KC, k - pc), 0, n, packed + pc * np);
}

LSTMX_AVX512 void sgemm_packed(long m, long n, long k, float alpha, const float* a, long lda,
                               const float* packed, float beta, float* c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) return scale(m, n, beta, c, ldc);
  const long np = round_up(n, NR);
  float* ap = a_scratch.get(round_up(std::min(m, MC), MR) * std::min(k, KC));
  for (long pc = 0; pc < k; pc += KC) {
    const long kc = std::min(KC, k - pc);
    const float bt = pc == 0 ? beta : 1.0f;
    for (long ic = 0; ic < m; ic += MC) {
      const long mc = std::min(MC, m - ic);
      pack_a(false, a, lda, ic, mc, pc, kc, ap);
      macro_kernel(mc, n, kc, ap, packed + pc * np, alpha, bt, c + ic * ldc, ldc);
    }
  }
}

#else  // no AVX-512 path in this build: enabled() is false and these are never called

void sgemm(bool, bool, long, long, long, float, const float*, long, const float*, long, float,
           float*, long) { std::abort(); }
long packed_b_size(long, long) { return 0; }
void pack_b(bool, long, long, const float*, long, float*) { std::abort(); }
void sgemm_packed(long, long, long, float, const float*, long, const float*, float, float*, long) {
  std::abort();
}

#endif

}  // namespace avx512
}  // namespace lstmx
