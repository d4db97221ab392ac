// pybind11 module lstmx._core: validates arrays, releases the GIL and calls the sequence
// kernels. Binding only: the math is in engine.hpp and src/cells/.
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
#include "sequence.hpp"
#include "blas.hpp"
#include "buffer.hpp"

namespace py = pybind11;
using namespace lstmx;

namespace lstmx {
void bind_extended(py::module_& m);  // extended_binding.cpp
}

namespace {

enum class Kind { lstm, gru, rnn };

int gate_count(Kind k) { return k == Kind::lstm ? 4 : k == Kind::gru ? 3 : 1; }
bool has_cell_state(Kind k) { return k == Kind::lstm; }

// x (T, B, I) and w_hh (G·H, H) fix every other shape.
struct Dims {
  long T, B, I, H, G;
};

Dims dims_of(const py::handle& x_obj, const py::handle& w_hh_obj, Kind kind, py::dtype& dt) {
  if (!py::isinstance<py::array>(x_obj))
    throw py::type_error("x must be a numpy.ndarray of shape (T, B, I), got " +
                         std::string(py::str(x_obj.get_type().attr("__name__"))));
  py::array x = py::reinterpret_borrow<py::array>(x_obj);
  dt = x.dtype();
  if (!is_dtype<float>(dt) && !is_dtype<double>(dt))
    throw py::type_error("x has dtype " + std::string(py::str(dt)) + ", expected float32 or float64");
  if (x.ndim() != 3)
    throw py::value_error("x must have shape (T, B, I), got " + shape_str(shape_of(x)));
  Dims d{x.shape(0), x.shape(1), x.shape(2), 0, gate_count(kind)};
  if (d.T < 1 || d.B < 1 || d.I < 1)
    throw py::value_error("x must have T, B, I >= 1, got shape " + shape_str(shape_of(x)));
  if (!py::isinstance<py::array>(w_hh_obj) || py::reinterpret_borrow<py::array>(w_hh_obj).ndim() != 2)
    throw py::value_error("w_hh must be a 2-D numpy.ndarray of shape (G*H, H)");
  py::array w_hh = py::reinterpret_borrow<py::array>(w_hh_obj);
  d.H = w_hh.shape(1);
  if (d.H < 1) throw py::value_error("w_hh must have H >= 1 columns");
  if (w_hh.shape(0) != d.G * d.H)  // checked first: the other shapes are derived from it
    throw py::value_error("w_hh must have shape (G*H, H) = " + shape_str({d.G * d.H, d.H}) +
                          " for its H = " + std::to_string(d.H) + " columns, got " +
                          shape_str(shape_of(w_hh)));
  return d;
}

// Threads a whole-sequence call can use: its largest region by the cost rule (parallel.hpp).
// `passes`: 1 for a forward (F = 2·T·B·G·H·(I+H) flops), 2 for a backward.
int useful_threads(const Dims& d, double passes) {
  const double step = 2.0 * d.B * d.G * d.H * d.H;
  const double total = passes * d.T * (step + 2.0 * d.B * d.G * d.H * d.I);
  return std::max(threads_for_region(total), threads_for_steps(step, d.H));
}

template <class T>
T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <class T>
const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

// Optional state-shaped input (None -> null pointer).
py::array optional(const py::object& o, const char* name, const py::dtype& dt, long B, long H) {
  if (o.is_none()) return py::array();
  return checked(o, name, dt, {B, H}, "(B, H)");
}

template <class T>
const T* opt_ptr(const py::array& a) { return a.ptr() && a.size() ? cptr<T>(a) : nullptr; }

template <class T>
py::tuple forward_typed(Kind kind, bool relu, const Dims& d, const py::dtype& dt,
                        py::object x_o, py::object h0_o, py::object c0_o, py::object w_ih_o,
                        py::object w_hh_o, py::object b_ih_o, py::object b_hh_o,
                        py::object len_o, bool training) {
  const long GH = d.G * d.H;
  py::array x = checked(x_o, "x", dt, {d.T, d.B, d.I}, "(T, B, I)");
  py::array w_ih = checked(w_ih_o, "w_ih", dt, {GH, d.I}, "(G*H, I)");
  py::array w_hh = checked(w_hh_o, "w_hh", dt, {GH, d.H}, "(G*H, H)");
  py::array b_ih = checked(b_ih_o, "b_ih", dt, {GH}, "(G*H,)");
  py::array b_hh = checked(b_hh_o, "b_hh", dt, {GH}, "(G*H,)");
  py::array h0 = optional(h0_o, "h0", dt, d.B, d.H);
  py::array c0;
  if (has_cell_state(kind)) c0 = optional(c0_o, "c0", dt, d.B, d.H);
  py::array len_keep;
  const int64_t* lengths = checked_lengths(len_o, d.B, d.T, len_keep);

  py::array_t<T> y({d.T, d.B, d.H}), h_n({d.B, d.H}), c_n;
  if (has_cell_state(kind)) c_n = py::array_t<T>({d.B, d.H});
  py::dict ws;
  SeqForward<T> a;
  a.T = d.T; a.B = d.B; a.I = d.I; a.H = d.H;
  a.x = cptr<T>(x); a.w_ih = cptr<T>(w_ih); a.w_hh = cptr<T>(w_hh);
  a.b_ih = cptr<T>(b_ih); a.b_hh = cptr<T>(b_hh);
  a.lengths = lengths;
  a.h0 = opt_ptr<T>(h0); a.c0 = opt_ptr<T>(c0);
  a.y = y.mutable_data(); a.h_n = h_n.mutable_data();
  if (has_cell_state(kind)) a.c_n = c_n.mutable_data();
  if (training) {
    py::array_t<T> hs({d.T + 1, d.B, d.H});
    a.hs = hs.mutable_data();
    ws["hs"] = hs;
    if (kind != Kind::rnn) {
      py::array_t<T> gates({d.T, d.B, GH}), aux({d.T, d.B, d.H});
      a.gates = gates.mutable_data(); a.aux = aux.mutable_data();
      ws["gates"] = gates; ws["aux"] = aux;
    }
    if (has_cell_state(kind)) {
      py::array_t<T> cs({d.T + 1, d.B, d.H});
      a.cs = cs.mutable_data();
      ws["cs"] = cs;
    }
  }
  {
    py::gil_scoped_release nogil;
    CallTeam team(useful_threads(d, 1), /*loop=*/true);
    if (kind == Kind::lstm) lstm_forward(a);
    else if (kind == Kind::gru) gru_forward(a);
    else rnn_forward(a, relu);
  }
  py::object ws_out = training ? py::object(ws) : py::object(py::none());
  if (has_cell_state(kind)) return py::make_tuple(y, h_n, c_n, ws_out);
  return py::make_tuple(y, h_n, ws_out);
}

template <class T>
py::tuple backward_typed(Kind kind, bool relu, const Dims& d, const py::dtype& dt,
                         py::object x_o, py::object w_ih_o, py::object w_hh_o, py::object len_o,
                         py::dict ws, py::object dy_o, py::object dh_n_o, py::object dc_n_o,
                         bool need_dx) {
  const long GH = d.G * d.H;
  py::array x = checked(x_o, "x", dt, {d.T, d.B, d.I}, "(T, B, I)");
  py::array w_ih = checked(w_ih_o, "w_ih", dt, {GH, d.I}, "(G*H, I)");
  py::array w_hh = checked(w_hh_o, "w_hh", dt, {GH, d.H}, "(G*H, H)");
  py::array len_keep;
  const int64_t* lengths = checked_lengths(len_o, d.B, d.T, len_keep);
  auto need = [&](const char* key) -> py::object {
    if (!ws.contains(key))
      throw py::value_error(std::string("workspace is missing '") + key +
                            "': pass the workspace returned by the training forward");
    return ws[key];
  };
  py::array hs = checked(need("hs"), "workspace['hs']", dt, {d.T + 1, d.B, d.H}, "(T+1, B, H)");
  py::array gates, aux, cs;
  if (kind != Kind::rnn) {
    gates = checked(need("gates"), "workspace['gates']", dt, {d.T, d.B, GH}, "(T, B, G*H)");
    aux = checked(need("aux"), "workspace['aux']", dt, {d.T, d.B, d.H}, "(T, B, H)");
  }
  if (has_cell_state(kind))
    cs = checked(need("cs"), "workspace['cs']", dt, {d.T + 1, d.B, d.H}, "(T+1, B, H)");
  py::array dy;
  if (!dy_o.is_none()) dy = checked(dy_o, "dy", dt, {d.T, d.B, d.H}, "(T, B, H)");
  py::array dh_n = optional(dh_n_o, "dh_n", dt, d.B, d.H);
  py::array dc_n;
  if (has_cell_state(kind)) dc_n = optional(dc_n_o, "dc_n", dt, d.B, d.H);

  py::array_t<T> dh0({d.B, d.H}), dw_ih({GH, d.I}), dw_hh({GH, d.H}), db_ih({GH}), db_hh({GH});
  py::array_t<T> dc0, dx;
  if (has_cell_state(kind)) dc0 = py::array_t<T>({d.B, d.H});
  if (need_dx) dx = py::array_t<T>({d.T, d.B, d.I});

  SeqBackward<T> a;
  a.T = d.T; a.B = d.B; a.I = d.I; a.H = d.H;
  a.x = cptr<T>(x); a.w_ih = cptr<T>(w_ih); a.w_hh = cptr<T>(w_hh);
  a.lengths = lengths;
  a.hs = cptr<T>(hs);
  if (kind != Kind::rnn) { a.gates = cptr<T>(gates); a.aux = cptr<T>(aux); }
  if (has_cell_state(kind)) { a.cs = cptr<T>(cs); a.dc_n = opt_ptr<T>(dc_n); a.dc0 = dc0.mutable_data(); }
  a.dy = opt_ptr<T>(dy);
  a.dh_n = opt_ptr<T>(dh_n);
  a.dx = need_dx ? dx.mutable_data() : nullptr;
  a.dh0 = dh0.mutable_data();
  a.dw_ih = dw_ih.mutable_data(); a.dw_hh = dw_hh.mutable_data();
  a.db_ih = db_ih.mutable_data(); a.db_hh = db_hh.mutable_data();
  {
    py::gil_scoped_release nogil;
    CallTeam team(useful_threads(d, 2), /*loop=*/true);
    if (kind == Kind::lstm) lstm_backward(a);
    else if (kind == Kind::gru) gru_backward(a);
    else rnn_backward(a, relu);
  }
  py::object dx_out = need_dx ? py::object(dx) : py::object(py::none());
  if (has_cell_state(kind)) return py::make_tuple(dx_out, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh);
  return py::make_tuple(dx_out, dh0, dw_ih, dw_hh, db_ih, db_hh);
}

bool parse_nonlinearity(const std::string& s) {
  if (s == "tanh") return false;
  if (s == "relu") return true;
  throw py::value_error("nonlinearity must be 'tanh' or 'relu', got '" + s + "'");
}

py::tuple forward(Kind kind, const std::string& nonlin, py::object x, py::object h0, py::object c0,
                  py::object w_ih, py::object w_hh, py::object b_ih, py::object b_hh,
                  py::object lengths, bool training) {
  const bool relu = parse_nonlinearity(nonlin);
  py::dtype dt;
  const Dims d = dims_of(x, w_hh, kind, dt);
  if (is_dtype<float>(dt))
    return forward_typed<float>(kind, relu, d, dt, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, training);
  return forward_typed<double>(kind, relu, d, dt, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, training);
}

py::tuple backward(Kind kind, const std::string& nonlin, py::object x, py::object w_ih,
                   py::object w_hh, py::object lengths, py::dict ws, py::object dy,
                   py::object dh_n, py::object dc_n, bool need_dx) {
  const bool relu = parse_nonlinearity(nonlin);
  py::dtype dt;
  const Dims d = dims_of(x, w_hh, kind, dt);
  if (is_dtype<float>(dt))
    return backward_typed<float>(kind, relu, d, dt, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n, need_dx);
  return backward_typed<double>(kind, relu, d, dt, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n, need_dx);
}

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

