// What the recurrent binding needs of the quantized one (quantized_binding.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "quantized.hpp"

namespace lstmx {

// The packed matrix inside a lstmx._core.QuantizedMatrix; a TypeError naming `name` otherwise.
const quant::Matrix& quantized_matrix(const pybind11::handle& o, const std::string& name);
const char* quantized_kind_name(const quant::Matrix& m);
void bind_quantized(pybind11::module_& m);

}  // namespace lstmx
