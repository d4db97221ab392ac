// pybind11 module lstmx._core: validates arrays, releases the GIL and calls the sequence
// kernels. Binding only: the math is in engine.hpp and src/cells/; the recurrent layers'
// binding is recurrent_binding.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cblas.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "attention.hpp"
#include "checks.hpp"
#include "parallel.hpp"
#include "blas.hpp"
#include "buffer.hpp"

namespace py = pybind11;
using namespace lstmx;

namespace lstmx {
void bind_recurrent(py::module_& m);  // recurrent_binding.cpp
void bind_quantized(py::module_& m);  // quantized_binding.cpp
void bind_search(py::module_& m);     // search.cpp
}

namespace {

template <class T>
T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <class T>
const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

// C = op(A)·op(B) + beta·C for 2-D C-contiguous arrays of one float dtype, on lstmx's
// OpenMP team (rows of C split over it) with the kernels' GEMM, the GIL released.
// Python-side products in loops that also call the kernels (decoder steps, output
// projections) use it, so that one pool of threads does all the work.
template <class T>
void matmul_typed(const py::array& a, const py::array& b, py::array& c, bool ta, bool tb, T beta) {
  const long m = c.shape(0), n = c.shape(1), k = ta ? a.shape(0) : a.shape(1);
  const T* A = static_cast<const T*>(a.data());
  const T* Bp = static_cast<const T*>(b.data());
  T* C = static_cast<T*>(c.mutable_data());
  const long lda = a.shape(1), ldb = b.shape(1);
  py::gil_scoped_release release;
  CallTeam team(threads_for_region(2.0 * m * n * k));
  if (team.size() == 1) {
    gemm(ta, tb, m, n, k, T(1), A, lda, Bp, ldb, beta, C, n);
    return;
  }
  // A few rows (a decoder step's batch): split the columns, so that no two threads pack the
  // same part of op(B); measured 1.05-1.55x faster at 64 rows, slower from about 256.
  const bool cols = m <= 128 && n >= 64;
#pragma omp parallel num_threads(team.size())
  {
    if (cols) gemm_cols_shared(ta, tb, m, n, k, T(1), A, lda, Bp, ldb, beta, C, n);
    else gemm_rows_shared(ta, tb, m, n, k, T(1), A, lda, Bp, ldb, beta, C, n);
  }
}

py::array matmul(py::array a, py::array b, py::object out, bool ta, bool tb, double beta) {
  for (auto [arr, name] : {std::pair<py::array*, const char*>{&a, "a"}, {&b, "b"}}) {
    if (arr->ndim() != 2)
      throw py::value_error(std::string(name) + " must be 2-D, got " + std::to_string(arr->ndim()) + "-D");
    if (!(arr->flags() & py::array::c_style))
      throw py::value_error(std::string(name) + " must be C-contiguous");
  }
  const py::dtype dt = a.dtype();
  if (!is_dtype<float>(dt) && !is_dtype<double>(dt))
    throw py::type_error("a must be float32 or float64, got " + std::string(py::str(dt)));
  if (!same_dtype(b.dtype(), dt))
    throw py::type_error("b must have a's dtype " + std::string(py::str(dt)) + ", got " +
                         std::string(py::str(b.dtype())));
  const long m = ta ? a.shape(1) : a.shape(0), k = ta ? a.shape(0) : a.shape(1);
  const long kb = tb ? b.shape(1) : b.shape(0), n = tb ? b.shape(0) : b.shape(1);
  if (kb != k)
    throw py::value_error("inner dimensions differ: op(a) is (" + std::to_string(m) + ", " +
                          std::to_string(k) + "), op(b) is (" + std::to_string(kb) + ", " +
                          std::to_string(n) + ")");
  py::array c;
  if (out.is_none()) {
    if (beta != 0.0) throw py::value_error("beta != 0 needs out");
    c = py::array(dt, {m, n});
  } else {
    c = out.cast<py::array>();
    if (c.ndim() != 2 || c.shape(0) != m || c.shape(1) != n)
      throw py::value_error("out must have shape (" + std::to_string(m) + ", " + std::to_string(n) + ")");
    if (!same_dtype(c.dtype(), dt)) throw py::type_error("out must have a's dtype " + std::string(py::str(dt)));
    if (!(c.flags() & py::array::c_style) || !c.writeable())
      throw py::value_error("out must be C-contiguous and writeable");
    auto bytes = [](const py::array& x) {
      const char* p = static_cast<const char*>(x.data());
      return std::pair<const char*, const char*>(p, p + x.nbytes());
    };
    for (const py::array* src : {&a, &b}) {
      auto [s0, s1] = bytes(*src);
      auto [c0, c1] = bytes(c);
      if (s0 < c1 && c0 < s1) throw py::value_error("out must not overlap a or b");
    }
  }
  if (m == 0 || n == 0) return c;
  if (is_dtype<float>(dt)) matmul_typed<float>(a, b, c, ta, tb, float(beta));
  else matmul_typed<double>(a, b, c, ta, tb, beta);
  return c;
}

// The additive attention scores of one decoder step (attention.hpp). keys fix the dtype and
// (B, S, A); every other argument must match them.
py::array attention_arg(const py::object& o, const char* name, const py::array& keys,
                        const std::vector<long>& shape, const char* dims) {
  if (py::isinstance<py::array>(o) && !same_dtype(py::reinterpret_borrow<py::array>(o).dtype(), keys.dtype()))
    throw py::type_error(std::string(name) + " has dtype " +
                         std::string(py::str(py::reinterpret_borrow<py::array>(o).dtype())) +
                         ", expected " + std::string(py::str(keys.dtype())) +
                         " (the dtype of keys); lstmx does not cast silently");
  return checked(o, name, keys.dtype(), shape, dims);
}

py::array attention_keys(const py::object& o) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error("keys must be a numpy.ndarray of shape (B, S, A), got " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  py::array k = py::reinterpret_borrow<py::array>(o);
  if (!is_dtype<float>(k.dtype()) && !is_dtype<double>(k.dtype()))
    throw py::type_error("keys has dtype " + std::string(py::str(k.dtype())) + ", expected float32 or float64");
  if (k.ndim() != 3 || k.shape(0) < 1 || k.shape(1) < 1 || k.shape(2) < 1)
    throw py::value_error("keys must have shape (B, S, A) with B, S, A >= 1, got " + shape_str(shape_of(k)));
  return checked(o, "keys", k.dtype(), shape_of(k), "(B, S, A)");
}

template <class T>
py::tuple additive_scores_typed(py::array keys, py::array qp, py::array v, bool keep) {
  const long B = keys.shape(0), S = keys.shape(1), A = keys.shape(2);
  py::array_t<T> scores({B, S});
  py::array_t<T> e;
  if (keep) e = py::array_t<T>({B, S, A});
  {
    py::gil_scoped_release nogil;
    CallTeam team(threads_for_region(additive_scores_flops(B, S, A)));
    additive_scores<T>(B, S, A, cptr<T>(keys), cptr<T>(qp), cptr<T>(v), scores.mutable_data(),
                       keep ? e.mutable_data() : nullptr);
  }
  return py::make_tuple(scores, keep ? py::object(e) : py::object(py::none()));
}

py::tuple additive_scores_py(py::object keys_o, py::object qp_o, py::object v_o, bool keep) {
  py::array keys = attention_keys(keys_o);
  const long B = keys.shape(0), A = keys.shape(2);
  py::array qp = attention_arg(qp_o, "qp", keys, {B, A}, "(B, A)");
  py::array v = attention_arg(v_o, "v", keys, {A}, "(A,)");
  if (is_dtype<float>(keys.dtype())) return additive_scores_typed<float>(keys, qp, v, keep);
  return additive_scores_typed<double>(keys, qp, v, keep);
}

template <class T>
py::array additive_scores_backward_typed(py::array dscores, py::array e, py::array v,
                                         py::array dkeys, py::array dv) {
  const long B = e.shape(0), S = e.shape(1), A = e.shape(2);
  py::array_t<T> dqp({B, A});
  {
    py::gil_scoped_release nogil;
    CallTeam team(threads_for_region(additive_scores_backward_flops(B, S, A)));
    additive_scores_backward<T>(B, S, A, cptr<T>(dscores), cptr<T>(e), cptr<T>(v),
                                dqp.mutable_data(), ptr<T>(dkeys), ptr<T>(dv));
  }
  return dqp;
}

py::array additive_scores_backward_py(py::object dscores_o, py::object e_o, py::object v_o,
                                      py::object dkeys_o, py::object dv_o) {
  py::array e = attention_keys(e_o);  // e has the keys' shape and dtype
  const long B = e.shape(0), S = e.shape(1), A = e.shape(2);
  py::array dscores = attention_arg(dscores_o, "dscores", e, {B, S}, "(B, S)");
  py::array v = attention_arg(v_o, "v", e, {A}, "(A,)");
  py::array dkeys = attention_arg(dkeys_o, "dkeys", e, {B, S, A}, "(B, S, A)");
  py::array dv = attention_arg(dv_o, "dv", e, {A}, "(A,)");
  for (auto [arr, name] : {std::pair<py::array*, const char*>{&dkeys, "dkeys"}, {&dv, "dv"}})
    if (!arr->writeable()) throw py::value_error(std::string(name) + " must be writeable (it is added to)");
  if (is_dtype<float>(e.dtype())) return additive_scores_backward_typed<float>(dscores, e, v, dkeys, dv);
  return additive_scores_backward_typed<double>(dscores, e, v, dkeys, dv);
}

py::dict build_info() {
  py::dict info;
#ifdef LSTMX_CXX_COMPILER
  info["compiler"] = std::string(LSTMX_CXX_COMPILER);
#else
  info["compiler"] = std::string(__VERSION__);
#endif
#ifdef _OPENMP
  info["openmp"] = true;
  info["openmp_version"] = _OPENMP;  // yyyymm of the specification, e.g. 201511 = 4.5
#else
  info["openmp"] = false;
  info["openmp_version"] = py::none();
#endif
  info["blas"] = std::string("scipy-openblas32: ") + scipy_openblas_get_config();
  info["blas_threads"] = scipy_openblas_get_num_threads();
  py::list simd;
#ifdef __SSE4_2__
  simd.append("sse4.2");
#endif
#ifdef __AVX__
  simd.append("avx");
#endif
#ifdef __AVX2__
  simd.append("avx2");
#endif
#ifdef __FMA__
  simd.append("fma");
#endif
#ifdef __AVX512F__
  simd.append("avx512f");
#endif
  info["simd"] = simd;
  // chosen at run time, whatever the build flags: see sgemm_avx512.hpp
  info["gemm_float32"] = avx512::enabled() ? "lstmx avx512 (runtime dispatch)" : "blas";
  info["num_threads"] = num_threads();
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstmx native sequence kernels (C++/OpenMP). Use the lstmx package, not this module.";

#if defined(__AVX2__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    throw std::runtime_error(
        "lstmx was built with AVX2/FMA but this CPU lacks them; rebuild with "
        "`pip install . -Ccmake.define.LSTMX_AVX2=OFF`");
#endif
  // One thread pool: lstmx's BLAS never starts threads of its own (see parallel.hpp).
  scipy_openblas_set_num_threads(1);

