// The binding of the quantized products (quantized.hpp): lstmx._core.QuantizedMatrix,
// quantized_linear, quantized_path and set_quantized_path. The recurrent layers take
// QuantizedMatrix objects through recurrent_forward's `quantized` argument
// (recurrent_binding.cpp, quantized_matrix below).
#include "quantized_binding.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <memory>
#include <string>

#include "checks.hpp"
#include "parallel.hpp"

namespace py = pybind11;

namespace lstmx {
namespace {

// A float32 array, or a TypeError that says so (checked() would name x's dtype as the reason).
void need_float32(const py::handle& o, const char* name) {
  if (py::isinstance<py::array>(o) && !is_dtype<float>(py::reinterpret_borrow<py::array>(o).dtype()))
    throw py::type_error(std::string(name) + " has dtype " +
                         std::string(py::str(py::reinterpret_borrow<py::array>(o).dtype())) +
                         ", expected float32; lstmx does not cast silently");
}

const char* kind_name(quant::Kind k) { return k == quant::Kind::int8 ? "int8" : "bfloat16"; }

quant::Kind parse_kind(const std::string& s) {
  if (s == "int8") return quant::Kind::int8;
  if (s == "bfloat16") return quant::Kind::bf16;
  throw py::value_error("kind must be 'int8' or 'bfloat16', got '" + s + "'");
}

std::shared_ptr<quant::Matrix> make_matrix(py::object weight_o, py::object scale_o, int gates) {
  if (!py::isinstance<py::array>(weight_o))
    throw py::type_error("weight must be a numpy.ndarray, got " +
                         std::string(py::str(weight_o.get_type().attr("__name__"))));
  py::array w = py::reinterpret_borrow<py::array>(weight_o);
  if (w.ndim() != 2 || w.shape(0) < 1 || w.shape(1) < 1)
    throw py::value_error("weight must have shape (N, K) with N, K >= 1, got " + shape_str(shape_of(w)));
  const long N = w.shape(0), K = w.shape(1);
  if (K > 65536) throw py::value_error("weight has K=" + std::to_string(K) + " inputs; at most 65536 are supported");
  if (gates < 0 || (gates > 0 && N % gates != 0))
    throw py::value_error("gates must be 0 or divide N=" + std::to_string(N) + ", got " + std::to_string(gates));
  auto m = std::make_shared<quant::Matrix>();
  if (is_dtype<int8_t>(w.dtype())) {
    if (scale_o.is_none()) throw py::value_error("an int8 weight needs its scale (N,) float32");
    checked(w, "weight", w.dtype(), {N, K}, "(N, K)");
    need_float32(scale_o, "scale");
    py::array s = checked(scale_o, "scale", py::dtype::of<float>(), {N}, "(N,)");
    const float* sp = static_cast<const float*>(s.data());
    for (long n = 0; n < N; ++n)
      if (!(sp[n] >= 0.0f) || !std::isfinite(sp[n]))
        throw py::value_error("scale[" + std::to_string(n) + "]=" + std::to_string(sp[n]) +
                              " must be finite and >= 0");
    py::gil_scoped_release nogil;
    quant::pack_int8(*m, static_cast<const int8_t*>(w.data()), sp, N, K, gates);
  } else if (is_dtype<uint16_t>(w.dtype())) {
    if (!scale_o.is_none()) throw py::value_error("a bfloat16 weight (uint16 bit patterns) takes no scale");
    checked(w, "weight", w.dtype(), {N, K}, "(N, K)");
    py::gil_scoped_release nogil;
    quant::pack_bf16(*m, static_cast<const uint16_t*>(w.data()), N, K, gates);
  } else {
    throw py::type_error("weight has dtype " + std::string(py::str(w.dtype())) +
                         ", expected int8 (with a scale) or uint16 (bfloat16 bit patterns)");
  }
  return m;
}

py::array_t<float> linear(py::object x_o, const quant::Matrix& w, py::object bias_o) {
  if (!py::isinstance<py::array>(x_o))
    throw py::type_error("x must be a numpy.ndarray, got " + std::string(py::str(x_o.get_type().attr("__name__"))));
  py::array x0 = py::reinterpret_borrow<py::array>(x_o);
  if (x0.ndim() != 2) throw py::value_error("x must have shape (M, K), got " + shape_str(shape_of(x0)));
  const long M = x0.shape(0);
  need_float32(x0, "x");
  py::array x = checked(x0, "x", py::dtype::of<float>(), {M, w.K}, "(M, K)");
  py::array bias;
  if (!bias_o.is_none()) {
    need_float32(bias_o, "bias");
    bias = checked(bias_o, "bias", py::dtype::of<float>(), {w.N}, "(N,)");
  }
  if (w.gates > 0) throw py::value_error("this matrix is packed for a recurrent layer (gates > 0); pack it with gates=0");
  py::array_t<float> y({M, w.N});
  if (M == 0) return y;
  const float* xp = static_cast<const float*>(x.data());
  const float* bp = bias.ptr() && bias.size() ? static_cast<const float*>(bias.data()) : nullptr;
  float* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  CallTeam team(threads_for_region(2.0 * M * w.N * w.K));
  quant::team_product(w, xp, M, yp, bp, team.size());
  return y;
}

}  // namespace

std::shared_ptr<const quant::Matrix> quantized_matrix(const py::handle& o, const std::string& name) {
  try {
    return o.cast<std::shared_ptr<quant::Matrix>>();
  } catch (const py::cast_error&) {
    throw py::type_error(name + " must be a lstmx._core.QuantizedMatrix, got " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  }
}

const char* quantized_kind_name(const quant::Matrix& m) { return kind_name(m.kind); }

void bind_quantized(py::module_& m) {
  py::class_<quant::Matrix, std::shared_ptr<quant::Matrix>>(
      m, "QuantizedMatrix",
      "A weight matrix (N, K) packed for the quantized products: int8 rows with float32 scales "
      "(N,), or bfloat16 bit patterns (uint16). gates=G packs a recurrent W_hh of G gate blocks "
      "for the recurrent engine; gates=0 the plain order (linear layers, W_ih, cells).")
      .def(py::init(&make_matrix), py::arg("weight"), py::arg("scale") = py::none(), py::arg("gates") = 0)
      .def_property_readonly("kind", [](const quant::Matrix& q) { return kind_name(q.kind); })
      .def_property_readonly("shape", [](const quant::Matrix& q) { return py::make_tuple(q.N, q.K); })
      .def_property_readonly("gates", [](const quant::Matrix& q) { return q.gates; })
      .def_property_readonly("nbytes", [](const quant::Matrix& q) { return q.bytes(); })
      .def("__repr__", [](const quant::Matrix& q) {
        return "QuantizedMatrix(" + std::string(kind_name(q.kind)) + ", shape=(" + std::to_string(q.N) + ", " +
               std::to_string(q.K) + "), gates=" + std::to_string(q.gates) + ")";
      });
  m.def("quantized_linear", &linear, py::arg("x"), py::arg("matrix"), py::arg("bias") = py::none(),
        "x (M, K) float32 times the quantized matrix's transpose (+ bias (N,)): (M, N) float32.");
  m.def("quantized_path", [](const std::string& kind) { return quant::path_name(parse_kind(kind)); },
        py::arg("kind"), "The product in use for 'int8' or 'bfloat16': 'amx-int8', 'avx512-vnni', 'avx512-bf16' or 'portable'.");
  m.def("set_quantized_path", [](const std::string& choice) {
    try {
      return std::string(quant::set_path(choice.c_str()));
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }, py::arg("choice"), "'auto' (the CPU's best), 'avx512' (VNNI/BF16, no AMX) or 'portable' (for tests; all give "
     "the same bits); returns the previous choice.");
}

}  // namespace lstmx
