// Argument checks for the binding: every array is validated (type, dtype, rank, shape,
// contiguity, index ranges) before any work starts, with messages that name the argument
// and say what was expected.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lstmx {
namespace py = pybind11;

inline std::string shape_str(const std::vector<long>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

inline std::vector<long> shape_of(const py::array& a) {
  return std::vector<long>(a.shape(), a.shape() + a.ndim());
}

// Whether two dtypes are the same native-byte-order type. Not `a.is(b)`: an array that went
// through pickle (multiprocessing, joblib) carries an equal dtype that is another object.
inline bool same_dtype(const py::dtype& a, const py::dtype& b) {
  return a.num() == b.num() && a.attr("isnative").cast<bool>() && b.attr("isnative").cast<bool>();
}

template <class T>
inline bool is_dtype(const py::dtype& a) { return same_dtype(a, py::dtype::of<T>()); }

// The array `obj` (argument `name`) with dtype `dt`, C-contiguous, shape `shape`
// (described to the user as `dims`, e.g. "(B, H)").
inline py::array checked(const py::handle& obj, const char* name, const py::dtype& dt,
                         const std::vector<long>& shape, const char* dims) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy.ndarray, got " +
                         std::string(py::str(obj.get_type().attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!same_dtype(a.dtype(), dt))
    throw py::type_error(std::string(name) + " has dtype " + std::string(py::str(a.dtype())) +
                         ", expected " + std::string(py::str(dt)) +
                         " (the dtype of x); lstmx does not cast silently");
  if (shape_of(a) != shape)
    throw py::value_error(std::string(name) + " must have shape " + dims + " = " +
                          shape_str(shape) + ", got " + shape_str(shape_of(a)));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous (np.ascontiguousarray)");
  return a;
}

// lengths: None or an int64 array (B,) with values in [1, T].
inline const int64_t* checked_lengths(const py::object& obj, long B, long T, py::array& keep) {
  if (obj.is_none()) return nullptr;
  keep = checked(obj, "lengths", py::dtype::of<int64_t>(), {B}, "(B,)");
  const int64_t* p = static_cast<const int64_t*>(keep.data());
  for (long b = 0; b < B; ++b) {
    if (p[b] < 1)
      throw py::value_error("lengths[" + std::to_string(b) + "]=" + std::to_string(p[b]) +
                            " is below 1; every sequence needs at least one step");
    if (p[b] > T)
      throw py::value_error("lengths[" + std::to_string(b) + "]=" + std::to_string(p[b]) +
                            " exceeds sequence length T=" + std::to_string(T));
  }
  return p;
}

}  // namespace lstmx
