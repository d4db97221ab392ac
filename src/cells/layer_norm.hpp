// Layer normalisation of one vector (Ba, Kiros and Hinton, 2016), forward and backward.
//
//   μ = mean(a),  v = mean((a - μ)²),  rstd = 1 / sqrt(v + eps),  n = (a - μ)·rstd
//   out = γ ⊙ n + β
// backward, given ∂L/∂out (the parameter sums are left to the caller):
//   dn = dout ⊙ γ,  da = rstd · (dn - mean(dn) - n · mean(dn ⊙ n))
#pragma once

#include <cmath>

namespace lstmx {

// a (n) is replaced by γ ⊙ n + β; the normalised values go to `norm` (may alias nothing,
// may be null); returns rstd. Sums in double: float32 inputs keep their accuracy.
// (The sums are SIMD reductions: `omp simd` lets the compiler reorder them.)
template <class T>
inline T layer_norm_forward(long n, T* a, const T* gamma, const T* beta, double eps, T* norm) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (long j = 0; j < n; ++j) s += a[j];
  const double mu = s / double(n);
  double v = 0;
#pragma omp simd reduction(+ : v)
  for (long j = 0; j < n; ++j) v += (a[j] - mu) * (a[j] - mu);
  const T rstd = T(1.0 / std::sqrt(v / double(n) + eps));
#pragma omp simd
  for (long j = 0; j < n; ++j) {
    const T nj = T((a[j] - mu) * rstd);
    if (norm) norm[j] = nj;
    a[j] = gamma[j] * nj + beta[j];
  }
  return rstd;
}

// d (n): ∂L/∂out in, ∂L/∂a out.
template <class T>
inline void layer_norm_backward(long n, T* d, const T* norm, T rstd, const T* gamma) {
  double m1 = 0, m2 = 0;
#pragma omp simd reduction(+ : m1, m2)
  for (long j = 0; j < n; ++j) {
    const double dn = double(d[j]) * gamma[j];
    m1 += dn;
    m2 += dn * norm[j];
  }
  m1 /= double(n);
  m2 /= double(n);
#pragma omp simd
  for (long j = 0; j < n; ++j) d[j] = T(rstd * (double(d[j]) * gamma[j] - m1 - norm[j] * m2));
}

// Each of the G gate blocks (H units) of one row, normalised separately (in place); `norm`
// (G·H) and `rstd` (G) receive what backward needs, either may be null.
template <class T>
inline void layer_norm_blocks_forward(long G, long H, T* a, const T* gamma, const T* beta, double eps,
                                      T* norm, T* rstd) {
  for (long g = 0; g < G; ++g) {
    const T rs = layer_norm_forward(H, a + g * H, gamma + g * H, beta + g * H, eps,
                                    norm ? norm + g * H : nullptr);
    if (rstd) rstd[g] = rs;
  }
}

// Backward of layer_norm_blocks_forward: d (G·H) ∂L/∂out in, ∂L/∂a out; ∂L/∂γ and ∂L/∂β
// are added to dgamma, dbeta (G·H) when they are non-null.
template <class T>
inline void layer_norm_blocks_backward(long G, long H, T* d, const T* norm, const T* rstd,
                                       const T* gamma, T* dgamma, T* dbeta) {
  if (dgamma) {
#pragma omp simd
    for (long j = 0; j < G * H; ++j) {
      dgamma[j] += d[j] * norm[j];
      dbeta[j] += d[j];
    }
  }
  for (long g = 0; g < G; ++g) layer_norm_backward(H, d + g * H, norm + g * H, rstd[g], gamma + g * H);
}

}  // namespace lstmx
