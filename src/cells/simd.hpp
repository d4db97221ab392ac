// Lane types for the cell math: the gate formulas in lstm_cell.hpp & co. are written once,
// over a lane type V, and run with V = float or double (one unit at a time) or, with AVX2,
// V = F8 (eight float32 units at a time). float64 always takes the scalar path (std::exp,
// std::tanh), so the float64 kernels agree with the NumPy reference to rounding.
#pragma once

#include <cmath>
#include <type_traits>

#include "activations.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LSTMX_F8 1
#endif

namespace lstmx {

template <class T> inline T load(const T* p) { return *p; }
inline void store(float* p, float v) { *p = v; }
inline void store(double* p, double v) { *p = v; }

#ifdef LSTMX_F8
struct F8 {
  __m256 v;
  F8(__m256 x) : v(x) {}
  explicit F8(float x) : v(_mm256_set1_ps(x)) {}
};
inline F8 operator+(F8 a, F8 b) { return _mm256_add_ps(a.v, b.v); }
inline F8 operator-(F8 a, F8 b) { return _mm256_sub_ps(a.v, b.v); }
inline F8 operator*(F8 a, F8 b) { return _mm256_mul_ps(a.v, b.v); }
inline F8 operator/(F8 a, F8 b) { return _mm256_div_ps(a.v, b.v); }
inline F8 load8(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, F8 x) { _mm256_storeu_ps(p, x.v); }

// The few operations exp_lanes needs beyond + − ×, for F8 (and F16 below).
inline F8 fmadd(F8 a, F8 b, F8 c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
inline F8 fnmadd(F8 a, F8 b, F8 c) { return _mm256_fnmadd_ps(a.v, b.v, c.v); }
inline F8 clamp(F8 x, float lo, float hi) {
  return _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x.v));
}
inline F8 exp_limits(F8 x, F8 e) {  // +Inf above ln(FLT_MAX), 0 below the clamp
  const __m256 big = _mm256_cmp_ps(x.v, _mm256_set1_ps(88.7228f), _CMP_GT_OQ);
  const __m256 tiny = _mm256_cmp_ps(x.v, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  return _mm256_andnot_ps(tiny, _mm256_blendv_ps(e.v, _mm256_set1_ps(INFINITY), big));
}
inline F8 round_nearest(F8 x) { return _mm256_round_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline F8 pow2(F8 n) {  // 2^n for integral n in [-126, 127]: the exponent bits
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127)), 23));
}

