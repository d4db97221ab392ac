// lstmx's own float32 GEMM for CPUs with AVX-512, chosen at run time.
//
// Why: OpenBLAS picks its kernels by CPU family, and a user (or a workplace) may pin it to
// older ones (OPENBLAS_CORETYPE=Haswell), or it may not know the CPU at all. On a CPU with
// 512-bit FMA units that halves the float32 throughput of every large product in the
// kernels. This GEMM's functions carry target("avx512f") (sgemm_avx512.cpp) and run only
// when the running CPU reports AVX-512F; everything else goes to the BLAS.
//
// After GotoBLAS/BLIS: op(B) is packed into K-blocks of 32-column panels, once per call;
// op(A) is read where it lies (Aᵀ: copied k-major per tile); a 12 × 32 register tile (24 zmm
// accumulators) runs over one K-block at a time. Edges use AVX-512 masks (columns) and a
// kernel per row count (rows), so no output element is ever computed twice.
//
// Single-threaded: callers split the work over their OpenMP team (gemm_rows_shared and the
// engines), exactly as they do with the BLAS. The packing buffer is thread-local and grows
// once, so steady-state calls allocate nothing.
#pragma once

namespace lstmx {
namespace avx512 {

// True when the CPU has AVX-512F, the library was built with this path, and the
// environment variable LSTMX_GEMM is not "blas". Decided once, at first use.
bool enabled();

// Row-major C (m, n) = alpha · op(A) · op(B) + beta · C, op(A) (m, k), op(B) (k, n);
// op(X) = Xᵀ when the flag is set. beta = 0 never reads C.
void sgemm(bool ta, bool tb, long m, long n, long k, float alpha, const float* a, long lda,
           const float* b, long ldb, float beta, float* c, long ldc);

// op(B) packed once for many products with different A (the per-step recurrent product):
// packed_b_size(k, n) floats, filled by pack_b, used by sgemm_packed (A not transposed).
long packed_b_size(long k, long n);
void pack_b(bool tb, long k, long n, const float* b, long ldb, float* packed);
void sgemm_packed(long m, long n, long k, float alpha, const float* a, long lda,
                  const float* packed, float beta, float* c, long ldc);

// The small-batch recurrent product on 16-row panels (RecurrentWeights' panel layout): for
// groups g < ng, y[16g + l] = Σ_c W[g][c][l] · h[c] (+ bias[16g + l] when bias), where groups
// come in pairs (0, 1), (2, 3), ... stored interleaved, (H, 2, 16), and an odd last group is
// stored alone, (H, 16). `panels` must be 64-byte aligned.
void panel_gemv(long H, long ng, const float* panels, const float* h, const float* bias, float* y);

// dst[c·ldd + i] = src[i·lds + c] for i < 16, c < n, with zeros for the rows i >= rows: a
// (rows ≤ 16, n) block stored transposed as n rows of 16 (GEMM panels of a transposed
// operand, RecurrentWeights' panels).
void transpose16_rows(long rows, long n, const float* src, long lds, float* dst, long ldd);

}  // namespace avx512
}  // namespace lstmx
