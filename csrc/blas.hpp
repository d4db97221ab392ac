// Row-major GEMM/GEMV over the scipy-openblas32 CBLAS, overloaded on float and double, and a
// GEMM that splits the rows of C across the calling OpenMP team. float32 GEMMs go to lstmx's
// own AVX-512 GEMM when the CPU has AVX-512 (sgemm_avx512.hpp), since the BLAS may be pinned
// to (or only know) AVX2 kernels there.
#pragma once

#include <algorithm>

#include <cblas.h>

#include <type_traits>

#include "buffer.hpp"
#include "parallel.hpp"
#include "sgemm_avx512.hpp"

namespace lstmx {

inline void gemm(bool ta, bool tb, long m, long n, long k, float alpha, const float* a, long lda,
                 const float* b, long ldb, float beta, float* c, long ldc) {
  if (m <= 0 || n <= 0) return;
  if (avx512::enabled()) return avx512::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void gemm(bool ta, bool tb, long m, long n, long k, double alpha, const double* a, long lda,
                 const double* b, long ldb, double beta, double* c, long ldc) {
  if (m <= 0 || n <= 0) return;
  scipy_cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void gemv(bool ta, long m, long n, float alpha, const float* a, long lda, const float* x,
                 float beta, float* y) {
  scipy_cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1,
                    beta, y, 1);
}

inline void gemv(bool ta, long m, long n, double alpha, const double* a, long lda, const double* x,
                 double beta, double* y) {
  scipy_cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1,
                    beta, y, 1);
}

// C (m, n) = alpha · op(A) · op(B) + beta · C, with this thread's share of the rows of C.
// Call from inside a parallel region: each member computes its own rows. The partition is
// over outputs, never over k, so no sum is split between threads (results agree across
// thread counts to rounding: BLAS may treat a slice's edges with other kernels).
template <class T>
void gemm_rows_shared(bool ta, bool tb, long m, long n, long k, T alpha, const T* a, long lda,
                      const T* b, long ldb, T beta, T* c, long ldc) {
  long r0, r1;
  split_range(m, team_size(), thread_index(), r0, r1);
  if (r1 <= r0) return;
  const T* a0 = ta ? a + r0 : a + r0 * lda;  // op(A) row r starts at A[r, 0] or A[0, r]
  gemm(ta, tb, r1 - r0, n, k, alpha, a0, lda, b, ldb, beta, c + r0 * ldc, ldc);
}

// The same with this thread's share of the columns of C, in whole 32-column panels: each
// thread then packs only its part of op(B) (the GEMM's packed operand), where splitting rows
// would have every thread pack all of it. For products whose op(B) is large next to the
// work per row (an output layer's weights).
template <class T>
void gemm_cols_shared(bool ta, bool tb, long m, long n, long k, T alpha, const T* a, long lda,
                      const T* b, long ldb, T beta, T* c, long ldc) {
  long j0, j1;
  split_range((n + 31) / 32, team_size(), thread_index(), j0, j1);
  j0 = std::min(n, j0 * 32);
  j1 = std::min(n, j1 * 32);
  if (j1 <= j0) return;
  const T* b0 = tb ? b + j0 * ldb : b + j0;  // op(B) column j starts at B[j, 0] or B[0, j]
  gemm(ta, tb, m, j1 - j0, k, alpha, a, lda, b0, ldb, beta, c + j0, ldc);
}

// A right-hand side used by many products C = alpha·A·op(B) + beta·C with the same op(B) and
// different A: the recurrent weights, at every time step. With the AVX-512 GEMM, op(B) is
// packed once here and each product skips the packing; otherwise this only remembers op(B)
// and calls gemm. pack() allocates; gemm() does not.
template <class T>
class PackedRhs {
 public:
  void pack(bool tb, long k, long n, const T* b, long ldb) {
    tb_ = tb, k_ = k, n_ = n, b_ = b, ldb_ = ldb;
    if constexpr (std::is_same_v<T, float>) {
      if (avx512::enabled() && k > 0 && n > 0) {
        packed_.resize(avx512::packed_b_size(k, n));
        avx512::pack_b(tb, k, n, b, ldb, packed_.get());
        return;
      }
    }
    packed_.resize(0);
  }
  void gemm(long m, T alpha, const T* a, long lda, T beta, T* c, long ldc) const {
    if constexpr (std::is_same_v<T, float>) {
      if (packed_.get()) return avx512::sgemm_packed(m, n_, k_, alpha, a, lda, packed_.get(), beta, c, ldc);
    }
    lstmx::gemm(false, tb_, m, n_, k_, alpha, a, lda, b_, ldb_, beta, c, ldc);
  }

 private:
  bool tb_ = false;
  long k_ = 0, n_ = 0, ldb_ = 0;
  const T* b_ = nullptr;
  Buffer<T> packed_;
};

}  // namespace lstmx
