// What the recurrent binding needs of the quantized one (quantized_binding.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "quantized.hpp"

namespace lstmx {

// The packed matrix inside a lstmx._core.QuantizedMatrix (shared: hold it while the kernels
// run without the GIL); a TypeError naming `name` otherwise.
std::shared_ptr<const quant::Matrix> quantized_matrix(const pybind11::handle& o, const std::string& name);
const char* quantized_kind_name(const quant::Matrix& m);
void bind_quantized(pybind11::module_& m);

}  // namespace lstmx