  // The thread policy (parallel.hpp); lstmx/threads.py is its Python face.
  m.def("set_num_threads", [](long n) {
    const long limit = kMaxThreadsPerCpu * std::max(1u, std::thread::hardware_concurrency());
    if (n < 0 || n > limit)
      throw py::value_error("n must be 0 (automatic) or between 1 and " + std::to_string(limit) +
                            " (64 per CPU), got " + std::to_string(n));
    set_num_threads(int(n));
  }, py::arg("n"), "Fix the team size (n >= 1) or return to the automatic policy (n = 0).");
  m.def("get_num_threads", &num_threads, "The team size in force.");
  m.def("set_cpu_budget", [](long n) {
    if (n < 1 || n > (1L << 20)) throw py::value_error("n must be >= 1, got " + std::to_string(n));
    set_cpu_budget(int(n));
  }, py::arg("n"), "CPUs this process may use: the automatic policy's ceiling.");
  m.def("get_cpu_budget", &cpu_budget);
  m.def("threads_for", [](double flops) { return threads_for_region(flops, policy_threads()); },
        py::arg("flops"), "Threads worth using for a region of this many flops (the cost rule).");
  m.def("_policy_stats", [] {
    const PolicyStats st = policy_stats();
    py::dict d;
    d["automatic"] = st.automatic; d["budget"] = st.budget; d["size"] = st.size;
    d["running"] = st.running; d["shrinks"] = st.shrinks; d["grows"] = st.grows;
    d["probes"] = st.probes;
    d["last_wait"] = st.last_wait < 0 ? py::object(py::none()) : py::object(py::float_(st.last_wait));
    return d;
  });
  m.def("_set_cost_rule", &set_cost_rule, py::arg("on"),
        "For the tests: off, every call takes its whole team (multi-thread paths at small sizes).");
  // For the tests: drive the adaptive policy with measurements at given times (seconds).
  m.def("_adaptive_feed", &adaptive_feed, py::arg("n"), py::arg("wait_fraction"),
        py::arg("probe"), py::arg("now"));
  m.def("_adaptive_size_for_call", [](int useful, double now) {
    bool probe = false;
    const int n = adaptive_size_for_call(useful, now, &probe);
    return py::make_tuple(n, probe);
  }, py::arg("useful"), py::arg("now"));
  m.def("build_info", &build_info);
  m.def("additive_scores", &additive_scores_py, py::arg("keys"), py::arg("qp"), py::arg("v"),
        py::arg("keep") = true,
        "Additive attention scores v · tanh(keys + qp[:, None]) (B, S), and e = the tanh "
        "(B, S, A) when keep (else None).");
  m.def("additive_scores_backward", &additive_scores_backward_py, py::arg("dscores"),
        py::arg("e"), py::arg("v"), py::arg("dkeys"), py::arg("dv"),
        "Backward of additive_scores: returns dqp (B, A); adds into dkeys (B, S, A) and dv (A,).");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
        py::arg("ta") = false, py::arg("tb") = false, py::arg("beta") = 0.0,
        "op(a) @ op(b) (+ beta * out) on lstmx's threads; op(x) = x.T when its flag is set.");
  // For the tests: the float32 GEMM the kernels use, C = alpha·op(A)·op(B) + beta·C in place.
  m.def("_gemm", [](py::array_t<float, 0> a, py::array_t<float, 0> b, py::array_t<float, 0> c,
                   bool ta, bool tb, float alpha, float beta, bool packed) {
    auto A = a.unchecked<2>();
    auto Bm = b.unchecked<2>();
    auto C = c.mutable_unchecked<2>();
    const long m = C.shape(0), n = C.shape(1), k = ta ? A.shape(0) : A.shape(1);
    if ((ta ? A.shape(1) : A.shape(0)) != m || (tb ? Bm.shape(1) : Bm.shape(0)) != k ||
        (tb ? Bm.shape(0) : Bm.shape(1)) != n)
      throw py::value_error("_gemm: shapes of a, b and c do not agree");
    if (!(a.flags() & b.flags() & c.flags() & py::array::c_style))
      throw py::value_error("_gemm: a, b and c must be C-contiguous");
    const long lda = A.shape(1), ldb = Bm.shape(1), ldc = n;
    if (packed) {
      if (!avx512::enabled() || ta) throw py::value_error("_gemm: packed needs AVX-512 and ta=False");
      Buffer<float> p(avx512::packed_b_size(k, n));
      avx512::pack_b(tb, k, n, b.data(), ldb, p.get());
      avx512::sgemm_packed(m, n, k, alpha, a.data(), lda, p.get(), beta, c.mutable_data(), ldc);
    } else {
      gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.mutable_data(), ldc);
    }
  }, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("ta") = false, py::arg("tb") = false,
     py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f, py::arg("packed") = false);
  bind_recurrent(m);
  bind_quantized(m);
  bind_search(m);
}
