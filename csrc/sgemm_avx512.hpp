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

// The batch-1 step with the input product folded in. The step's recurrent product (as
// panel_gemv, which it computes the same way) is bound by the L2's bandwidth and leaves the
// FMA units half idle; the input product x · W_ihᵀ of later time steps is bound by the FMA
// units and reads little. So the step runs a share of the input product for the next
// kFusedRows time steps inside its recurrent loop: one iteration of that product (one k of
// a pair of 16-column groups, kFusedRows rows) after every few k of the recurrent one.
constexpr int kFusedRows = 8;
struct InputProduct {
  long K;                // inner dimension (input size)
  long pairs;            // pairs of 16-column groups
  const float* panels;   // per pair (K, 2, 16), interleaved as the recurrent panels; 64-byte aligned
  const long* col;       // output column of each group (2 per pair)
  const int* ncols;      // columns stored of each group (16; fewer at H's edge; 0 for padding)
  const float* bias;     // added at output column col[g] + l, or null
  const float* x;        // kFusedRows rows of the input, row r at x + r·ldx
  long ldx;
  float* out;            // row r of the result at out + r·ldo
  long ldo;
  int rows;              // rows stored (≤ kFusedRows; x has all kFusedRows rows)
  float* stash;          // kFusedRows × 32 floats, 64-byte aligned: a pair's partial sums,
                         // carried from one call to the next
  long iterations() const { return pairs * K; }
};
// panel_gemv(H, ng, panels, h, bias, y), or y += the product (no bias) when `add`, and
// iterations [it0, it1) of the input product: iteration `it` is k = it mod K of pair it / K;
// a pair's result is stored when its last k is done.
void fused_step(long H, bool add, long ng, const float* panels, const float* h, const float* bias,
                float* y, const InputProduct& in, long it0, long it1);

// dst[c·ldd + i] = src[i·lds + c] for i < 16, c < n, with zeros for the rows i >= rows: a
// (rows ≤ 16, n) block stored transposed as n rows of 16 (GEMM panels of a transposed
// operand, RecurrentWeights' panels).
void transpose16_rows(long rows, long n, const float* src, long lds, float* dst, long ldd);
// The same, returning whether every value read was finite (no Inf, no NaN).
bool transpose16_rows_finite(long rows, long n, const float* src, long lds, float* dst, long ldd);

}  // namespace avx512
}  // namespace lstmx
