// cells_avx512.hpp: the cell headers compiled with AVX-512 enabled (this file alone gets
// -mavx512f, see CMakeLists.txt), so their for_lanes runs F16 lanes (simd.hpp).
//
// The headers are included inside an anonymous namespace: every inline function and template
// instance compiled here then has internal linkage, and the linker can never merge one of
// them with (and so replace) the baseline copy the other files use on CPUs without AVX-512.
// The system headers they need are included first, outside it.
#include <cmath>
#include <type_traits>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "cells_avx512.hpp"

namespace {
#include "cells/gru_cell.hpp"
#include "cells/lstm_cell.hpp"
#include "cells/rnn_cell.hpp"

// (`lstmx` here is the copy inside this anonymous namespace)
void lstm16(int n, const float* gx, long sx, const float* gh, long sh, const float* c_prev, float* c_next,
            float* h_next, float* act, long sa, float* tanh_c) {
  lstmx::lstm_cell_forward(n, gx, sx, gh, sh, c_prev, c_next, h_next, act, sa, tanh_c);
}
void gru16(int n, const float* gx, long sx, const float* gh, long sh, const float* h_prev, float* h_next,
           float* act, long sa, float* ghn) {
  lstmx::gru_cell_forward(n, gx, sx, gh, sh, h_prev, h_next, act, sa, ghn);
}
void rnn16(int n, const float* gx, const float* gh, float* h_next, bool use_relu) {
  lstmx::rnn_cell_forward(n, gx, gh, h_next, use_relu);
}
}  // namespace

namespace lstmx {
namespace avx512 {

void lstm_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* c_prev,
                       float* c_next, float* h_next, float* act, long sa, float* tanh_c) {
  lstm16(n, gx, sx, gh, sh, c_prev, c_next, h_next, act, sa, tanh_c);
}
void gru_cell_forward(int n, const float* gx, long sx, const float* gh, long sh, const float* h_prev,
                      float* h_next, float* act, long sa, float* ghn) {
  gru16(n, gx, sx, gh, sh, h_prev, h_next, act, sa, ghn);
}
void rnn_cell_forward(int n, const float* gx, const float* gh, float* h_next, bool use_relu) {
  rnn16(n, gx, gh, h_next, use_relu);
}

}  // namespace avx512
}  // namespace lstmx