// e^x for float32 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor polynomial to
// degree 6 (relative error ≈ 1.2e-7), then 2^n assembled in the exponent bits.
// The clamp keeps 2^n a normal float; NaN passes through (max/min return their second
// operand when one is NaN). Past the clamp the result is what std::exp gives as a float:
// +Inf above ln(FLT_MAX), 0 below the clamp (e^x < 1.2e-38 there), so that σ(±Inf) is exactly
// 1 or 0 and an infinite input gives the reference's Inf or NaN, not a large finite value.
template <class V>
inline V exp_core(V x) {
  V v = clamp(x, -87.3f, 88.3f);
  const V n = round_nearest(v * V(1.44269504f));
  v = fnmadd(n, V(0.693145752f), v);   // ln2 split in a high part
  v = fnmadd(n, V(1.42860677e-6f), v); // and the rest
  V p(1.0f / 720);
  p = fmadd(p, v, V(1.0f / 120));
  p = fmadd(p, v, V(1.0f / 24));
  p = fmadd(p, v, V(1.0f / 6));
  p = fmadd(p, v, V(0.5f));
  p = fmadd(p, v, V(1.0f));
  p = fmadd(p, v, V(1.0f));
  return p * pow2(n);
}
template <class V>
inline V exp_lanes(V x) {
  return exp_limits(x, exp_core(x));
}
inline F8 exp(F8 x) { return exp_lanes(x); }
// σ(x) = 1 / (1 + e^−x)
inline F8 sigmoid(F8 x) { return F8(1.0f) / (F8(1.0f) + exp(F8(0.0f) - x)); }
// tanh(x) = 2σ(2x) − 1 (absolute error ≈ 1e-7)
inline F8 tanh_(F8 x) { return F8(2.0f) * sigmoid(F8(2.0f) * x) - F8(1.0f); }
// max(0, x) with NaN kept: _mm256_max_ps returns its second operand when one is NaN
inline F8 relu(F8 x) { return _mm256_max_ps(_mm256_setzero_ps(), x.v); }
inline F8 drelu_from_y(F8 y) {
  return _mm256_and_ps(_mm256_cmp_ps(y.v, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(1.0f));
}
inline F8 expm1_(F8 x) { return exp(x) - F8(1.0f); }
inline F8 where_positive(F8 x, F8 a, F8 b) {
  return _mm256_blendv_ps(b.v, a.v, _mm256_cmp_ps(x.v, _mm256_setzero_ps(), _CMP_GT_OQ));
}
inline F8 where_unit(F8 y, F8 a, F8 b) {
  const __m256 in = _mm256_and_ps(_mm256_cmp_ps(y.v, _mm256_setzero_ps(), _CMP_GT_OQ),
                                  _mm256_cmp_ps(y.v, _mm256_set1_ps(1.0f), _CMP_LT_OQ));
  return _mm256_blendv_ps(b.v, a.v, in);
}
inline F8 clip01(F8 y) { return clamp(y, 0.0f, 1.0f); }
#endif

#if defined(LSTMX_F8) && defined(__AVX512F__)
// Sixteen float32 lanes. Only csrc/cells_avx512.cpp is compiled with AVX-512 enabled (and
// includes these headers in a namespace of its own); everything else sees F8 at most.
#define LSTMX_F16 1
struct F16 {
  __m512 v;
  F16(__m512 x) : v(x) {}
  explicit F16(float x) : v(_mm512_set1_ps(x)) {}
};
inline F16 operator+(F16 a, F16 b) { return _mm512_add_ps(a.v, b.v); }
inline F16 operator-(F16 a, F16 b) { return _mm512_sub_ps(a.v, b.v); }
inline F16 operator*(F16 a, F16 b) { return _mm512_mul_ps(a.v, b.v); }
inline F16 operator/(F16 a, F16 b) { return _mm512_div_ps(a.v, b.v); }
inline F16 load16(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, F16 x) { _mm512_storeu_ps(p, x.v); }
inline F16 fmadd(F16 a, F16 b, F16 c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }
inline F16 fnmadd(F16 a, F16 b, F16 c) { return _mm512_fnmadd_ps(a.v, b.v, c.v); }
inline F16 clamp(F16 x, float lo, float hi) {
  return _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), x.v));
}
inline F16 exp_limits(F16 x, F16 e) {
  const __mmask16 big = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(88.7228f), _CMP_GT_OQ);
  const __mmask16 tiny = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(-87.3f), _CMP_LT_OQ);
  return _mm512_maskz_mov_ps(__mmask16(~tiny), _mm512_mask_mov_ps(e.v, big, _mm512_set1_ps(INFINITY)));
}
inline F16 round_nearest(F16 x) {
  return _mm512_roundscale_ps(x.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline F16 pow2(F16 n) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127)), 23));
}
inline F16 exp(F16 x) { return exp_lanes(x); }
inline F16 sigmoid(F16 x) { return F16(1.0f) / (F16(1.0f) + exp(F16(0.0f) - x)); }
inline F16 tanh_(F16 x) { return F16(2.0f) * sigmoid(F16(2.0f) * x) - F16(1.0f); }
inline F16 relu(F16 x) { return _mm512_max_ps(_mm512_setzero_ps(), x.v); }
inline F16 drelu_from_y(F16 y) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y.v, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(1.0f));
}
inline F16 expm1_(F16 x) { return exp(x) - F16(1.0f); }
inline F16 where_positive(F16 x, F16 a, F16 b) {
  return _mm512_mask_mov_ps(b.v, _mm512_cmp_ps_mask(x.v, _mm512_setzero_ps(), _CMP_GT_OQ), a.v);
}
inline F16 where_unit(F16 y, F16 a, F16 b) {
  const __mmask16 in = _mm512_cmp_ps_mask(y.v, _mm512_setzero_ps(), _CMP_GT_OQ) &
                       _mm512_cmp_ps_mask(y.v, _mm512_set1_ps(1.0f), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(b.v, in, a.v);
}
inline F16 clip01(F16 y) { return clamp(y, 0.0f, 1.0f); }
#endif

// for_lanes(n, f): f.template operator()<V>(j) over j in [0, n), sixteen float32 units at a
// time where AVX-512 is on, eight where AVX2 is, one at a time otherwise and for the tail.
template <class T, class F>
inline void for_lanes(int n, F&& f) {
  int j = 0;
#ifdef LSTMX_F16
  if constexpr (std::is_same_v<T, float>)
    for (; j + 16 <= n; j += 16) f(j, [](const float* p) { return load16(p); });
#endif
#ifdef LSTMX_F8
  if constexpr (std::is_same_v<T, float>)
    for (; j + 8 <= n; j += 8) f(j, [](const float* p) { return load8(p); });
#endif
  for (; j < n; ++j) f(j, [](const T* p) { return load(p); });
}

}  // namespace lstmx
