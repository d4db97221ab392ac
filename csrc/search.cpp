// lstmx._core.best_tokens: the step of a beam search after the logits. For each row of
// logits (R, V) it returns the K most probable tokens and their log-probabilities,
//   logp[r, j] = z[r, t_j] − (m + ln Σ_v e^(z[r, v] − m)),  m = max_v z[r, v],
// with the excluded tokens (<pad>, <sos>: never a real output) at probability 0. Best first;
// among equal logits the lower token id first. One pass per row over a copy in cache: the
// max, then e^(z − m) in float32 lanes (simd.hpp's exp, relative error ≈ 1.2e-7) summed in
// float64, and the top K kept by a threshold test; NumPy needed about ten passes over a
// float64 copy of all R · V logits (seq2seq/search.py has the NumPy statement).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "buffer.hpp"
#include "cells/simd.hpp"
#include "checks.hpp"
#include "parallel.hpp"

namespace py = pybind11;

namespace lstmx {
namespace {

// Σ_v e^(z[v] − m) in float64
double sum_exp(const float* z, long V, float m) {
  double s = 0.0;
  long v = 0;
#ifdef LSTMX_F8
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  const F8 mv(m);
  for (; v + 8 <= V; v += 8) {
    const __m256 e = exp(load8(z + v) - mv).v;
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; v < V; ++v) s += double(std::exp(z[v] - m));
  return s;
}

// The K largest of z (V) into ids/vals, best first, ties to the lower index; fewer than K
// finite-or-infinite candidates above −∞ leave the rest of the slots for the caller.
long top_k(const float* z, long V, long K, int64_t* ids, float* vals) {
  long n = 0;  // filled slots
  float floor = -std::numeric_limits<float>::infinity();
  for (long v = 0; v < V; ++v) {
    const float x = z[v];
    if (!(x > floor) && n == K) continue;  // NaN and values at or below the K-th never enter
    if (!(x > -std::numeric_limits<float>::infinity())) continue;
    long pos = std::min(n, K - 1);
    while (pos > 0 && x > vals[pos - 1]) --pos;  // after equal values: lower ids stay first
    if (n < K) ++n;
    for (long j = n - 1; j > pos; --j) {
      vals[j] = vals[j - 1];
      ids[j] = ids[j - 1];
    }
    vals[pos] = x;
    ids[pos] = v;
    if (n == K) floor = vals[K - 1];
  }
  return n;
}

py::tuple best_tokens(py::object logits_o, long K, std::vector<long> exclude) {
  if (!py::isinstance<py::array>(logits_o))
    throw py::type_error("logits must be a numpy.ndarray, got " +
                         std::string(py::str(logits_o.get_type().attr("__name__"))));
  py::array l0 = py::reinterpret_borrow<py::array>(logits_o);
  if (l0.ndim() != 2) throw py::value_error("logits must have shape (R, V), got " + shape_str(shape_of(l0)));
  const long R = l0.shape(0), V = l0.shape(1);
  if (!is_dtype<float>(l0.dtype()))
    throw py::type_error("logits has dtype " + std::string(py::str(l0.dtype())) + ", expected float32");
  py::array logits = checked(l0, "logits", py::dtype::of<float>(), {R, V}, "(R, V)");
  if (K < 1 || K > V)
    throw py::value_error("K must lie in [1, V=" + std::to_string(V) + "], got " + std::to_string(K));
  for (long e : exclude)
    if (e < 0 || e >= V)
      throw py::value_error("exclude holds " + std::to_string(e) + ", outside [0, V=" + std::to_string(V) + ")");
  py::array_t<int64_t> ids({R, K});
  py::array_t<double> logp({R, K});
  const float* z = static_cast<const float*>(logits.data());
  int64_t* id = ids.mutable_data();
  double* lp = logp.mutable_data();
  {
    py::gil_scoped_release nogil;
    CallTeam team(threads_for_region(20.0 * R * V));
    Buffer<float> rows(team.size() * V), vals(team.size() * K);
#pragma omp parallel num_threads(team.size())
    {
      float* row = rows.get() + thread_index() * V;
      float* top = vals.get() + thread_index() * K;
      long r0, r1;
      split_range(R, team_size(), thread_index(), r0, r1);
      for (long r = r0; r < r1; ++r) {
        std::copy(z + r * V, z + (r + 1) * V, row);
        for (long e : exclude) row[e] = -std::numeric_limits<float>::infinity();
        const float m = *std::max_element(row, row + V);
        const double lse = std::isfinite(m) ? double(m) + std::log(sum_exp(row, V, m))
                                            : std::numeric_limits<double>::quiet_NaN();
        int64_t* ri = id + r * K;
        double* rl = lp + r * K;
        const long n = top_k(row, V, K, ri, top);
        for (long j = 0; j < n; ++j) rl[j] = double(top[j]) - lse;
        // fewer than K possible tokens: the rest are impossible ones, at −∞
        for (long j = n, v = 0; j < K; ++v)
          if (std::find(ri, ri + n, v) == ri + n) {
            ri[j] = v;
            rl[j++] = -std::numeric_limits<double>::infinity();
          }
      }
    }
  }
  return py::make_tuple(ids, logp);
}

}  // namespace

void bind_search(py::module_& m) {
  m.def("best_tokens", &best_tokens, py::arg("logits"), py::arg("k"), py::arg("exclude") = std::vector<long>{},
        "The k most probable tokens of each row of logits (R, V) float32 and their "
        "log-probabilities: (ids (R, k) int64, logp (R, k) float64), best first, ties to the "
        "lower id; the excluded ids get probability 0.");
}

}  // namespace lstmx