  const char* fwd_doc = "Whole-sequence forward. Returns (y, h_n[, c_n], workspace or None).";
  const char* bwd_doc = "Whole-sequence backward. Returns (dx or None, dh0[, dc0], dw_ih, dw_hh, db_ih, db_hh).";
  m.def("lstm_forward",
        [](py::object x, py::object h0, py::object c0, py::object w_ih, py::object w_hh,
           py::object b_ih, py::object b_hh, py::object lengths, bool training) {
          return forward(Kind::lstm, "tanh", x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, training);
        },
        py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih"), py::arg("b_hh"), py::arg("lengths") = py::none(),
        py::arg("training") = true, fwd_doc);
  m.def("lstm_backward",
        [](py::object x, py::object w_ih, py::object w_hh, py::object lengths, py::dict ws,
           py::object dy, py::object dh_n, py::object dc_n, bool need_dx) {
          return backward(Kind::lstm, "tanh", x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n, need_dx);
        },
        py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("lengths"), py::arg("workspace"),
        py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"), py::arg("need_dx") = true, bwd_doc);
  for (Kind kind : {Kind::gru, Kind::rnn}) {
    const std::string name = kind == Kind::gru ? "gru" : "rnn";
    m.def((name + "_forward").c_str(),
          [kind](py::object x, py::object h0, py::object w_ih, py::object w_hh, py::object b_ih,
                 py::object b_hh, py::object lengths, bool training, const std::string& nonlin) {
            return forward(kind, nonlin, x, h0, py::none(), w_ih, w_hh, b_ih, b_hh, lengths, training);
          },
          py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
          py::arg("b_hh"), py::arg("lengths") = py::none(), py::arg("training") = true,
          py::arg("nonlinearity") = "tanh", fwd_doc);
    m.def((name + "_backward").c_str(),
          [kind](py::object x, py::object w_ih, py::object w_hh, py::object lengths, py::dict ws,
                 py::object dy, py::object dh_n, bool need_dx, const std::string& nonlin) {
            return backward(kind, nonlin, x, w_ih, w_hh, lengths, ws, dy, dh_n, py::none(), need_dx);
          },
          py::arg("x"), py::arg("w_ih"), py::arg("w_hh"), py::arg("lengths"),
          py::arg("workspace"), py::arg("dy"), py::arg("dh_n"), py::arg("need_dx") = true,
          py::arg("nonlinearity") = "tanh", bwd_doc);
  }
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
  bind_extended(m);
}
